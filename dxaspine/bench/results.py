"""A finished run on disk: per-case rows (CSV, Parquet), aggregates and ``results.json``.

Aggregates are per segmenter, over all cases and per group and per input kind
(docs/benchmark.md, "Aggregates").  Pooled figures pool the units they name: line errors
over all matched lines, Dice over all correctly named L1-L4 levels, label accuracy over all
predicted levels with truth under them; rates over cases.  A failed case counts as a scan
with wrong labels and contributes nothing else.
"""

from __future__ import annotations

import csv
import json
import math
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from dxaspine import __version__
from dxaspine.atomic import atomic_write_text
from dxaspine.bench.calibration import reliability
from dxaspine.bench.evaluate import row_columns
from dxaspine.errors import InputError, describe
from dxaspine.levels import CLINICAL_LEVELS

__all__ = [
    "RESULTS_FORMAT",
    "aggregate",
    "aggregates",
    "calibration",
    "confusion",
    "json_column",
    "load_run",
    "write_rows",
    "write_results_json",
]

RESULTS_FORMAT = 1
CASES_CSV, CASES_PARQUET, RESULTS_JSON = "cases.csv", "cases.parquet", "results.json"
_STRINGS = {"segmenter", "case", "group", "kind", "status", "stage", "error_class", "error",
            "reported_region", "truth_reported_region", "who_category", "truth_who_category",
            "levels_json", "lines_json", "masks_json"}  # fmt: skip
_BOOLS = {"labels_scan_correct", "scan_warned", "reported_region_agrees", "who_category_agrees",
          *(f"{n}_label_correct" for n in CLINICAL_LEVELS)}  # fmt: skip


def json_column(row: dict, key: str):
    """A JSON column of a per-case row, parsed ([] when empty)."""
    text = row.get(key)
    return json.loads(text) if text else []


def _finite(values: Iterable) -> np.ndarray:
    out = np.array([v for v in values if v is not None], dtype=float)
    return out[np.isfinite(out)]


def _stat(values, fn) -> float | None:
    values = _finite(values)
    return float(fn(values)) if values.size else None


def _rate(values) -> float | None:
    values = [bool(v) for v in values if v is not None]
    return float(np.mean(values)) if values else None


def aggregate(rows: Sequence[dict]) -> dict:
    """The figures of one set of rows (one segmenter, one scope)."""
    ok = [r for r in rows if r["status"] == "ok"]
    levels = [lv for r in ok for lv in json_column(r, "levels_json")]
    judged = [lv for lv in levels if lv["predicted"] is not None and lv["truth"] is not None]
    wrong = [lv for lv in judged if lv["predicted"] != lv["truth"]]
    lines = [
        ln for r in ok for ln in json_column(r, "lines_json") if ln.get("midpoint_mm") is not None
    ]
    masks = [
        m for r in ok for m in (json.loads(r["masks_json"]) if r.get("masks_json") else {}).values()
    ]
    mid = [ln["midpoint_mm"] for ln in lines]
    tilt = [ln["tilt_deg"] for ln in lines]
    dice = [m["dice"] for m in masks]
    level_bmd = [abs(r[f"{n}_bmd_error_percent"]) for r in ok for n in CLINICAL_LEVELS
                 if r.get(f"{n}_bmd_error_percent") is not None]  # fmt: skip
    level_area = [abs(r[f"{n}_area_error_percent"]) for r in ok for n in CLINICAL_LEVELS
                  if r.get(f"{n}_area_error_percent") is not None]  # fmt: skip
    l1l4 = [abs(r["L1-L4_bmd_error_percent"]) for r in ok
            if r.get("L1-L4_bmd_error_percent") is not None]  # fmt: skip
    cal = reliability(
        [lv["confidence"] for lv in judged], [lv["predicted"] == lv["truth"] for lv in judged]
    )
    silent = [r for r in ok if r["labels_scan_correct"] is False and not r["scan_warned"]]
    out = {
        "cases_n": len(rows),
        "failed_n": len(rows) - len(ok),
        "scan_labels_correct_rate": _rate(r["labels_scan_correct"] for r in rows),
        "level_label_accuracy": (len(judged) - len(wrong)) / len(judged) if judged else None,
        "wrong_labels_n": len(wrong),
        "wrong_labels_warned_share": (
            sum(bool(lv["warned"]) for lv in wrong) / len(wrong) if wrong else None
        ),
        "silent_wrong_scans_n": len(silent),
        "ece": cal.ece,
        "lines_n": len(mid),
        "line_midpoint_error_median_mm": _stat(mid, np.median),
        "line_midpoint_error_p95_mm": _stat(mid, lambda v: np.percentile(v, 95)),
        "line_tilt_error_median_deg": _stat(tilt, np.median),
        "line_tilt_error_p95_deg": _stat(tilt, lambda v: np.percentile(v, 95)),
        "dice_n": len(dice),
        "dice_median": _stat(dice, np.median),
        "dice_min": _stat(dice, np.min),
        "boundary_assd_median_mm": _stat([m["assd_mm"] for m in masks], np.median),
        "boundary_hd95_p95_mm": _stat(
            [m["hd95_mm"] for m in masks], lambda v: np.percentile(v, 95)
        ),
        "level_bmd_abs_error_median_percent": _stat(level_bmd, np.median),
        "level_bmd_abs_error_p95_percent": _stat(level_bmd, lambda v: np.percentile(v, 95)),
        "level_area_abs_error_median_percent": _stat(level_area, np.median),
        "l1l4_bmd_abs_error_median_percent": _stat(l1l4, np.median),
        "l1l4_bmd_abs_error_p95_percent": _stat(l1l4, lambda v: np.percentile(v, 95)),
        "reported_region_agreement": _rate(r.get("reported_region_agrees") for r in ok),
        "who_category_agreement": _rate(r.get("who_category_agrees") for r in ok),
        "segment_median_s": _stat((r.get("segment_s") for r in ok), np.median),
        "case_median_s": _stat(
            (sum(r.get(k) or 0.0 for k in ("load_s", "segment_s", "downstream_s")) for r in ok),
            np.median,
        ),
    }
    for n in CLINICAL_LEVELS:
        out[f"{n}_label_accuracy"] = _rate(r.get(f"{n}_label_correct") for r in ok)
    return out


def _by(rows: Iterable[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(str(r.get(key)), []).append(r)
    return out


def aggregates(rows: Sequence[dict]) -> dict:
    """``{segmenter: {"all": figures, "groups": {group: figures}, "kinds": {kind: figures}}}``."""
    return {
        name: {
            "all": aggregate(these),
            "groups": {g: aggregate(r) for g, r in _by(these, "group").items()},
            "kinds": {k: aggregate(r) for k, r in _by(these, "kind").items()},
        }
        for name, these in _by(rows, "segmenter").items()
    }


def calibration(rows: Sequence[dict]) -> dict:
    """``{segmenter: Reliability JSON}`` over every judged level label."""
    out = {}
    for name, these in _by(rows, "segmenter").items():
        judged = [lv for r in these if r["status"] == "ok" for lv in json_column(r, "levels_json")
                  if lv["predicted"] is not None and lv["truth"] is not None]  # fmt: skip
        out[name] = reliability([lv["confidence"] for lv in judged],
                                [lv["predicted"] == lv["truth"] for lv in judged]).to_json()  # fmt: skip
    return out


def confusion(rows: Sequence[dict]) -> dict:
    """``{segmenter: {truth level: {predicted level or "not found": count}}}``."""
    out: dict = {}
    for name, these in _by(rows, "segmenter").items():
        table: dict = {}
        for r in these:
            if r["status"] != "ok":
                continue
            for lv in json_column(r, "levels_json"):
                if lv["truth"] is None:
                    continue
                cell = table.setdefault(lv["truth"], {})
                key = lv["predicted"] or "not found"
                cell[key] = cell.get(key, 0) + 1
        out[name] = table
    return out


def _cell(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_rows(out: Path, rows: Sequence[dict]) -> list[str]:
    """``cases.csv`` (always) and ``cases.parquet`` (with pyarrow); returns the files written."""
    import io

    columns = row_columns()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    atomic_write_text(out / CASES_CSV, buffer.getvalue())
    written = [CASES_CSV]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    fields = [pa.field(c, pa.string() if c in _STRINGS else pa.bool_() if c in _BOOLS
                       else pa.float64()) for c in columns]  # fmt: skip
    table = pa.Table.from_pylist([{c: _typed(c, row.get(c)) for c in columns} for row in rows],
                                 schema=pa.schema(fields))  # fmt: skip
    tmp = out / f".{CASES_PARQUET}.tmp"
    pq.write_table(table, tmp)
    tmp.replace(out / CASES_PARQUET)
    return [*written, CASES_PARQUET]


def _typed(column: str, value):
    if value is None or value == "":
        return None
    if column in _STRINGS:
        return str(value)
    if column in _BOOLS:
        return value in (True, "true")
    value = float(value)
    return value if math.isfinite(value) else None


def software_versions() -> dict:
    import numpy
    import pydicom
    import scipy

    versions = {"dxaspine": __version__, "python": platform.python_version(),
                "numpy": numpy.__version__, "scipy": scipy.__version__,
                "pydicom": pydicom.__version__}  # fmt: skip
    try:
        import numba

        versions["numba"] = numba.__version__
    except ImportError:  # pragma: no cover - numba is a core dependency
        pass
    return versions


def write_results_json(out: Path, run, rows: Sequence[dict]) -> dict:
    """``results.json``: versions, suite, segmenters, skipped inputs, every aggregate."""
    suite = run.suite
    results = {
        "results_format": RESULTS_FORMAT,
        "software": software_versions(),
        "suite": {
            "name": suite.name,
            "root": suite.root,
            "cases_n": len(suite.cases),
            "groups": list(suite.groups),
            "manifest_sha256": suite.manifest_sha256,
            "key_sha256": (suite.manifest or {}).get("key_sha256"),
            "generator": (suite.manifest or {}).get("generator"),
        },  # fmt: skip
        "segmenters": [
            {"name": s.name, "target": s.target, "reference": s.is_reference}
            for s in run.segmenters
        ],  # fmt: skip
        "skipped_segmenters": [{"name": n, "reason": r} for n, r in run.skipped_segmenters],
        "skipped_inputs": [{"item": i, "reason": r} for i, r in suite.skipped],
        "workers": run.workers,
        "elapsed_s": run.elapsed_s,
        "aggregates": aggregates(rows),
        "calibration": calibration(rows),
        "confusion": confusion(rows),
    }
    atomic_write_text(out / RESULTS_JSON, json.dumps(results, indent=1, allow_nan=False) + "\n")
    return results


def load_run(folder: str | Path) -> tuple[dict, list[dict]]:
    """``(results.json, typed per-case rows)`` of a finished run folder.

    Raises
    ------
    InputError
        The folder holds no ``results.json`` or ``cases.csv`` (not a run folder).
    """
    folder = Path(folder)
    try:
        results = json.loads((folder / RESULTS_JSON).read_text(encoding="utf-8"))
        text = (folder / CASES_CSV).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise InputError(describe(folder, f"not a bench run folder ({type(exc).__name__})",
                                  "give the --out folder of dxaspine bench run")) from exc  # fmt: skip
    rows = [{k: _typed(k, v) for k, v in raw.items()} for raw in csv.DictReader(text.splitlines())]
    return results, rows
