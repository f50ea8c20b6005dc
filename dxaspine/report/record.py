"""The result record (Contract 2, docs/architecture.md): built at full precision, rounded once.

Everything that leaves dxaspine (JSON, the flat CSV/Parquet row, the terminal table, the overlay,
the SR) is made from this one record.  Numbers are carried at full precision through the
pipeline and rounded **only** by :func:`round_for_output`, with the one table
:data:`DECIMALS_BY_KEY`, so that composites and T-scores are never computed from rounded values:
BMD 3 decimals, T/Z 1, BMC 2, area 2, pixel coordinates 1 (the precision vendor reports print,
docs/domain.md §1).

- :func:`record_from_assessment` builds the fields that exist without an image (the clinical
  layer works on numbers: ``dxaspine assess`` tables and vendor numbers use it alone);
- :func:`record_from_scan` adds the ``input`` block and what only an image analysis has
  (intervertebral lines in stored coordinates, widths, heights, label confidences).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dxaspine import __version__
from dxaspine.report.schema import SCHEMA_VERSION

__all__ = [
    "DECIMALS_BY_KEY",
    "DISPLAY_NO_BMD_REASON",
    "record_from_assessment",
    "record_from_scan",
    "round_for_output",
]

# Decimal places per key, applied at output only (see module docstring).  Keys ending in
# ``_px`` hold [column, row] coordinates; 0.1 px is below any line-placement error that
# matters (a pixel is 0.25-1 mm; docs/domain.md §6).
DECIMALS_BY_KEY: dict[str, int] = {
    "bmd_g_cm2": 3,
    "t_score": 1,
    "z_score": 1,
    "bmc_g": 2,
    "area_cm2": 2,
    "width_mm": 1,
    "height_mm": 1,
    "density_index": 3,
    "label_confidence": 2,
    "age_years": 1,
    "difference_g_cm2": 3,
    "difference_percent": 1,
    "difference_t": 1,
}
_COORDINATE_DECIMALS = 1

# Said in the result of a display input (Contract 1: geometry only, never g/cm2).
DISPLAY_NO_BMD_REASON = (
    "display image: its grey values are not calibrated (no dual-energy counts or areal BMD "
    "map), so BMC, BMD, T- and Z-scores cannot be measured; geometry only"
)


def _decimals_for(key: str) -> int | None:
    if key.endswith("_px"):
        return _COORDINATE_DECIMALS
    return DECIMALS_BY_KEY.get(key)


def _plain(value: Any, decimals: int | None) -> Any:
    """Plain JSON value: numpy scalars unwrapped, non-finite floats to null, rounded."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # + 0.0 turns -0.0 into 0.0 (a rounded -0.04 must not print as "-0.0")
        return round(value, decimals) + 0.0 if decimals is not None else value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v, _decimals_for(str(k))) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v, decimals) for v in value]
    raise TypeError(f"cannot write {type(value).__name__} to the result JSON")


def round_for_output(result: Mapping[str, Any]) -> dict:
    """Copy of ``result`` as plain JSON types, rounded per :data:`DECIMALS_BY_KEY`.

    Parameters
    ----------
    result : mapping
        A Contract 2 result at full precision (numpy scalars and arrays allowed).

    Returns
    -------
    dict
        A new dict; ``result`` is not modified.  Non-finite numbers become ``null``.
    """
    return _plain(result, None)


def _flag(f) -> dict:
    out = {"code": f.code, "detail": f.detail}
    if f.level:
        out["level"] = f.level
    if f.evidence:
        out["evidence"] = json.loads(json.dumps(dict(f.evidence), default=float))
    if getattr(f, "rule", None):
        out["rule"] = f.rule
    return out


def record_from_assessment(
    a,
    input_info: Mapping[str, object] | None = None,
    level_extras: Mapping[str, Mapping[str, object]] | None = None,
) -> dict:
    """The Contract 2 fields of an assessment, at full precision.

    Parameters
    ----------
    a : dxaspine.clinical.Assessment
    input_info : mapping, optional
        The ``input`` block (image analyses only).
    level_extras : mapping, optional
        Per level label, extra fields only an image analysis has (lines, confidence ...).

    Returns
    -------
    dict
        Not yet rounded: pass it through :func:`round_for_output` before writing.
    """
    out: dict = {"schema_version": SCHEMA_VERSION}
    if input_info is not None:
        out["input"] = dict(input_info)
    out["patient"] = dict(a.patient)
    out["levels"] = []
    for lv in a.levels:
        item = {
            "label": lv.label,
            "bmc_g": lv.bmc_g,
            "area_cm2": lv.area_cm2,
            "bmd_g_cm2": lv.bmd_g_cm2,
            "t_score": lv.t_score,
            "z_score": lv.z_score,
            "excluded": lv.excluded,
            "flags": [_flag(f) for f in lv.flags],
        }
        item.update((level_extras or {}).get(lv.label, {}))
        out["levels"].append(item)
    out["regions"] = [
        {
            "name": r.name,
            "levels": list(r.levels),
            "bmc_g": r.bmc_g,
            "area_cm2": r.area_cm2,
            "bmd_g_cm2": r.bmd_g_cm2,
            "t_score": r.t_score,
            "z_score": r.z_score,
            "who_category": r.who_category,
        }
        for r in a.regions
    ]
    out["reported_region"] = a.reported_region
    out["interpretation"] = dict(a.interpretation)
    out["exclusion"] = {
        "mode": a.exclusion_mode,
        "excluded": list(a.excluded),
        "proposed": list(a.proposed_exclusions),
    }
    if a.l1l4_vs_l2l4 is not None:
        d = a.l1l4_vs_l2l4
        out["l1l4_vs_l2l4"] = {
            "difference_g_cm2": d["difference_g_cm2"],
            "difference_percent": d["difference_percent"],
            "difference_t": d["difference_t"],
            "who_changes": d["who_changes"],
        }
    out["flags"] = [_flag(f) for f in a.flags]
    out["notes"] = list(a.notes)
    out["reference"] = {
        "name": a.reference.name,
        "source": a.reference.source,
        "population": a.reference.population,
    }
    out["software"] = {"name": "dxaspine", "version": __version__}
    return out


def _stored_line(scan: Any, line: Any) -> list[list[float]]:
    """A head-up line as ``[[c, r], [c, r]]`` of the image as stored (Contract 2)."""
    return [list(scan.to_stored_xy(*line.left)), list(scan.to_stored_xy(*line.right))]


def record_from_scan(scan_result: Any, path: str | os.PathLike | None = None) -> dict:
    """The Contract 2 result of one analysed scan (full precision until written).

    Parameters
    ----------
    scan_result : dxaspine.pipeline.ScanResult
        The analysis; its assessment gives the clinical fields, its scan the ``input`` block
        and its level measurements the lines (mapped back to stored coordinates), widths,
        heights and label confidences.
    path : path, optional
        The input as the user named it (default: the scan's own path).

    Returns
    -------
    dict
        A result that validates against the shipped schema once rounded.
    """
    scan = scan_result.scan
    paths = [os.fspath(p) for p in path] if isinstance(path, list | tuple) else None
    shown = paths[0] if paths else (os.fspath(path) if path is not None else scan.path)
    header = scan.header
    quantitative = bool(scan_result.density_map.quantitative)
    input_info: dict[str, Any] = {
        "path": shown,
        "kind": scan.kind,
        "sop_instance_uid": scan.sop_instance_uid,
        "study_instance_uid": scan.study_instance_uid,
        "series_instance_uid": scan.series_instance_uid,
        "pixel_spacing_mm": [float(v) for v in scan.pixel_spacing_mm],
        "pixel_spacing_source": scan.pixel_spacing_source,
        "recognised_by": scan.recognised_by,
        "orientation_flips": list(scan.orientation_flips),
        "manufacturer": scan.device.manufacturer,
        "model": scan.device.model,
        "quantitative": quantitative,
        "bmd_unavailable_reason": None if quantitative else DISPLAY_NO_BMD_REASON,
    }
    if paths:
        input_info["paths"] = paths
    if header is not None and not input_info["sop_instance_uid"]:
        input_info["sop_instance_uid"] = str(header.get("SOPInstanceUID", "")) or None
    extras = {
        m.label: {
            "upper_line_px": _stored_line(scan, m.upper_line),
            "lower_line_px": _stored_line(scan, m.lower_line),
            "label_confidence": float(m.label_confidence),
            "width_mm": m.width_mm,
            "height_mm": m.height_mm,
            "density_index": m.density_index,
        }
        for m in scan_result.levels
    }
    result = record_from_assessment(
        scan_result.assessment, input_info=input_info, level_extras=extras
    )
    for level in result["levels"]:  # levels the assessment knows but no measurement had
        for key in ("upper_line_px", "lower_line_px", "label_confidence"):
            level.setdefault(key, None)
    return result
