"""``run_batch``: discovery -> executor -> ledger -> final tables and manifest.

Resumable by construction: everything finished is committed in atomic chunks (ledger.py),
and ``resume=True`` skips every key already settled (infrastructure failures are retried).
Ctrl-C stops submitting, commits what has finished and leaves the same resumable state a
crash would.  So does a run that cannot go on (the output disk is full, workers keep dying):
``BatchSummary.run_error`` then says why, and ``--resume`` continues once it is fixed.
Temporary files an earlier, killed run left in the output folders are removed on start.
Failure semantics and exit codes: docs/hardening.md §5.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dxaspine import __version__
from dxaspine.atomic import atomic_write_text, output_error, remove_stale_temp_files
from dxaspine.batch import ledger
from dxaspine.batch.discovery import (
    Failure,
    Skip,
    Work,
    discover,
    index_vendor_results,
    iter_input_paths,
)
from dxaspine.batch.progress import Progress
from dxaspine.batch.worker import WorkerOptions
from dxaspine.errors import DxaError, OutputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    input: str
    out: str
    workers: int = 1
    dask: str | None = None
    resume: bool = False
    glob: str | None = None
    reference: str | None = None
    # writer name -> folder for one file per scan (dxaspine.report.writers: json, overlay, sr ...)
    output_dirs: tuple[tuple[str, str], ...] = ()
    conventions: tuple[tuple[str, object], ...] = ()  # dxaspine.analyze keywords
    quiet: bool = False
    chunk_size: int = 50


@dataclass
class BatchSummary:
    counts: dict = field(default_factory=dict)
    interrupted: bool = False
    out: str = ""
    run_error: str | None = None  # why the run stopped before the end (resumable)
    inputs_seen: int = 0  # files discovery looked at in this run
    dicom_seen: int = 0  # of them, files that were DICOM at all

    @property
    def failed(self) -> int:
        return int(self.counts.get("error", 0))


def run_batch(options: BatchOptions) -> BatchSummary:
    out = Path(options.out)
    chunks = out / ledger.CHUNK_DIR
    if chunks.exists() and not options.resume:
        if any(chunks.glob("chunk-*.jsonl")):
            raise DxaError(
                f"{out}: holds results of an earlier run; pass --resume to continue it "
                "or choose an empty --out directory"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(out, exc) from exc
    _remove_stale_temp_files(options)
    started = _now()
    done_keys = ledger.settled_keys(out) if options.resume else set()
    # One header-only pass first: each study's vendor results, wherever they sit in the
    # archive, go with its image (discovery.index_vendor_results); it also counts the inputs
    # for the progress bar's ETA.
    vendor = index_vendor_results(iter_input_paths(options.input, options.glob))
    progress = Progress(total=vendor.files, quiet=options.quiet, already=len(done_keys))
    writer = ledger.ChunkWriter(out, size=options.chunk_size)
    worker_options = WorkerOptions(options.reference, options.output_dirs, options.conventions)
    for _, folder in options.output_dirs:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise output_error(folder, exc) from exc

    summary = BatchSummary(out=str(out))
    finished = None
    files_of: dict[str, int] = {}  # key -> input files of the work in flight (pairs: 2)
    try:
        records = discover(iter_input_paths(options.input, options.glob), vendor=vendor)
        work = _route(records, done_keys, writer, progress, files_of, summary)
        finished = _execute(work, worker_options, options)
        for record in finished:
            writer.add(record)
            progress.update(record["type"], files=files_of.pop(record["key"], 1))
    except KeyboardInterrupt:
        summary.interrupted = True
        logger.warning("interrupted: finished work is committed; rerun with --resume to continue")
    except DxaError as exc:  # OutputError on a commit, or workers that keep dying
        summary.run_error = str(exc)
        logger.error("the run stopped: %s", exc)
    finally:
        if finished is not None:
            finished.close()  # stop the workers now, not when the generator is collected
        try:
            writer.commit()
        except OutputError as exc:
            summary.run_error = summary.run_error or str(exc)
        progress.close()

    if summary.inputs_seen and not summary.dicom_seen and not summary.run_error:
        logger.warning(
            "%s: no DICOM file found among %d file(s)", options.input, summary.inputs_seen
        )
    elif not summary.inputs_seen and not done_keys and not summary.run_error:
        logger.warning("%s: no input files found", options.input)
    try:
        summary.counts = ledger.build_tables(out, result_columns(), parquet=True)
        _write_manifest(out, options, summary, started)
    except OutputError as exc:
        summary.run_error = summary.run_error or str(exc)
    return summary


def _remove_stale_temp_files(options: BatchOptions) -> None:
    """Temp files of a killed run: the ledger's, and our own in the per-file output folders."""
    out = Path(options.out)
    remove_stale_temp_files(out)
    remove_stale_temp_files(out / ledger.CHUNK_DIR)
    from dxaspine.report.writers import WRITERS

    for name, folder in options.output_dirs:  # only our own kind of file in user folders
        remove_stale_temp_files(folder, suffixes=(WRITERS[name].suffix,))


def _route(
    records,
    done_keys: set[str],
    writer: ledger.ChunkWriter,
    progress: Progress,
    files_of: dict[str, int] | None = None,
    summary: BatchSummary | None = None,
) -> Iterator[Work]:
    """Pass work on to the executor; commit skips and discovery failures directly.

    ``files_of`` receives the number of input files of each multi-file work item (a
    dual-energy pair), so that the progress bar, which counts files, reaches its total.
    """
    for record in records:
        if summary is not None:  # what the run saw, for the "no DICOM found" warning
            summary.inputs_seen += len(record.paths) if isinstance(record, Work) else 1
            if not (isinstance(record, Skip) and record.error_class == "NotDicomError"):
                summary.dicom_seen += 1
        if record.key in done_keys:
            if isinstance(record, Work) and len(record.paths) > 1:
                progress.forget(len(record.paths) - 1)  # `already` counted the pair once
            continue
        if isinstance(record, Work):
            if files_of is not None and len(record.paths) > 1:
                files_of[record.key] = len(record.paths)
            yield record
        elif isinstance(record, Skip):
            writer.add(
                {
                    "type": "skipped",
                    "key": record.key,
                    "row": {"path": record.path, "reason": record.reason},
                }
            )
            progress.update("skipped")
        elif isinstance(record, Failure):
            writer.add(
                ledger.error_record(
                    record.key, (record.path,), record.stage, record.error_class, record.message
                )
            )
            progress.update("error")


def _execute(work: Iterator[Work], worker_options: WorkerOptions, options: BatchOptions):
    from dxaspine.batch import executors

    if options.dask:
        return executors.run_dask(work, worker_options, options.dask)
    # Always worker processes, also for one worker: a decoder crash must not take the runner
    # (and with it the ledger) down (docs/hardening.md §5).
    return executors.run_process_pool(work, worker_options, max(1, options.workers))


def result_columns() -> list[str]:
    from dxaspine.report.row import row_columns

    return row_columns()


def _write_manifest(out: Path, options: BatchOptions, summary: BatchSummary, started: str) -> None:
    from dxaspine.clinical.reference import load_reference

    table = load_reference(options.reference)
    manifest = {
        "dxaspine_version": __version__,
        "reference": {"name": table.name, "source": table.source, "population": table.population},
        "options": asdict(options),
        "counts": {
            "results": summary.counts.get("result", 0),
            "errors": summary.counts.get("error", 0),
            "errors_retried_by_resume": summary.counts.get("infrastructure", 0),
            "skipped": summary.counts.get("skipped", 0),
        },
        "interrupted": summary.interrupted,
        "run_error": summary.run_error,
        "started": started,
        "ended": _now(),
        "outputs": ["results.csv", "results.parquet", "errors.csv", "skipped.csv"],
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
