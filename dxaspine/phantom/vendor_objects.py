"""The DICOM objects of :mod:`dxaspine.phantom.vendor_results`, one builder per vendor kind.

Each object is written into the case's study with the patient and study modules of
:func:`dxaspine.phantom.dicom_writer.base_dataset` (same StudyInstanceUID), in a new series
(number 900 + variant index) with UIDs hashed from the case, ``"vendor"`` and the variant.
The layouts follow the public parsers described in docs/vendor_results.md (§3 GE SR, §4 GE
XML, §5 Hologic); where no public source exists (code values, non-UCUM unit coding, the
exclusion marker, the Hologic spine table header) the choice is the phantom's and is marked
so in that document.  Coding scheme ``99PHANTOM`` marks codes invented here: the readers
match CodeMeaning, as the public parsers do.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dxaspine.clinical.reference import load_reference
from dxaspine.phantom.case import STUDY_DATE, PhantomCase
from dxaspine.phantom.dicom_writer import base_dataset, file_meta, uid
from dxaspine.phantom.params import SCANNERS
from dxaspine.phantom.vendor_results import VARIANTS, VendorLevel, VendorNumbers

__all__ = ["PHANTOM_SCHEME", "vendor_dataset"]

PHANTOM_SCHEME = "99PHANTOM"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
RAW_DATA = "1.2.840.10008.5.1.4.1.1.66"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UCUM = {"bmd": ("g/cm2", "UCUM", "g/cm2"), "bmc": ("g", "UCUM", "g"),
         "area": ("cm2", "UCUM", "cm2"), "age": ("a", "UCUM", "year"), "%": ("%", "UCUM", "%")}  # fmt: skip
# Pre-11.1 enCORE units were not UCUM (docs/domain.md §6); their real coding is not public.
_NON_UCUM = {"bmd": ("g/cm^2", PHANTOM_SCHEME, "g/cm²"), "bmc": ("grams", PHANTOM_SCHEME, "grams"),
             "area": ("cm^2", PHANTOM_SCHEME, "cm²"), "age": ("years", PHANTOM_SCHEME, "years"),
             "%": ("percent", PHANTOM_SCHEME, "%")}  # fmt: skip


def fmt(value: float, decimals: int) -> str:
    """The number as a vendor prints it (no "-0.0")."""
    text = f"{value:.{decimals}f}"
    return f"{0.0:.{decimals}f}" if float(text) == 0.0 else text


def ge_date(date) -> str:
    """``%d-%b-%Y`` with English month names whatever the locale (docs/domain.md §6b)."""
    return f"{date.day:02d}-{_MONTHS[date.month - 1]}-{date.year}"


def _vendor_base(case: PhantomCase, variant: str, sop_class: str, modality: str) -> Dataset:
    ds = base_dataset(case, "display", sop_class, "vendor", ())
    ds.SOPInstanceUID = uid(case, "vendor", variant, "instance")
    ds.SeriesInstanceUID = uid(case, "vendor", variant, "series")
    ds.SeriesNumber = 900 + list(VARIANTS).index(variant)
    ds.InstanceNumber = 1
    ds.Modality = modality
    ds.SeriesDescription = VARIANTS[variant][1]
    ds.ManufacturerModelName = SCANNERS[case.params.scanner]["model"]
    for keyword in ("PatientOrientation", "BurnedInAnnotation", "LossyImageCompression",
                    "ConversionType", "AcquisitionDate", "AcquisitionTime"):  # fmt: skip
        if keyword in ds:
            delattr(ds, keyword)
    return ds


# ---- GE Enhanced SR (docs/vendor_results.md §3) -------------------------------------------


def _code(meaning: str, value: str | None = None, scheme: str = PHANTOM_SCHEME) -> Dataset:
    item = Dataset()
    item.CodeValue = value or re.sub(r"[^A-Z0-9]+", "_", meaning.upper()).strip("_")[:16]
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _item(value_type: str, meaning: str, relationship: str | None = "CONTAINS") -> Dataset:
    item = Dataset()
    if relationship:
        item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([_code(meaning)])
    return item


def _container(meaning: str, items: list[Dataset]) -> Dataset:
    item = _item("CONTAINER", meaning)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(items)
    return item


def _num(meaning: str, text: str, unit: tuple[str, str, str]) -> Dataset:
    item = _item("NUM", meaning)
    measured = Dataset()
    measured.NumericValue = text
    measured.MeasurementUnitsCodeSequence = Sequence([_code(unit[2], unit[0], unit[1])])
    item.MeasuredValueSequence = Sequence([measured])
    return item


def _text(meaning: str, text: str) -> Dataset:
    item = _item("TEXT", meaning)
    item.TextValue = text
    return item


def _ge_region(lv: VendorLevel, units: dict, with_bmc: bool, stated: bool) -> Dataset:
    items = [_num("BMD", fmt(lv.bmd_g_cm2, 3), units["bmd"])]
    if with_bmc:
        items += [_num("BMC", fmt(lv.bmc_g, 2), units["bmc"]),
                  _num("Area", fmt(lv.area_cm2, 2), units["area"])]  # fmt: skip
    # T and Z as TEXT items holding the number (the second public GE parser, §3)
    if lv.t_score is not None:
        items.append(_text("BMD_TSCORE", fmt(lv.t_score, 1)))
    if lv.z_score is not None:
        items.append(_text("BMD_ZSCORE", fmt(lv.z_score, 1)))
    if stated and lv.excluded is not None:
        items.append(_text("EXCLUDED", "YES" if lv.excluded else "NO"))
    return _container(lv.label, items)


def _ge_trend(numbers: VendorNumbers, units: dict) -> list[Dataset]:
    if not numbers.trend:
        return []
    exams = []
    for exam in numbers.trend:
        items = [_num("AGE", fmt(exam["age_years"], 1), units["age"]),
                 _num("BMD", fmt(exam["bmd_g_cm2"], 3), units["bmd"])]  # fmt: skip
        for name, key, unit, d in (
            ("CHANGE_VS_PREVIOUS", "change_vs_previous_g_cm2", units["bmd"], 3),
            ("PCHANGE_VS_PREVIOUS", "pchange_vs_previous_percent", units["%"], 1),
            ("CHANGE_VS_BASELINE", "change_vs_baseline_g_cm2", units["bmd"], 3),
        ):
            if key in exam:
                items.append(_container(name, [_num("BMD", fmt(exam[key], d), unit)]))
        exams.append(_container(ge_date(exam["date"]), items))
    return [_container(f"Trend {numbers.trend[0]['region']}", exams)]


def ge_sr(case: PhantomCase, numbers: VendorNumbers, variant: str) -> Dataset:
    units = _NON_UCUM if variant == "ge_sr_pre_ucum" else _UCUM
    with_bmc = variant != "ge_sr_bmd_only"
    version = {"ge_sr": "16", "ge_sr_pre_ucum": "11.0", "ge_sr_bmd_only": "10.0"}[variant]
    ds = _vendor_base(case, variant, ENHANCED_SR, "SR")
    ds.Manufacturer = "GE Healthcare"
    ds.SoftwareVersions = f"enCORE {version} (dxaspine phantom)"
    stated = numbers.excluded is not None
    regions = [
        _ge_region(lv, units, with_bmc, stated) for lv in (*numbers.levels, *numbers.composites)
    ]
    spine = _container("AP Spine", regions + _ge_trend(numbers, units))
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("DXA Report")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentSequence = Sequence([spine])
    file_meta(ds)
    return ds


# ---- GE "STR" object, XML in ImageComments (docs/vendor_results.md §4) ----------------------


def _xml_roi(lv: VendorLevel, stated: bool) -> str:
    parts = [f"<BMD>{fmt(lv.bmd_g_cm2, 3)}</BMD>"]
    if lv.t_score is not None:
        parts.append(f"<BMD_TSCORE>{fmt(lv.t_score, 1)}</BMD_TSCORE>")
    if lv.z_score is not None:
        parts.append(f"<BMD_ZSCORE>{fmt(lv.z_score, 1)}</BMD_ZSCORE>")
    if stated and lv.excluded is not None:
        parts.append(f"<EXCLUDED>{'YES' if lv.excluded else 'NO'}</EXCLUDED>")
    return f"<ROI region={quoteattr(lv.label)}>{''.join(parts)}</ROI>"


def ge_xml(case: PhantomCase, numbers: VendorNumbers, variant: str) -> Dataset:
    ds = _vendor_base(case, variant, RAW_DATA, "BMD")
    ds.Manufacturer = "GE Healthcare"
    ds.SoftwareVersions = "enCORE 16 (dxaspine phantom)"
    stated = numbers.excluded is not None
    rois = "".join(_xml_roi(lv, stated) for lv in (*numbers.levels, *numbers.composites))
    trend = ""
    if numbers.trend:
        exams = []
        for exam in numbers.trend:
            d = exam["date"]
            inner = f"<BMD>{fmt(exam['bmd_g_cm2'], 3)}</BMD>"
            if "pchange_vs_previous_percent" in exam:
                inner += ('<CHANGE type="PCHANGE_VS_PREVIOUS"><BMD units="%">'
                          f"{fmt(exam['pchange_vs_previous_percent'], 1)}</BMD></CHANGE>")  # fmt: skip
            exams.append(f'<EXAM date="{d.month:02d}/{d.day:02d}/{d.year}">{inner}</EXAM>')
        trend = f"<TREND region={quoteattr(numbers.trend[0]['region'])}>{''.join(exams)}</TREND>"
    ds.ImageComments = f'<DXA_RESULTS><SCAN type="AP Spine">{rois}{trend}</SCAN></DXA_RESULTS>'
    file_meta(ds)
    return ds


# ---- Hologic APEX results XML (docs/vendor_results.md §5) -----------------------------------

# The spine table header: region, area, BMC, BMD, T, PR, Z, AM (the layout the Hologic
# parser of §5 reads by column index 3/4/6 for BMD/T/Z; the header text is the phantom's).
_HOLOGIC_HEADER = ("Region", "Area[cm&sup2;]", "BMC[g]", "BMD[g/cm&sup2;]", "T-Score",
                   "PR (%)", "Z-Score", "AM (%)")  # fmt: skip


_HOLOGIC_COMPOSITE_HEADER = (
    "Region",
    "Area[cm&sup2;]",
    "BMC[g]",
    "BMD[g/cm&sup2;]",
    "T-Score",
    "Z-Score",
)


def _hologic_rows(numbers: VendorNumbers, table) -> list[list[str]]:
    rows = []
    patient_sex = numbers.sex
    total = next((c for c in numbers.composites if c.label == numbers.reported_region), None)
    if total is None:  # one vertebra left (a deliberately wrong report): Total is that level
        total = numbers.level(numbers.reported_region) if numbers.reported_region else None
    printed = [(lv.label, lv) for lv in numbers.levels] + ([("Total", total)] if total else [])
    for label, lv in printed:
        t_row, _ = table.t_reference(lv.label, patient_sex)
        z_row, _ = table.z_reference(lv.label, patient_sex, numbers.age_years, None)
        pr = "" if t_row is None else str(round(100 * lv.bmd_g_cm2 / t_row.mean_g_cm2))
        am = "" if z_row is None else str(round(100 * lv.bmd_g_cm2 / z_row.mean_g_cm2))
        rows.append([label, fmt(lv.area_cm2, 2), fmt(lv.bmc_g, 2), fmt(lv.bmd_g_cm2, 3),
                     "" if lv.t_score is None else fmt(lv.t_score, 1), pr,
                     "" if lv.z_score is None else fmt(lv.z_score, 1), am])  # fmt: skip
    return rows


def hologic_text(case: PhantomCase, numbers: VendorNumbers) -> str:
    """The results document: scan variables and ``ResultsTable1`` as JavaScript lines."""
    p = case.params
    lines = [f'Age = "{numbers.age_whole_years}";',
             f'PatientSex = "{"Female" if numbers.sex == "F" else "Male"}";',
             f'Height = "{100 * p.height_m:.1f} cm";', f'Weight = "{p.weight_kg:.1f} kg";',
             'ScanMode = "Fast Array";', 'AnalProtocol = "Lumbar Spine";',
             'TableNote1 = "Total BMD CV 1.0%, ACF = 1.000, BCF = 1.000 (phantom)";']  # fmt: skip
    for c, head in enumerate(_HOLOGIC_HEADER):
        lines.append(f'ResultsTable1[ 0][{c:2d}] = "{head}";')
    for r, row in enumerate(_hologic_rows(numbers, load_reference(None)), start=1):
        for c, cell in enumerate(row):
            lines.append(f'ResultsTable1[{r:2d}][{c:2d}] = "{cell}";')
    # the composite table (docs/domain.md §1: every set of 2+ levels; its layout is the phantom's)
    if numbers.other_composites:
        for c, head in enumerate(_HOLOGIC_COMPOSITE_HEADER):
            lines.append(f'ResultsTable2[ 0][{c:2d}] = "{head}";')
        for r, lv in enumerate(numbers.other_composites, start=1):
            row = [lv.label, fmt(lv.area_cm2, 2), fmt(lv.bmc_g, 2), fmt(lv.bmd_g_cm2, 3),
                   "" if lv.t_score is None else fmt(lv.t_score, 1),
                   "" if lv.z_score is None else fmt(lv.z_score, 1)]  # fmt: skip
            for c, cell in enumerate(row):
                lines.append(f'ResultsTable2[{r:2d}][{c:2d}] = "{cell}";')
    script = "\n".join(lines)
    return (f"<HologicResults><ScanID>{escape(case.name)}</ScanID><k>1.0</k>"
            f"<JavaScriptFile><![CDATA[\n{script}\n]]></JavaScriptFile></HologicResults>")  # fmt: skip


def hologic_xml(case: PhantomCase, numbers: VendorNumbers, variant: str) -> Dataset:
    ds = _vendor_base(case, variant, SECONDARY_CAPTURE, "BMD")
    ds.Manufacturer = "HOLOGIC, Inc."
    ds.SoftwareVersions = "APEX 13.6 (dxaspine phantom)"
    ds.ConversionType = "WSD"
    text = hologic_text(case, numbers)
    if variant == "hologic_xml_0019":
        ds.add_new(0x00190010, "LO", "HOLOGIC")
        ds.add_new(0x00191000, "LT", text)
    else:
        ds.private_block(0x0021, "HOLOGIC", create=True).add_new(0x01, "LT", text)
    page = np.full((64, 48, 3), 255, dtype=np.uint8)  # a blank report page (RGB)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = page.shape[:2]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = page.tobytes()
    file_meta(ds)
    return ds


# ---- dxaspine's own TID 1500 SR (dxaspine/report/dicom_sr.py) ----------------------------------


def _result_for_sr(numbers: VendorNumbers, case: PhantomCase) -> dict:
    # dicom_sr.py draws each level as the region between its two lines: the lines of the
    # vertebra the vendor's level really sits on
    lines = {lv["label"]: lv for lv in case.truth["levels"]}
    levels = [
        {"label": lv.label, "bmc_g": lv.bmc_g, "area_cm2": lv.area_cm2,
         "bmd_g_cm2": lv.bmd_g_cm2, "t_score": lv.t_score, "z_score": lv.z_score,
         "excluded": bool(lv.excluded), "flags": [],
         "upper_line_px": lines[lv.truth_label]["upper_line_px"],
         "lower_line_px": lines[lv.truth_label]["lower_line_px"]}
        for lv in numbers.levels
    ]  # fmt: skip
    regions = [{"name": c.label, "levels": list(c.levels), "bmc_g": c.bmc_g,
                "area_cm2": c.area_cm2, "bmd_g_cm2": c.bmd_g_cm2, "t_score": c.t_score,
                "z_score": c.z_score, "who_category": None} for c in numbers.composites]  # fmt: skip
    return {"input": {"path": None}, "levels": levels, "regions": regions,
            "reported_region": numbers.reported_region, "exclusion": {"mode": "user"}}  # fmt: skip


def tid1500_sr(case: PhantomCase, numbers: VendorNumbers, variant: str) -> Dataset:
    from dxaspine.report.dicom_sr import build_sr

    header = base_dataset(case, "display", "1.2.840.10008.5.1.4.1.1.1", "display", ())
    header.Modality, header.Rows, header.Columns = "CR", case.shape[0], case.shape[1]
    sr = build_sr(_result_for_sr(numbers, case), header, series_number=900 + list(VARIANTS).index(variant),
                  series_instance_uid=uid(case, "vendor", variant, "series"),
                  sop_instance_uid=uid(case, "vendor", variant, "instance"))  # fmt: skip
    _make_deterministic(sr, case)
    return sr


def _make_deterministic(ds: Dataset, case: PhantomCase) -> None:
    """highdicom stamps fresh tracking/device UIDs and the clock; the phantom never does."""
    counter = iter(range(10**6))
    keep = {ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID}
    date = STUDY_DATE.strftime("%Y%m%d")

    def visit(d: Dataset) -> None:
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif elem.VR == "UI" and elem.keyword in ("UID", "TrackingUID", "DeviceUID"):
                if elem.value not in keep:
                    elem.value = uid(case, "vendor", "tid1500", str(next(counter)))
            elif elem.keyword in ("ContentDate", "InstanceCreationDate"):
                elem.value = date
            elif elem.keyword in ("ContentTime", "InstanceCreationTime"):
                elem.value = "093000"
            elif elem.keyword == "ContributionDateTime":
                elem.value = f"{date}093000"

    visit(ds)


_BUILDERS = {"ge_sr": ge_sr, "ge_xml": ge_xml, "hologic_xml": hologic_xml, "tid1500_sr": tid1500_sr}


def vendor_dataset(case: PhantomCase, numbers: VendorNumbers, variant: str) -> Dataset:
    """The DICOM dataset of one variant (see ``VARIANTS``)."""
    return _BUILDERS[VARIANTS[variant][0]](case, numbers, variant)
