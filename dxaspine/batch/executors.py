"""Executors: run worker.process over a stream of work with a bounded number in flight.

Both backends keep at most ``window`` items submitted at once, so memory and the task graph
stay flat however large the archive (a million files never become a million futures).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from dxaspine.batch.discovery import Work
from dxaspine.batch.worker import WorkerOptions, _error, init_worker, process
from dxaspine.errors import DxaError

logger = logging.getLogger(__name__)


def _single_thread_env() -> None:
    # Before numba/BLAS load in the children: one thread each, workers are the parallelism.
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _init_pool_worker() -> None:
    # Ctrl-C is the runner's to handle: it stops submitting and commits what has finished.
    # Workers that died of the same SIGINT would only turn that into a broken pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker()


def run_serial(work: Iterable[Work], options: WorkerOptions) -> Iterator[dict]:
    init_worker()
    for item in work:
        yield process(item, options)


def run_process_pool(work: Iterable[Work], options: WorkerOptions, workers: int) -> Iterator[dict]:
    """Process pool (the default backend).  A dead worker fails only the items in flight."""
    _single_thread_env()
    window = max(2, 4 * workers)
    items = iter(work)
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    pending: dict = {}
    exhausted = False
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker)
    restarts_without_progress = 0
    try:
        while True:
            while not exhausted and len(pending) < window:
                item = next(items, None)
                if item is None:
                    exhausted = True
                    break
                pending[pool.submit(process, item, options)] = item
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = None
            for future in done:
                item = pending.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool as exc:
                    broken = exc
                    yield _error(item, "internal", exc)
                    continue
                restarts_without_progress = 0
                yield record
            if broken is not None:
                # A worker died (segfault, OOM kill): the items in flight fail, the rest go on.
                pool.shutdown(wait=False, cancel_futures=True)
                for other in pending.values():
                    yield _error(other, "internal", broken)
                pending.clear()
                restarts_without_progress += 1
                if restarts_without_progress > 3:
                    raise DxaError(
                        "batch: worker processes keep dying before finishing any file; "
                        "rerun with --workers 1 --debug to see why"
                    ) from broken
                pool = ProcessPoolExecutor(
                    workers, mp_context=context, initializer=_init_pool_worker
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def run_dask(work: Iterable[Work], options: WorkerOptions, address: str) -> Iterator[dict]:
    """Dask distributed: ``tcp://host:8786`` or ``local:N`` (a LocalCluster of N processes)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise DxaError(
            f"--dask {address}: dask.distributed is not installed; pip install 'dxaspine[dask]'"
        ) from exc
    from dxaspine.batch.dask_logging import quiet_distributed_logs

    level = quiet_distributed_logs()  # importing distributed set its loggers to INFO
    cluster = None
    if address.startswith("local:"):
        _single_thread_env()
        n = int(address.split(":", 1)[1] or 1)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=level,
        )
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        client.run(init_worker)  # pin threads and warm kernels once per worker
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        window = 4 * n_workers
        items = iter(work)
        futures = as_completed()
        in_flight = 0
        for item in items:
            futures.add(client.submit(process, item, options, pure=False))
            in_flight += 1
            if in_flight >= window:
                break
        for future in futures:
            in_flight -= 1
            yield future.result()
            future.release()
            item = next(items, None)
            if item is not None:
                futures.add(client.submit(process, item, options, pure=False))
                in_flight += 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
