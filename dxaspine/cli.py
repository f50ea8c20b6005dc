"""Command line (Contract 3 in docs/architecture.md).  ``python -m dxaspine`` is the same program.

Each subcommand is one module in :mod:`dxaspine.commands` with ``HELP``, ``configure(parser)``
and ``run(args) -> exit status``; adding a command is one module plus one line in
:data:`COMMANDS`.  Command modules import their heavy dependencies inside ``run``, so building
the parser stays cheap.

Only the command layer prints.  Input errors end as one line on stderr naming the file and
the reason; exit status 1 when any input failed, 2 for bad usage (argparse's convention).
The global flags ``--debug``, ``-v``, ``--quiet`` and ``--log-file`` are accepted before or
after the subcommand.

Tracebacks never reach the terminal: they can quote header values (patient names in a
damaged field; docs/hardening.md §4).  ``--log-file PATH`` writes the full DEBUG log with
tracebacks to a file the user asked for; ``--debug`` adds the tracebacks of failed inputs to
it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from dxaspine import __version__
from dxaspine.errors import DxaError

logger = logging.getLogger(__name__)

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
        "--debug",
        action="store_true",
        default=default(False),
        help="record tracebacks of failed inputs (in the --log-file only)",
    )
    parser.add_argument(
        "--log-file",
        metavar="PATH",
        default=default(None),
        help="append the full log (DEBUG, with tracebacks) to PATH; the terminal never "
        "shows tracebacks",
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


class _ConsoleFormatter(logging.Formatter):
    """One line per record, never a traceback (tracebacks can quote header values)."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{record.levelname} {record.name}: {record.getMessage()}".split())


def configure_logging(verbose: int, quiet: bool, log_file: str | None = None) -> None:
    """Log lines to stderr (``-v`` INFO, ``-vv`` DEBUG, ``--quiet`` warnings only), and the
    full log with tracebacks to ``log_file`` when given.

    Raises
    ------
    OSError
        When ``log_file`` cannot be opened.
    """
    console_level = logging.WARNING if quiet else logging.WARNING - 10 * min(verbose, 2)
    root = logging.getLogger()
    for handler in list(root.handlers):  # configure once, also when main() runs twice
        if getattr(handler, "_dxaspine", False):
            root.removeHandler(handler)
            handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    console.setFormatter(_ConsoleFormatter())
    handlers: list[logging.Handler] = [console]
    if log_file:
        to_file = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        to_file.setLevel(logging.DEBUG)
        to_file.setFormatter(
            logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        )
        handlers.append(to_file)
    from dxaspine.batch.logs import below_error_from_pydicom

    for handler in handlers:
        handler._dxaspine = True  # type: ignore[attr-defined]
        handler.addFilter(below_error_from_pydicom)
        root.addHandler(handler)
    root.setLevel(min(h.level for h in handlers))
    # pydicom's own log lines can quote header values (patient names, IDs): keep them out.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    # numba's compiler log is not ours, and at DEBUG it is megabytes per kernel.
    logging.getLogger("numba").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(args.verbose, args.quiet, args.log_file)
    except OSError as exc:
        print(f"error: {args.log_file}: cannot open the log file ({exc.strerror})", file=sys.stderr)
        return 2
    if args.debug and not args.log_file:
        print(
            "note: --debug records tracebacks only in a log file; add --log-file PATH",
            file=sys.stderr,
        )
    runner = importlib.import_module(COMMANDS[args.command]).run
    try:
        return int(runner(args) or 0)
    except DxaError as exc:
        logger.debug("%s failed", args.command, exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a bug (or a decoder panic): one line, log only
        logger.error("internal error in %s", args.command, exc_info=True)
        where = "see the log file" if args.log_file else "rerun with --log-file PATH"
        print(
            f"error: internal error ({type(exc).__name__}); {where} and report it",
            file=sys.stderr,
        )
        return 1
