"""``dxaspine bench suites|make-suite|run|compare``: benchmark segmenters against ground truth.

- ``suites``: the registered suites, what they hold, whether they can be generated here and
  where they are cached.
- ``make-suite NAME [--out DIR]``: generate a registered suite (into the cache, or a folder);
  ``make-suite --from FOLDER``: check a folder of DICOM files and truth files and write its
  ``bench_manifest.json`` (cases, groups, sha256 of every file).
- ``run --segmenter S [--segmenter S ...] --suite NAME|DIR [--out DIR]``: run each segmenter
  (plus the oracle and naive references) over every case, write ``cases.csv``,
  ``cases.parquet``, ``results.json``, ``report.md`` and ``report.html``.  Exit 0; 1 when a
  segmenter could not be imported (the others still ran); 2 for bad usage.
- ``compare A B``: paired per-metric differences with bootstrap intervals; exit 1 when a
  gated metric got significantly worse (for CI), 0 otherwise, 2 for bad usage.

Details and every metric's definition: docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "benchmark segmenters on suites with ground truth"
DESCRIPTION = (
    "Benchmark vertebra segmenters: list or build suites with ground truth, run segmenters "
    "over them (with an oracle and a naive reference), write a report, compare two runs."
)
EXIT_OK, EXIT_WORSE, EXIT_USAGE = 0, 1, 2


def _global_flags(parser: argparse.ArgumentParser) -> None:
    # The program's global flags after the action too (``bench run ... --quiet``); SUPPRESS
    # keeps a flag given earlier on the command line (as dxaspine/cli.py does one level up).
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    _global_flags(sub.add_parser("suites", help="list the registered suites"))

    make = sub.add_parser("make-suite", help="generate a suite, or index a folder as one")
    _global_flags(make)
    make.add_argument("name", nargs="?", metavar="NAME", help="a registered suite")
    make.add_argument("--from", dest="source", metavar="FOLDER",
                      help="index this folder of DICOM + truth files instead")  # fmt: skip
    make.add_argument("--out", metavar="DIR", help="write here instead of the cache")
    make.add_argument("--seed", type=int)
    make.add_argument("--count", type=int, metavar="N", help="cases per part")
    make.add_argument("--workers", type=int, default=None)
    make.add_argument("--rebuild", action="store_true", help="regenerate a cached suite")

    run = sub.add_parser("run", help="run segmenters over a suite and write the report")
    _global_flags(run)
    run.add_argument("--segmenter", action="append", default=[], metavar="[NAME=]MODULE:CALLABLE",
                     help="repeatable; also FILE.py:CALLABLE")  # fmt: skip
    run.add_argument("--suite", required=True, metavar="NAME|DIR")
    run.add_argument("--out", metavar="DIR", help="results folder (default bench-<suite>)")
    run.add_argument("--workers", type=int, default=None)
    run.add_argument("--seed", type=int)
    run.add_argument("--count", type=int, metavar="N", help="cases per part of a named suite")
    run.add_argument("--no-references", action="store_true", help="leave out oracle and naive")
    run.add_argument("--reference", metavar="NAME|CSV", help="T/Z reference table")

    compare = sub.add_parser("compare", help="compare two runs (exit 1 if significantly worse)")
    _global_flags(compare)
    compare.add_argument("a", metavar="A", help="the baseline run folder")
    compare.add_argument("b", metavar="B", help="the new run folder")
    compare.add_argument("--metric", action="append", default=[], metavar="NAME[:TOLERANCE]",
                         help="gate on this metric (repeatable); default: labels, lines, Dice, "
                         "failures")  # fmt: skip
    compare.add_argument("--segmenter", action="append", default=None, metavar="NAME")
    compare.add_argument("--bootstrap", type=int, default=2000, metavar="N")
    compare.add_argument("--seed", type=int, default=0)


def _workers(value: int | None) -> int:
    return max(1, value if value is not None else (os.cpu_count() or 1))


def _suites() -> int:
    from dxaspine.bench.suites import suite_listing

    for row in suite_listing():
        state = ("cached " + row["cached"]) if row["cached"] else (
            "not generated yet" if row["available"] else f"unavailable: {row['reason']}")  # fmt: skip
        inputs = f"{row['inputs']} inputs" if row["inputs"] else "inputs: generator default"
        print(f"{row['name']:<13} {inputs:<24} {row['description']}\n{'':<13} {state}")
    print("\nA folder of DICOM files with <case>.truth.json beside each is a suite too "
          "(docs/benchmark.md, Truth).")  # fmt: skip
    return EXIT_OK


def _make_suite(args) -> int:
    import json

    from dxaspine.atomic import atomic_write_text
    from dxaspine.bench.folder import MANIFEST_NAME, index_folder
    from dxaspine.bench.suites import SUITES, ensure_suite, write_phantom_suite

    if args.source:
        manifest = index_folder(args.source, name=args.name)
        atomic_write_text(os.path.join(args.source, MANIFEST_NAME),
                          json.dumps(manifest, indent=1, sort_keys=True) + "\n")  # fmt: skip
        for _item, reason in manifest["skipped"]:
            print(f"skipped: {reason}", file=sys.stderr)
        print(
            f"{len(manifest['cases'])} cases indexed -> {os.path.join(args.source, MANIFEST_NAME)}"
        )
        return EXIT_OK
    if not args.name:
        print("dxaspine bench make-suite: give a suite NAME or --from FOLDER", file=sys.stderr)
        return EXIT_USAGE
    if args.name not in SUITES:
        print(f"dxaspine bench make-suite: no suite {args.name!r} (dxaspine bench suites)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    workers = _workers(args.workers)
    if args.out:
        manifest = write_phantom_suite(SUITES[args.name], args.out, args.seed, args.count, workers)
        print(f"{len(manifest['cases'])} inputs -> {args.out}")
    else:
        folder = ensure_suite(args.name, args.seed, args.count, workers=workers,
                              rebuild=args.rebuild)  # fmt: skip
        print(f"suite {args.name} -> {folder}")
    return EXIT_OK


def _run(args) -> int:
    from dxaspine.batch.progress import Progress
    from dxaspine.bench.report import write_report
    from dxaspine.bench.results import write_results_json, write_rows
    from dxaspine.bench.runner import run_suite
    from dxaspine.bench.segmenters import REFERENCES, SegmenterImportError, parse_spec
    from dxaspine.bench.suites import open_suite
    from dxaspine.errors import InputError

    try:
        specs = [parse_spec(s) for s in args.segmenter]
    except SegmenterImportError as exc:
        print(f"dxaspine bench run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.no_references:
        specs += [parse_spec(r) for r in REFERENCES if r not in {s.target for s in specs}]
    if not specs:
        print("dxaspine bench run: give --segmenter (or drop --no-references)", file=sys.stderr)
        return EXIT_USAGE
    workers = _workers(args.workers)
    try:
        suite = open_suite(args.suite, seed=args.seed, count=args.count, workers=workers)
    except InputError as exc:  # no such suite or folder, or a suite that cannot be made here
        print(f"dxaspine bench run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for _item, reason in suite.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    out = args.out or f"bench-{os.path.basename(os.path.normpath(args.suite))}"
    os.makedirs(out, exist_ok=True)
    bar = Progress(len(suite.cases), quiet=args.quiet)

    def progress(rows):
        bar.update("result" if all(r["status"] == "ok" for r in rows) else "error")

    try:
        run = run_suite(suite, specs, workers=workers, reference=args.reference,
                        progress=progress)  # fmt: skip
    finally:
        bar.close()
    for _name, reason in run.skipped_segmenters:
        print(f"error: {reason}", file=sys.stderr)
    from pathlib import Path

    results = write_results_json(Path(out), run, run.rows)
    write_rows(Path(out), run.rows)
    write_report(Path(out), results, run.rows, suite.cases)
    for seg in run.segmenters:
        a = results["aggregates"].get(seg.name, {}).get("all", {})
        rate, line = a.get("scan_labels_correct_rate"), a.get("line_midpoint_error_median_mm")
        dice = a.get("dice_median")
        print(f"{seg.name:<40} labels right {100 * rate:5.1f} %  " if rate is not None else
              f"{seg.name:<40} labels right   –    ", end="")  # fmt: skip
        print(f"line median {line:.2f} mm  " if line is not None else "line median –  ", end="")
        print(f"Dice median {dice:.3f}  failed {a.get('failed_n', 0)}" if dice is not None
              else f"Dice median –  failed {a.get('failed_n', 0)}")  # fmt: skip
    print(
        f"report: {os.path.join(out, 'report.html')} ({run.elapsed_s:.0f} s, {workers} worker(s))"
    )
    return EXIT_WORSE if run.skipped_segmenters else EXIT_OK


def _compare(args) -> int:
    from dxaspine.bench.compare import DEFAULT_GATE, METRICS, compare_rows
    from dxaspine.bench.results import load_run

    gate = {}
    for item in args.metric or DEFAULT_GATE:
        name, _, tolerance = item.partition(":")
        if name not in METRICS:
            print(f"dxaspine bench compare: unknown metric {name!r} ({', '.join(METRICS)})",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        try:
            gate[name] = float(tolerance) if tolerance else 0.0
        except ValueError:
            print(f"dxaspine bench compare: tolerance {tolerance!r} is not a number",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
    _, rows_a = load_run(args.a)
    _, rows_b = load_run(args.b)
    comparisons, counts = compare_rows(rows_a, rows_b, gate=gate, segmenters=args.segmenter,
                                       n_boot=args.bootstrap, seed=args.seed)  # fmt: skip
    if not counts["segmenters"]:
        print("dxaspine bench compare: the two runs share no segmenter", file=sys.stderr)
        return EXIT_USAGE
    print(f"{'segmenter':<28} {'metric':<30} {'n':>4} {'A':>9} {'B':>9} {'B-A':>9} "
          f"{'95% CI':>21}  verdict")  # fmt: skip

    def num(v):
        return f"{v:9.4f}" if v is not None else f"{'–':>9}"

    for c in comparisons:
        ci = f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}]" if c.ci_low is not None else "–"
        mark = " *" if c.gated else ""
        print(f"{c.segmenter:<28} {c.metric + mark:<30} {c.n:>4} {num(c.mean_a)} {num(c.mean_b)} "
              f"{num(c.difference)} {ci:>21}  {c.verdict}")  # fmt: skip
    if counts["only_in_a"] or counts["only_in_b"]:
        print(f"unpaired: {counts['only_in_a']} only in A, {counts['only_in_b']} only in B")
    worse = [c for c in comparisons if c.gated and c.verdict == "worse"]
    print("* gated metric" + (f"; significantly worse: {', '.join(f'{c.segmenter} {c.metric}' for c in worse)}"
          if worse else "; none significantly worse"))  # fmt: skip
    return EXIT_WORSE if worse else EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run one ``dxaspine bench`` action; returns the exit status."""
    action = args.bench_command
    if action == "suites":
        return _suites()
    if action == "make-suite":
        return _make_suite(args)
    if action == "run":
        return _run(args)
    return _compare(args)
