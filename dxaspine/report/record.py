"""The result record (Contract 2, docs/architecture.md): built at full precision, rounded once.

Everything that leaves dxaspine (JSON, the flat CSV/Parquet row, the terminal table, the overlay,
the SR) is made from this one record.  Numbers are carried at full precision through the
pipeline and rounded **only** by :func:`round_for_output`, with the one table
:data:`DECIMALS_BY_KEY`, so that composites and T-scores are never computed from rounded values:
BMD 3 decimals, T/Z 1, BMC 2, area 2, pixel coordinates 1 (the precision vendor reports print,
docs/domain.md §1), young-adult and age-matched percentages 0, pixel spacing 4.

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
    "record_from_vendor_only",
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
    # pixel spacing to 0.1 um: far below any header's precision, and no binary-float tail
    # (0.25256410256410255 from ExposedArea / Columns) in the JSON (issue 18)
    "pixel_spacing_mm": 4,
    # whole per cents, as vendor pages print them beside T and Z (issue 18; the vendors'
    # exact column names are unverified here: docs/report_page.md, "Percentages")
    "young_adult_percent": 0,
    "age_matched_percent": 0,
    "height_cm": 1,
    "weight_kg": 1,
    "bmi_kg_m2": 1,
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


def _percentages(a, name: str, bmd_g_cm2: float | None) -> dict:
    """Young-adult and age-matched percentages of one level or region.

    100 x BMD / the mean of the same reference row the T- (resp. Z-) score used: the table's
    own lookups (``t_reference``/``z_reference``), so a percentage exists exactly when its
    score does (the young-adult and age-matched percentages vendor pages print beside T
    and Z; docs/report_page.md, "Percentages").
    """
    out: dict = {"young_adult_percent": None, "age_matched_percent": None}
    table = getattr(a, "reference", None)
    if bmd_g_cm2 is None or table is None:
        return out
    patient = a.patient
    young, _ = table.t_reference(name, patient.get("sex"))
    if young is not None:
        out["young_adult_percent"] = 100.0 * bmd_g_cm2 / young.mean_g_cm2
    matched, _ = table.z_reference(
        name, patient.get("sex"), patient.get("age_years"), patient.get("ethnicity")
    )
    if matched is not None:
        out["age_matched_percent"] = 100.0 * bmd_g_cm2 / matched.mean_g_cm2
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
            **_percentages(a, lv.label, lv.bmd_g_cm2),
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
            **_percentages(a, r.name, r.bmd_g_cm2),
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


def _body_size(patient: Any) -> dict:
    """Height, weight and BMI from the header (the loader has dropped implausible values)."""
    height_m = getattr(patient, "height_m", None)
    weight_kg = getattr(patient, "weight_kg", None)
    bmi = weight_kg / height_m**2 if height_m and weight_kg else None
    return {
        "height_cm": 100.0 * height_m if height_m else None,
        "weight_kg": weight_kg,
        "bmi_kg_m2": bmi,
    }


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
        "software_version": scan.device.software,
        # A scan date, not an identifier of the patient: monitoring needs it, and the page and
        # the flat row show it.  PatientID, name and birth date never enter the record
        # (docs/report_page.md, "Identifiers").
        "study_date": scan.study_date.isoformat() if scan.study_date is not None else None,
        "quantitative": quantitative,
        "bmd_unavailable_reason": None if quantitative else DISPLAY_NO_BMD_REASON,
    }
    if paths:
        input_info["paths"] = paths
    conventions = dict(getattr(scan_result.segmentation, "conventions", None) or {})
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
    result["patient"].update(_body_size(scan.patient))
    # How the numbers were made: a change in any of these changes BMD without any change in bone.
    result["analysis"] = {
        "physics_model": getattr(scan_result.density_map, "physics_model", None) or "unstated",
        "calibration": getattr(scan_result.density_map, "calibration", None) or "none",
        "edge": conventions.get("edge", "unstated"),
        "edge_noise": conventions.get("edge_noise", "unstated"),
        "box": conventions.get("box", "unstated"),
        "segmenter": conventions.get("segmenter", "unstated"),
    }
    if getattr(scan_result, "vendor", ()):
        from dxaspine.report.vendor import vendor_records

        result["vendor"] = vendor_records(scan_result.vendor)
    for level in result["levels"]:  # levels the assessment knows but no measurement had
        for key in ("upper_line_px", "lower_line_px", "label_confidence"):
            level.setdefault(key, None)
    return result


def record_from_vendor_only(vendor_only: Any) -> dict:
    """The Contract 2 result of a study with vendor results and no image.

    The levels and regions are the vendor's numbers as the ISCD rules assessed them; the
    ``input`` block names the results object; the ``vendor`` blocks keep every number with its
    source.

    Parameters
    ----------
    vendor_only : dxaspine.pipeline.VendorOnlyResult
    """
    from dxaspine.report.vendor import vendor_records

    first = next(r for r in vendor_only.vendor if r.assessment is not None)
    results = first.results
    input_info = {
        "path": vendor_only.paths[0],
        "kind": results.kind,
        "sop_instance_uid": results.sop_instance_uid,
        "study_instance_uid": results.study_instance_uid,
        "series_instance_uid": results.series_instance_uid,
        "pixel_spacing_mm": None,
        "pixel_spacing_source": None,
        "recognised_by": f"vendor results ({results.kind})",
        "manufacturer": results.manufacturer,
        "model": results.model,
        "quantitative": True,
        "bmd_unavailable_reason": None,
    }
    if len(vendor_only.paths) > 1:
        input_info["paths"] = list(vendor_only.paths)
    result = record_from_assessment(first.assessment, input_info=input_info)
    result["analysis"] = {
        "physics_model": "vendor",
        "edge": "vendor",
        "box": "vendor",
        "segmenter": "none (no image in the study)",
    }
    result["vendor"] = vendor_records(vendor_only.vendor)
    for level in result["levels"]:  # no image: no lines, no label confidence of ours
        for key in ("upper_line_px", "lower_line_px", "label_confidence"):
            level.setdefault(key, None)
    return result
