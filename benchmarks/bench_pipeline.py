"""Whole-pipeline speed: ``analyze`` per scan as a ratio to reading the pixels with pydicom.

For a Prodigy-sized (~188 x 300) and an iDXA-sized (~788 x 720) two-frame phantom file, prints
the warm per-scan time of ``dxaspine.pipeline.analyze(path)`` and of each stage (load,
decompose, segment, measure, assess), each as a ratio to ``pydicom.dcmread(path).pixel_array``
of the same file, all measured in this run (docs/architecture.md: ratios, never asserted).

Timings are medians over repeats after a warm-up (numba compile / cache load and the clinical
reference tables excluded, as in a long-running batch worker pinned to one numba thread).
Run: ``python benchmarks/bench_pipeline.py [--repeat N]``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom

from dxaspine._numba import pin_single_thread
from dxaspine.clinical import assess
from dxaspine.io import load
from dxaspine.measure import measure_levels
from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.physics import decompose
from dxaspine.pipeline import analyze
from dxaspine.segment import segment_spine


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(path: Path, repeat: int) -> dict[str, float]:
    scan = load(path)
    dmap = decompose(scan)
    seg = segment_spine(dmap, scan)
    levels = measure_levels(dmap, seg)
    return {
        "read": _median_time(lambda: pydicom.dcmread(path).pixel_array, repeat),
        "load": _median_time(lambda: load(path), repeat),
        "decompose": _median_time(lambda: decompose(scan), repeat),
        "segment": _median_time(lambda: segment_spine(dmap, scan), repeat),
        "measure": _median_time(lambda: measure_levels(dmap, seg), repeat),
        "assess": _median_time(
            lambda: assess(levels, scan.patient, image_flags=seg.qc_flags), repeat
        ),
        "analyze": _median_time(lambda: analyze(path), repeat),
    }


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 15
    pin_single_thread()
    stages = ("load", "decompose", "segment", "measure", "assess")
    print("dxaspine pipeline benchmark: ms per scan (ratio to pydicom dcmread + pixel_array)")
    with tempfile.TemporaryDirectory() as tmp:
        for scanner in ("prodigy", "idxa"):
            case = generate_case(PhantomParams(seed=11, scanner=scanner))
            path = write_case(case, Path(tmp) / scanner, kinds=("dual_energy",))["dual_energy"]
            t = bench(path, repeat)
            read = t["read"]
            print(f"  {scanner} {case.shape[0]} x {case.shape[1]}: read {1e3 * read:.2f} ms")
            for name in (*stages, "analyze"):
                print(f"    {name:<10} {1e3 * t[name]:8.2f} ms  {t[name] / read:7.1f}x read")
            parts = sum(t[name] for name in stages)
            print(
                f"    (stages sum {1e3 * parts:.2f} ms; decompose + segment "
                f"{(t['decompose'] + t['segment']) / read:.1f}x read)"
            )


if __name__ == "__main__":
    main()
