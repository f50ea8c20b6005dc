"""``dxaspine batch INPUT --out DIR [--workers N] [--dask ADDRESS|local:N] [--resume]``."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "analyse an archive in parallel, resumably"


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
        return 2
    summary = run_batch(options)
    c = summary.counts
    if not args.quiet:
        print(
            f"{c.get('result', 0)} analysed, {c.get('error', 0)} failed, {c.get('skipped', 0)} "
            f"skipped -> {summary.out}",
            file=sys.stderr,
        )
    # A finished run exits 0 even when some files failed: archives always hold bad files, and
    # each one is recorded in errors.csv.  An interrupted run exits 130 (resume with --resume).
    return 130 if summary.interrupted else 0
