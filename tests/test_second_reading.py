"""Second reading of vendor numbers: consistency, ISCD exclusions, adjacent T, assess input.

Ground truth: a published report (docs/domain.md §1, Hologic APEX 13.6) worked by hand, the ISCD
rules (docs/domain.md §2), and phantom reports made deliberately wrong in known ways.
"""

from __future__ import annotations

import pytest

from dxaspine.clinical.second_reading import assess_inputs, assess_vendor, second_reading
from dxaspine.io.vendor import read_vendor_results
from dxaspine.io.vendor.results import VendorRegion, VendorResults, VendorValue
from dxaspine.phantom.vendor_results import VendorReportOptions, write_vendor_results
from tests._vendor_cases import standard_cases

# docs/domain.md §1: a Hologic APEX 13.6 report (area cm2, BMC g)
APEX = {
    "L1": ("13.26", "11.58"),
    "L2": ("13.72", "12.94"),
    "L3": ("14.81", "13.93"),
    "L4": ("13.97", "13.40"),
}


def _v(text: str, unit: str) -> VendorValue:
    return VendorValue(float(text), unit, "hand", unit, text)


def _apex(composite_bmd: str, l1_bmd: str = "0.873", excluded=None, t=None) -> VendorResults:
    levels = []
    for name, (area, bmc) in APEX.items():
        # printed level BMDs: 11.58/13.26 = 0.8733, 12.94/13.72 = 0.9431, 13.93/14.81 = 0.9406,
        # 13.40/13.97 = 0.9592
        bmd = {"L1": l1_bmd, "L2": "0.943", "L3": "0.941", "L4": "0.959"}[name]
        levels.append(VendorRegion(name, name, (name,), "hand", bmd_g_cm2=_v(bmd, "g/cm2"),
                                   bmc_g=_v(bmc, "g"), area_cm2=_v(area, "cm2"),
                                   t_score=None if t is None else _v(t[name], "1"),
                                   excluded=None if excluded is None else name in excluded))  # fmt: skip
    total = VendorRegion("L1-L4", "Total", ("L1", "L2", "L3", "L4"), "hand",
                         bmd_g_cm2=_v(composite_bmd, "g/cm2"), bmc_g=_v("51.85", "g"),
                         area_cm2=_v("55.77", "cm2"))  # fmt: skip
    return VendorResults("hologic_xml", "apex.dcm", levels=tuple(levels), regions=(total,),
                         exclusions_stated=excluded is not None)  # fmt: skip


def codes(flags):
    return sorted(f.code for f in flags)


def test_published_report_is_consistent():
    # 51.85 g / 55.77 cm2 = 0.92971 -> printed 0.930 (docs/domain.md §1)
    flags, _ = second_reading(_apex("0.930"))
    assert flags == []


def test_composite_not_total_bmc_over_total_area_is_flagged():
    flags, _ = second_reading(_apex("0.935"))
    assert codes(flags) == ["vendor_composite_inconsistent"]
    problem = flags[0].evidence["problems"]
    # the printed areas sum to 55.76 while the report prints 55.77: within the 5 roundings
    # (4 x 0.005 + 0.005), so only the BMD is a problem
    assert set(problem) == {"bmd_g_cm2"}
    assert problem["bmd_g_cm2"]["from_levels"] == pytest.approx(51.85 / 55.76)
    # tolerance = half a unit of the printed BMD + the four BMCs' and areas' roundings
    # propagated: 0.0005 + 0.9299 * (4 * 0.005 / 51.85 + 4 * 0.005 / 55.76) = 0.00119
    expected = 0.0005 + (51.85 / 55.76) * (0.02 / 51.85 + 0.02 / 55.76)
    assert problem["bmd_g_cm2"]["tolerance"] == pytest.approx(expected)
    # the mean of the level BMDs (0.929, docs/domain.md §1) is within what the printed *levels*
    # allow, but not its own printed BMC / area: 51.85 / 55.77 lies in [0.92954, 0.92989],
    # which prints 0.930 (tolerance 0.0005 + 0.9297 * (0.005 / 51.85 + 0.005 / 55.77))
    flags, _ = second_reading(_apex("0.929"))
    assert codes(flags) == ["vendor_composite_inconsistent"]
    assert flags[0].evidence["tolerance_g_cm2"] == pytest.approx(
        0.0005 + (51.85 / 55.77) * (0.005 / 51.85 + 0.005 / 55.77)
    )


def test_level_bmd_not_bmc_over_area_is_flagged():
    flags, _ = second_reading(_apex("0.930", l1_bmd="0.883"))  # 11.58 / 13.26 = 0.8733
    assert codes(flags) == ["vendor_bmd_inconsistent"] and flags[0].level == "L1"


@pytest.mark.parametrize(
    "excluded, expected",
    [
        ((), []),
        (("L4",), []),
        (("L1", "L4"), []),
        (("L1", "L2", "L4"), ["vendor_exclusions_break_iscd"]),
    ],  # fmt: skip
)
def test_vendor_exclusions_against_iscd(excluded, expected):
    # ISCD: at most 2 excluded and at least 2 left (3 excluded breaks both)
    flags, _ = second_reading(_apex("0.930", excluded=excluded))
    assert [f.code for f in flags if f.code.startswith("vendor_excl")] == expected


def test_adjacent_t_difference_kept():
    t = {"L1": "-1.5", "L2": "-0.4", "L3": "-0.5", "L4": "-0.3"}  # L1/L2 differ by 1.1 > 1.0
    flags, _ = second_reading(_apex("0.930", t=t, excluded=()))
    assert [f.evidence["pair"] for f in flags if f.code == "vendor_adjacent_t_kept"] == [
        ["L1", "L2"]
    ]
    # the vendor excluded L1: nothing kept breaks the rule
    flags, _ = second_reading(_apex("0.930", t=t, excluded=("L1",)))
    assert not [f for f in flags if f.code == "vendor_adjacent_t_kept"]
    # exactly 1.0 is not more than 1.0
    t["L1"] = "-1.4"
    assert not [
        f for f in second_reading(_apex("0.930", t=t))[0] if f.code == "vendor_adjacent_t_kept"
    ]


@pytest.fixture(scope="module")
def case():
    return standard_cases(1)[0]


def _read_all(case, folder, options, variants=None):
    kw = {} if variants is None else {"variants": variants}
    return {
        v: read_vendor_results(p)
        for v, p in write_vendor_results(case, folder, options=options, **kw).items()
    }


def test_phantom_reports_made_wrong_are_flagged(case, tmp_path):
    with_bmc = ("ge_sr", "ge_sr_pre_ucum", "hologic_xml_0019", "hologic_xml_0021", "tid1500_sr")
    clean = _read_all(case, tmp_path / "clean", VendorReportOptions())
    assert all(second_reading(r)[0] == [] for r in clean.values())
    wrong = _read_all(case, tmp_path / "comp", VendorReportOptions(composite_bmd_error_g_cm2=0.02))
    for variant, r in wrong.items():
        flags, summary = second_reading(r)
        if variant in with_bmc:
            assert [f.evidence["region"] for f in flags] == ["L1-L4"], variant
        else:  # BMD only: the composite cannot be checked, and the result says so
            assert flags == [] and any("lack BMC or area" in n for n in summary["notes"]), variant
    level = _read_all(
        case, tmp_path / "lvl", VendorReportOptions(inconsistent_level="L3"), with_bmc
    )
    for r in level.values():
        assert [(f.code, f.level) for f in second_reading(r)[0]] == [
            ("vendor_bmd_inconsistent", "L3")
        ]


def test_phantom_exclusions_breaking_iscd(case, tmp_path):
    three = _read_all(case, tmp_path / "3", VendorReportOptions(excluded=("L1", "L2", "L3")))
    for variant, r in three.items():
        flags, _ = second_reading(r)
        iscd = [f for f in flags if f.code == "vendor_exclusions_break_iscd"]
        assert (
            iscd and "3 vertebrae excluded" in iscd[0].detail and "1 evaluable" in iscd[0].detail
        ), variant


def test_phantom_raised_level_kept(case, tmp_path):
    # +0.2 g/cm2 at L4 is +1.6 T-score units (SD 0.122, docs/domain.md §8): L3/L4 differ by > 1.0
    r = _read_all(
        case,
        tmp_path / "raised",
        VendorReportOptions(raised_level="L4", raised_bmd_g_cm2=0.2),
        ("ge_sr",),
    )["ge_sr"]
    flags, _ = second_reading(r)
    assert [f.evidence["pair"] for f in flags if f.code == "vendor_adjacent_t_kept"] == [
        ["L3", "L4"]
    ]


def test_vendor_numbers_feed_assess(case, tmp_path):
    r = _read_all(case, tmp_path / "a", VendorReportOptions(), ("ge_sr",))["ge_sr"]
    kwargs = assess_inputs(r)
    assert [lv["label"] for lv in kwargs["levels"]] == [lv.name for lv in r.levels]
    assessment = assess_vendor(r)
    l1l4 = assessment.region("L1-L4")
    vendor = r.region("L1-L4")
    # the clinical layer forms the composite from the vendor's printed BMC and area: within the
    # printed levels' rounding of the vendor's own composite (same bound as the check above)
    tol = 0.0005 + vendor.bmd_g_cm2.value * (
        4 * 0.005 / vendor.bmc_g.value + 4 * 0.005 / vendor.area_cm2.value
    )
    assert abs(l1l4.bmd_g_cm2 - vendor.bmd_g_cm2.value) <= tol
    assert assessment.patient["sex"] == case.params.sex
    # vendor exclusions passed on request only
    excl = _read_all(case, tmp_path / "b", VendorReportOptions(excluded=("L4",)), ("ge_sr",))[
        "ge_sr"
    ]
    assert assess_inputs(excl, use_vendor_exclusions=True)["exclude"] == ("L4",)
    assert "exclude" not in assess_inputs(excl)


def test_missing_unit_in_an_sr_is_flagged_and_objects_cross_checked(case, tmp_path):
    import pydicom

    from dxaspine.clinical.second_reading import cross_check

    paths = write_vendor_results(case, tmp_path, ("ge_sr", "ge_xml"))
    ds = pydicom.dcmread(paths["ge_sr"])
    del (
        ds.ContentSequence[0]
        .ContentSequence[1]
        .ContentSequence[0]
        .MeasuredValueSequence[0]
        .MeasurementUnitsCodeSequence
    )
    sr = read_vendor_results(ds)
    flags, _ = second_reading(sr)
    assert [(f.code, f.evidence["count"]) for f in flags] == [("vendor_unit_missing", 1)]
    assert "L2[1] > BMD[0]" in flags[0].evidence["sources"][0]
    xml = read_vendor_results(paths["ge_xml"])
    assert second_reading(xml)[0] == []  # GE XML never states units: not a defect
    assert cross_check(sr, xml) == []  # the same report twice agrees
    ds.ContentSequence[0].ContentSequence[0].ContentSequence[0].MeasuredValueSequence[
        0
    ].NumericValue = "0.999"
    disagree = cross_check(read_vendor_results(ds), xml)
    assert [(f.code, f.level, f.evidence["quantity"]) for f in disagree] == [
        ("vendor_objects_disagree", "L1", "bmd_g_cm2")
    ]
