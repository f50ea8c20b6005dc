"""``cohort`` on the NHANES 2017-2020 file against docs/domain.md §3, and its report in Chromium.

Ground truth here is docs/domain.md §3 (figures computed from this file elsewhere): the level
ratios, the share of spines with an invalid level by age, and the ~6 % ISCD-rule rate; and an
independent re-derivation of the L1-L4 / L2-L4 WHO table from the raw CSV with the csv module
and the shipped reference CSV.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from _shared_data import NHANES, needs_nhanes

from dxaspine.cli import main
from dxaspine.clinical.cohort import iscd_rule_fires, level_gradient, read_cohort
from dxaspine.clinical.cohort.survey import proportion_ci

pytestmark = needs_nhanes
CHROMIUM = "/usr/bin/chromium"
DOMAIN_RATIOS = {"L1": 0.941, "L2": 0.993, "L3": 1.029, "L4": 1.026}


@pytest.fixture(scope="module")
def nhanes():
    return read_cohort(NHANES)


def test_populations_are_the_documented_rows(nhanes):
    # docs/domain.md §8 / the NHANES README: 4,593 rows; 2,121 all-valid, of which 63 have a total
    # that is the sum of a subset of levels -> 2,058 (docs/domain.md §3's count).
    assert nhanes.n == 4593
    assert nhanes.populations["source_valid"].n == 2121
    assert nhanes.populations["all_valid"].n == 2058
    assert nhanes.counts["quirk_rows"] == 63
    assert nhanes.weight_name == "WTMECPRP"


def test_level_ratios_reproduce_domain(nhanes):
    # docs/domain.md §3 is reproduced by the UNWEIGHTED mean of level BMD / L1-L4 BMD over the
    # 2,058 all-valid rows whose total is the sum of L1-L4 (the 63 subset-total rows out);
    # L1-L4 = sum BMC / sum area (= DXXOSBMD to print precision on these rows).
    # Tolerance 0.002 (the issue's); the level BMDs print to 0.001.
    rows = nhanes.populations["all_valid"].mask
    for g in level_gradient(nhanes, rows, weighted=False):
        assert abs(g.ratio.value - DOMAIN_RATIOS[g.level]) <= 0.002, (g.level, g.ratio.value)
    # The SDs 0.052 (L1) and 0.047 (L4) come from the same 2,058 rows INCLUDING one row
    # whose L1 BMC and area are 0 (ratio 0); level_gradient drops it (L1 not measured),
    # which gives L1 SD 0.047.  Both computed here from the raw arrays.
    total = nhanes.region_bmd("L1-L4")
    r1 = nhanes.bmd_g_cm2["L1"][rows] / total[rows]
    r4 = nhanes.bmd_g_cm2["L4"][rows] / total[rows]
    assert np.std(r1, ddof=1) == pytest.approx(0.052, abs=0.0005)
    assert np.std(r4, ddof=1) == pytest.approx(0.047, abs=0.0005)
    assert np.mean(r1) == pytest.approx(0.941, abs=0.0005)
    # The weighted (WTMECPRP) L4 ratio 1.023 is 0.003 off: DOMAIN's figures are unweighted.
    weighted = {g.level: g.ratio.value for g in level_gradient(nhanes, rows, weighted=True)}
    assert abs(weighted["L4"] - DOMAIN_RATIOS["L4"]) > 0.002


def test_invalid_levels_by_age_and_iscd_rule_rate(nhanes):
    # docs/domain.md §3: at least one level invalid in 36 % (50-59), 45 % (60-69), 57 % (70-80)
    # of scanned people, unweighted; tolerance 1 percentage point (the DOMAIN figures are
    # whole percents, so +-0.5 rounding plus slack for which rows count as "scanned").
    scanned = nhanes.populations["scanned"].mask
    band = nhanes.age_band((50, 60, 70, 81))
    valid = nhanes.populations["source_valid"].mask
    for label, expected in (("50-59", 0.36), ("60-69", 0.45), ("70-80", 0.57)):
        sel = scanned & (band == label)
        assert abs(proportion_ci(~valid[sel]).value - expected) <= 0.01, label
    # docs/domain.md §3: the ISCD adjacent-T rule fires on "about 6 %" of the 2,121 all-valid
    # scans (young-adult 1.065 x level ratio, SD 0.122: the shipped default reference).
    # "About" is read as +-1 percentage point.
    fires = iscd_rule_fires(nhanes, valid)[valid].mean()
    assert abs(fires - 0.06) <= 0.01, fires


def _independent_who_table():
    """The L1-L4 / L2-L4 WHO table re-derived from the raw CSV, without dxaspine's cohort code.

    Rows: DXXOSBCC = 0, the total equal to the sum of L1-L4 (0.05 g / cm2), every area > 0
    and sum BMC / sum area within 0.0015 of DXXOSBMD (build_tables' reference set, as the
    cohort's headline population).  T = (BMD - mean) / SD with the T rows of the shipped
    reference CSV; WHO: normal T >= -1, osteoporosis T <= -2.5 (docs/domain.md §2).
    """
    from importlib import resources

    text = resources.files("dxaspine.clinical") / "reference_data" / "dxaspine_default.csv"
    ref = {}
    for r in csv.DictReader(
        line for line in text.read_text().splitlines() if not line.startswith("#")
    ):
        if r["score"] == "T":
            ref[r["region"]] = (float(r["mean_g_cm2"]), float(r["sd_g_cm2"]))
    counts = np.zeros((3, 3), int)
    with open(NHANES, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["DXXOSBCC"] != "0.0":
                continue
            bmc = [float(r[f"DXXL{i}BMC"]) for i in range(1, 5)]
            area = [float(r[f"DXXL{i}A"]) for i in range(1, 5)]
            if (
                abs(sum(bmc) - float(r["DXXOSBMC"])) > 0.05
                or abs(sum(area) - float(r["DXXOSA"])) > 0.05
                or min(area) <= 0
                or abs(sum(bmc) / sum(area) - float(r["DXXOSBMD"])) > 0.0015
            ):
                continue
            cats = []
            for region, bmd in (
                ("L1-L4", sum(bmc) / sum(area)),
                ("L2-L4", sum(bmc[1:]) / sum(area[1:])),
            ):
                mean, sd = ref[region]
                t = (bmd - mean) / sd
                cats.append(0 if t >= -1.0 else 2 if t <= -2.5 else 1)
            counts[cats[0], cats[1]] += 1
    return counts


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``dxaspine cohort NHANES --out DIR`` once for the module: (report dir, stdout)."""
    out = tmp_path_factory.mktemp("nhanes_report")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["cohort", str(NHANES), "--out", str(out)]) == 0
    return out, buf.getvalue()


def test_reclassification_table_matches_independent_derivation(cli_run):
    out, printed = cli_run
    expected = _independent_who_table()
    with open(out / "tables" / "reclassification.csv", newline="") as fh:
        overall = next(csv.DictReader(fh))  # first row: everyone, weighted
    assert overall["group"] == "all" and int(overall["n"]) == expected.sum() == 2056
    names = ("normal", "low_bone_mass", "osteoporosis")
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            assert int(overall[f"n_{a}_to_{b}"]) == expected[i, j], (a, b)
    # the command prints the table: its first row is the independent derivation's
    assert "WHO category, L1-L4 (rows) vs L2-L4 (columns)" in printed
    first = next(
        line for line in printed.splitlines() if line.strip().startswith("normal") and "(" in line
    )  # not the header
    assert [int(x) for x in re.findall(r"(\d+) \(", first)] == list(expected[0])
    # the same people: L2-L4 reads higher than L1-L4 (L1 is the least dense level; domain.md §3)
    with open(out / "tables" / "paired.csv", newline="") as fh:
        paired = next(csv.DictReader(fh))
    assert float(paired["difference_g_cm2_ci_low"]) > 0


def test_report_is_self_contained(cli_run):
    out, _ = cli_run
    text = (out / "report.md").read_text()
    assert "WHO category at L1-L4 (rows) against L2-L4 (columns)" in text
    html = (out / "report.html").read_text()
    assert "<link" not in html and "src='http" not in html and 'src="http' not in html
    assert html.count("data:image/png;base64,") == 5  # every figure inline
    for name in ("paired", "reclassification", "gradient", "exclusion", "quality"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 100


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium not installed (CI installs it)")
def test_html_report_renders_in_headless_chromium(cli_run, tmp_path):
    report_dir, _ = cli_run
    from PIL import Image

    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        (report_dir / "report.html").as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[:2] == (2000, 1200)
    # Rendered content, not a blank page: a blank page is one colour (variance 0); text,
    # tables and plots give strong variance and a good share of non-white pixels.
    assert pixels.std() > 20
    assert (pixels.min(axis=2) < 200).mean() > 0.02
