"""Assessment -> Contract 2 dict (JSON) and flat CSV row.  Rounding happens only here.

Shared by ``dxaspine assess`` (tables) and the image pipeline's writers: the image pipeline
adds ``input`` and the line/confidence fields it alone has (``level_extras``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from dxaspine import __version__
from dxaspine.clinical.assessment import Assessment
from dxaspine.measure.composites import CLINICAL_LEVELS, region_name, standard_region_sets

__all__ = ["SCHEMA_VERSION", "assessment_to_dict", "assessment_to_row", "row_columns"]

SCHEMA_VERSION = "1.0"
BMD_DIGITS, SCORE_DIGITS, MASS_DIGITS = 3, 1, 2  # as vendor reports print them (DOMAIN.md §1)


def _r(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def _flag(f) -> dict:
    out = {"code": f.code, "detail": f.detail}
    if f.level:
        out["level"] = f.level
    if f.evidence:
        out["evidence"] = json.loads(json.dumps(dict(f.evidence), default=float))
    if f.rule:
        out["rule"] = f.rule
    return out


def assessment_to_dict(
    a: Assessment,
    input_info: Mapping[str, object] | None = None,
    level_extras: Mapping[str, Mapping[str, object]] | None = None,
) -> dict:
    """The Contract 2 object (fields that exist without an image, plus ``input`` if given)."""
    out: dict = {"schema_version": SCHEMA_VERSION}
    if input_info is not None:
        out["input"] = dict(input_info)
    out["patient"] = dict(a.patient)
    out["levels"] = []
    for lv in a.levels:
        item = {
            "label": lv.label,
            "bmc_g": _r(lv.bmc_g, MASS_DIGITS),
            "area_cm2": _r(lv.area_cm2, MASS_DIGITS),
            "bmd_g_cm2": _r(lv.bmd_g_cm2, BMD_DIGITS),
            "t_score": _r(lv.t_score, SCORE_DIGITS),
            "z_score": _r(lv.z_score, SCORE_DIGITS),
            "excluded": lv.excluded,
            "flags": [_flag(f) for f in lv.flags],
        }
        item.update((level_extras or {}).get(lv.label, {}))
        out["levels"].append(item)
    out["regions"] = [
        {
            "name": r.name,
            "levels": list(r.levels),
            "bmc_g": _r(r.bmc_g, MASS_DIGITS),
            "area_cm2": _r(r.area_cm2, MASS_DIGITS),
            "bmd_g_cm2": _r(r.bmd_g_cm2, BMD_DIGITS),
            "t_score": _r(r.t_score, SCORE_DIGITS),
            "z_score": _r(r.z_score, SCORE_DIGITS),
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
            "difference_g_cm2": _r(d["difference_g_cm2"], BMD_DIGITS),
            "difference_percent": _r(d["difference_percent"], 1),
            "difference_t": _r(d["difference_t"], SCORE_DIGITS),
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


def row_columns(head: tuple[str, ...] = ("path", "sop_instance_uid", "kind")) -> list[str]:
    """Contract 2 flat-row columns, in order."""
    cols = [*head, "patient_sex", "patient_age_years"]
    for lv in CLINICAL_LEVELS:
        cols += [f"{lv}_{k}" for k in ("bmc_g", "area_cm2", "bmd_g_cm2", "t_score", "z_score",
                                         "excluded", "flags")]  # fmt: skip
    for members in standard_region_sets():
        name = region_name(members)
        cols += [f"{name}_bmd_g_cm2", f"{name}_t_score", f"{name}_z_score"]
    cols += ["reported_region", "reported_bmd_g_cm2", "reported_t_score", "reported_z_score",
             "who_category", "flags"]  # fmt: skip
    # Filled by the image pipeline's writers (empty for table input; docs/hardening.md §5).
    cols += ["pixel_spacing_source", "warnings"]
    return cols


def assessment_to_row(a: Assessment, head: Mapping[str, object] | None = None) -> dict:
    """The flat row; keys are :func:`row_columns`.  ``head`` fills path/uid/kind."""
    row: dict = {c: None for c in row_columns(tuple(head or ("path", "sop_instance_uid", "kind")))}
    row.update(head or {})
    row["patient_sex"] = a.patient.get("sex")
    row["patient_age_years"] = a.patient.get("age_years")
    for lv in a.levels:
        if lv.label not in CLINICAL_LEVELS:
            continue
        row[f"{lv.label}_bmc_g"] = _r(lv.bmc_g, MASS_DIGITS)
        row[f"{lv.label}_area_cm2"] = _r(lv.area_cm2, MASS_DIGITS)
        row[f"{lv.label}_bmd_g_cm2"] = _r(lv.bmd_g_cm2, BMD_DIGITS)
        row[f"{lv.label}_t_score"] = _r(lv.t_score, SCORE_DIGITS)
        row[f"{lv.label}_z_score"] = _r(lv.z_score, SCORE_DIGITS)
        row[f"{lv.label}_excluded"] = lv.excluded
        row[f"{lv.label}_flags"] = ";".join(dict.fromkeys(f.code for f in lv.flags))
    for r in a.regions:
        if f"{r.name}_bmd_g_cm2" in row:
            row[f"{r.name}_bmd_g_cm2"] = _r(r.bmd_g_cm2, BMD_DIGITS)
            row[f"{r.name}_t_score"] = _r(r.t_score, SCORE_DIGITS)
            row[f"{r.name}_z_score"] = _r(r.z_score, SCORE_DIGITS)
    row["reported_region"] = a.reported_region
    rep = a.region(a.reported_region) if a.reported_region else None
    if rep is not None:
        row["reported_bmd_g_cm2"] = _r(rep.bmd_g_cm2, BMD_DIGITS)
        row["reported_t_score"] = _r(rep.t_score, SCORE_DIGITS)
        row["reported_z_score"] = _r(rep.z_score, SCORE_DIGITS)
    row["who_category"] = a.interpretation.get("who_category")
    row["flags"] = ";".join(dict.fromkeys(f.code for f in a.flags))
    return {k: row[k] for k in row_columns(tuple(head or ("path", "sop_instance_uid", "kind")))}
