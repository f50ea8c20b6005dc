"""Speed of the segmentation stage, as ratios measured in one run (docs/architecture.md: never asserted).

1. Decomposition and segmentation of a Prodigy-sized (~188 x 300) and an iDXA-sized
   (~788 x 720) phantom scan, each as a ratio to ``pydicom.dcmread(path).pixel_array`` of the
   same file.
2. Each numba kernel against its numpy reference (``dxaspine.segment._numpy_reference``).

Run: ``python benchmarks/bench_segment.py``.  Timings are medians of repeated runs after a
warm-up (numba compile/cache load excluded, as in a long-running batch).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom

from dxaspine._numba import pin_single_thread
from dxaspine.io import load
from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.physics import decompose
from dxaspine.segment import _numpy_reference as ref
from dxaspine.segment import kernels, segment_spine
from dxaspine.segment.bone_mask import forget_work_image


def _median_time(fn, repeat: int = 15) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_pipeline(outdir: Path) -> None:
    print(
        "scan              shape       read ms  decomp ms  segment ms  decomp/read  "
        "segment/read  (decomp+segment)/read"
    )
    for scanner in ("prodigy", "idxa"):
        case = generate_case(PhantomParams(seed=11, scanner=scanner))
        path = write_case(case, outdir / scanner, kinds=("dual_energy",))["dual_energy"]
        read = _median_time(lambda p=path: pydicom.dcmread(p).pixel_array)
        scan = load(path)
        dmap = decompose(scan)
        t_dec = _median_time(lambda s=scan: decompose(s))
        # each call makes its work image afresh, as a new scan's segmentation does (the kept
        # work image of the same map would otherwise serve every call after the first)
        t_seg = _median_time(lambda d=dmap, s=scan: (forget_work_image(), segment_spine(d, s)))
        print(
            f"{scanner:<16} {str(case.shape):<11} {read * 1e3:7.2f}  {t_dec * 1e3:9.2f}  "
            f"{t_seg * 1e3:10.2f}  {t_dec / read:11.1f}  {t_seg / read:12.1f}  "
            f"{(t_dec + t_seg) / read:21.1f}"
        )


def bench_kernels() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(788, 720))
    valid = rng.random(image.shape) > 0.05
    cost = rng.random((197, 180))
    lo = np.full(788, 200.0)
    hi = np.full(788, 450.0)
    lines = (np.full(6, 320.0), np.linspace(40, 740, 6), rng.normal(0, 0.1, 6))
    smoothed = np.ones((197, 180)) + rng.normal(0, 0.02, (197, 180))
    smoothed[90:100] = 0.05
    d_cols = np.arange(60, 120)
    d_starts = np.full(d_cols.size, 80)
    d_guess = np.full(d_cols.size, 15.0)
    cases = [
        (
            "masked_block_mean 788x720 /4",
            lambda: kernels.masked_block_mean(image, valid, 4, 4),
            lambda: ref.masked_block_mean_reference(image, valid, 4, 4),
        ),
        (
            "track_path 197x180 step 1",
            lambda: kernels.track_path(cost, 1, 0.05),
            lambda: ref.track_path_reference(cost, 1, 0.05),
        ),
        (
            "rasterize_levels 788x720, 6 lines",
            lambda: kernels.rasterize_levels(image.shape, lo, hi, *lines),
            lambda: ref.rasterize_levels_reference(788, 720, lo, hi, *lines),
        ),
        (
            "disc_centres 60 columns",
            lambda: kernels.disc_centres(smoothed, d_cols, d_starts, 31, d_guess, 6, 0.25, 0.2),
            lambda: ref.disc_centres_reference(
                smoothed, d_cols, d_starts, 31, d_guess, 6, 0.25, 0.2
            ),
        ),
    ]
    print("\nkernel                               numba ms  numpy ms  speed-up")
    for name, fast, slow in cases:
        t_fast = _median_time(fast)
        t_slow = _median_time(slow, repeat=5)
        print(f"{name:<36} {t_fast * 1e3:8.3f}  {t_slow * 1e3:8.3f}  {t_slow / t_fast:8.1f}x")


def main() -> None:
    pin_single_thread()
    from dxaspine.warmup import warm_up

    warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        bench_pipeline(Path(tmp))
    bench_kernels()


if __name__ == "__main__":
    main()
