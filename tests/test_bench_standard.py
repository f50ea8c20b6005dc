"""The done-when of the benchmark: on the ``standard`` suite the harness reports, for the
classical segmenter, the figures tests/test_segment_accuracy.py asserts on the same 90 inputs
(same generator, seeds, count and kinds: dxaspine/bench/suites.py), with the oracle as the
ceiling and the naive reference as the floor.  Per-case equality of the two evaluations is
tests/test_bench_runner.py::test_harness_scores_what_the_accuracy_test_scores.
"""

from __future__ import annotations

import pytest

from dxaspine.bench.results import aggregates
from dxaspine.bench.runner import run_suite
from dxaspine.bench.segmenters import parse_spec
from dxaspine.bench.suites import open_suite


@pytest.mark.slow  # 30 cases generated, 90 inputs x 3 segmenters: ~2 min on 2 cores
def test_standard_suite_figures_are_the_accuracy_tests_bars(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DXASPINE_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    suite = open_suite("standard", workers=2)
    assert len(suite.cases) == 90 and not suite.skipped
    specs = [parse_spec(s) for s in ("dxaspine.segment:segment_spine", "oracle", "naive")]
    run = run_suite(suite, specs, workers=2)
    figures = aggregates(run.rows)
    classical = figures["dxaspine.segment:segment_spine"]["all"]
    # the bars of test_standard_labels_all_right, test_standard_line_midpoints and
    # test_standard_level_dice (docs/domain.md §3-4)
    assert classical["failed_n"] == 0
    assert classical["scan_labels_correct_rate"] == 1.0
    assert classical["line_midpoint_error_median_mm"] <= 1.5
    assert classical["line_midpoint_error_p95_mm"] <= 3.0
    assert classical["lines_n"] >= 4 * 90
    assert classical["dice_min"] >= 0.95
    oracle, naive = figures["oracle"]["all"], figures["naive"]["all"]
    assert oracle["line_midpoint_error_p95_mm"] == 0.0 and oracle["dice_min"] == 1.0
    assert naive["line_midpoint_error_median_mm"] > classical["line_midpoint_error_p95_mm"]
    assert naive["dice_median"] < classical["dice_min"]
