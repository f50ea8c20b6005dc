"""``dxaspine batch INPUT --out DIR [--workers N] [--dask ADDRESS|local:N] [--resume]``.

Exit status (docs/hardening.md §5): 0 every file was analysed or skipped with a reason; 1 the
run finished and at least one file failed (see errors.csv; rows marked ``infrastructure``
are retried by ``--resume``); 2 bad usage; 3 the run stopped before the end (the output
cannot be written, or worker processes keep dying; fix the cause, then ``--resume``); 130
interrupted (``--resume`` continues).
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "analyse an archive in parallel, resumably"
EXIT_OK, EXIT_FILES_FAILED, EXIT_USAGE, EXIT_RUN_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT")
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--dask", metavar="ADDRESS|local:N")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--glob", metavar="PATTERN")
    from dxaspine.report.writers import WRITERS

    for writer in WRITERS.values():
        parser.add_argument(
            f"--{writer.name}-dir", metavar="DIR", help=f"{writer.help} (one file per scan)"
        )
    parser.add_argument("--reference", metavar="NAME|CSV")
    from dxaspine.commands.analyze import add_convention_options

    add_convention_options(parser)
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=50,
        metavar="N",
        help="commit results every N finished files (default 50)",
    )


def run(args: argparse.Namespace) -> int:
    from dxaspine.batch.runner import BatchOptions, run_batch
    from dxaspine.commands.analyze import UsageError, parse_conventions
    from dxaspine.errors import MissingExtraError
    from dxaspine.report.writers import WRITERS, require

    output_dirs = tuple(
        (name, getattr(args, f"{name}_dir"))
        for name in WRITERS
        if getattr(args, f"{name}_dir", None)
    )
    try:
        require([name for name, _ in output_dirs], option=lambda n: f"--{n}-dir")
        conventions = tuple(parse_conventions(args).items())
    except (MissingExtraError, UsageError) as exc:
        print(f"dxaspine batch: {exc}", file=sys.stderr)
        return 2

    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 1))
    options = BatchOptions(
        input=args.input,
        out=args.out,
        workers=workers,
        dask=args.dask,
        resume=args.resume,
        glob=args.glob,
        output_dirs=output_dirs,
        conventions=conventions,
        quiet=args.quiet,
        reference=getattr(args, "reference", None),
        chunk_size=max(1, args.chunk_size),
    )
    if not os.path.exists(args.input) and not any(ch in args.input for ch in "*?["):
        print(
            f"error: {args.input}: no such file or folder; give a folder, a file list (.txt) "
            "or a quoted glob",
            file=sys.stderr,
        )
        return EXIT_USAGE
    summary = run_batch(options)
    c = summary.counts
    retried = c.get("infrastructure", 0)
    if not args.quiet:
        print(
            f"{c.get('result', 0)} analysed, {c.get('error', 0)} failed"
            + (f" ({retried} retried by --resume)" if retried else "")
            + f", {c.get('skipped', 0)} skipped -> {summary.out}",
            file=sys.stderr,
        )
    if summary.run_error:
        print(f"error: {summary.run_error}", file=sys.stderr)
        print("the run is resumable: fix the cause, then rerun with --resume", file=sys.stderr)
        return EXIT_RUN_STOPPED
    if summary.interrupted:
        return EXIT_INTERRUPTED
    # Archives always hold some bad files; each is in errors.csv, and scripts need to know.
    return EXIT_FILES_FAILED if summary.failed else EXIT_OK
