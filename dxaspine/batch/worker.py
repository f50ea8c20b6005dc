"""What a batch worker does with one work item, in any executor (process pool or Dask)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from dxaspine.batch.discovery import Work
from dxaspine.batch.ledger import error_record
from dxaspine.batch.logs import collect_warnings
from dxaspine.errors import DxaError, OutputError

logger = logging.getLogger(__name__)

_WARMED = False


@dataclass(frozen=True)
class WorkerOptions:
    reference: str | None = None
    # writer name -> folder receiving one file per scan (dxaspine.report.writers registry)
    output_dirs: tuple[tuple[str, str], ...] = ()
    # analysis conventions (dxaspine.analyze keywords: edge, box_margin_mm)
    conventions: tuple[tuple[str, object], ...] = ()


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
    """Analyse one scan; return a ledger record (``result`` or ``error``), never raise.

    The record holds plain JSON values only, never an exception object (it must pickle back
    to the runner whatever went wrong).  An output that cannot be written, and a dxaspine
    bug, are marked ``infrastructure`` (``--resume`` retries them); a file's own DxaError
    is not.
    """
    init_worker()
    from dxaspine.pipeline import analyze, analyze_vendor_only
    from dxaspine.report.record import record_from_scan, record_from_vendor_only, round_for_output
    from dxaspine.report.row import row_from_record

    source = work.paths[0] if len(work.paths) == 1 else list(work.paths)
    path = work.paths[0] if work.paths else work.vendor_paths[0]
    try:
        with collect_warnings(strip=work.paths + work.vendor_paths) as warnings:
            if work.paths:
                result = analyze(source, reference=options.reference, vendor=work.vendor_paths,
                                 **dict(options.conventions))  # fmt: skip
                record = record_from_scan(result, path=source)
                _write_optional(result, record, work, options)
            else:  # a study with vendor results and no image
                result = analyze_vendor_only(work.vendor_paths, reference=options.reference)
                record = record_from_vendor_only(result)
        row = row_from_record(round_for_output(record))
        row["warnings"] = " | ".join(warnings) or None
        out = {"type": "result", "key": work.key, "row": _csv_safe(row)}
        areas = _areas_for_calibration(result) if work.vendor_paths and work.paths else None
        if areas is not None:
            out["areas"] = areas
        return out
    except DxaError as exc:  # this file's problem, with its one-line message
        stage = getattr(exc, "stage", None) or "load"
        infrastructure = isinstance(exc, OutputError)
        return error_record(
            work.key, work.paths, stage, type(exc).__name__, str(exc), infrastructure=infrastructure
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a bug must not stop the archive
        # The traceback goes to the log (a --log-file); the ledger gets the class only, as
        # exception texts may quote header values (docs/hardening.md §4).
        stage = getattr(exc, "stage", None) or "internal"
        logger.error("%s: unexpected %s", path, type(exc).__name__, exc_info=True)
        return error_record(
            work.key,
            work.paths,
            stage,
            type(exc).__name__,
            f"{path}: internal error ({type(exc).__name__}); rerun with --log-file PATH and "
            "report it",
            infrastructure=True,
        )


def _areas_for_calibration(result) -> dict | None:
    """What the archive-level second reading needs (ledger.build_tables): the vendor's and our
    level areas, our label confidences, and the vendor's device model."""
    reading = next((r for r in result.vendor if r.assessment is not None), None)
    if reading is None:
        return None
    vendor = {
        lv.name: lv.area_cm2.value for lv in reading.results.levels if lv.area_cm2 is not None
    }
    ours = {m.label: float(m.area_cm2) for m in result.levels}
    confidence = {m.label: float(m.label_confidence) for m in result.levels}
    return {"model": reading.results.model or "unknown", "vendor": vendor, "ours": ours,
            "confidence": confidence}  # fmt: skip


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
