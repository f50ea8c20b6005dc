"""Command line (Contract 3 in docs/architecture.md).  ``python -m dxaspine`` is the same program.

Each subcommand is one module in :mod:`dxaspine.commands` with ``HELP``, ``configure(parser)``
and ``run(args) -> exit status``; adding a command is one module plus one line in
:data:`COMMANDS`.  Command modules import their heavy dependencies inside ``run``, so building
the parser stays cheap.

Only the command layer prints.  Input errors end as one line on stderr naming the file and
the reason, with no traceback unless ``--debug``; exit status 1 when any input failed, 2 for
bad usage (argparse's convention).  The global flags ``--debug``, ``-v`` and ``--quiet`` are
accepted before or after the subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from dxaspine import __version__
from dxaspine.errors import DxaError

# subcommand -> module in dxaspine.commands (each has HELP, configure(parser), run(args)).
COMMANDS: dict[str, str] = {
    "demo": "dxaspine.commands.demo",
    "analyze": "dxaspine.commands.analyze",
    "assess": "dxaspine.commands.assess",
    "batch": "dxaspine.commands.batch",
    "phantom": "dxaspine.commands.phantom",
    "warmup": "dxaspine.commands.warmup",
    "precision": "dxaspine.commands.precision",
    "compare": "dxaspine.commands.compare",
    "cohort": "dxaspine.commands.cohort",
    "listen": "dxaspine.commands.listen",
    "watch-orthanc": "dxaspine.commands.watch_orthanc",
    "bench": "dxaspine.commands.bench",
}


def _global_flags(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    # On the subcommand parsers the defaults are SUPPRESS, so a flag given before the
    # subcommand is not reset by the subparser's own default.
    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--debug", action="store_true", default=default(False), help="show tracebacks"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=default(0), help="more log output (-vv: debug)"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress output, warnings and errors only",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dxaspine", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dxaspine {__version__}")
    _global_flags(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name, help=module.HELP, description=getattr(module, "DESCRIPTION", None)
        )
        _global_flags(command, defaults=False)
        module.configure(command)
    return parser


def configure_logging(verbose: int, quiet: bool) -> None:
    """Log lines to stderr; ``-v`` INFO, ``-vv`` DEBUG, ``--quiet`` warnings only."""
    level = logging.WARNING if quiet else logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # pydicom's own log lines can quote header values (patient names, IDs): keep them out.
    logging.getLogger("pydicom").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    runner = importlib.import_module(COMMANDS[args.command]).run
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
