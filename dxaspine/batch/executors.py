"""Executors: run worker.process over a stream of work with a bounded number in flight.

Both backends keep at most ``window`` items submitted at once, so memory and the task graph
stay flat however large the archive (a million files never become a million futures).

Failure semantics (docs/hardening.md §5):

- Analysis always runs in worker processes, also for ``--workers 1``: a decoder that crashes
  the process (a segfault, a Rust panic that escaped, an out-of-memory kill) takes down a
  worker, never the runner.
- When a worker dies, every item in flight goes back into the queue **once**, and those items
  are then run one at a time.  An item that kills its worker again, alone, is recorded as an
  error with the reason (the signal) and marked ``infrastructure`` (``--resume`` retries it).
  The other items of the batch that died with it complete normally.
- Workers never hand back an exception object (it may not pickle: issue 12's
  ``PanicException``); any exception the executor sees instead of a record becomes an error
  record of that item.
- Worker log records reach the runner through a queue (:mod:`dxaspine.batch.logs`).
"""

from __future__ import annotations

import logging
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from dxaspine._pool_signals import DeferredInterrupt, pool_context
from dxaspine._threads import child_env, parent_env
from dxaspine.batch.discovery import Work
from dxaspine.batch.ledger import error_record
from dxaspine.batch.logs import RunnerLogListener, install_queue_logging
from dxaspine.batch.worker import WorkerOptions, init_worker, process
from dxaspine.errors import DxaError
from dxaspine.io.safe_values import exception_summary

logger = logging.getLogger(__name__)

# How often the runner looks for a Ctrl-C while it waits for results (its latency).
_POLL_S = 0.2

# Consecutive items that kill their worker while running alone before the run gives up (the
# machine, not the files, is then the problem; the rest is resumable).
MAX_ISOLATED_DEATHS = 3

Task = Callable[[Work, WorkerOptions], dict]


def _init_pool_worker(log_queue=None, level: int = logging.WARNING) -> None:
    child_env()  # before init_worker's warm-up compiles anything
    # Ctrl-C is the runner's to handle: it stops submitting and commits what has finished.
    # Workers that died of the same SIGINT would only turn that into a broken pool.  The
    # forkserver already hands this on (dxaspine._pool_signals); set again for spawn.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if log_queue is not None:
        install_queue_logging(log_queue, level)
    init_worker()


def _failed(item: Work, stage: str, message: str, error_class: str, infrastructure: bool) -> dict:
    return error_record(
        item.key, item.paths, stage, error_class, message, infrastructure=infrastructure
    )


def _pool_processes(pool: ProcessPoolExecutor) -> list:
    """The pool's worker processes (before ``shutdown``, which forgets them)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _death_reason(processes: list) -> str:
    """Which signal or exit status ended the dead worker(s), as far as it is known.

    Read after the pool's shutdown: its manager thread joins the workers, and a forkserver
    worker's status can be read from the forkserver only once; read while that thread also
    reads it, the loser sees the closed pipe and reports exit status 255.
    """
    reasons = []
    for proc in processes:
        code = getattr(proc, "exitcode", None)
        if code is None or code == 0:
            continue
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " (killed, e.g. by the out-of-memory killer)" if -code == signal.SIGKILL else ""
            reasons.append(f"{name}{hint}")
        else:
            reasons.append(f"exit status {code}")
    return ", ".join(dict.fromkeys(reasons)) or "terminated abruptly"


def run_serial(
    work: Iterable[Work], options: WorkerOptions, task: Task = process
) -> Iterator[dict]:
    """In-process execution (library use and debugging; the CLI always uses processes)."""
    init_worker()
    for item in work:
        yield task(item, options)


def run_process_pool(
    work: Iterable[Work], options: WorkerOptions, workers: int, task: Task = process
) -> Iterator[dict]:
    """Process pool (the default backend); see the module docstring for failure semantics.

    Parameters
    ----------
    work : iterable of Work
    options : WorkerOptions
    workers : int
        Worker processes (1 is a valid choice: the runner still never decodes).
    task : callable, optional
        ``(Work, WorkerOptions) -> record``, run in the workers (default
        :func:`dxaspine.batch.worker.process`; must be importable by name).
    """
    parent_env()
    workers = max(1, int(workers))
    window = max(2, 4 * workers)
    items = iter(work)
    context = pool_context()
    log_queue = context.Queue()
    listener = RunnerLogListener(log_queue)
    listener.start()
    level = logging.getLogger().getEffectiveLevel()

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_init_pool_worker,
            initargs=(log_queue, level),
        )

    pool = new_pool()
    pending: dict[Future, Work] = {}
    suspects: deque[Work] = deque()  # in flight when a worker died: rerun one at a time
    isolated_deaths = 0
    exhausted = False

    def submit(item: Work) -> bool:
        try:
            pending[pool.submit(task, item, options)] = item
        except BrokenProcessPool:  # a death noticed only now: the item never ran
            return False
        return True

    # A Ctrl-C is a flag from here on, also while the consumer holds a yielded record.
    with DeferredInterrupt() as interrupt:
        try:
            while True:
                interrupt.check()
                isolated = bool(suspects)
                never_ran: list[Work] = []
                if isolated:
                    if not pending:
                        item = suspects.popleft()
                        if not submit(item):
                            never_ran.append(item)
                else:
                    while not exhausted and len(pending) < window:
                        item = next(items, None)
                        if item is None:
                            exhausted = True
                            break
                        if not submit(item):
                            never_ran.append(item)
                            break
                if not pending and not never_ran:
                    interrupt.check()  # a Ctrl-C during the last items still says "interrupted"
                    return
                broken: list[Work] = []
                if not never_ran:
                    done: set[Future] = set()
                    while not done:
                        interrupt.check()  # between two waits: no lock of the pool's is held
                        done, _ = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = pending.pop(future)
                        try:
                            record = future.result()
                        except BrokenProcessPool:
                            broken.append(item)
                            continue
                        except Exception as exc:  # noqa: BLE001 - never lose the item, never stop
                            logger.error(
                                "%s: the worker failed (%s)", item.paths[0], type(exc).__name__
                            )
                            record = _failed(
                                item, "internal", exception_summary(exc), type(exc).__name__, True
                            )
                        if isolated:
                            isolated_deaths = 0
                        yield record
                    if not broken:
                        continue
                # A worker died: every item still in flight is lost with the pool.
                in_flight = broken + list(pending.values())
                pending.clear()
                processes = _pool_processes(pool)
                pool.shutdown(wait=True, cancel_futures=True)  # its processes are gone or going
                reason = _death_reason(processes)
                pool = new_pool()
                if never_ran and isolated:
                    suspects.extendleft(never_ran)  # not its fault: it never started
                elif isolated:
                    (item,) = in_flight
                    isolated_deaths += 1
                    logger.warning(
                        "%s: killed its worker process again (%s)", item.paths[0], reason
                    )
                    yield _failed(
                        item,
                        "worker",
                        f"the worker process died twice while analysing this file, the second "
                        f"time alone ({reason}); a crash in a decoder or too little memory",
                        "WorkerDied",
                        True,
                    )
                    if isolated_deaths >= MAX_ISOLATED_DEATHS:
                        raise DxaError(
                            f"batch: {isolated_deaths} files in a row killed their worker process "
                            f"while running alone ({reason}); the machine is short of memory or "
                            "the worker cannot start; the run is resumable with --resume"
                        )
                else:
                    logger.warning(
                        "a worker process died (%s); %d item(s) in flight are retried one at a time",
                        reason,
                        len(in_flight) + len(never_ran),
                    )
                    suspects.extend(in_flight + never_ran)
        finally:
            # Waits for the items still running (workers ignore SIGINT and finish them), so
            # no process or semaphore outlives the run.
            pool.shutdown(wait=True, cancel_futures=True)
            listener.stop()
            log_queue.close()
            log_queue.join_thread()


def run_dask(
    work: Iterable[Work], options: WorkerOptions, address: str, task: Task = process
) -> Iterator[dict]:
    """Dask distributed: ``tcp://host:8786`` or ``local:N`` (a LocalCluster of N processes).

    Dask reschedules the tasks of a dead worker itself (up to its ``allowed-failures``); a task
    that still fails becomes an ``infrastructure`` error of its item.  Worker logs are
    forwarded with ``Client.forward_logging`` where distributed has it.
    """
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
        parent_env()
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
        if hasattr(client, "forward_logging"):
            client.forward_logging("dxaspine", level=logging.getLogger().getEffectiveLevel())
        client.run(init_worker)  # pin threads and warm kernels once per worker
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        window = 4 * n_workers
        items = iter(work)
        futures = as_completed()
        by_key: dict[str, Work] = {}

        def submit(item: Work) -> None:
            by_key[item.key] = item
            futures.add(client.submit(task, item, options, pure=False, key=f"dxa-{item.key}"))

        for item in items:
            submit(item)
            if len(by_key) >= window:
                break
        for future in futures:
            item = by_key.pop(str(future.key)[len("dxa-") :])
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker and the like
                yield _failed(
                    item,
                    "worker",
                    f"the Dask task failed ({exception_summary(exc)})",
                    type(exc).__name__,
                    True,
                )
            future.release()
            item = next(items, None)
            if item is not None:
                submit(item)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
