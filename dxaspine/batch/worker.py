"""What a batch worker does with one work item, in any executor (process pool or Dask)."""

from __future__ import annotations

import logging
import os
import traceback
from dataclasses import dataclass

from dxaspine.batch.discovery import Work
from dxaspine.errors import DxaError

logger = logging.getLogger(__name__)

_WARMED = False


@dataclass(frozen=True)
class WorkerOptions:
    reference: str | None = None
    # writer name -> folder receiving one file per scan (dxaspine.report.writers registry)
    output_dirs: tuple[tuple[str, str], ...] = ()


def init_worker() -> None:
    """Once per worker process: one numba thread, kernels compiled (or loaded from cache) now.

    docs/architecture.md (Kernels): threads must not multiply across processes, and compile cost is paid
    once per worker, never per file.
    """
    global _WARMED
    if _WARMED:
        return
    from dxaspine._numba import pin_single_thread
    from dxaspine.warmup import warm_up

    pin_single_thread()
    try:
        warm_up()
    except Exception:  # warm-up only saves time; a failure here must not kill the worker
        logger.warning("kernel warm-up failed; kernels will compile on first use", exc_info=True)
    _WARMED = True


def process(work: Work, options: WorkerOptions) -> dict:
    """Analyse one scan; return a ledger record (``result`` or ``error``), never raise."""
    init_worker()
    from dxaspine.pipeline import analyze
    from dxaspine.report.record import record_from_scan, round_for_output
    from dxaspine.report.row import row_from_record

    source = work.paths[0] if len(work.paths) == 1 else list(work.paths)
    path = work.paths[0]
    try:
        result = analyze(source, reference=options.reference)
        record = record_from_scan(result, path=source)
        _write_optional(result, record, work, options)
        row = row_from_record(round_for_output(record))
        return {"type": "result", "key": work.key, "row": _csv_safe(row)}
    except DxaError as exc:
        stage = getattr(exc, "stage", None) or "load"
        return _error(work, stage, exc)
    except Exception as exc:  # a bug must not stop the archive; it is recorded with its trace
        stage = getattr(exc, "stage", None) or "internal"
        logger.error("unexpected %s on %s:\n%s", type(exc).__name__, path, traceback.format_exc())
        return _error(work, stage, exc)


def _error(work: Work, stage: str, exc: BaseException) -> dict:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return {
        "type": "error",
        "key": work.key,
        "row": {
            "path": os.pathsep.join(work.paths),
            "stage": stage,
            "error_class": type(exc).__name__,
            "message": message,
        },
    }


def _csv_safe(row: dict) -> dict:
    # Ledger chunks are JSON: keep None/bool/float/str only (numpy scalars become floats).
    return {k: (v if v is None or isinstance(v, bool | str) else float(v)) for k, v in row.items()}


def _write_optional(result, record: dict, work: Work, options: WorkerOptions) -> None:
    from dxaspine.report.writers import WRITERS, ScanOutput, write_outputs

    stem = _safe_stem(work)
    destinations = {
        name: os.path.join(folder, stem + WRITERS[name].suffix)
        for name, folder in options.output_dirs
    }
    try:
        write_outputs(ScanOutput(result, record), destinations)
    except Exception as exc:
        exc.stage = "write"
        raise


def _safe_stem(work: Work) -> str:
    key = work.key.split(":", 1)[1]
    return "".join(ch if ch.isalnum() or ch in ".-_+" else "_" for ch in key)[:200]
