"""``dxaspine listen``: the PACS node as a DICOM Storage SCP (docs/pacs.md).

Receives instances (C-STORE) from allowed AEs into the inbox, analyses each study once it
has been quiet for the stability delay, and sends every AP spine's SR and Secondary Capture
to the destinations (``--forward AE@HOST:PORT``, ``--orthanc URL``, or the config file's).
Runs until SIGINT/SIGTERM; a restart resumes the queue.
"""

from __future__ import annotations

import argparse

from dxaspine.commands._node_options import add_common, build_config, run_node

HELP = "run the PACS node: DICOM Storage SCP -> analysis -> SR/SC to destinations"
DESCRIPTION = __doc__.split("\n\n")[1].replace("\n", " ")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ae-title", metavar="AE", help="this node's AE title")
    parser.add_argument("--host", metavar="ADDRESS", help="address to listen on")
    parser.add_argument("--port", type=int, metavar="PORT", help="DICOM port")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="AE",
        help="calling AE title allowed to connect (repeatable; replaces the file's list)",
    )
    parser.add_argument(
        "--allow-peer",
        action="append",
        default=[],
        metavar="ADDRESS[/BITS]",
        help="peer address or network allowed to connect (repeatable)",
    )
    parser.add_argument(
        "--stability-delay", type=float, metavar="S", help="quiet seconds before a study is ready"
    )
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    config = build_config(
        args,
        ae_title=args.ae_title,
        host=args.host,
        port=args.port,
        allowed_calling_aes=tuple(args.allow) or None,
        allowed_peers=tuple(args.allow_peer) or None,
        stability_delay_s=args.stability_delay,
    )
    return run_node(config, "listen", args)
