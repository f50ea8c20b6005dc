"""``dxaspine phantom OUTDIR [--suite NAME] [--seed N] [--count N] [--list]``: ground-truth phantoms."""

from __future__ import annotations

import argparse

HELP = "write ground-truth DXA spine phantoms"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", nargs="?", help="folder to write the suite into")
    parser.add_argument("--suite", default="standard", help="suite name (see --list)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--count", type=int, default=None, help="cases per suite (default: the suite's)"
    )
    parser.add_argument("--list", action="store_true", help="list suites and exit")


def run(args: argparse.Namespace) -> int:
    from dxaspine.errors import DxaError, describe
    from dxaspine.phantom.suite_files import write_suite
    from dxaspine.phantom.suites import SUITES

    if args.list:
        for name, fn in SUITES.items():
            print(f"{name:14s} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if not args.outdir:
        raise DxaError("dxaspine phantom: no OUTDIR given; name the folder to write the suite into")
    if args.suite not in SUITES:
        raise DxaError(
            describe(args.suite, "no such phantom suite", f"use one of {', '.join(SUITES)}")
        )
    if args.count is not None and args.count < 1:
        raise DxaError(
            describe(args.suite, f"--count {args.count} is not positive", "give 1 or more")
        )
    manifest = write_suite(args.suite, args.outdir, seed=args.seed, count=args.count)
    print(f"wrote {len(manifest['cases'])} cases, {len(manifest['files'])} files to {args.outdir}")
    return 0
