"""Whole-pipeline speed: ``analyze`` per scan as a ratio to reading the pixels with pydicom.

For a Prodigy-sized (188 x 300) and an iDXA-sized (788 x 720) two-frame phantom file, prints
the warm per-scan time of ``dxaspine.pipeline.analyze(path)`` and of each stage (load,
decompose, segment, evidence, measure, assess), each as a ratio to
``pydicom.dcmread(path).pixel_array`` of the same file (docs/architecture.md: ratios, never
asserted; docs/performance.md quotes them).

The read and every stage are timed **interleaved** (one of each per repeat, in turn), so a
change of machine load hits them alike; each ratio is the median over repeats of
stage / read of the same repeat.  Warm: numba compile / cache load and the clinical reference
tables happen before timing, as in a long-running batch worker pinned to one numba thread.
``--runs N`` repeats the whole measurement N times (docs/performance.md: three runs) and
prints the load average before each.

Run: ``python benchmarks/bench_pipeline.py [--repeat N] [--runs N]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom

from dxaspine._numba import pin_single_thread
from dxaspine.clinical import assess
from dxaspine.evidence import find_evidence
from dxaspine.io import load
from dxaspine.measure import measure_levels
from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.physics import decompose
from dxaspine.physics.plausibility import check_dual_energy
from dxaspine.pipeline import analyze
from dxaspine.segment import segment_spine

STAGES = ("load", "decompose", "segment", "evidence", "measure", "assess")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(path: Path, repeat: int) -> dict[str, list[float]]:
    """Per repeat: the read time and each stage's time (seconds), interleaved."""
    scan = load(path)
    dmap = decompose(scan)
    seg = segment_spine(dmap, scan)
    evidence = find_evidence(dmap, seg)
    levels = measure_levels(dmap, seg)
    flags = tuple(seg.qc_flags) + evidence.flags
    steps = {
        "load": lambda: load(path),
        "decompose": lambda: (check_dual_energy(scan), decompose(scan)),
        "segment": lambda: segment_spine(dmap, scan),
        "evidence": lambda: find_evidence(dmap, seg),
        "measure": lambda: measure_levels(dmap, seg),
        "assess": lambda: assess(levels, scan.patient, image_flags=flags),
        "analyze": lambda: analyze(path),
    }
    read = lambda: pydicom.dcmread(path).pixel_array  # noqa: E731
    for fn in (read, *steps.values()):  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in ("read", *steps)}
    for _ in range(repeat):
        for name, fn in steps.items():
            times["read"].append(_timed(read))
            times[name].append(_timed(fn))
    return times


def _ratios(times: dict[str, list[float]], name: str) -> float:
    """Median of stage / read with the read measured just before it."""
    reads = times["read"][list(times).index(name) - 1 :: len(times) - 1]
    return statistics.median(t / r for t, r in zip(times[name], reads, strict=True))


def run_once(repeat: int, tmp: Path) -> None:
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for scanner in ("prodigy", "idxa"):
        case = generate_case(PhantomParams(seed=11, scanner=scanner))
        path = write_case(case, tmp / scanner, kinds=("dual_energy",))["dual_energy"]
        t = bench(path, repeat)
        read = statistics.median(t["read"])
        print(f"  {scanner} {case.shape[0]} x {case.shape[1]}: read {1e3 * read:.2f} ms")
        for name in (*STAGES, "analyze"):
            print(
                f"    {name:<10} {1e3 * statistics.median(t[name]):8.2f} ms"
                f"  {_ratios(t, name):7.1f}x read"
            )


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 15
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
    pin_single_thread()
    print(
        "dxaspine pipeline benchmark: ms per scan (median ratio to pydicom dcmread + pixel_array)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            print(f"run {run + 1} of {runs}")
            run_once(repeat, Path(tmp))


if __name__ == "__main__":
    main()
