"""Serial monitoring (``compare``) on numbers: same levels, LSC, warnings, bad input.

Worked examples use the Hologic APEX 13.6 report of docs/domain.md §1 (L1 13.26 cm2 / 11.58 g,
L2 13.72 / 12.94, L3 14.81 / 13.93, L4 13.97 / 13.40; L1-L4 = 51.85 / 55.77 = 0.930) and
are computed by hand in the comments.  The four printed areas sum to 55.76 cm2 (the report's
55.77 is its own total, rounded before the levels were), so L1-L4 here is 51.85 / 55.76.  Tolerance rel 1e-6 where the hand value is written to
7 figures.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from dxaspine.cli import main
from dxaspine.clinical.monitoring.compare import compare
from dxaspine.clinical.monitoring.visits import Visit, VisitLevel, visit_from_result, visit_from_row
from dxaspine.errors import DxaError

HOLOGIC = {"L1": (11.58, 13.26), "L2": (12.94, 13.72), "L3": (13.93, 14.81), "L4": (13.40, 13.97)}
REL = 1e-6


def _visit(
    date,
    scale=1.0,
    excluded=(),
    pid="p1",
    source=None,
    make=None,
    analysis=None,
    software=None,
    levels=HOLOGIC,
    reported=None,
):
    lv = tuple(
        VisitLevel(
            k,
            bmc * scale,
            area,
            bmc * scale / area,
            excluded=k in excluded,
            reason="excluded by the user" if k in excluded else None,
        )
        for k, (bmc, area) in levels.items()
    )
    return Visit(
        source or f"visit_{date}",
        date,
        lv,
        patient_id_hash=pid,
        manufacturer=make,
        analysis=analysis or {},
        software=software,
        reported_region=reported,
    )


D0, D1, D2 = dt.date(2020, 1, 1), dt.date(2022, 1, 1), dt.date(2023, 1, 1)


def test_same_levels_recomputed_when_a_level_is_excluded_at_follow_up():
    # Follow-up: BMC x 0.97, L4 excluded.  Common set L1-L3 at both visits:
    # baseline L1-L3 = (11.58 + 12.94 + 13.93)/(13.26 + 13.72 + 14.81) = 38.45/41.79 = 0.9200766
    # follow-up = 0.97 x 0.9200766 = 0.8924743; change -0.0276023 g/cm2 = -3.0 %.
    # Years 2020-01-01 -> 2022-01-01 = 731 days / 365.25 = 2.001369; per year -1.498974 %.
    base = _visit(D0, reported="L1-L4")
    follow = _visit(D1, 0.97, excluded=("L4",), reported="L1-L3")
    c = compare([base, follow], lsc=0.03)
    assert c.comparable and c.region == "L1-L3" and c.levels == ("L1", "L2", "L3")
    assert c.visits[0].bmd_g_cm2 == pytest.approx(0.9200766, rel=REL)
    assert c.visits[1].bmd_g_cm2 == pytest.approx(0.8924743, rel=REL)
    assert c.visits[0].recomputed and not c.visits[1].recomputed
    ch = c.changes[0]
    assert ch.delta_g_cm2 == pytest.approx(-0.0276023, rel=1e-5)
    assert ch.delta_percent == pytest.approx(-3.0, rel=REL)
    assert ch.years == pytest.approx(2.001369, rel=REL)
    assert ch.per_year_percent == pytest.approx(-1.498974, rel=1e-5)
    assert ch.significant is False  # 0.0276 < 0.03
    assert any("L4 not used" in n and "excluded by the user" in n for n in c.notes)
    assert any("compared on L1-L3" in n for n in c.notes)
    assert c.to_dict()["t_scores_compared"] is False


def test_significant_exactly_when_change_reaches_lsc():
    # Baseline L1-L4 0.929878 (51.85/55.76); the LSC is set to the change itself and to
    # just above it: equal counts (ISCD: a change counts if it is >= LSC).
    base = _visit(D0)
    follow = _visit(D1, 0.96)
    delta = abs(compare([base, follow], lsc=0.03).changes[0].delta_g_cm2)
    assert delta == pytest.approx(0.04 * 51.85 / 55.76, rel=REL)
    assert compare([base, follow], lsc=delta).changes[0].significant is True
    assert compare([base, follow], lsc=delta + 1e-4).changes[0].significant is False


def test_default_lsc_is_iscd_maximal_acceptable_and_labelled():
    # No site LSC: 5.3 % of the earlier BMD.  -5.0 % is within it, -5.4 % beyond it.
    c = compare([_visit(D0), _visit(D1, 0.95), _visit(D2, 0.95 * 0.944)])
    assert "5.3 %" in c.lsc.source and "not this site's" in c.lsc.source
    by = {(x.visit, x.reference): x for x in c.changes}
    assert by[(1, "baseline")].significant is False
    assert by[(1, "baseline")].lsc_g_cm2 == pytest.approx(0.053 * 51.85 / 55.76, rel=REL)
    assert by[(2, "previous")].delta_percent == pytest.approx(-5.6, rel=REL)
    assert by[(2, "previous")].significant is True  # 5.6 % >= 5.3 % of the previous visit
    assert by[(2, "baseline")].significant is True


def test_fewer_than_two_common_levels_not_comparable():
    c = compare([_visit(D0, excluded=("L1", "L2")), _visit(D1, excluded=("L3",))])
    assert not c.comparable and "single vertebra" in c.reason and c.levels == ("L4",)


def test_display_visit_not_comparable_and_says_why():
    geometry = tuple(VisitLevel(k, None, a, None) for k, (_, a) in HOLOGIC.items())
    display = Visit("display.dcm", D1, geometry, patient_id_hash="p1", kind="display")
    c = compare([_visit(D0), display], lsc=0.03)
    assert not c.comparable and any("no BMD (geometry only" in n for n in c.notes)


def test_bmd_only_visit_uses_its_reported_composite_or_says_why_not():
    levels_bmd_only = tuple(VisitLevel(k, None, None, 0.9) for k in HOLOGIC)
    vendor = Visit(
        "vendor.dcm",
        D1,
        levels_bmd_only,
        patient_id_hash="p1",
        region_bmd_g_cm2={"L1-L4": 0.900},
        reported_region="L1-L4",
    )
    c = compare([_visit(D0), vendor], lsc=0.02)
    assert c.comparable and c.visits[1].bmd_g_cm2 == 0.900
    # the baseline dropped L4: L1-L3 cannot be formed from BMD-only levels
    c = compare([_visit(D0, excluded=("L4",)), vendor], lsc=0.02)
    assert not c.comparable and "vendor.dcm" in c.reason and "L1-L3" in c.reason


def test_patient_checks():
    with pytest.raises(DxaError, match=r"visit_2022-01-01: PatientID differs.*--force"):
        compare([_visit(D0, pid="a"), _visit(D1, pid="b")])
    with pytest.raises(DxaError, match="no PatientID.*--force"):
        compare([_visit(D0, pid=None), _visit(D1, pid=None)])
    c = compare([_visit(D0, pid=None), _visit(D1, pid=None)], force=True)
    assert any("not verified" in w for w in c.warnings)
    female = Visit("f.json", D0, _visit(D0).levels, patient_id_hash="p1", sex="F")
    male = Visit("m.json", D1, _visit(D1).levels, patient_id_hash="p1", sex="M")
    with pytest.raises(DxaError, match="m.json: patient sex differs"):
        compare([female, male])
    with pytest.raises(DxaError, match="baseline and at least one follow-up"):
        compare([_visit(D0)])


def test_dates_backwards_refused_and_same_date_warned():
    with pytest.raises(DxaError, match=r"visit_2020-01-01: study date is before.*oldest first"):
        compare([_visit(D1), _visit(D0)])
    c = compare([_visit(D0), _visit(D0, 0.99, source="repeat")], lsc=0.03)
    assert c.changes[0].years is None and any("same study date" in w for w in c.warnings)


def test_different_makes_offer_sbmd_and_do_not_judge():
    # Hui 1997 (docs/domain.md §7), hand: Hologic 0.930 -> 1.0550 x (0.930 - 0.972) + 1.0436
    # = 0.99929; Lunar 1.050 -> 0.9683 x (1.050 - 1.100) + 1.0436 = 0.995185.
    hologic = {"L1": (0.930 * 20, 20.0), "L2": (0.930 * 20, 20.0)}
    lunar = {"L1": (1.050 * 20, 20.0), "L2": (1.050 * 20, 20.0)}
    base = _visit(D0, make="HOLOGIC", levels=hologic)
    follow = _visit(D1, make="GE Healthcare", levels=lunar)
    c = compare([base, follow], lsc=0.03)
    assert c.visits[0].sbmd_g_cm2 == pytest.approx(0.99929, rel=REL)
    assert c.visits[1].sbmd_g_cm2 == pytest.approx(0.995185, rel=REL)
    assert c.changes[0].sbmd_delta_g_cm2 == pytest.approx(0.995185 - 0.99929, rel=1e-5)
    assert c.changes[0].significant is None and "not judged" in c.changes[0].verdict
    assert any("scanner make differs" in w for w in c.warnings)
    assert any("3.5 %" in w for w in c.warnings)


def test_convention_software_and_kind_differences_warned():
    a = _visit(
        D0, analysis={"box": "L4 width + 7 mm", "physics_model": "two-material"}, software="1.0"
    )
    b = _visit(
        D1, analysis={"box": "L4 width + 5 mm", "physics_model": "two-material"}, software="2.0"
    )
    w = compare([a, b], lsc=0.03).warnings
    assert any("analysis box differs" in x for x in w)
    assert not any("physics_model" in x for x in w)  # same at both visits
    assert any("scanner software differs" in x for x in w)
    # a convention recorded at one visit only is a difference too (cannot be checked)
    w = compare([_visit(D0, analysis={"edge": "relative:0.1"}), _visit(D1)], lsc=0.03).warnings
    assert any("analysis edge differs" in x and "not recorded" in x for x in w)


def test_visit_from_result_and_row():
    result = {
        "input": {"kind": "dual_energy", "manufacturer": "HOLOGIC", "study_date": "2021-05-04"},
        "patient": {"sex": "F", "age_years": 61.0},
        "levels": [
            {
                "label": k,
                "bmc_g": b,
                "area_cm2": a,
                "bmd_g_cm2": round(b / a, 3),
                "excluded": k == "L4",
                "flags": [{"code": "adjacent_t_difference"}],
            }
            for k, (b, a) in HOLOGIC.items()
        ],
        "regions": [{"name": "L1-L3", "bmd_g_cm2": 0.920}],
        "exclusion": {"mode": "automatic"},
        "reported_region": "L1-L3",
        "software": {"name": "dxaspine", "version": "0.1.0"},
        "analysis": {"box": "L4 width + 7 mm"},
    }
    v = visit_from_result(result, "r.json")
    assert v.date == dt.date(2021, 5, 4) and v.sex == "F" and v.manufacturer == "HOLOGIC"
    assert v.level("L4").excluded and v.level("L4").reason == "adjacent_t_difference"
    assert v.region_bmd_g_cm2 == {"L1-L3": 0.920}
    assert v.analysis == {"box": "L4 width + 7 mm", "analysis_software": "dxaspine 0.1.0"}
    row = {
        "L1_bmc_g": "11.58",
        "L1_area_cm2": "13.26",
        "L1_excluded": "False",
        "L2_bmc_g": "12.94",
        "L2_area_cm2": "13.72",
        "L2_excluded": "True",
        "L2_flags": "osteophyte_suspected",
        "L1-L4_bmd_g_cm2": "0.93",
        "reported_bmd_g_cm2": "0.93",
        "patient_sex": "M",
        "patient_id": "X1",
        "study_date": "20200101",
    }
    v = visit_from_row(row, "t.csv row 1")
    assert v.level("L2").excluded and v.level("L2").reason == "osteophyte_suspected"
    assert v.region_bmd_g_cm2 == {"L1-L4": 0.93} and v.patient_id_hash and v.sex == "M"
    with pytest.raises(DxaError, match="t.csv row 2: no per-level columns"):
        visit_from_row({"x": "1"}, "t.csv row 2")
    with pytest.raises(DxaError, match="study date is not"):
        visit_from_row({**row, "study_date": "01/02/2020"}, "t.csv row 3")


def _table(path, rows):
    header = sorted({k for r in rows for k in r})
    lines = [",".join(header)] + [",".join(str(r.get(h, "")) for h in header) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def test_cli_on_batch_table_rows_writes_json_csv_and_plot(tmp_path, capsys):
    rows = []
    for date, scale, excl in (
        ("2020-01-01", 1.0, ""),
        ("2022-01-01", 0.97, "L4"),
        ("2023-01-01", 0.93, ""),
    ):
        row = {
            "patient_id": "P7",
            "study_date": date,
            "kind": "dual_energy",
            "reported_region": "L1-L3" if excl else "L1-L4",
        }
        for k, (b, a) in HOLOGIC.items():
            row |= {
                f"{k}_bmc_g": round(b * scale, 4),
                f"{k}_area_cm2": a,
                f"{k}_excluded": k == excl,
            }
        rows.append(row)
    table = tmp_path / "results.csv"
    _table(table, rows)
    out_json, out_csv, out_png = tmp_path / "c.json", tmp_path / "c.csv", tmp_path / "t.png"
    args = [
        "compare",
        str(table),
        "--lsc",
        "0.03",
        "--json",
        str(out_json),
        "--csv",
        str(out_csv),
        "--plot",
        str(out_png),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "L1-L3" in printed and "T-scores are not compared" in printed
    data = json.loads(out_json.read_text())
    assert data["region"] == "L1-L3" and len(data["visits"]) == 3
    # visit 3 vs baseline: 0.93 -> -7 % of 0.9200766 = -0.0644054 g/cm2, beyond 0.03
    ch = next(c for c in data["changes"] if c["visit"] == 2 and c["reference"] == "baseline")
    assert ch["delta_g_cm2"] == pytest.approx(-0.07 * 0.9200766, rel=1e-4) and ch["significant"]
    assert out_csv.read_text().count("\n") == 4
    _assert_png_not_blank(out_png)
    # a row selector picks visits 1 and 3 only
    assert main(["compare", f"{table}#1,3", "--lsc", "0.03", "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["region"] == "L1-L4"
    # --exclude-at on table rows marks the level excluded at that visit
    assert main(["compare", f"{table}#1,3", "--exclude-at", "2=L1", "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["region"] == "L2-L4"


def _assert_png_not_blank(path):
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape[0] > 100 and pixels.std() > 5  # a plot, not an empty canvas


def test_vendor_trend_points_of_the_compared_region_feed_the_trend():
    from dxaspine.clinical.monitoring.visits import TrendPoint

    points = (TrendPoint(dt.date(2018, 6, 1), "L1-L4", 0.95), TrendPoint(D0, "L2-L4", 0.97))
    base = Visit("vendor.dcm", D0, _visit(D0).levels, patient_id_hash="p1", trend=points)
    c = compare([base, _visit(D1, 0.99)], lsc=0.03)
    assert [p.region for p in c.trend] == ["L1-L4"]  # only the compared region
    assert c.to_dict()["trend"][0] == {
        "date": "2018-06-01",
        "region": "L1-L4",
        "bmd_g_cm2": 0.95,
        "source": "vendor trend",
    }
