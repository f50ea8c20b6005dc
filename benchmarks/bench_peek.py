"""Benchmark: header-only ``dxaspine.peek`` vs a full ``pydicom.dcmread`` + ``pixel_array``.

Run: ``python benchmarks/bench_peek.py [--cases N] [--repeats R]``

Two file sets, measured in the same run:

- phantom exports (dual-energy, pair halves, BMD map, display) of a Prodigy-like and an
  iDXA-like case, i.e. realistic DXA file sizes;
- the same exports re-encoded as JPEG 2000 lossless (as many PACS store them), where the
  baseline must decode;
- every file of pydicom's test corpus (a zoo of modalities, syntaxes and broken files).

For each set it prints the mean time per file of both and their ratio.  The baseline reads
the same files the way a naive discovery would (files it cannot decode still cost their
read up to the exception).  Times are the best of ``--repeats`` passes, after one warm-up
pass so both sides read from the OS page cache.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_files
from pydicom.uid import JPEG2000Lossless

from dxaspine.io import peek
from dxaspine.phantom import PhantomParams, generate_case, write_case


def _full_read(path: str) -> None:
    try:
        pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is the point
    except Exception:  # noqa: BLE001 - broken files still cost their read
        pass


def _best_seconds(func, paths: list[str], repeats: int) -> float:
    for path in paths:  # warm-up: page cache, imports, plugin loading
        func(path)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for path in paths:
            func(path)
        best = min(best, time.perf_counter() - start)
    return best


def _phantom_files(outdir: Path, cases: int) -> list[str]:
    paths: list[str] = []
    scanners = ["prodigy", "idxa"]
    for seed in range(cases):
        case = generate_case(PhantomParams(seed=seed, scanner=scanners[seed % len(scanners)]))
        written = write_case(case, outdir)
        for kind in ("dual_energy", "bmd_map", "display"):
            paths.append(str(written[kind]))
        paths.extend(str(p) for p in written["dual_energy_pair"])
    return paths


def _jpeg2000_copies(paths: list[str], outdir: Path) -> list[str]:
    outdir.mkdir()
    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.compress(JPEG2000Lossless)
        target = outdir / Path(path).name
        ds.save_as(target, enforce_file_format=True)
        out.append(str(target))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2, help="phantom cases (alternating scanners)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # spacing fallbacks etc. are not what we time
    warnings.simplefilter("ignore")  # the baseline's pydicom warnings on broken corpus files

    corpus = sorted(f for f in get_testdata_files() if os.path.isfile(f))
    with tempfile.TemporaryDirectory() as tmp:
        phantom = _phantom_files(Path(tmp), args.cases)
        compressed = _jpeg2000_copies(phantom, Path(tmp) / "j2k")
        sets = {
            "phantom exports": phantom,
            "phantom J2K": compressed,
            "pydicom corpus": corpus,
            "all": phantom + compressed + corpus,
        }
        print(
            f"{'file set':<16} {'files':>6} {'peek ms/file':>13} {'dcmread+pixels ms/file':>23} {'ratio':>7}"
        )
        for name, paths in sets.items():
            t_peek = _best_seconds(peek, paths, args.repeats) / len(paths)
            t_full = _best_seconds(_full_read, paths, args.repeats) / len(paths)
            print(
                f"{name:<16} {len(paths):>6} {t_peek * 1e3:>13.3f} {t_full * 1e3:>23.3f} "
                f"{t_full / t_peek:>6.1f}x"
            )
        sizes = [os.path.getsize(p) for p in phantom]
        print(f"phantom file sizes: {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
