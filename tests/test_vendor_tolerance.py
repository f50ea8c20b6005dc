"""Readers are tolerant of spelling, case, order and extra items, and keep what they skip.

Each test builds the variation by hand from a phantom fixture (or writes the document as the
public parser's own test data does, docs/vendor_results.md §5) and checks the numbers against
the fixture's printed values.
"""

from __future__ import annotations

import copy
import itertools

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dxaspine.io.reading import read_header
from dxaspine.io.vendor import HEADER_TAGS, read_vendor_results, recognise
from dxaspine.io.vendor.hologic_xml import read_hologic_text
from dxaspine.io.vendor.names import parse_region, region_name
from dxaspine.measure.composites import region_name as measure_region_name
from dxaspine.measure.composites import standard_region_sets
from dxaspine.phantom import write_case
from dxaspine.phantom.vendor_objects import PHANTOM_SCHEME
from dxaspine.phantom.vendor_results import VARIANTS, vendor_numbers, write_vendor_results
from tests._vendor_cases import standard_cases


@pytest.fixture(scope="module")
def fixture_paths(tmp_path_factory):
    case = standard_cases(1)[0]
    folder = tmp_path_factory.mktemp("tol")
    return case, vendor_numbers(case), write_vendor_results(case, folder), folder


def test_names_agree_with_the_measure_stage():
    for members in standard_region_sets():
        assert region_name(members) == measure_region_name(members)
        assert parse_region(region_name(members)) == tuple(members)
    for spelling in ("L1-L4", "l1 - l4", "L1–L4", "L1-4", " L1 -L4 "):
        assert parse_region(spelling) == ("L1", "L2", "L3", "L4")
    assert parse_region("L1, L3-4") == ("L1", "L3", "L4")
    assert all(parse_region(s) is None for s in ("Neck", "Total", "Radius 33%", "L4-L1", "L7", ""))


def test_header_only_recognition(fixture_paths, tmp_path):
    _, _, paths, _ = fixture_paths
    for variant, path in paths.items():
        ds, _ = read_header(path, HEADER_TAGS)
        assert "ContentSequence" not in ds and "PixelData" not in ds  # header only
        assert recognise(ds) == VARIANTS[variant][0], variant
    images = write_case(standard_cases(1)[0], tmp_path, kinds=("display", "dual_energy"))
    for kind in ("display", "dual_energy"):
        ds, _ = read_header(images[kind], HEADER_TAGS)
        assert recognise(ds) is None


def _item(vt, meaning):
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", vt
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "X", PHANTOM_SCHEME, meaning
    item.ConceptNameCodeSequence = Sequence([code])
    return item


def _num(meaning, text, unit):
    item = _item("NUM", meaning)
    mv, u = Dataset(), Dataset()
    u.CodeValue, u.CodingSchemeDesignator, u.CodeMeaning = unit, "UCUM", unit
    mv.NumericValue, mv.MeasurementUnitsCodeSequence = text, Sequence([u])
    item.MeasuredValueSequence = Sequence([mv])
    return item


def test_ge_sr_spelling_extra_items_other_sites(fixture_paths):
    _, numbers, paths, _ = fixture_paths
    ds = pydicom.dcmread(paths["ge_sr"])
    spine = ds.ContentSequence[0]
    spine.ConceptNameCodeSequence[0].CodeMeaning = "ap  spine"  # case and spacing
    l1 = spine.ContentSequence[0]
    l1.ConceptNameCodeSequence[0].CodeMeaning = " l1 "
    l1.ContentSequence[3] = _num(
        "bmd_tscore", l1.ContentSequence[3].TextValue, "{T-score}"
    )  # NUM, not TEXT
    l1.ContentSequence.append(_num("BMD_PYA", "88", "%"))  # percent of young adult: kept
    note = _item("TEXT", "Comment")
    note.TextValue = "free text that may identify someone"
    l1.ContentSequence.append(note)
    bogus = copy.deepcopy(l1)
    bogus.ConceptNameCodeSequence[0].CodeMeaning = "Upper spine ROI"
    spine.ContentSequence.append(bogus)
    femur = _item("CONTAINER", "Left Femur")
    neck = _item("CONTAINER", "Neck")
    neck.ContentSequence = Sequence([_num("BMD", "0.812", "g/cm2")])
    femur.ContentSequence = Sequence([neck])
    ds.ContentSequence.append(femur)
    r = read_vendor_results(ds)
    got = r.level("L1")
    want = numbers.level("L1")
    assert got.name_as_read == "l1" and got.bmd_g_cm2.value == want.bmd_g_cm2
    assert got.t_score.value == want.t_score and got.t_score.unit_as_read == "{T-score}"
    assert got.other == (("BMD_PYA", got.other[0][1]),) and got.other[0][1].value == 88.0
    assert any(i.source.endswith("Comment[6]") and i.text is None for i in r.items_not_understood)
    assert [u.name_as_read for u in r.unmapped] == ["Upper spine ROI"]
    assert any("Upper spine ROI" in n for n in r.notes)
    assert [(s.body_part, s.name, s.bmd_g_cm2.value) for s in r.other_sites] == [
        ("Left Femur", "Neck", 0.812)
    ]


def test_ge_xml_older_layout():
    text = (
        "<DENSITOMETRY_RESULTS><CURRENT_EXAM><SCAN type='AP Spine'><TREND>"
        "<TREND_ROI>L1-L4</TREND_ROI><BASELINE_EXAM_DATE>3/13/2023</BASELINE_EXAM_DATE>"
        "<EXAM><EXAM_DATE>3/13/2023</EXAM_DATE><BMD>1.042</BMD><YAT>-1.2</YAT><AMZ>0.7</AMZ></EXAM>"
        "<EXAM><EXAM_DATE>4/6/2026</EXAM_DATE><BMD>1,014</BMD><YAT>-1.5</YAT><AMZ>0.4</AMZ>"
        "<BMD_CHANGE><TYPE>ROC_VS_PREVIOUS</TYPE><VALUE>-2.7</VALUE></BMD_CHANGE></EXAM>"
        "</TREND></SCAN></CURRENT_EXAM></DENSITOMETRY_RESULTS>"
    )  # the structure quoted by the public GE parser (docs/vendor_results.md §4)
    ds = Dataset()
    ds.ImageComments, ds.StudyDate = text, "20260406"
    assert recognise(ds) == "ge_xml"
    r = read_vendor_results(ds)
    region = r.region("L1-L4")
    assert (region.bmd_g_cm2.value, region.t_score.value, region.z_score.value) == (
        1.014,
        -1.5,
        0.4,
    )
    assert [(p.date.isoformat(), p.bmd_g_cm2.value) for p in r.trend] == [
        ("2023-03-13", 1.042),
        ("2026-04-06", 1.014),
    ]
    assert r.trend[1].pchange_vs_previous_percent.value == -2.7


def test_hologic_public_style_document_columns_by_header():
    # written as the hologic-dxa-maps test data: raw &sup2; inside the XML, HTML in the header,
    # a whole-body table; here the T-score column comes before BMD to prove columns are
    # found by their header, never by position
    header = ["<b>Region</b>", "Area[cm&sup2;]", "BMC[g]", "T-Score", "BMD[g/cm&sup2;]", "Z-Score"]
    rows = [
        ["L Arm", "154.28", "147.11", "-0.5", "0.954", "0.3"],
        ["Trunk", "", "643.62", "", "", ""],
    ]
    lines = ["<HologicHeader1>", "<JavaScriptFile>", 'Age = "41";', 'PatientName = "DOE^JANE";']
    for c, h in enumerate(header):
        lines.append(f'ResultsTable1[ 0][{c:2d}] = "{h}";')
    for r, row in enumerate(rows, start=1):
        lines += [f'ResultsTable1[{r:2d}][{c:2d}] = "{v}";' for c, v in enumerate(row)]
    lines += ["</JavaScriptFile>", "</HologicHeader1>"]
    r = read_hologic_text("\n".join(lines), {}, "(0019,1000)", "f.dcm")
    arm = r.other_sites[0]
    assert (arm.name, arm.area_cm2.value, arm.bmc_g.value, arm.bmd_g_cm2.value, arm.t_score.value) == (
        "L Arm", 154.28, 147.11, 0.954, -0.5)  # fmt: skip
    assert arm.area_cm2.unit_as_read == "cm²" and r.other_sites[1].bmd_g_cm2 is None
    assert r.patient_age_years == 41.0
    # a variable that may identify the patient is listed by name, its value not kept
    assert [(i.source, i.text) for i in r.items_not_understood] == [
        ("(0019,1000) PatientName", None)
    ]
    assert r.levels == () and "no lumbar spine results in this object" in r.notes


def test_hologic_total_is_resolved_by_sums(fixture_paths):
    case, numbers, _, folder = fixture_paths
    from dxaspine.phantom.vendor_results import VendorReportOptions

    for excluded in itertools.combinations(("L1", "L2", "L3", "L4"), 1):
        options = VendorReportOptions(excluded=excluded)
        path = write_vendor_results(case, folder / excluded[0], ("hologic_xml_0021",), options)
        r = read_vendor_results(path["hologic_xml_0021"])
        assert r.excluded_levels == excluded
        kept = [n for n in ("L1", "L2", "L3", "L4") if n not in excluded]
        assert r.reported_region == region_name(kept)
        assert r.region(region_name(kept)).name_as_read == "Total"


def test_tid1500_by_finding_sites_only(fixture_paths):
    _, numbers, paths, _ = fixture_paths
    ds = pydicom.dcmread(paths["tid1500_sr"])
    ds.Manufacturer = "Another vendor"
    for container in ds.ContentSequence:
        for group in container.get("ContentSequence", []):
            for item in group.get("ContentSequence", []):
                if item.ConceptNameCodeSequence[0].CodeMeaning == "Tracking Identifier":
                    item.TextValue = "ROI"  # no level name: the SNOMED CT finding sites decide
    r = read_vendor_results(ds)
    assert [lv.name for lv in r.levels] == [lv.label for lv in numbers.levels]
    assert [c.name for c in r.regions] == [c.label for c in numbers.composites]
    assert not r.exclusions_stated  # a foreign SR without EXCLUDED markers states nothing


def test_tid1500_reader_matches_the_codes_dxaspine_writes():
    # io may not import report (docs/architecture.md): the reader keeps its own copy of the
    # codes, and this test keeps the two in step
    from dxaspine.io.vendor import tid1500
    from dxaspine.report import codes

    assert tid1500.PRIVATE_SCHEME == codes.PRIVATE_SCHEME
    assert {c.value: name for name, c in codes.VERTEBRA.items()} == tid1500.VERTEBRA_CODES
    for key, (concept, _) in codes.MEASUREMENT.items():
        if key in ("bmd_g_cm2", "bmc_g", "area_cm2", "t_score", "z_score"):
            assert tid1500._BY_CODE[(concept.value, concept.scheme)][0] == key
    assert (codes.EXCLUDED.value, codes.REPORTED.value, codes.QC_FLAG.value) == (
        "EXCLUDED",
        "REPORTED",
        "QCFLAG",
    )


def test_hologic_unknown_columns_are_kept_not_dropped():
    text = (
        'ResultsTable1[0][0] = "Region"; ResultsTable1[0][1] = "%Fat"; ResultsTable1[0][2] = "Note";'
        'ResultsTable1[1][0] = "Trunk"; ResultsTable1[1][1] = "39.2"; ResultsTable1[1][2] = "see text";'
    )
    r = read_hologic_text(text, {}, "(0019,1000)", "f.dcm")
    ((name, value),) = r.other_sites[0].other
    assert (name, value.value, value.unit, value.text_as_read) == ("%Fat", 39.2, "", "39.2")
    assert [(i.source, i.text) for i in r.items_not_understood] == [
        ("(0019,1000) ResultsTable1[1][2]", None)
    ]
