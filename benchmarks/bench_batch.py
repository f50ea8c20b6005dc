"""Batch throughput, scaling, CPU per scan, memory per worker and cold start.

Run: ``python benchmarks/bench_batch.py [--prodigy N] [--idxa N] [--memory-files N N]``.

Every figure is a ratio within this one run.  The reference is a warm ``analyze`` of the same
files in one process pinned to one numba thread (what one batch worker does per scan), timed
in a fresh interpreter just before the batches.  For each batch the script samples the whole
process tree (the runner, the forkserver and the workers) and reports:

- the marginal wall time per scan, ``(t(n files) - t(first k files)) / (n - k)``, so that
  start-up (spawn, imports, kernel warm-up) is left out, and ``workers x`` that against the
  warm ``analyze`` (1.0x: the batch layer costs nothing; the machine shares its cores, so on
  a busy machine this says more about the load than about the code);
- the marginal CPU time per scan of the workers and of the runner, against the CPU time of
  the warm ``analyze`` (this is what the batch layer adds, whatever else runs);
- the peak resident memory of each worker, at ``--memory-files`` counts (flat means no
  growth with the number of files);
- the machine's own scaling ceiling: two warm ``analyze`` processes run side by side, with no
  batch layer between them (if they slow each other down, no batch layer can scale 2x).
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
from dataclasses import dataclass, field
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


_ANALYZE = """
import sys, time
from dxaspine._numba import pin_single_thread
pin_single_thread()
from dxaspine.pipeline import analyze
files = sys.argv[1:]
for f in files[:5]:
    analyze(f)
wall, cpu = time.perf_counter(), time.process_time()
for f in files:
    analyze(f)
print((time.perf_counter() - wall) / len(files), (time.process_time() - cpu) / len(files))
"""


def warm_analyze(files: list[Path], processes: int = 1) -> tuple[float, float]:
    """Seconds of wall and CPU time per scan of a warm ``analyze`` in fresh processes.

    With ``processes`` > 1, that many independent processes analyse the same files at the
    same time (no batch layer between them) and the figures are their means: the machine's
    own ceiling for running analyses side by side (shared caches, memory bandwidth, clock).
    """
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ANALYZE, *map(str, files)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    walls, cpus = [], []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"warm analyze failed with {proc.returncode}")
        wall, cpu = map(float, out.split()[-2:])
        walls.append(wall)
        cpus.append(cpu)
    return sum(walls) / processes, sum(cpus) / processes


@dataclass
class TreeUsage:
    """What a batch's process tree used: CPU seconds and peak RSS per process, by role."""

    parent_cpu: float = 0.0
    worker_cpu: dict[int, float] = field(default_factory=dict)
    worker_peak_rss: dict[int, int] = field(default_factory=dict)
    worker_last_rss: dict[int, int] = field(default_factory=dict)


class TreeSampler:
    """Samples every process below ``pid`` every 50 ms until :meth:`stop`.

    The runner is ``pid``; its direct children are the forkserver and the resource tracker;
    the workers are the forkserver's children.  CPU times are the last sample of each
    process (a worker exits at the end of the run, so up to 50 ms of it may be missed).
    """

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.usage = TreeUsage()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            procs = self.root.children(recursive=True)
            times = self.root.cpu_times()
            self.usage.parent_cpu = times.user + times.system
        except psutil.Error:
            return
        for proc in procs:
            try:
                if proc.ppid() == self.root.pid:
                    continue  # forkserver, resource tracker
                times = proc.cpu_times()
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            u = self.usage
            u.worker_cpu[proc.pid] = times.user + times.system
            u.worker_peak_rss[proc.pid] = max(u.worker_peak_rss.get(proc.pid, 0), rss)
            if rss:  # an exiting worker reads 0
                u.worker_last_rss[proc.pid] = rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.05)

    def stop(self) -> TreeUsage:
        self._stop.set()
        self._thread.join()
        return self.usage


def run_batch(folder: Path, workers: int) -> tuple[float, TreeUsage]:
    """Wall seconds and the process tree's usage of one ``dxaspine batch`` run."""
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "dxaspine", "batch", str(folder), "--out", str(out / "o")]
    proc = subprocess.Popen([*cmd, "--workers", str(workers), "--quiet"])
    sampler = TreeSampler(proc.pid)
    proc.wait()
    seconds = time.perf_counter() - start
    usage = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"batch failed with {proc.returncode}")
    shutil.rmtree(out)
    return seconds, usage


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


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def throughput(folder: Path, files: list[Path], scanner: str) -> None:
    """Warm ``analyze`` against batches of 1 and 2 workers over the same files."""
    n = len(files)
    k = max(2, n // 10)
    small = folder / "first"
    small.mkdir()
    for f in files[:k]:
        shutil.copy(f, small / f.name)
    print(f"\n{scanner}: {n} dual-energy files (marginal figures over the last {n - k})")
    print(f"  load average {_load()}")
    wall_a, cpu_a = warm_analyze(files)
    print(
        f"  warm analyze, one process: {wall_a * 1e3:6.1f} ms/scan wall "
        f"({1 / wall_a:5.1f} scans/s), {cpu_a * 1e3:6.1f} ms/scan CPU"
    )
    wall_2, cpu_2 = warm_analyze(files, processes=2)
    print(
        f"  two warm analyze processes side by side (no batch layer): {wall_2 * 1e3:6.1f} ms/scan "
        f"wall each, {cpu_2 * 1e3:6.1f} ms/scan CPU ({cpu_2 / cpu_a:4.2f}x one alone); the "
        f"machine's ceiling for 1 -> 2 workers: {2 * wall_a / wall_2:.2f}x"
    )
    per_worker = {}
    for workers in (1, 2):
        full_n, use_n = run_batch(folder, workers)
        full_k, use_k = run_batch(small, workers)
        wall = (full_n - full_k) / (n - k)
        worker_cpu = (sum(use_n.worker_cpu.values()) - sum(use_k.worker_cpu.values())) / (n - k)
        parent_cpu = (use_n.parent_cpu - use_k.parent_cpu) / (n - k)
        per_worker[workers] = wall
        peak = max(use_n.worker_peak_rss.values(), default=0)
        print(
            f"  workers={workers}: {1 / wall:6.1f} scans/s, workers x wall per scan = "
            f"{workers * wall / wall_a:4.2f}x analyze; CPU per scan: workers "
            f"{worker_cpu * 1e3:5.1f} ms ({worker_cpu / cpu_a:4.2f}x analyze), runner "
            f"{parent_cpu * 1e3:4.1f} ms; total {(worker_cpu + parent_cpu) / cpu_a:4.2f}x; "
            f"peak worker RSS {peak / 2**20:.0f} MiB (whole run {full_n:.1f} s)"
        )
    print(f"  scaling 1 -> 2 workers: {per_worker[1] / per_worker[2]:.2f}x")
    print(f"  load average {_load()}")
    shutil.rmtree(small)


def memory(work: Path, counts: tuple[int, ...]) -> None:
    """Peak and final RSS of each of 2 workers at each number of files."""
    for n in counts:
        folder = work / f"mem{n}"
        make_archive(folder, "prodigy", n)
        seconds, usage = run_batch(folder, 2)
        peaks = sorted(usage.worker_peak_rss.values())
        last = [usage.worker_last_rss.get(pid, 0) for pid in sorted(usage.worker_peak_rss)]
        print(
            f"memory: {n} files on 2 workers -> peak RSS per worker "
            f"{' / '.join(f'{p / 2**20:.0f}' for p in peaks)} MiB, at the end "
            f"{' / '.join(f'{p / 2**20:.0f}' for p in last)} MiB in the last sample ({seconds:.0f} s, "
            f"load {_load()})"
        )
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prodigy", type=int, default=500)
    parser.add_argument("--idxa", type=int, default=200)
    parser.add_argument("--memory-files", type=int, nargs="*", default=(100, 1000))
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold-cache run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        for scanner, n in (("prodigy", args.prodigy), ("idxa", args.idxa)):
            if n > 0:
                folder = work / scanner
                throughput(folder, make_archive(folder, scanner, n), scanner)
        memory(work, tuple(args.memory_files))
        if not args.no_cold_start:
            first = next(work.rglob("*.dcm"), None)
            if first is None:
                first = make_archive(work / "one", "prodigy", 1)[0]
            cold, warm = cold_start(first)
            print(
                f"cold start, one file in a fresh process: {cold:.2f} s with an empty numba "
                f"cache, {warm:.2f} s with it warm"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
