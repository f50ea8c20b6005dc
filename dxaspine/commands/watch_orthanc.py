"""``dxaspine watch-orthanc URL``: the PACS node in pull mode (docs/pacs.md).

Follows Orthanc's ``/changes``; for every ``StableStudy`` it fetches the study's new
instances over REST, analyses them, and posts each AP spine's SR and Secondary Capture back
to the same Orthanc (unless ``--no-post-back``) and to any other destination.  The last
change index is kept in the state folder, so a restart continues where it stopped.
"""

from __future__ import annotations

import argparse

from dxaspine.commands._node_options import add_common, build_config, run_node

HELP = "run the PACS node against Orthanc's change log (pull mode)"
DESCRIPTION = __doc__.split("\n\n")[1].replace("\n", " ")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", nargs="?", metavar="URL", help="Orthanc, e.g. http://127.0.0.1:8042")
    parser.add_argument("--poll-interval", type=float, metavar="S", help="seconds between polls")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        default=None,
        help="on first start, handle Orthanc's whole change log (default: only new changes)",
    )
    parser.add_argument(
        "--no-post-back",
        action="store_true",
        help="do not post results to the watched Orthanc (only to other destinations)",
    )
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from dxaspine.pacs.config import Destination, PacsConfigError, load_config

    watch = load_config(args.config).watch
    url = (args.url or watch.url).rstrip("/")
    if not url:
        raise PacsConfigError("watch-orthanc: no Orthanc URL; give URL or orthanc_watch.url")
    watch = replace(
        watch,
        url=url,
        poll_interval_s=args.poll_interval
        if args.poll_interval is not None
        else watch.poll_interval_s,
        post_back=watch.post_back and not args.no_post_back,
        from_beginning=bool(args.from_beginning) or watch.from_beginning,
    )
    extra = [Destination(name="orthanc-source", type="orthanc", url=url)] if watch.post_back else []
    config = build_config(args, extra_destinations=extra, watch=watch)
    return run_node(config, "watch", args)
