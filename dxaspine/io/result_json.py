"""The result JSON (DESIGN.md Contract 2): schema, output-only rounding, validation, writing.

Numbers are carried at full precision through the pipeline and rounded **only here**, when
they are written, so that composites and T-scores are never computed from rounded values:
BMD 3 decimals, T/Z 1, BMC 2, area 2, pixel coordinates 1 (the precision vendors print).

The schema ships inside the package (``result.schema.json``).  Every object written is
validated against it when ``jsonschema`` is importable (it is a test extra, not a runtime
dependency), so a malformed result is a bug caught at the source rather than in a user's
downstream script.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dxaspine.io.atomic import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "ResultSchemaError",
    "load_schema",
    "result_from_scan",
    "round_for_output",
    "validate_result",
    "dumps_result",
    "results_json_text",
    "write_results_json",
]

# Decimal places per key, applied at output only (see module docstring).  Keys ending in
# ``_px`` hold [column, row] coordinates; 0.1 px is below any line-placement error that
# matters (a pixel is 0.25–1 mm; DOMAIN.md §6).
_DECIMALS_BY_KEY = {
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
}
_COORDINATE_DECIMALS = 1


class ResultSchemaError(ValueError):
    """A result dict does not match the shipped schema: a dxaspine bug, not bad input."""


@functools.cache
def load_schema() -> dict:
    """The Contract 2 JSON Schema shipped in the package (parsed once, then cached)."""
    text = importlib.resources.files("dxaspine.io").joinpath("result.schema.json").read_text()
    return json.loads(text)


SCHEMA_VERSION: str = load_schema()["schema_version"]


def _plain(value: Any, decimals: int | None) -> Any:
    """Plain JSON value: numpy scalars unwrapped, non-finite floats to null, rounded."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, decimals) if decimals is not None else value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v, _decimals_for(str(k))) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v, decimals) for v in value]
    raise TypeError(f"cannot write {type(value).__name__} to the result JSON")


def _decimals_for(key: str) -> int | None:
    if key.endswith("_px"):
        return _COORDINATE_DECIMALS
    return _DECIMALS_BY_KEY.get(key)


def round_for_output(result: Mapping[str, Any]) -> dict:
    """Copy of ``result`` as plain JSON types, rounded per the Contract 2 precision.

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


def validate_result(result: Mapping[str, Any], *, require: bool = False) -> bool:
    """Check ``result`` against the shipped schema.

    Parameters
    ----------
    result : mapping
        A plain-JSON result (as returned by :func:`round_for_output`).
    require : bool
        Raise ``ModuleNotFoundError`` when ``jsonschema`` is missing instead of skipping.

    Returns
    -------
    bool
        True when validated, False when skipped because ``jsonschema`` is not installed.

    Raises
    ------
    ResultSchemaError
        The result does not match the schema (names the first failing path).
    """
    try:
        import jsonschema
    except ModuleNotFoundError:
        if require:
            raise
        return False
    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(result))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise ResultSchemaError(f"result JSON does not match schema at {where}: {error.message}")
    return True


def dumps_result(result: Mapping[str, Any], *, indent: int | None = None) -> str:
    """Round, validate and serialise one result (no trailing newline)."""
    plain = round_for_output(result)
    validate_result(plain)
    return json.dumps(plain, indent=indent, ensure_ascii=False, allow_nan=False)


def results_json_text(results: Iterable[Mapping[str, Any]], *, lines: bool) -> str:
    """Serialise results as one indented JSON object or as JSON Lines.

    Parameters
    ----------
    results : iterable of mappings
        Contract 2 results at full precision.
    lines : bool
        JSON Lines (one compact object per line; the multi-input form of Contract 2) when
        True; otherwise exactly one result is expected and written as one indented object.

    Returns
    -------
    str
        The text, ending in a newline (empty for JSON Lines with no results).
    """
    results = list(results)
    if lines:
        return "".join(dumps_result(r) + "\n" for r in results)
    if len(results) != 1:
        raise ValueError(f"a single JSON object needs exactly one result, got {len(results)}")
    return dumps_result(results[0], indent=2) + "\n"


def write_results_json(
    path: str | os.PathLike, results: Iterable[Mapping[str, Any]], *, lines: bool
) -> None:
    """Write :func:`results_json_text` to ``path`` atomically (the CLI handles ``-``)."""
    atomic_write_text(path, results_json_text(results, lines=lines))
    logger.debug("wrote result JSON to %s", path)


# Said in the result of a display input (DESIGN.md Contract 1: geometry only, never g/cm2).
DISPLAY_NO_BMD_REASON = (
    "display image: its grey values are not calibrated (no dual-energy counts or areal BMD "
    "map), so BMC, BMD, T- and Z-scores cannot be measured; geometry only"
)


def _stored_line(scan: Any, line: Any) -> list[list[float]]:
    """A head-up line as ``[[c, r], [c, r]]`` of the image as stored (Contract 2)."""
    return [list(scan.to_stored_xy(*line.left)), list(scan.to_stored_xy(*line.right))]


def result_from_scan(scan_result: Any, path: str | os.PathLike | None = None) -> dict:
    """The Contract 2 result of one analysed scan (full precision until written).

    Parameters
    ----------
    scan_result : dxaspine.pipeline.ScanResult
        The analysis; its assessment gives the clinical fields (via
        :func:`dxaspine.clinical.records.assessment_to_dict`), its scan the ``input`` block
        and its level measurements the lines (mapped back to stored coordinates), widths,
        heights and label confidences.
    path : path, optional
        The input as the user named it (default: the scan's own path).

    Returns
    -------
    dict
        A result that validates against the shipped schema.
    """
    from dxaspine.clinical.records import assessment_to_dict

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
    result = assessment_to_dict(scan_result.assessment, input_info=input_info, level_extras=extras)
    for level in result["levels"]:  # levels the assessment knows but no measurement had
        for key in ("upper_line_px", "lower_line_px", "label_confidence"):
            level.setdefault(key, None)
    return result
