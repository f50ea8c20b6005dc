"""Measure kernel vs the numpy reference on an iDXA-sized label image; compile cost.

Run: ``python benchmarks/bench_measure.py``.  Prints ratios measured in this run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SHAPE = (788, 720)  # iDXA AP spine export size (docs/domain.md §6: 780 x 716)
N_LABELS = 6  # T12..L5


def make_inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    rows, cols = SHAPE
    labels = np.zeros(SHAPE, np.int32)
    edges = np.linspace(60, rows - 60, N_LABELS + 1).astype(int)
    for k in range(N_LABELS):
        labels[edges[k] : edges[k + 1], cols // 2 - 120 : cols // 2 + 120] = k + 1
    rr, cc = np.mgrid[:rows, :cols]
    bone = (np.abs(cc - cols / 2) < 90) & ((rr % 120) > 25)
    density = np.where(bone, rng.normal(1.0, 0.1, SHAPE), rng.normal(0, 0.02, SHAPE))
    return labels, bone, density


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


COMPILE_SNIPPET = (
    "import time; t0 = time.perf_counter(); "
    "import numpy as np; from dxaspine.measure import level_sums; "
    "level_sums(np.zeros((2, 2), np.int32), np.zeros((2, 2), bool), np.zeros((2, 2)), 1); "
    "print(time.perf_counter() - t0)"
)


def first_call_seconds(cache_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    from dxaspine.measure import level_sums
    from dxaspine.measure._numpy_reference import level_sums_reference

    labels, bone, density = make_inputs()
    level_sums(labels, bone, density, N_LABELS)  # compile / load from cache
    t_kernel = best_of(lambda: level_sums(labels, bone, density, N_LABELS), 20)
    t_numpy = best_of(lambda: level_sums_reference(labels, bone, density, N_LABELS), 5)
    print(f"label image {SHAPE}, {N_LABELS} labels")
    print(f"numba kernel (warm): {t_kernel * 1e3:8.2f} ms")
    print(f"numpy reference:     {t_numpy * 1e3:8.2f} ms")
    print(f"speed-up:            {t_numpy / t_kernel:8.1f} x")
    with tempfile.TemporaryDirectory() as cache:
        cold = first_call_seconds(cache)  # empty cache: import + compile
        cached = first_call_seconds(cache)  # same cache: import + load
    print(f"first call, cold cache:   {cold:6.2f} s (import + compile)")
    print(f"first call, cached:       {cached:6.2f} s (import + cache load)")
    print(f"compile cost avoided by the cache: {cold / cached:5.1f} x")


if __name__ == "__main__":
    main()
