"""The node: a receiver (SCP or Orthanc watch) + the analysis worker pool + the forwarders.

Threads and processes:

- the **receiver**: the Storage SCP's association threads (``listen``), or the Orthanc
  watcher thread (``watch-orthanc``); both only write the inbox and report studies;
- the **scheduler** thread: turns quiet studies into queued generations, keeps at most
  ``workers`` of them in the process pool, records finished generations and hands their
  outputs to the forwarders.  It is the only writer of the study queue;
- the **worker pool**: a ``ProcessPoolExecutor`` (forkserver) whose workers are initialised
  like the batch runner's (:func:`dxaspine.batch.worker.init_worker`: one numba thread,
  kernels warmed) and run :func:`dxaspine.pacs.analysis.analyse_study`; the SCP never waits
  for an analysis;
- one **forwarder** thread per destination.

Order of durable steps for one generation: outputs written (worker) -> study ``done`` with
its analysed and output UIDs (queue) -> outputs spooled to each destination.  A crash
between any two re-runs the generation with the same output UIDs, so nothing is lost and a
destination sees at most a duplicate.  On start, studies that are queued or were running are
resumed, and studies in the inbox with instances no finished generation covered are given a
fresh quiet time (docs/pacs.md "Failure behaviour").
"""

from __future__ import annotations

import logging
import os
import queue as queue_module
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from dxaspine._pool_signals import pool_context
from dxaspine._threads import child_env, parent_env
from dxaspine.pacs.analysis import StudyJob, StudyReport, analyse_study, output_files
from dxaspine.pacs.config import NodeConfig
from dxaspine.pacs.forward import Forwarder, make_sender
from dxaspine.pacs.inbox import Inbox
from dxaspine.pacs.logs import configure_node_logging, uid_tag
from dxaspine.pacs.queue import StudyQueue
from dxaspine.pacs.stability import StabilityTracker

logger = logging.getLogger(__name__)

__all__ = ["Node"]

_TICK_S = 0.1  # scheduler period: well under any stability delay a site would use


def _worker_pid() -> int:
    return os.getpid()


# Analysis workers run this much nicer than the node, so that under a full machine the
# network side (the Storage SCP, C-ECHO, the scheduler) keeps its CPU: issue 14's "the SCP
# answers C-ECHO within a second throughout" failed once in CI at 1.09 s on 2 cores with both
# workers analysing and 8 senders storing.  Throughput is unchanged when the CPU is free.
WORKER_NICENESS = 10


def _init_pool_worker(log_format: str, verbose: int, quiet: bool) -> None:
    # Signals are the node's to handle; a worker killed by the same Ctrl-C would only turn
    # a clean stop into a broken pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):  # POSIX
        os.nice(WORKER_NICENESS)
    configure_node_logging(log_format, verbose, quiet)
    child_env()
    from dxaspine.batch.worker import init_worker

    init_worker()


class Node:
    """Wire the parts together; :meth:`start` returns at once, :meth:`stop` shuts down.

    Parameters
    ----------
    config : NodeConfig
    mode : {"listen", "watch"}
        Receive over DICOM (Storage SCP) or follow ``config.watch.url``.
    verbose, quiet : logging options passed on to the workers.
    """

    def __init__(
        self, config: NodeConfig, *, mode: str = "listen", verbose: int = 0, quiet: bool = False
    ) -> None:
        if mode not in ("listen", "watch"):
            raise ValueError(f"mode {mode!r}: use 'listen' or 'watch'")
        self.config = config
        self.mode = mode
        self._log = (config.log_format, verbose, quiet)
        self.inbox = Inbox(config.inbox)
        self.state_dir = Path(config.state)
        self.queue = StudyQueue(self.state_dir)
        delay = config.stability_delay_s if mode == "listen" else 0.0
        self.tracker = StabilityTracker(delay)
        self.forwarders = [
            Forwarder(
                dest,
                make_sender(dest, config.ae_title),
                self.state_dir / "forward" / dest.name,
                config.dead_letter,
                config.retry,
            )
            for dest in config.destinations
        ]
        self.scp = None
        self.watcher = None
        if mode == "listen":  # built now: a config it refuses stops the node before any start
            from dxaspine.pacs.scp import StorageSCP

            self.scp = StorageSCP(config, self.inbox, self.tracker)
        self._arrivals: queue_module.SimpleQueue[str] = queue_module.SimpleQueue()
        self._running: dict[Future, StudyJob] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self.analyses_completed = 0

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop(timeout_s=5.0)  # e.g. the port is taken: leave no worker behind
            raise

    def _start(self) -> None:
        removed = self.inbox.clean_temp_files()
        if removed:
            logger.info("removed %d partial file(s) left by an interrupted write", removed)
        self._recover()
        # The receiver first: a port that is taken fails the start before any worker exists.
        # Studies it reports wait in the tracker until the scheduler runs, a moment later.
        if self.scp is not None:
            self.scp.start()
        for forwarder in self.forwarders:
            forwarder.start()
        self._pool = self._new_pool()
        # Start every worker now (the pool would start them on first use): the first study
        # then does not wait for process start-up and kernel warm-up.
        for _ in range(self.config.workers):
            self._pool.submit(_worker_pid)
        self._scheduler = threading.Thread(target=self._schedule, name="scheduler", daemon=True)
        self._scheduler.start()
        if self.scp is None:
            from dxaspine.pacs.orthanc_watch import OrthancClient, OrthancWatcher

            self.watcher = OrthancWatcher(
                OrthancClient(self.config.watch.url),
                self.inbox,
                self.state_dir / "orthanc_watch.json",
                known=self._known_instances,
                on_ready=self._arrivals.put,
                poll_interval_s=self.config.watch.poll_interval_s,
                from_beginning=self.config.watch.from_beginning,
            )
            self.watcher.start()
        counts = self.queue.counts()
        logger.info(
            "node started (%s): %d worker(s), %d destination(s); queue: %d ready, %d done",
            self.mode,
            self.config.workers,
            len(self.forwarders),
            counts["ready"],
            counts["done"],
        )

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop receiving, let running analyses finish (bounded), stop the forwarders."""
        if self.scp is not None:
            self.scp.stop()
        if self.watcher is not None:
            self.watcher.stop()
        logger.debug("stop: receiver stopped")
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout_s)
        logger.debug("stop: scheduler stopped")
        deadline = time.monotonic() + timeout_s
        while self._running and time.monotonic() < deadline:
            self._collect(block_s=0.2)
        if self._pool is not None:
            if self._running:  # still busy: those studies stay "running" and resume on start
                logger.warning("%d analysis(es) unfinished at stop; resumed on next start",
                               len(self._running))  # fmt: skip
                for process in list(getattr(self._pool, "_processes", {}).values()):
                    process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
        logger.debug("stop: worker pool stopped")
        for forwarder in self.forwarders:
            forwarder.stop()
        logger.info("node stopped")

    def _new_pool(self) -> ProcessPoolExecutor:
        parent_env()
        return ProcessPoolExecutor(
            self.config.workers,
            mp_context=pool_context(),
            initializer=_init_pool_worker,
            initargs=self._log,
        )

    # -- recovery and arrivals --------------------------------------------------------------
    def _known_instances(self, study_uid: str) -> set[str]:
        known = set(self.inbox.instances(study_uid))
        state = self.queue.get(study_uid)
        if state is not None:
            known |= set(state.analysed) | set(state.own_outputs)
        return known

    def _recover(self) -> None:
        armed = 0
        for study_uid in self.inbox.studies():
            state = self.queue.get(study_uid)
            present = self.inbox.instances(study_uid)
            if not present or (state is not None and state.status in ("ready", "running")):
                continue
            if state is None or state.new_instances(present):
                self.tracker.arm(study_uid)
                armed += 1
        if armed:
            logger.info("%d stud(y/ies) in the inbox not fully analysed: queued after the "
                        "stability delay", armed)  # fmt: skip

    def _study_ready(self, study_uid: str) -> None:
        present = self.inbox.instances(study_uid)
        state = self.queue.get(study_uid)
        if not present:
            return
        if state is not None and state.status in ("done", "failed"):
            if not state.new_instances(present):
                logger.debug("study %s: quiet, nothing new", uid_tag(study_uid))
                return
        state = self.queue.enqueue(study_uid)
        logger.info(
            "study %s ready: %d instance(s), generation %d queued",
            uid_tag(study_uid),
            len(present),
            state.generation,
        )

    # -- scheduler ------------------------------------------------------------------------
    def _schedule(self) -> None:
        while not self._stop.is_set():
            try:
                for study_uid in self.tracker.pop_ready():
                    self._study_ready(study_uid)
                while True:
                    try:
                        self._study_ready(self._arrivals.get_nowait())
                    except queue_module.Empty:
                        break
                self._dispatch()
                self._collect(block_s=_TICK_S)
            except Exception:  # noqa: BLE001 - the scheduler must outlive any one bug
                logger.exception("scheduler error; continuing")
                self._stop.wait(1.0)

    def _dispatch(self) -> None:
        while len(self._running) < self.config.workers and not self._stop.is_set():
            state = self.queue.claim()
            if state is None:
                return
            instances = self.inbox.instances(state.study_uid)
            job = StudyJob(
                study_uid=state.study_uid,
                generation=state.generation,
                instances=tuple((sop, str(path)) for sop, path in instances.items()),
                output_dir=str(
                    self.state_dir / "outputs" / state.study_uid / f"g{state.generation}"
                ),
                json_dir=self.config.json_dir,
                reference=self.config.reference,
                previous=tuple(state.last_outputs),
            )
            try:
                future = self._pool.submit(analyse_study, job)
            except (BrokenProcessPool, RuntimeError):
                self.queue.fail(job.study_uid, job.generation, "worker pool unavailable")
                self._pool = self._new_pool()
                return
            self._running[future] = job
            logger.info(
                "study %s: generation %d started (%d instance(s))",
                uid_tag(job.study_uid),
                job.generation,
                len(job.instances),
            )

    def _collect(self, block_s: float) -> None:
        if not self._running:
            self._stop.wait(block_s)
            return
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(list(self._running), timeout=block_s, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            job = self._running.pop(future)
            try:
                report = future.result()
            except BrokenProcessPool:
                broken = True
                self._failed(job, "a worker process died")
                continue
            except Exception as exc:  # noqa: BLE001 - recorded; retried up to MAX_ATTEMPTS
                self._failed(job, f"{type(exc).__name__}")
                continue
            self._finished(job, report)
        if broken:
            for future, job in list(self._running.items()):
                self._running.pop(future)
                self._failed(job, "a worker process died")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()

    def _failed(self, job: StudyJob, reason: str) -> None:
        state = self.queue.fail(job.study_uid, job.generation, reason)
        logger.error(
            "study %s: generation %d failed (%s); %s",
            uid_tag(job.study_uid),
            job.generation,
            reason,
            "will retry" if state.status == "ready" else "parked as failed",
        )

    def _finished(self, job: StudyJob, report: StudyReport) -> None:
        outputs = [dict(o) for o in report.outputs]
        state, requeue = self.queue.complete(
            job.study_uid,
            job.generation,
            analysed=report.analysed,
            outputs=outputs,
            summary=report.summary(),
        )
        self.analyses_completed += 1
        files = output_files(report)
        for forwarder in self.forwarders:
            forwarder.submit(files)
        errors = sum(1 for item in report.inputs if item["status"] == "error")
        logger.info(
            "study %s: generation %d done: %d input(s) analysed, %d failed, %d skipped, "
            "%d vendor result(s); %d file(s) to %d destination(s)",
            uid_tag(job.study_uid),
            job.generation,
            len(report.inputs) - errors,
            errors,
            len(report.skipped),
            len(report.vendor_results),
            len(files),
            len(self.forwarders),
        )
        if requeue:  # instances arrived while it ran: queue again if any is new
            self._study_ready(job.study_uid)
