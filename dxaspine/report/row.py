"""The flat row (Contract 2, docs/architecture.md): one row per scan for CSV and Parquet.

Built from the *rounded* record (:func:`dxaspine.report.record.round_for_output`), so the row,
the JSON and the table always show the same digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dxaspine.levels import CLINICAL_LEVELS
from dxaspine.measure.composites import region_name, standard_region_sets

__all__ = [
    "GEOMETRY_FIELDS",
    "LEVEL_FIELDS",
    "SCAN_FACTS",
    "SCAN_HEAD",
    "region_columns",
    "row_columns",
    "row_from_record",
]

# The first columns of an image analysis' row; tabular ``dxaspine assess`` uses its own head.
SCAN_HEAD = ("path", "sop_instance_uid", "kind")
LEVEL_FIELDS = ("bmc_g", "area_cm2", "bmd_g_cm2", "t_score", "z_score", "excluded", "flags")
_REGION_FIELDS = ("bmd_g_cm2", "t_score", "z_score")
# Appended after ``flags`` (schema 1.3, issue 18) so that every earlier column keeps its
# position: the scan's date, scanner and spacing source, then the per-level geometry a
# display input has instead of BMD (height, width, density index).
SCAN_FACTS = ("study_date", "manufacturer", "model", "software_version", "pixel_spacing_source")
GEOMETRY_FIELDS = ("height_mm", "width_mm", "density_index")
# The study's vendor results (the first results object with numbers), appended after
# ``warnings``: the vendor's own numbers per level and composite, what the ISCD rules made of
# them with dxaspine's image evidence, and the second reading (docs/vendor_results.md).
VENDOR_HEAD = ("vendor_kind", "vendor_sop_instance_uid", "vendor_device_model",
               "vendor_software_versions", "vendor_reported_region_stated")  # fmt: skip
VENDOR_LEVEL_FIELDS = ("bmc_g", "area_cm2", "bmd_g_cm2", "t_score", "z_score", "excluded")
# vendor_area_bias_studies: how many of the device's studies calibrated the area comparison
# (filled by the batch's archive-level second reading; empty: uncalibrated, one study alone)
VENDOR_TAIL = ("vendor_reported_region", "vendor_reported_bmd_g_cm2", "vendor_reported_t_score",
               "vendor_who_category", "vendor_labels_shifted", "vendor_level_offset",
               "vendor_flags", "vendor_area_bias_studies")  # fmt: skip


def region_columns() -> list[str]:
    """Names of the standard composites, in Hologic's order (docs/domain.md §1)."""
    return [region_name(members) for members in standard_region_sets()]


def row_columns(head: Sequence[str] = SCAN_HEAD) -> list[str]:
    """Contract 2 flat-row columns, in order."""
    cols = [*head, "patient_sex", "patient_age_years"]
    for lv in CLINICAL_LEVELS:
        cols += [f"{lv}_{k}" for k in LEVEL_FIELDS]
    for name in region_columns():
        cols += [f"{name}_{k}" for k in _REGION_FIELDS]
    cols += ["reported_region", "reported_bmd_g_cm2", "reported_t_score", "reported_z_score",
             "who_category", "flags"]  # fmt: skip
    cols += list(SCAN_FACTS)
    for lv in CLINICAL_LEVELS:
        cols += [f"{lv}_{k}" for k in GEOMETRY_FIELDS]
    # What the analysis warned about (docs/hardening.md §5), filled by whoever collected the
    # log (the batch worker, ``dxaspine analyze --csv``); last, so no column moves.
    cols += ["warnings"]
    cols += vendor_columns()
    return cols


def vendor_columns() -> list[str]:
    """The vendor columns of the flat row, in order (empty for studies without vendor results)."""
    cols = list(VENDOR_HEAD)
    for lv in CLINICAL_LEVELS:
        cols += [f"vendor_{lv}_{k}" for k in VENDOR_LEVEL_FIELDS]
    cols += [f"vendor_{name}_bmd_g_cm2" for name in region_columns()]
    cols += list(VENDOR_TAIL)
    return cols


def _vendor_cells(row: dict, record: Mapping) -> None:
    block = next((b for b in record.get("vendor") or () if b.get("assessment")), None)
    if block is None:
        return
    device = block.get("device") or {}
    row.update(vendor_kind=block.get("kind"), vendor_sop_instance_uid=block.get("sop_instance_uid"),
               vendor_device_model=device.get("model"),
               vendor_software_versions=device.get("software_versions"),
               vendor_reported_region_stated=block.get("reported_region"))  # fmt: skip
    for lv in block.get("levels", ()):
        if lv["name"] in CLINICAL_LEVELS:
            for key in VENDOR_LEVEL_FIELDS[:-1]:
                row[f"vendor_{lv['name']}_{key}"] = lv.get(key)
    assessment = block["assessment"]
    for lv in assessment.get("levels", ()):
        if lv["label"] in CLINICAL_LEVELS:
            row[f"vendor_{lv['label']}_excluded"] = lv.get("excluded")
    for r in block.get("regions", ()):
        if f"vendor_{r['name']}_bmd_g_cm2" in row:
            row[f"vendor_{r['name']}_bmd_g_cm2"] = r.get("bmd_g_cm2")
    reported = assessment.get("reported_region")
    rep = next((r for r in assessment.get("regions", ()) if r["name"] == reported), None)
    row["vendor_reported_region"] = reported
    if rep is not None:
        row["vendor_reported_bmd_g_cm2"] = rep.get("bmd_g_cm2")
        row["vendor_reported_t_score"] = rep.get("t_score")
    row["vendor_who_category"] = (assessment.get("interpretation") or {}).get("who_category")
    flags = (block.get("second_reading") or {}).get("flags", ())
    codes = [f["code"] for f in flags]
    row["vendor_labels_shifted"] = "vendor_labels_shifted" in codes
    comparison = (block.get("second_reading") or {}).get("area_comparison") or {}
    row["vendor_level_offset"] = comparison.get("best_offset")
    row["vendor_flags"] = ";".join(dict.fromkeys(codes))


def _codes(flags) -> str:
    return ";".join(dict.fromkeys(f["code"] for f in flags or ()))


def row_from_record(
    record: Mapping, head: Mapping[str, object] | None = None, columns: Sequence[str] | None = None
) -> dict:
    """The flat row of one rounded record.

    Parameters
    ----------
    record : mapping
        A rounded Contract 2 record.
    head : mapping, optional
        Values of the head columns; default: path, SOP instance UID and kind from ``input``.
    columns : sequence of str, optional
        The columns (default :func:`row_columns` of the head's keys).

    Returns
    -------
    dict
        Keys exactly ``columns``; absent values are None.
    """
    if head is None:
        info = record.get("input") or {}
        head = {k: info.get(k) for k in SCAN_HEAD}
    columns = list(columns) if columns is not None else row_columns(tuple(head))
    row: dict = dict.fromkeys(columns)
    row.update(head)
    patient = record.get("patient") or {}
    row["patient_sex"] = patient.get("sex")
    row["patient_age_years"] = patient.get("age_years")
    for lv in record.get("levels", ()):
        if lv["label"] not in CLINICAL_LEVELS:
            continue
        for key in LEVEL_FIELDS[:-1]:
            row[f"{lv['label']}_{key}"] = lv.get(key)
        row[f"{lv['label']}_flags"] = _codes(lv.get("flags"))
        for key in GEOMETRY_FIELDS:
            row[f"{lv['label']}_{key}"] = lv.get(key)
    regions = {r["name"]: r for r in record.get("regions", ())}
    for name, r in regions.items():
        if f"{name}_bmd_g_cm2" in row:
            for key in _REGION_FIELDS:
                row[f"{name}_{key}"] = r.get(key)
    reported = record.get("reported_region")
    row["reported_region"] = reported
    rep = regions.get(reported) if reported else None
    if rep is not None:
        for key in _REGION_FIELDS:
            row[f"reported_{key}"] = rep.get(key)
    row["who_category"] = (record.get("interpretation") or {}).get("who_category")
    row["flags"] = _codes(record.get("flags"))
    info = record.get("input") or {}
    for key in SCAN_FACTS:
        row[key] = info.get(key)
    _vendor_cells(row, record)
    return {k: row.get(k) for k in columns}
