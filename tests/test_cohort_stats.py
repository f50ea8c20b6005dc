"""Cohort statistics on small tables whose answers are computed by hand in the comments.

A user reference (T mean 1.0, SD 0.1 for every region) makes T-scores calculator-simple:
T = (BMD - 1.0) / 0.1.  Every level has area 10 cm2, so L1-L4 = sum BMC / 40 and
L2-L4 = (BMC2 + BMC3 + BMC4) / 30.
"""

from __future__ import annotations

import numpy as np
import pytest

from dxaspine.cli import main
from dxaspine.clinical.cohort import (
    analyze_cohort,
    paired_differences,
    read_cohort,
    reclassification,
    scenario_levels,
)
from dxaspine.clinical.cohort.survey import kish_n, mean_ci, proportion_ci
from dxaspine.errors import DxaError

REGIONS = (
    "L1",
    "L2",
    "L3",
    "L4",
    "L1-L4",
    "L2-L4",
    "L1-L3",
    "L1-L2",
    "L2-L3",
    "L3-L4",
    "L1-L2,L4",
    "L1,L3-L4",
    "L1,L3",
    "L1,L4",
    "L2,L4",
)
# BMC per level (area 10 each):
#   p1 7,7,7,7        L1-L4 0.700 (T -3.0 osteoporosis)   L2-L4 0.700 (osteoporosis)
#   p2 6,7.9,7.9,7.9  L1-L4 0.7425 (T -2.575 osteoporosis) L2-L4 0.790 (T -2.1 low)
#   p3 9.5 x 4        L1-L4 0.950 (T -0.5 normal)          L2-L4 0.950 (normal)
#   p4 10,8.5,8.5,8.5 L1-L4 0.8875 (T -1.125 low)          L2-L4 0.850 (T -1.5 low)
#   p5 12,8.8,8.8,8.8 L1-L4 0.960 (T -0.4 normal)          L2-L4 0.880 (T -1.2 low)
PEOPLE = {
    "p1": (7, 7, 7, 7),
    "p2": (6, 7.9, 7.9, 7.9),
    "p3": (9.5,) * 4,
    "p4": (10, 8.5, 8.5, 8.5),
    "p5": (12, 8.8, 8.8, 8.8),
}


@pytest.fixture
def simple(tmp_path):
    ref = tmp_path / "ref.csv"
    ref.write_text(
        "# name: test-round\n# source: round numbers for hand checks\n"
        "score,region,sex,ethnicity,age_min_years,age_max_years,mean_g_cm2,sd_g_cm2,n,source\n"
        + "".join(f'T,"{r}",any,,,,1.0,0.1,,\n' for r in REGIONS)
    )
    rows = ["id,sex,age_years," + ",".join(f"L{i}_bmc_g,L{i}_area_cm2" for i in range(1, 5))]
    for pid, bmc in PEOPLE.items():
        rows.append(f"{pid},F,65," + ",".join(f"{b},10" for b in bmc))
    table = tmp_path / "tab.csv"
    table.write_text("\n".join(rows) + "\n")
    return read_cohort(table, weights=None), str(ref)


def test_reclassification_hand_example(simple):
    cohort, ref = simple
    r = reclassification(cohort, np.ones(cohort.n, bool), reference=ref, weighted=False)
    # rows: category at L1-L4 (normal, low, osteoporosis); columns: at L2-L4
    # normal: p3 -> normal, p5 -> low; low: p4 -> low; osteoporosis: p1 -> osteo, p2 -> low
    np.testing.assert_array_equal(r.counts, [[1, 1, 0], [0, 1, 0], [0, 1, 1]])
    assert r.changed.value == pytest.approx(2 / 5)  # p2 and p5
    assert r.worse.value == pytest.approx(1 / 5) and r.better.value == pytest.approx(1 / 5)
    assert r.osteoporosis_a.value == pytest.approx(2 / 5)
    assert r.osteoporosis_b.value == pytest.approx(1 / 5)
    # kappa: observed 3/5 = 0.6; marginals a (2, 1, 2), b (1, 3, 1):
    # expected (2x1 + 1x3 + 2x1)/25 = 0.28; kappa = (0.6 - 0.28)/(1 - 0.28) = 0.444444
    assert r.kappa == pytest.approx(0.444444, rel=1e-5)


def test_paired_differences_hand_example(simple):
    cohort, ref = simple
    p = paired_differences(cohort, np.ones(cohort.n, bool), reference=ref, weighted=False)
    # d = L2-L4 - L1-L4: 0, +0.0475, 0, -0.0375, -0.08; mean -0.07/5 = -0.014
    # deviations 0.014, 0.0615, 0.014, -0.0235, -0.066; squares sum 0.0090825; /4 =
    # 0.002270625; SD 0.0476511.  t(4, 0.975) = 2.776445; SE = 0.0476511/sqrt(5) =
    # 0.0213102; half-width 0.0591667.  LoA = -0.014 -/+ 1.959964 x 0.0476511 = 0.0933945.
    assert p.n == 5
    assert p.difference_g_cm2.value == pytest.approx(-0.014, rel=1e-6)
    assert p.sd_difference_g_cm2 == pytest.approx(0.0476511, rel=1e-5)
    assert p.difference_g_cm2.ci_low == pytest.approx(-0.0731667, rel=1e-5)
    assert p.difference_g_cm2.ci_high == pytest.approx(0.0451667, rel=1e-5)
    assert p.limits_of_agreement_g_cm2[0] == pytest.approx(-0.1073945, rel=1e-5)
    assert p.limits_of_agreement_g_cm2[1] == pytest.approx(0.0793945, rel=1e-5)
    # T difference with SD 0.1: exactly d / 0.1 -> mean -0.14
    assert p.difference_t.value == pytest.approx(-0.14, rel=1e-6)


def test_weighted_estimates_hand_example():
    # x = 1, 2, 4 with weights 1, 1, 2: mean = (1 + 2 + 8)/4 = 2.75.
    # Linearised SE^2 = n/(n-1) x sum w^2 (x-m)^2 / (sum w)^2
    #   = 3/2 x (1 x 3.0625 + 1 x 0.5625 + 4 x 1.5625) / 16 = 1.5 x 9.875 / 16 = 0.92578125
    # SE = 0.962176; Kish n = 16/6 = 2.666667.
    x, w = np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0])
    e = mean_ci(x, w)
    assert e.value == pytest.approx(2.75)
    assert e.se == pytest.approx(0.962176, rel=1e-5)
    assert kish_n(w) == pytest.approx(2.666667, rel=1e-6)
    # Wilson on 37/100 (unweighted), z = 1.959964, z^2 = 3.841459:
    # centre = (0.37 + 3.841459/200)/(1 + 3.841459/100) = 0.3892073/1.0384146 = 0.3748093
    # half = z x sqrt(0.37 x 0.63/100 + 3.841459/40000)/1.0384146
    #      = 1.959964 x sqrt(0.0024270365)/1.0384146 = 1.959964 x 0.0492650/1.0384146
    #      = 0.0929857  -> [0.2818236, 0.4677950]
    p = proportion_ci(np.array([True] * 37 + [False] * 63))
    # 1e-6: the bounds are sums of two hand values each rounded to 7 decimals
    assert p.ci_low == pytest.approx(0.2818236, abs=1e-6)
    assert p.ci_high == pytest.approx(0.4677950, abs=1e-6)


def _batch_table(tmp_path, rows):
    header = ["path", "kind", "patient_sex", "patient_age_years"]
    for i in range(1, 5):
        header += [
            f"L{i}_bmc_g",
            f"L{i}_area_cm2",
            f"L{i}_bmd_g_cm2",
            f"L{i}_excluded",
            f"L{i}_flags",
        ]
    lines = [",".join(header)]
    for n, (bmd, flags, excluded) in enumerate(rows):
        cells = [f"s{n}.dcm", "dual_energy", "F", "66"]
        for i in range(4):
            cells += [
                f"{bmd[i] * 15:.4f}",
                "15",
                f"{bmd[i]:.4f}",
                str(i in excluded),
                flags.get(i, ""),
            ]
        lines.append(",".join(cells))
    path = tmp_path / "results.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_exclusion_scenarios_follow_the_per_scan_rules(tmp_path):
    # s0: L3 BMD 1.25 between L2 0.95 and L4 0.98.  With the default reference (T mean
    # 1.065 x NHANES level ratio, SD 0.122; docs/domain.md §8): T(L2) = (0.95 - 1.057)/0.122 =
    # -0.88, T(L3) = (1.25 - 1.096)/0.122 = +1.26: the pair differs by 2.1 > 1.0, and L3
    # deviates from its neighbours -> the ISCD scenario drops L3 (assess attributes it).
    # s1: a smooth spine with an osteophyte flagged on L4 by image evidence.
    # s2: the batch excluded L1 itself.
    path = _batch_table(
        tmp_path,
        [
            ((0.90, 0.95, 1.25, 0.98), {}, ()),
            ((0.92, 0.97, 1.00, 1.00), {3: "osteophyte_suspected"}, ()),
            ((0.92, 0.97, 1.00, 1.00), {}, (0,)),
        ],
    )
    cohort = read_cohort(path)
    assert cohort.layout == "batch" and cohort.weights is None
    levels = scenario_levels(cohort, np.ones(cohort.n, bool))
    assert levels["L1-L4"][0] == "L1-L4" and levels["iscd"][0] == "L1-L2,L4"
    assert levels["image"][1] == "L1-L3" and levels["iscd"][1] == "L1-L4"
    assert levels["source"][2] == "L2-L4" and levels["L1-L4"][2] is None
    assert levels["L1-L2"][2] is None and levels["automatic"][1] == "L1-L3"


def test_cli_on_tabular_table_and_bad_input(simple, tmp_path, capsys):
    cohort, ref = simple
    out = tmp_path / "rep"
    assert main(["cohort", cohort.source, "--reference", ref, "--out", str(out), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "WHO category" in printed and "change category 40.0 %" in printed
    for name in (
        "report.md",
        "report.html",
        "tables/reclassification.csv",
        "tables/paired.csv",
        "tables/gradient.csv",
        "tables/exclusion.csv",
    ):
        assert (out / name).stat().st_size > 0, name
    assert "n_osteoporosis_to_low_bone_mass" in (out / "tables/reclassification.csv").read_text()
    with pytest.raises(DxaError, match="a region needs at least 2 levels"):
        analyze_cohort(cohort, "L1", "L2-L4")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,x\n1,2\n")
    with pytest.raises(DxaError, match=r"bad\.csv: header matches no cohort layout"):
        read_cohort(bad)
    assert main(["cohort", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.csv" in err
    nobmc = tmp_path / "nobmc.csv"
    nobmc.write_text("path,kind,patient_sex,L1_bmc_g,L1_area_cm2\na,dual_energy,F,,\n")
    with pytest.raises(DxaError, match="nobmc.csv: no L1_bmc_g"):
        read_cohort(nobmc)
    with pytest.raises(DxaError, match="weight column w"):
        read_cohort(cohort.source, weights="w")
    assert main(["cohort", cohort.source, "--age-bands", "70,50"]) == 1
