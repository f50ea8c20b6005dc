"""Batch throughput, scaling, memory per worker and cold start .

Run: ``python benchmarks/bench_batch.py [--prodigy N] [--idxa N] [--memory-files N]``.
All speeds are ratios measured in this one run, against a read-only baseline that does only
``pydicom.dcmread(f).pixel_array`` over the same files with the same number of processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil
import pydicom

from dxaspine.phantom import PhantomParams, generate_case, write_case


def make_archive(root: Path, scanner: str, n: int, distinct: int = 20) -> list[Path]:
    """``n`` dual-energy files; ``distinct`` phantoms re-written under new UIDs (generation is slow)."""
    root.mkdir(parents=True, exist_ok=True)
    bases = []
    for i in range(min(n, distinct)):
        case = generate_case(PhantomParams(seed=5000 + i, scanner=scanner, suite="bench"))
        bases.append(write_case(case, root / "base", kinds=("dual_energy",))["dual_energy"])
    files = []
    for i in range(n):
        ds = pydicom.dcmread(bases[i % len(bases)])
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[scanner, str(i)])
        target = root / f"{scanner}_{i:05d}.dcm"
        ds.save_as(target)
        files.append(target)
    shutil.rmtree(root / "base")
    return files


def _read(path: str) -> int:
    return pydicom.dcmread(path).pixel_array.size


def read_baseline(files: list[Path], workers: int) -> float:
    start = time.perf_counter()
    if workers == 1:
        for f in files:
            _read(str(f))
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_read, [str(f) for f in files], chunksize=8))
    return time.perf_counter() - start


class PeakRss:
    """Samples the resident memory of every process below ``pid`` (the batch workers)."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                for proc in [self.root, *self.root.children(recursive=True)]:
                    try:
                        rss = proc.memory_info().rss
                    except psutil.Error:
                        continue
                    self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak.values(), default=0)


def run_batch(folder: Path, workers: int) -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dxaspine",
            "batch",
            str(folder),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--quiet",
        ]
    )
    sampler = PeakRss(proc.pid)
    proc.wait()
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"batch failed with {proc.returncode}")
    shutil.rmtree(out)
    return seconds, peak


def cold_start(file: Path) -> tuple[float, float]:
    def once(env) -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "dxaspine", "analyze", str(file)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start

    cold_dir = tempfile.mkdtemp(prefix="numba-cold-")
    cold = once({**os.environ, "NUMBA_CACHE_DIR": cold_dir})
    warm = min(once({**os.environ, "NUMBA_CACHE_DIR": cold_dir}) for _ in range(3))
    shutil.rmtree(cold_dir)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prodigy", type=int, default=500)
    parser.add_argument("--idxa", type=int, default=200)
    parser.add_argument("--memory-files", type=int, nargs=2, default=(100, 1000))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        for scanner, n in (("prodigy", args.prodigy), ("idxa", args.idxa)):
            if n <= 0:
                continue
            folder = work / scanner
            files = make_archive(folder, scanner, n)
            # Start-up (process spawn, imports, kernel warm-up) is paid once per run, so rates
            # are marginal: (time for n files - time for the first k) / (n - k).
            k = max(2, n // 10)
            small = folder / "first"
            small.mkdir()
            for f in files[:k]:
                shutil.copy(f, small / f.name)
            print(f"\n{scanner}: {n} dual-energy files (marginal rates over the last {n - k})")
            per_worker = {}
            for workers in (1, 2):
                base = (read_baseline(files, workers) - read_baseline(files[:k], workers)) / (n - k)
                full_n, peak = run_batch(folder, workers)
                full_k, _ = run_batch(small, workers)
                full = (full_n - full_k) / (n - k)
                per_worker[workers] = full
                print(
                    f"  workers={workers}: {1 / full:6.1f} scans/s  read-only baseline "
                    f"{1 / base:7.1f} files/s  ratio full/read = {full / base:5.1f}x  "
                    f"peak process RSS {peak / 2**20:.0f} MiB  (whole run {full_n:.1f} s)"
                )
            print(f"  scaling 1 -> 2 workers: {per_worker[1] / per_worker[2]:.2f}x")
            shutil.rmtree(small)
        small, large = args.memory_files
        for n in (small, large):
            folder = work / f"mem{n}"
            make_archive(folder, "prodigy", n)
            seconds, peak = run_batch(folder, 2)
            print(f"memory: {n} files -> peak worker RSS {peak / 2**20:.0f} MiB ({seconds:.0f} s)")
            shutil.rmtree(folder)
        first = next((work / "prodigy").glob("*.dcm"), None) or next(work.rglob("*.dcm"))
        cold, warm = cold_start(first)
        print(
            f"cold start, one file in a fresh process: {cold:.2f} s with an empty numba cache, "
            f"{warm:.2f} s with it warm"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
