"""Command line (DESIGN.md Contract 3).  ``python -m dxaspine`` is the same program.

Only this module prints.  Input errors end as one line on stderr naming the file and the
reason, with no traceback unless ``--debug``; exit status 1 when any input failed, 2 for
bad usage (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from dxaspine import __version__
from dxaspine.errors import DxaError

# subcommand -> "module:function" taking the parsed namespace and returning an exit status.
_COMMANDS = {
    "demo": "dxaspine.commands.demo:run",
    "phantom": "dxaspine.phantom.command:run",
    "analyze": "dxaspine.commands.analyze:run",
    "assess": "dxaspine.clinical.command:run",
    "batch": "dxaspine.batch.command:run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dxaspine", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dxaspine {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="analyse a bundled phantom scan and print the result")
    demo.add_argument("--overlay", metavar="PNG", default="dxaspine-demo.png")

    ph = sub.add_parser("phantom", help="write ground-truth DXA spine phantoms")
    ph.add_argument("outdir")
    ph.add_argument("--suite", default="standard", help="suite name (see --list)")
    ph.add_argument("--seed", type=int, default=0)
    ph.add_argument(
        "--count", type=int, default=None, help="cases per suite (default: the suite's)"
    )
    ph.add_argument("--list", action="store_true", help="list suites and exit")

    an = sub.add_parser(
        "analyze",
        help="analyse DXA spine DICOM files",
        description="Analyse DXA lumbar spine DICOM files and print a vendor-style table. "
        "Two single-frame LOW/HIGH energy files are one input: write LOW+HIGH, or give both and "
        "they are paired by series. With several inputs, --overlay/--sr/--sc name a folder or a "
        "pattern (out.png -> out_<stem>.png). Exit 0 when all succeed, 1 when any failed.",
    )
    an.add_argument("files", nargs="+", metavar="FILE", help="DICOM file, or LOW+HIGH pair")
    an.add_argument(
        "--json",
        metavar="PATH|-",
        help="result JSON (JSON Lines for several inputs); - = stdout, table to stderr",
    )
    an.add_argument("--csv", metavar="PATH", help="one flat row per analysed scan")
    an.add_argument("--overlay", metavar="PNG", help="picture with levels, lines and results")
    an.add_argument("--sr", metavar="DCM", help="DICOM Comprehensive SR (TID 1500)")
    an.add_argument("--sc", metavar="DCM", help="DICOM Secondary Capture of the overlay")
    an.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="LEVEL",
        help="exclude a level (repeatable, or L1,L4); replaces automatic exclusion",
    )
    an.add_argument("--reference", metavar="NAME|CSV", help="reference table for T/Z-scores")
    an.add_argument(
        "--segmenter",
        metavar="MODULE:CALLABLE",
        help="a callable (DensityMap, Scan) -> Segmentation replacing the default",
    )

    asx = sub.add_parser("assess", help="clinical assessment of per-level numbers from a table")
    asx.add_argument("table", metavar="TABLE.csv")
    asx.add_argument("--json", metavar="PATH|-")
    asx.add_argument("--csv", metavar="PATH")
    asx.add_argument("--reference", metavar="NAME|CSV")

    ba = sub.add_parser("batch", help="analyse an archive in parallel, resumably")
    ba.add_argument("input", metavar="INPUT")
    ba.add_argument("--out", required=True, metavar="DIR")
    ba.add_argument("--workers", type=int, default=None)
    ba.add_argument("--dask", metavar="ADDRESS|local:N")
    ba.add_argument("--resume", action="store_true")
    ba.add_argument("--glob", metavar="PATTERN")
    ba.add_argument("--json-dir", metavar="DIR")
    ba.add_argument("--overlay-dir", metavar="DIR")
    ba.add_argument("--reference", metavar="NAME|CSV")
    ba.add_argument("--quiet", action="store_true")
    ba.add_argument(
        "--chunk-size",
        type=int,
        default=50,
        metavar="N",
        help="commit results every N finished files (default 50)",
    )
    return parser


def _resolve(target: str):
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # pydicom's own log lines can quote header values (patient names, IDs): keep them out.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    try:
        runner = _resolve(_COMMANDS[args.command])
    except ModuleNotFoundError as exc:
        if not exc.name or not exc.name.startswith("dxaspine"):
            raise
        print(f"dxaspine {args.command}: not available in this version", file=sys.stderr)
        return 2
    try:
        return int(runner(args) or 0)
    except DxaError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
