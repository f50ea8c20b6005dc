"""Run segmenters over a suite in the batch runner's kind of process pool.

One work item is one case: the worker loads and decomposes the image once, then runs every
segmenter on it, checks each output against the ``Segmentation`` contract, runs the stages
after segmentation (evidence, measure, assess) and scores the result against truth
(:func:`dxaspine.bench.evaluate.score_case`).  :func:`run_case` never raises: a segmenter that
raises or returns garbage, an image that fails to load or a bad truth file is a failed row
naming the case and the reason, and the run goes on.

The pool follows ``dxaspine/batch/executors.py`` (a bounded window of submitted items, the
forkserver start method, ``dxaspine.batch.worker.init_worker`` once per worker: one numba
thread, kernels warmed), in its own small loop because a bench item is not a batch ``Work``;
a worker that dies fails only the cases in flight.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from dxaspine._threads import child_env, parent_env
from dxaspine.bench.evaluate import failure_row, score_case
from dxaspine.bench.folder import BenchCase, SuiteFolder
from dxaspine.bench.segmenters import SegmenterImportError, SegmenterSpec, resolve
from dxaspine.errors import DxaError

__all__ = ["BenchRun", "RunOptions", "run_case", "run_suite"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    segmenters: tuple[SegmenterSpec, ...]
    reference: str | None = None  # T/Z reference table for the clinical answer


@dataclass
class BenchRun:
    suite: SuiteFolder
    segmenters: tuple[SegmenterSpec, ...]  # those that ran
    rows: list[dict]
    skipped_segmenters: list[tuple[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    workers: int = 1


def _segmenter_for(spec: SegmenterSpec, truth):
    from dxaspine.bench.references import naive_segment, oracle_segmenter

    if spec.target == "oracle":
        return oracle_segmenter(truth)
    if spec.target == "naive":
        return naive_segment
    return resolve(spec.target)


def _one_segmenter(spec, case, truth, scan, density_map, truth_answer, options, load_s) -> dict:
    from dxaspine.bench.contract import check_segmentation
    from dxaspine.clinical import assess
    from dxaspine.evidence import find_evidence
    from dxaspine.measure import measure_levels
    from dxaspine.pipeline import ScanResult

    stage, runtime = "segment", {"load_s": load_s}
    try:
        segment = _segmenter_for(spec, truth)
        start = time.perf_counter()
        segmentation = segment(density_map, scan)
        runtime["segment_s"] = time.perf_counter() - start
        check_segmentation(segmentation, density_map.values.shape, case.id, spec.name)
        # The stages after segmentation, as dxaspine.analyze runs them (pipeline.py).
        start = time.perf_counter()
        stage = "evidence"
        evidence = find_evidence(density_map, segmentation)
        stage = "measure"
        levels = measure_levels(density_map, segmentation)
        stage = "assess"
        assessment = assess(levels, scan.patient, reference=options.reference,
                            image_flags=tuple(segmentation.qc_flags) + evidence.flags)  # fmt: skip
        runtime["downstream_s"] = time.perf_counter() - start
        result = ScanResult(scan, density_map, segmentation, levels, assessment, evidence)
        stage = "score"
        return score_case(spec.name, case, truth, result, truth_answer, runtime)
    except DxaError as exc:
        return failure_row(spec.name, case, "truth" if stage == "score" else stage, exc, **runtime)
    except Exception as exc:  # the segmenter's own bug (or ours): recorded, never fatal
        logger.debug("%s on %s (%s):\n%s", spec.name, case.id, stage, traceback.format_exc())
        return failure_row(spec.name, case, stage, exc, **runtime)


def run_case(case: BenchCase, options: RunOptions) -> list[dict]:
    """Every segmenter's row for one case (never raises)."""
    from dxaspine.batch.worker import init_worker
    from dxaspine.bench.measurement import truth_clinical_answer
    from dxaspine.bench.truth import load_truth
    from dxaspine.io import load
    from dxaspine.physics import decompose

    init_worker()
    names = [s.name for s in options.segmenters]
    try:
        truth = load_truth(case.truth)
    except DxaError as exc:
        return [failure_row(n, case, "truth", exc) for n in names]
    start = time.perf_counter()
    stage = "load"
    try:
        scan = load(case.source)
        stage = "decompose"
        density_map = decompose(scan)
    except Exception as exc:  # DxaError (a bad image) or a bug: the case fails, the run goes on
        return [failure_row(n, case, stage, exc) for n in names]
    load_s = time.perf_counter() - start
    try:
        truth_answer = truth_clinical_answer(truth, scan.patient)
    except DxaError as exc:
        logger.warning("%s: no clinical answer from the truth (%s)", case.id, exc)
        truth_answer = None
    return [
        _one_segmenter(spec, case, truth, scan, density_map, truth_answer, options, load_s)
        for spec in options.segmenters
    ]


def _init_pool_worker() -> None:
    # Ctrl-C belongs to the parent, which stops submitting (as batch/executors.py does).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child_env()
    from dxaspine.batch.worker import init_worker

    init_worker()


def _pool(cases: Iterable[BenchCase], options: RunOptions, workers: int) -> Iterator[list[dict]]:
    parent_env()
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    window = max(2, 4 * workers)
    items = iter(cases)
    pending: dict = {}
    exhausted = False
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker)
    try:
        while True:
            while not exhausted and len(pending) < window:
                case = next(items, None)
                if case is None:
                    exhausted = True
                    break
                pending[pool.submit(run_case, case, options)] = case
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = None
            for future in done:
                case = pending.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool as exc:
                    broken = exc
                    yield [failure_row(s.name, case, "internal", exc) for s in options.segmenters]
            if broken is not None:  # a worker died: the cases in flight fail, the rest go on
                pool.shutdown(wait=False, cancel_futures=True)
                for case in pending.values():
                    yield [failure_row(s.name, case, "internal", broken)
                           for s in options.segmenters]  # fmt: skip
                pending.clear()
                pool = ProcessPoolExecutor(workers, mp_context=context,
                                           initializer=_init_pool_worker)  # fmt: skip
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def check_segmenters(
    specs: Sequence[SegmenterSpec],
) -> tuple[list[SegmenterSpec], list[tuple[str, str]]]:
    """Import every segmenter once here: (usable specs, [(name, one-line reason)])."""
    usable, skipped = [], []
    for spec in specs:
        if spec.is_reference:
            usable.append(spec)
            continue
        try:
            resolve(spec.target)
        except SegmenterImportError as exc:
            skipped.append((spec.name, str(exc)))
            logger.warning("%s", exc)
        else:
            usable.append(spec)
    return usable, skipped


def run_suite(
    suite: SuiteFolder,
    segmenters: Sequence[SegmenterSpec],
    workers: int = 1,
    reference: str | None = None,
    progress: Callable[[list[dict]], None] | None = None,
) -> BenchRun:
    """Run ``segmenters`` over every case of ``suite``.

    Parameters
    ----------
    suite : SuiteFolder (:func:`dxaspine.bench.suites.open_suite`)
    segmenters : specs (:func:`dxaspine.bench.segmenters.parse_spec`); one that cannot be
        imported is left out and listed in ``skipped_segmenters``
    workers : processes (1: in this process)
    progress : called with each finished case's rows

    Returns
    -------
    BenchRun
    """
    usable, skipped = check_segmenters(segmenters)
    start = time.perf_counter()
    rows: list[dict] = []
    if usable:
        options = RunOptions(tuple(usable), reference)
        if workers > 1 and len(suite.cases) > 1:
            results = _pool(suite.cases, options, workers)
        else:
            results = (run_case(case, options) for case in suite.cases)
        for case_rows in results:
            rows.extend(case_rows)
            if progress is not None:
                progress(case_rows)
    order = {c.id: i for i, c in enumerate(suite.cases)}
    names = [s.name for s in usable]
    rows.sort(key=lambda r: (names.index(r["segmenter"]), order.get(r["case"], 0)))
    return BenchRun(suite, tuple(usable), rows, skipped, time.perf_counter() - start, workers)
