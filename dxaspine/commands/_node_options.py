"""Options shared by ``dxaspine listen`` and ``dxaspine watch-orthanc`` (not a command).

Command-line values override the ``--config`` file; ``--forward`` and ``--orthanc`` add
destinations to the file's.  Paths given here are resolved against the working directory.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration (docs/pacs.md)")
    parser.add_argument(
        "--print-config", action="store_true", help="print the effective configuration and exit"
    )
    parser.add_argument("--inbox", metavar="DIR", help="where received instances are kept")
    parser.add_argument("--state", metavar="DIR", help="queue, outputs and forwarding spools")
    parser.add_argument("--dead-letter", metavar="DIR", help="files no destination accepted")
    parser.add_argument("--json-dir", metavar="DIR", help="also write each result JSON here")
    parser.add_argument("--workers", type=int, metavar="N", help="analysis worker processes")
    parser.add_argument(
        "--forward",
        action="append",
        default=[],
        metavar="AE@HOST:PORT",
        help="send SR and SC to this C-STORE SCP (repeatable)",
    )
    parser.add_argument(
        "--orthanc",
        action="append",
        default=[],
        metavar="URL",
        help="send SR and SC to this Orthanc (POST /instances; repeatable)",
    )
    parser.add_argument("--log-format", choices=("plain", "json"), help="log line format")


def _path(value: str | None) -> str | None:
    return str(Path(value).expanduser().resolve()) if value else None


def build_config(args: argparse.Namespace, extra_destinations=(), **overrides: Any):
    """The effective NodeConfig: file, then command-line values, then validation."""
    from dxaspine.pacs.config import Destination, load_config, parse_forward

    base = load_config(args.config)
    destinations = list(base.destinations)
    names = {d.name for d in destinations}

    def unique(name: str) -> str:
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = f"{name}-{n}"
        names.add(candidate)
        return candidate

    for dest in extra_destinations:
        destinations.append(Destination(**{**dest.__dict__, "name": unique(dest.name)}))
    for spec in args.forward:
        dest = parse_forward(spec)
        destinations.append(Destination(**{**dest.__dict__, "name": unique(dest.name)}))
    for url in args.orthanc:
        destinations.append(
            Destination(name=unique("orthanc"), type="orthanc", url=url.rstrip("/"))
        )
    values = {
        "inbox": _path(args.inbox),
        "state": _path(args.state),
        "dead_letter": _path(args.dead_letter),
        "json_dir": _path(args.json_dir),
        "workers": args.workers,
        "log_format": args.log_format,
        "destinations": tuple(destinations),
        **overrides,
    }
    return load_config(args.config, **values)


def run_node(config, mode: str, args: argparse.Namespace) -> int:
    """Start the node and serve until SIGINT/SIGTERM; exit status 0 after a clean stop."""
    from dxaspine.pacs.config import config_to_toml
    from dxaspine.pacs.logs import configure_node_logging
    from dxaspine.pacs.node import Node

    if args.print_config:
        sys.stdout.write(config_to_toml(config))
        return 0
    configure_node_logging(config.log_format, args.verbose, args.quiet)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = Node(config, mode=mode, verbose=args.verbose, quiet=args.quiet)
    node.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        node.stop()
    return 0
