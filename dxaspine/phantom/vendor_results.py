"""Vendor results objects for a phantom study: the numbers a vendor would print, from truth.

``vendor_numbers(case, options)`` turns a case's truth into a vendor's report: per level
BMC and area rounded to 2 decimals and BMD = BMC / area to 3, composites as ΣBMC / ΣArea of
their levels (docs/domain.md §1), T and Z rounded to 1 decimal from :mod:`dxaspine.clinical`
reference tables (so the vendor's scores are consistent with dxaspine's own), and a trend of
earlier exams.  ``write_vendor_results(case, outdir, variants, options)`` writes the objects
(:mod:`dxaspine.phantom.vendor_objects`) into the case's study (its StudyInstanceUID and
patient module), each in a new series with deterministic UIDs.

Deliberately wrong reports (``VendorReportOptions``) for the second reading's tests:
``label_shift`` (-1: the vendor's "L1" is the truth's T12; +1: it is L2), a composite that is
not ΣBMC / ΣArea, a level whose BMD is not BMC / area, vendor exclusions that break the ISCD
rules, and a raised (degenerate-looking) level the vendor kept although it differs from its
neighbour by more than 1.0 T-score.

A vendor can only measure a vertebra the scan shows whole: a level whose truth region is
clipped by the field edge (the scan runs from about mid-T12 to mid-L5, docs/domain.md §4) is left
out of the report, and so are levels the truth does not have.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dxaspine.clinical.reference import load_reference
from dxaspine.io.vendor.names import region_name
from dxaspine.levels import CLINICAL_LEVELS, SEQUENCE
from dxaspine.phantom.case import STUDY_DATE, PhantomCase

__all__ = [
    "GE_COMPOSITES",
    "VARIANTS",
    "VendorLevel",
    "VendorNumbers",
    "VendorReportOptions",
    "vendor_numbers",
    "write_vendor_results",
]

# variant -> (kind, description); the writers live in vendor_objects.py
VARIANTS: dict[str, tuple[str, str]] = {
    "ge_sr": ("ge_sr", "GE Enhanced SR, enCORE >= 11.1: BMC, area, UCUM units"),
    "ge_sr_pre_ucum": ("ge_sr", "GE Enhanced SR, enCORE 10.2-11.0: BMC, area, non-UCUM units"),
    "ge_sr_bmd_only": ("ge_sr", "GE Enhanced SR, enCORE < 10.2: BMD, T, Z only"),
    "ge_xml": ("ge_xml", "GE STR object, DXA_RESULTS XML in ImageComments"),
    "hologic_xml_0019": ("hologic_xml", "Hologic SC page, results XML in (0019,1000)"),
    "hologic_xml_0021": ("hologic_xml", "Hologic SC page, results XML in (0021,xx01) HOLOGIC"),
    "tid1500_sr": ("tid1500_sr", "dxaspine's own TID 1500 SR written by report/dicom_sr.py"),
}
GE_COMPOSITES = ("L1-L4", "L1-L3", "L2-L4")  # enCORE region containers (docs/domain.md §6b)
TREND_INTERVAL_YEARS = 2
# Prior exams of the trend: BMD higher by this fraction per interval back in time (bone loss
# of about 0.6 %/year, a modelling choice in the range of untreated postmenopausal loss).
TREND_LOSS_PER_INTERVAL = 0.012


@dataclass(frozen=True)
class VendorReportOptions:
    """How the vendor's report departs from the truth (all off by default)."""

    label_shift: int = 0  # -1: vendor L1 = truth T12; +1: vendor L1 = truth L2
    composite_bmd_error_g_cm2: float = 0.0  # added to the printed reported-composite BMD
    inconsistent_level: str | None = None  # its printed BMD is not BMC / area ...
    inconsistent_bmd_error_g_cm2: float = 0.030  # ... by this much
    excluded: tuple[str, ...] | None = None  # vendor-stated exclusions; None: not stated
    raised_level: str | None = None  # a degenerate-looking level the vendor kept ...
    raised_bmd_g_cm2: float = 0.0  # ... with its BMD raised by this much (BMC follows)
    trend_exams: int = 2  # earlier exams in the trend (writers that carry a trend)
    include_trend: bool = True

    def validate(self) -> None:
        if self.label_shift not in (-1, 0, 1):
            raise ValueError(f"label_shift {self.label_shift}: use -1, 0 or +1")
        for name in (self.inconsistent_level, self.raised_level, *(self.excluded or ())):
            if name is not None and name not in CLINICAL_LEVELS:
                raise ValueError(f"level {name!r}: use one of {CLINICAL_LEVELS}")
        if self.trend_exams < 0:
            raise ValueError("trend_exams must be >= 0")


@dataclass(frozen=True)
class VendorLevel:
    """One printed level (``truth_label``: the vertebra it really is) or composite."""

    label: str
    truth_label: str | None
    levels: tuple[str, ...]
    bmc_g: float
    area_cm2: float
    bmd_g_cm2: float
    t_score: float | None
    z_score: float | None
    excluded: bool | None = None


@dataclass(frozen=True)
class VendorNumbers:
    """The report as printed: levels, composites, the reported region, a trend."""

    case: str
    sex: str
    age_years: float
    age_whole_years: int
    study_date: dt.date
    levels: tuple[VendorLevel, ...]
    composites: tuple[VendorLevel, ...]
    reported_region: str | None
    excluded: tuple[str, ...] | None
    trend: tuple[dict, ...] = field(default_factory=tuple)
    # every set of 2+ included levels except the reported one (Hologic's composite table,
    # docs/domain.md §1: Hologic prints all 11 of L1-L4)
    other_composites: tuple[VendorLevel, ...] = ()

    def level(self, label: str) -> VendorLevel | None:
        return next((lv for lv in self.levels if lv.label == label), None)

    def composite(self, name: str) -> VendorLevel | None:
        return next((c for c in self.composites if c.label == name), None)


def _scores(table, region: str, bmd: float, patient: dict) -> tuple[float | None, float | None]:
    t_row, _ = table.t_reference(region, patient["sex"])
    z_row, _ = table.z_reference(region, patient["sex"], patient["age_years"], patient["ethnicity"])
    t = None if t_row is None else round((bmd - t_row.mean_g_cm2) / t_row.sd_g_cm2, 1)
    z = None if z_row is None else round((bmd - z_row.mean_g_cm2) / z_row.sd_g_cm2, 1)
    return t, z


def _printed_levels(case: PhantomCase, options: VendorReportOptions) -> list[dict]:
    truth = {lv["label"]: lv for lv in case.truth["levels"]}
    out = []
    for label in CLINICAL_LEVELS:
        source = SEQUENCE[SEQUENCE.index(label) + options.label_shift]
        lv = truth.get(source)
        if lv is None or not lv["complete"]:
            continue  # the vendor cannot measure a vertebra the scan does not show whole
        bmc, area = float(lv["bmc_g"]), float(lv["area_cm2"])
        if label == options.raised_level:
            bmc += options.raised_bmd_g_cm2 * area
        out.append({"label": label, "truth_label": source, "bmc": bmc, "area": area})
    return out


def vendor_numbers(case: PhantomCase, options: VendorReportOptions | None = None,
                   reference=None) -> VendorNumbers:  # fmt: skip
    """The vendor's printed report of ``case`` (see the module docstring).

    Raises
    ------
    ValueError
        Bad options, or a case whose truth has fewer than two measurable L1-L4 levels.
    """
    options = options or VendorReportOptions()
    options.validate()
    table = load_reference(reference)
    patient = case.truth["patient"]
    raw = _printed_levels(case, options)
    if len(raw) < 2:
        raise ValueError(f"{case.name}: fewer than two measurable levels for a vendor report")
    excluded = tuple(options.excluded) if options.excluded is not None else None
    levels = []
    for lv in raw:
        bmd = lv["bmc"] / lv["area"]
        t, z = _scores(table, lv["label"], bmd, patient)
        printed = round(bmd, 3)
        if lv["label"] == options.inconsistent_level:
            printed = round(bmd + options.inconsistent_bmd_error_g_cm2, 3)
        levels.append(
            VendorLevel(
                lv["label"],
                lv["truth_label"],
                (lv["label"],),
                round(lv["bmc"], 2),
                round(lv["area"], 2),
                printed,
                t,
                z,
                None if excluded is None else lv["label"] in excluded,
            )  # fmt: skip
        )
    by_label = {lv["label"]: lv for lv in raw}
    included = [lv["label"] for lv in raw if lv["label"] not in (excluded or ())]
    reported = region_name(included) if included else None
    sets = [n for n in GE_COMPOSITES if _members(n) <= set(included)]
    if reported and reported not in sets and len(included) > 1:
        sets.insert(0, reported)

    def printed_composite(name: str) -> VendorLevel:
        members = tuple(m for m in CLINICAL_LEVELS if m in _members(name))
        bmc = sum(by_label[m]["bmc"] for m in members)
        area = sum(by_label[m]["area"] for m in members)
        bmd = bmc / area
        t, z = _scores(table, name, bmd, patient)
        printed = round(bmd + (options.composite_bmd_error_g_cm2 if name == reported else 0.0), 3)
        return VendorLevel(name, None, members, round(bmc, 2), round(area, 2), printed, t, z)

    composites = [printed_composite(name) for name in sets]
    every = [region_name(c) for k in range(len(included), 1, -1)
             for c in itertools.combinations(included, k)]  # fmt: skip
    others = tuple(printed_composite(n) for n in every if n != reported)
    trend = _trend(composites, reported, patient, options) if options.include_trend else ()
    return VendorNumbers(case.name, patient["sex"], float(patient["age_years"]),
                         int(patient["age_whole_years"]), STUDY_DATE, tuple(levels),
                         tuple(composites), reported, excluded, trend, others)  # fmt: skip


def _members(name: str) -> set[str]:
    from dxaspine.io.vendor.names import parse_region

    return set(parse_region(name) or ())


def _trend(composites, reported, patient, options) -> tuple[dict, ...]:
    """Current exam plus ``trend_exams`` earlier ones of the reported composite, newest first."""
    current = next((c for c in composites if c.label == reported), None)
    if current is None:
        return ()
    exams = []
    for k in range(options.trend_exams + 1):
        date = STUDY_DATE.replace(year=STUDY_DATE.year - TREND_INTERVAL_YEARS * k)
        bmd = round(current.bmd_g_cm2 * (1.0 + TREND_LOSS_PER_INTERVAL * k), 3)
        exams.append({"date": date, "age_years": round(patient["age_years"] - TREND_INTERVAL_YEARS * k, 1),
                      "bmd_g_cm2": bmd, "region": reported})  # fmt: skip
    baseline = exams[-1]["bmd_g_cm2"]
    for newer, older in zip(exams, exams[1:], strict=False):
        newer["change_vs_previous_g_cm2"] = round(newer["bmd_g_cm2"] - older["bmd_g_cm2"], 3)
        newer["pchange_vs_previous_percent"] = round(
            100.0 * (newer["bmd_g_cm2"] - older["bmd_g_cm2"]) / older["bmd_g_cm2"], 1
        )
        newer["change_vs_baseline_g_cm2"] = round(newer["bmd_g_cm2"] - baseline, 3)
    return tuple(exams)


def write_vendor_results(
    case: PhantomCase,
    outdir: str | os.PathLike,
    variants: Iterable[str] = tuple(VARIANTS),
    options: VendorReportOptions | None = None,
) -> dict[str, Path]:
    """Write the vendor objects of ``case`` into ``outdir``: ``{variant: path}``.

    Files are ``<case>.vendor.<variant>.dcm``, written atomically and deterministically.

    Raises
    ------
    ValueError
        An unknown variant or bad options.
    """
    from dxaspine.phantom.vendor_objects import vendor_dataset
    from dxaspine.phantom.write import atomic_write, dicom_bytes

    numbers = vendor_numbers(case, options)
    out = {}
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}: use {tuple(VARIANTS)}")
        path = Path(outdir) / f"{case.name}.vendor.{variant}.dcm"
        atomic_write(path, dicom_bytes(vendor_dataset(case, numbers, variant)))
        out[variant] = path
    return out
