"""Peak numpy memory per scan and stage, in full-resolution buffers (measured, never asserted).

Issue 17 asks for at most 4 full-resolution float buffers alive at once and a report of peak
numpy memory per scan.  For a Prodigy-sized (188 x 300) and an iDXA-sized (788 x 720)
two-frame phantom file this prints, for each stage (load, decompose, segment, evidence,
measure) and for the whole ``analyze``:

- the peak of memory allocated *during* the stage above what was allocated when it started
  (``tracemalloc``: numpy reports its array buffers to it), in MiB;
- the same in units of one full-resolution float64 image (rows x cols x 8 bytes): the
  issue's "full-resolution float buffers";
- what the stage's result keeps (allocated at its end, still referenced), in the same units.

Not seen: memory numba kernels allocate inside compiled code (its runtime allocator does not
report to ``tracemalloc``; the kernels here write into arrays allocated by numpy, except
small per-row scratch arrays), and pydicom's file buffer, which is a ``bytes`` object (traced).
Peaks are of Python's own allocations, not the process RSS (``bench_batch.py`` reports that).

Run: ``python benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import gc
import tempfile
import tracemalloc
from pathlib import Path

from dxaspine._numba import pin_single_thread
from dxaspine.evidence import find_evidence
from dxaspine.io import load
from dxaspine.measure import measure_levels
from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.physics import decompose
from dxaspine.pipeline import analyze
from dxaspine.segment import segment_spine

MIB = 1024.0 * 1024.0


def traced(fn):
    """``(result, peak bytes during fn above the start, bytes kept after it)``."""
    gc.collect()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    result = fn()
    end, peak = tracemalloc.get_traced_memory()
    return result, peak - start, end - start


def report(path: Path, shape: tuple[int, int]) -> None:
    """Print the peaks and kept memory of each stage of one file (warm)."""
    scan = load(path)
    dmap = decompose(scan)
    seg = segment_spine(dmap, scan)
    find_evidence(dmap, seg)
    analyze(path)  # numba kernels and reference tables are loaded before anything is traced
    buffer = shape[0] * shape[1] * 8.0
    print(f"  {shape[0]} x {shape[1]}: one float64 image {buffer / MIB:.2f} MiB")
    steps = (
        ("load", lambda: load(path)),
        ("decompose", lambda: decompose(scan)),
        ("segment", lambda: segment_spine(dmap, scan)),
        ("evidence", lambda: find_evidence(dmap, seg)),
        ("measure", lambda: measure_levels(dmap, seg)),
        ("analyze", lambda: analyze(path)),
    )
    tracemalloc.start()
    try:
        for name, fn in steps:
            result, peak, kept = traced(fn)
            del result
            print(
                f"    {name:<10} peak {peak / MIB:8.2f} MiB = {peak / buffer:5.1f} buffers"
                f"   kept {kept / MIB:7.2f} MiB = {kept / buffer:4.1f}"
            )
    finally:
        tracemalloc.stop()


def main() -> None:
    pin_single_thread()
    print("dxaspine peak numpy memory per scan (tracemalloc), MiB and full-resolution buffers")
    with tempfile.TemporaryDirectory() as tmp:
        for scanner in ("prodigy", "idxa"):
            case = generate_case(PhantomParams(seed=11, scanner=scanner))
            path = write_case(case, Path(tmp) / scanner, kinds=("dual_energy",))["dual_energy"]
            print(f"  {scanner}")
            report(path, case.shape)


if __name__ == "__main__":
    main()
