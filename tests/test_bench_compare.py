"""``compare``: paired bootstrap intervals on hand-made rows, and on real runs a deliberately
degraded segmenter is called significantly worse (exit 1) while a re-run of the same one is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dxaspine.bench.compare import compare_rows
from dxaspine.bench.results import load_run
from dxaspine.bench.suites import SuitePart, SuiteSpec, write_phantom_suite
from dxaspine.cli import main

PLUGINS = Path(__file__).resolve().parent / "_bench_plugins.py"


def _rows(values, metric="line_midpoint_error_mean_mm", name="s"):
    return [{"segmenter": name, "case": f"c{i}", "status": "ok", metric: v}
            for i, v in enumerate(values)]  # fmt: skip


def _one(comparisons, metric="line_midpoint_error_mean_mm"):
    return next(c for c in comparisons if c.metric == metric)


def test_identical_runs_are_never_worse():
    rows = _rows([0.4, 0.9, 1.3, 0.2] * 5)
    comparisons, _ = compare_rows(rows, rows, metrics=["line_midpoint_error_mean_mm"], gate={})
    c = _one(comparisons)
    assert (c.difference, c.ci_low, c.ci_high, c.verdict) == (
        0.0,
        0.0,
        0.0,
        "no significant change",
    )


def test_a_shift_of_every_case_is_significant_however_spread_the_cases():
    # 20 cases spread 0.2-1.3 mm, each 0.5 mm worse in B: every paired difference is +0.5, so
    # every bootstrap mean is 0.5 and the interval is [0.5, 0.5]; an unpaired comparison of
    # the two spreads would not see it.
    a = [0.4, 0.9, 1.3, 0.2] * 5
    comparisons, _ = compare_rows(_rows(a), _rows([v + 0.5 for v in a]),
                                  gate={"line_midpoint_error_mean_mm": 0.0})  # fmt: skip
    c = _one(comparisons)
    assert c.difference == pytest.approx(0.5) and c.ci_low == pytest.approx(0.5)
    assert c.verdict == "worse" and c.gated
    # within a tolerance of 1 mm the same change does not fail the gate
    comparisons, _ = compare_rows(_rows(a), _rows([v + 0.5 for v in a]),
                                  gate={"line_midpoint_error_mean_mm": 1.0})  # fmt: skip
    assert _one(comparisons).verdict == "no significant change"


def test_two_failures_in_thirty_are_not_significant():
    # 2 of 30 cases lose their labels, none gain.  A bootstrap resample holds neither of the
    # two with probability (28/30)^30 = 12.6 % > 2.5 %, so the interval's upper end is 0 and
    # the change is not significant at 95 % (it takes more evidence than two cases).
    a = _rows([1.0] * 30, "labels_scan_correct")
    b = _rows([1.0] * 28 + [0.0] * 2, "labels_scan_correct")
    comparisons, _ = compare_rows(a, b, gate={"labels_scan_correct": 0.0})
    c = _one(comparisons, "labels_scan_correct")
    assert c.ci_high == 0.0 and c.verdict == "no significant change"


def test_unknown_metric_is_a_value_error():
    with pytest.raises(ValueError, match="unknown metric"):
        compare_rows([], [], gate={"speed": 0.0})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs over 8 dual-energy phantoms: classical, classical again, and degraded ones."""
    root = tmp_path_factory.mktemp("compare")
    suite = root / "suite"
    write_phantom_suite(SuiteSpec("eight", "8 standard dual-energy cases",
                                  (SuitePart("standard", "standard", 8),)), suite)  # fmt: skip
    out = {}
    for run, target in (("a", "dxaspine.segment:segment_spine"),
                        ("again", "dxaspine.segment:segment_spine"),
                        ("shifted", f"{PLUGINS}:shifted"),
                        ("relabelled", f"{PLUGINS}:relabelled")):  # fmt: skip
        status = main(["bench", "run", "--suite", str(suite), "--segmenter", f"mine={target}",
                       "--no-references", "--workers", "1", "--out", str(root / run), "-q"])  # fmt: skip
        assert status == 0
        out[run] = root / run
    return out


@pytest.mark.slow  # four real runs: ~15 s of CPU, ~50 s on a busy 2-core machine
def test_degraded_segmenter_is_significantly_worse(runs, capsys):
    # lines 4 mm caudal on every case: the line error rises by about 4 mm on every pair
    assert main(["bench", "compare", str(runs["a"]), str(runs["shifted"])]) == 1
    printed = capsys.readouterr().out
    assert "significantly worse: mine line_midpoint_error_mean_mm" in printed
    _, rows_a = load_run(runs["a"])
    _, rows_b = load_run(runs["shifted"])
    c = _one(compare_rows(rows_a, rows_b)[0])
    # a 4 mm caudal shift moves each midpoint by 4 mm, so |error| grows by at most 4 mm and,
    # from sub-mm errors, by at least 3 mm
    assert 3.0 < c.ci_low <= c.ci_high < 4.0 + 1e-9


@pytest.mark.slow  # four real runs: ~15 s of CPU, ~50 s on a busy 2-core machine
def test_labels_shifted_on_half_the_cases_are_significantly_worse(runs):
    assert main(["bench", "compare", str(runs["a"]), str(runs["relabelled"]),
                 "--metric", "labels_scan_correct"]) == 1  # fmt: skip


@pytest.mark.slow  # four real runs: ~15 s of CPU, ~50 s on a busy 2-core machine
def test_the_same_segmenter_rerun_is_not_worse(runs, capsys):
    assert main(["bench", "compare", str(runs["a"]), str(runs["again"])]) == 0
    assert "none significantly worse" in capsys.readouterr().out
