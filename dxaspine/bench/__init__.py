"""The segmentation benchmark: suites with ground truth, metrics, reports, comparisons.

docs/benchmark.md defines every metric, the truth format and the suites.

>>> from dxaspine.bench import open_suite, parse_spec, run_suite   # doctest: +SKIP
>>> suite = open_suite("standard")                                   # doctest: +SKIP
>>> run = run_suite(suite, [parse_spec("mypkg.seg:segment"), parse_spec("oracle")])  # doctest: +SKIP
>>> aggregates(run.rows)["mypkg.seg:segment"]["all"]["dice_median"]  # doctest: +SKIP
"""

from dxaspine.bench.compare import METRICS, compare_rows
from dxaspine.bench.folder import BenchCase, SuiteFolder, open_folder
from dxaspine.bench.results import aggregates, load_run
from dxaspine.bench.runner import BenchRun, run_suite
from dxaspine.bench.segmenters import SegmenterSpec, parse_spec
from dxaspine.bench.suites import SUITES, SuitePart, SuiteSpec, open_suite, register_suite
from dxaspine.bench.truth import CaseTruth, TruthError, load_truth

__all__ = [
    "METRICS",
    "SUITES",
    "BenchCase",
    "BenchRun",
    "CaseTruth",
    "SegmenterSpec",
    "SuiteFolder",
    "SuitePart",
    "SuiteSpec",
    "TruthError",
    "aggregates",
    "compare_rows",
    "load_run",
    "load_truth",
    "open_folder",
    "open_suite",
    "parse_spec",
    "register_suite",
    "run_suite",
]
