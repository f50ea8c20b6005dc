"""A study's vendor results as plain data for the outputs: the result record's ``vendor``
blocks and the flat row's vendor columns (docs/architecture.md, Contract 2: additions are new
fields; docs/vendor_results.md).

These shape data only (duck-typed on ``dxaspine.io.vendor.VendorResults`` and
``dxaspine.clinical.vendor_reading.VendorReading``: the report layer never imports io); the
writers decide where it goes.  The block's schema (``vendor_block.schema.json``) is the ``items``
of the result schema's ``vendor`` array.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Iterable, Mapping

__all__ = [
    "VALUE_KEYS",
    "flat_columns",
    "load_block_schema",
    "trend_rows",
    "vendor_block",
    "vendor_records",
]

VALUE_KEYS = ("bmd_g_cm2", "bmc_g", "area_cm2", "t_score", "z_score")
_TREND_KEYS = ("age_years", "bmd_g_cm2", "t_score", "z_score", "change_vs_previous_g_cm2",
               "pchange_vs_previous_percent", "change_vs_baseline_g_cm2",
               "pchange_vs_baseline_percent")  # fmt: skip


def _provenance(v) -> dict:
    out = {
        "source": v.source,
        "unit": v.unit,
        "unit_as_read": v.unit_as_read,
        "text_as_read": v.text_as_read,
    }
    if v.unit_note:
        out["unit_note"] = v.unit_note
    return out


def _region(r) -> dict:
    out: dict = {"name": r.name, "name_as_read": r.name_as_read, "levels": list(r.levels),
                 "body_part": r.body_part, "excluded": r.excluded, "source": r.source}  # fmt: skip
    provenance = {}
    for key in VALUE_KEYS:
        value = getattr(r, key)
        out[key] = None if value is None else value.value
        if value is not None:
            provenance[key] = _provenance(value)
    out["provenance"] = provenance
    out["other"] = [{"name": n, "value": v.value, **_provenance(v)} for n, v in r.other]
    return out


def _trend(p) -> dict:
    out: dict = {"region": p.region, "region_as_read": p.region_as_read,
                 "date": p.date.isoformat() if p.date else None, "date_text": p.date_text,
                 "body_part": p.body_part, "source": p.source}  # fmt: skip
    for key in _TREND_KEYS:
        value = getattr(p, key)
        out[key] = None if value is None else value.value
    return out


def _flag(f) -> dict:
    return {
        "code": f.code,
        "detail": f.detail,
        "level": f.level,
        "evidence": dict(f.evidence),
        "rule": f.rule,
    }


def vendor_block(results, flags: Iterable[object] = (), summary: Mapping | None = None) -> dict:
    """The ``vendor`` block of a study's result (plain JSON types).

    Parameters
    ----------
    results : VendorResults
    flags, summary : the output of :func:`dxaspine.clinical.second_reading.second_reading`
    """
    return {
        "kind": results.kind,
        "path": results.path,
        "sop_class_uid": results.sop_class_uid,
        "sop_instance_uid": results.sop_instance_uid,
        "series_instance_uid": results.series_instance_uid,
        "study_instance_uid": results.study_instance_uid,
        "study_date": results.study_date.isoformat() if results.study_date else None,
        "device": {
            "manufacturer": results.manufacturer,
            "model": results.model,
            "software_versions": results.software_versions,
        },  # fmt: skip
        "patient": {"sex": results.patient_sex, "age_years": results.patient_age_years},
        "levels": [_region(r) for r in results.levels],
        "regions": [_region(r) for r in results.regions],
        "reported_region": results.reported_region,
        "exclusions_stated": results.exclusions_stated,
        "excluded": list(results.excluded_levels),
        "trend": [_trend(p) for p in results.trend],
        "other_sites": [_region(r) for r in results.other_sites],
        "unmapped": [_region(r) for r in results.unmapped],
        "scan_info": {k: v for k, v in results.scan_info},
        "items_not_understood": [
            {"source": i.source, "value_type": i.value_type, "text": i.text}
            for i in results.items_not_understood
        ],  # fmt: skip
        "notes": list(results.notes),
        "second_reading": {"flags": [_flag(f) for f in flags], **dict(summary or {})},
    }


def flat_columns(results, flags: Iterable[object] = ()) -> dict:
    """Vendor columns of the flat row: per level and composite numbers, join keys, flags.

    Columns: ``study_date``, ``device_manufacturer``, ``device_model``, ``software_versions``,
    ``vendor_kind``, ``vendor_sop_instance_uid``, ``vendor_reported_region``, then
    ``vendor_<region>_<quantity>`` for every level (``vendor_L1_bmd_g_cm2`` …, plus
    ``vendor_L1_excluded``) and composite (``vendor_L1-L4_bmd_g_cm2`` …), and
    ``vendor_flags`` (codes joined by ``;``).  ``None`` gives empty columns, so rows of studies
    without vendor results line up.
    """
    out: dict = {"study_date": None, "device_manufacturer": None, "device_model": None,
                 "software_versions": None, "vendor_kind": None, "vendor_sop_instance_uid": None,
                 "vendor_reported_region": None}  # fmt: skip
    if results is None:
        return out
    out.update(study_date=results.study_date.isoformat() if results.study_date else None,
               device_manufacturer=results.manufacturer, device_model=results.model,
               software_versions=results.software_versions, vendor_kind=results.kind,
               vendor_sop_instance_uid=results.sop_instance_uid,
               vendor_reported_region=results.reported_region)  # fmt: skip
    for r in results.levels:
        for key in VALUE_KEYS:
            out[f"vendor_{r.name}_{key}"] = r.number(key)
        out[f"vendor_{r.name}_excluded"] = r.excluded
    for r in results.regions:
        for key in VALUE_KEYS:
            out[f"vendor_{r.name}_{key}"] = r.number(key)
    out["vendor_flags"] = ";".join(sorted({f.code for f in flags})) or None
    return out


def trend_rows(results) -> list[dict]:
    """One row per trend point, with the study's join keys: the per-patient serial table."""
    keys = {"study_instance_uid": results.study_instance_uid, "vendor_sop_instance_uid": results.sop_instance_uid,
            "study_date": results.study_date.isoformat() if results.study_date else None}  # fmt: skip
    return [{**keys, **_trend(p)} for p in results.trend]


@functools.cache
def load_block_schema() -> dict:
    """The JSON Schema of :func:`vendor_block`."""
    text = (
        importlib.resources.files("dxaspine.report")
        .joinpath("vendor_block.schema.json")
        .read_text()
    )
    return json.loads(text)


def _assessment_summary(assessment) -> dict | None:
    """The parts of an assessment record that say what the ISCD rules made of the numbers."""
    if assessment is None:
        return None
    from dxaspine.report.record import record_from_assessment

    full = record_from_assessment(assessment)
    keep = ("levels", "regions", "reported_region", "interpretation", "exclusion", "flags",
            "notes", "reference")  # fmt: skip
    return {k: full[k] for k in keep if k in full}


def vendor_records(readings) -> list[dict]:
    """The record's ``vendor`` array: one block per vendor results object of the study.

    Parameters
    ----------
    readings : iterable of VendorReading
        ``ScanResult.vendor`` (:mod:`dxaspine.clinical.vendor_reading`).
    """
    out = []
    for reading in readings:
        block = vendor_block(reading.results, reading.flags, reading.summary)
        block["assessment"] = _assessment_summary(reading.assessment)
        out.append(block)
    return out
