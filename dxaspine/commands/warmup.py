"""``dxaspine warmup``: compile every numba kernel into the on-disk cache, once after install."""

from __future__ import annotations

import argparse

HELP = "compile the numba kernels into the on-disk cache (run once after installing)"


def configure(parser: argparse.ArgumentParser) -> None:
    return None


def run(args: argparse.Namespace) -> int:
    from dxaspine.warmup import warm_up

    seconds = warm_up()
    if not args.quiet:
        print(f"kernels compiled or loaded from the cache in {seconds:.1f} s")
    return 0
