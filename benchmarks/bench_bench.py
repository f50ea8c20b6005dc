"""Benchmark harness speed: a 100-input suite through ``dxaspine bench run`` on 2 cores.

Run: ``python benchmarks/bench_bench.py [--suite mixed] [--workers 2] [--references]``.

Measured in this one run:

1. generating the suite into a fresh cache (and the cached re-open, which must be cheap);
2. ``run_suite`` of the classical segmenter over every input with ``--workers`` processes;
3. the same inputs through plain ``dxaspine.analyze`` in one process, as the baseline: the
   ratio (2) / (3) is the harness's cost over the bare pipeline, parallelism included;
4. writing the results and the report (plots and thumbnails).

The issue's bar: a 100-case suite in under 5 minutes on 2 cores for the classical segmenter.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="mixed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--references", action="store_true", help="also run oracle and naive")
    parser.add_argument("--cache", help="suite cache to use (default: a fresh one, so the "
                        "generation is timed)")  # fmt: skip
    args = parser.parse_args()

    cache = args.cache or tempfile.mkdtemp(prefix="dxaspine-bench-cache-")
    os.environ["DXASPINE_BENCH_CACHE"] = cache
    import dxaspine
    from dxaspine.bench.report import write_report
    from dxaspine.bench.results import write_results_json, write_rows
    from dxaspine.bench.runner import run_suite
    from dxaspine.bench.segmenters import parse_spec
    from dxaspine.bench.suites import open_suite
    from dxaspine.warmup import warm_up

    start = time.perf_counter()
    suite = open_suite(args.suite, workers=args.workers)
    generate_s = time.perf_counter() - start
    start = time.perf_counter()
    suite = open_suite(args.suite, workers=args.workers)
    reopen_s = time.perf_counter() - start
    n = len(suite.cases)
    print(f"suite {args.suite}: {n} inputs; generated in {generate_s:.1f} s "
          f"({args.workers} workers), cached re-open (sha256 check) {reopen_s:.2f} s")  # fmt: skip

    specs = [parse_spec("dxaspine.segment:segment_spine")]
    if args.references:
        specs += [parse_spec("oracle"), parse_spec("naive")]
    start = time.perf_counter()
    run = run_suite(suite, specs, workers=args.workers)
    run_s = time.perf_counter() - start
    failed = sum(r["status"] != "ok" for r in run.rows)
    print(f"bench run, {len(specs)} segmenter(s), {args.workers} workers: {run_s:.1f} s "
          f"({run_s / n * 1000:.0f} ms per input, worker start-up and warm-up included); "
          f"{failed} failed rows")  # fmt: skip

    warm_up()
    start = time.perf_counter()
    for case in suite.cases:
        try:
            dxaspine.analyze(case.source)
        except dxaspine.DxaError:
            pass
    serial_s = time.perf_counter() - start
    print(f"plain dxaspine.analyze, 1 process, warm: {serial_s:.1f} s "
          f"({serial_s / n * 1000:.0f} ms per input)")  # fmt: skip
    print(f"ratio bench run / plain analyze: {run_s / serial_s:.2f}")

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = write_results_json(Path(out), run, run.rows)
        write_rows(Path(out), run.rows)
        write_report(Path(out), results, run.rows, suite.cases)
        report_s = time.perf_counter() - start
    print(f"results + report (plots, thumbnails): {report_s:.1f} s")
    total = run_s + report_s
    print(f"total for {n} inputs: {total:.1f} s = {total / 60:.2f} min (bar: 5 min)")


if __name__ == "__main__":
    main()
