"""TID 1500 Measurement Reports (dxaspine's own SR and other vendors') -> VendorResults.

DICOM PS3.16 TID 1500: root ``Imaging Measurement Report`` (DCM 126000) with an ``Imaging
Measurements`` container (DCM 126010) of ``Measurement Group`` containers (DCM 125007).  A
group names what it measures by its ``Tracking Identifier`` (DCM 112039) and ``Finding Site``
codes (SNOMED CT vertebrae, docs/domain.md §6); its NUM items are matched by code first, then by
meaning:

- BMD: LOINC 24966-4 (DXA lumbar spine BMD) or a meaning containing "bone mineral density";
- T / Z: LOINC 38267-1 / 85394-5, DCM 113071 "Z-score", or a meaning with "T-score"/"Z-score";
- area: SNOMED CT 42798000 "Area"; BMC: ``99DXASPINE BMC`` or "bone mineral content";
- other NUMs (height, width …) are kept as other numbers.

dxaspine's SR (:mod:`dxaspine.report.dicom_sr`) adds qualitative evaluations in its private
scheme ``99DXASPINE``: ``EXCLUDED`` on an excluded level and ``REPORTED`` = yes on the
reported region.  Because dxaspine writes ``EXCLUDED`` for every excluded level, its SRs state
exclusions completely; another vendor's SR states them only where it carries the marker.
The level of a group: its tracking identifier (``"L1 vertebra"``, ``"L1-L4"``) when that is a
vertebra or region name, else its finding sites.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from dxaspine.errors import VendorResultsError, describe
from dxaspine.io.vendor.common import Collector, header_fields, make_value
from dxaspine.io.vendor.ge_sr import other_value, unit_text
from dxaspine.io.vendor.names import parse_region, region_name
from dxaspine.io.vendor.results import VendorResults
from dxaspine.io.vendor.sr_tree import (
    child_path,
    children,
    code_value,
    concept,
    num_value,
    text_value,
    value_type,
)

__all__ = ["PRIVATE_SCHEME", "VERTEBRA_CODES", "is_tid1500", "read_tid1500"]

PRIVATE_SCHEME = "99DXASPINE"  # dxaspine/report/codes.py
REPORT = ("126000", "DCM")
IMAGING_MEASUREMENTS = ("126010", "DCM")
MEASUREMENT_GROUP = ("125007", "DCM")
TRACKING_IDENTIFIER = ("112039", "DCM")
FINDING_SITE = ("363698007", "SCT")
VERTEBRA_CODES = {
    "12989004": "T11",
    "23215003": "T12",
    "66794005": "L1",
    "14293000": "L2",
    "36470004": "L3",
    "11994002": "L4",
    "49668003": "L5",
}  # fmt: skip  (SNOMED CT; docs/domain.md §6, as dicom_sr.py writes them)
_BY_CODE = {
    ("24966-4", "LN"): ("bmd_g_cm2", "bmd"),
    ("38267-1", "LN"): ("t_score", "score"),
    ("85394-5", "LN"): ("z_score", "score"),
    ("113071", "DCM"): ("z_score", "score"),
    ("42798000", "SCT"): ("area_cm2", "area"),
    ("BMC", PRIVATE_SCHEME): ("bmc_g", "bmc"),
}
_BY_MEANING = (
    ("BONE MINERAL DENSITY", ("bmd_g_cm2", "bmd")),
    ("T-SCORE", ("t_score", "score")),
    ("Z-SCORE", ("z_score", "score")),
    ("BONE MINERAL CONTENT", ("bmc_g", "bmc")),
)


def _is(code, pair) -> bool:
    return code is not None and (code.value, code.scheme.upper()) == (pair[0], pair[1])


def is_tid1500(ds: Dataset) -> bool:
    """Root concept Imaging Measurement Report, or ContentTemplateSequence TID 1500."""
    if _is(concept(ds), REPORT):
        return True
    templates = ds.get("ContentTemplateSequence") or []
    return any(str(t.get("TemplateIdentifier", "")).strip() == "1500" for t in templates)


def _field(code) -> tuple[str, str] | None:
    if code is None:
        return None
    hit = _BY_CODE.get((code.value, code.scheme.upper()))
    if hit:
        return hit
    meaning = code.meaning.upper()
    if meaning in ("BMD", "BMC", "AREA"):
        return {"BMD": ("bmd_g_cm2", "bmd"), "BMC": ("bmc_g", "bmc"), "AREA": ("area_cm2", "area")}[
            meaning
        ]
    return next((f for text, f in _BY_MEANING if text in meaning), None)


def _group(group: Dataset, path: str, source, out: Collector) -> None:
    fields: dict = {"source": path}
    other = []
    tracking, sites, reported = None, [], False
    for i, item in enumerate(children(group)):
        where = child_path(path, i, item)
        c = concept(item)
        vt = value_type(item)
        if _is(c, TRACKING_IDENTIFIER):
            tracking = text_value(item)
        elif _is(c, FINDING_SITE):
            code = code_value(item)
            if code is not None:
                sites.append(
                    VERTEBRA_CODES.get(code.value) if code.scheme.upper() == "SCT" else None
                )
        elif vt == "NUM":
            num = num_value(item)
            if num.text is None:
                continue
            unit = unit_text(num.unit)
            target = _field(c)
            if target is None:
                other.append((c.meaning if c else "?", other_value(num.text, unit, source, where)))
            else:
                fields[target[0]] = make_value(num.text, unit, target[1], source, where)
        elif vt == "CODE" and c is not None and c.scheme.upper() == PRIVATE_SCHEME:
            if c.value == "EXCLUDED":
                fields["excluded"] = True
            elif c.value == "REPORTED":
                value = code_value(item)
                reported = value is not None and value.meaning.upper() == "YES"
            elif c.value != "QCFLAG":
                out.add_item(where, vt, None)
    name = tracking or ""
    if name.upper().endswith(" VERTEBRA"):
        name = name[: -len(" vertebra")]
    levels = parse_region(name)
    if levels is None and sites and all(sites):
        levels = tuple(sites)
        name = region_name(levels)
    if other:
        fields["other"] = tuple(other)
    region = out.add_region(tracking or name or path, "Lumbar spine", True, levels=levels, **fields)
    if reported:
        out.reported_region = region.name


def read_tid1500(ds: Dataset, source: object = None) -> VendorResults:
    """Read a TID 1500 measurement report.

    Raises
    ------
    VendorResultsError
        Not a TID 1500 report, or no Imaging Measurements container.
    """
    if not is_tid1500(ds):
        raise VendorResultsError(
            describe(source, "SR is not a TID 1500 Imaging Measurement Report", "not a TID 1500 SR")
        )
    out = Collector("tid1500_sr", source)
    root = concept(ds).meaning if concept(ds) else "Imaging Measurement Report"
    containers = [
        (i, x) for i, x in enumerate(children(ds)) if _is(concept(x), IMAGING_MEASUREMENTS)
    ]
    if not containers:
        raise VendorResultsError(
            describe(
                source, "TID 1500 report without Imaging Measurements (DCM 126010)", "re-export"
            )
        )
    for i, container in containers:
        path = child_path(root, i, container)
        for j, group in enumerate(children(container)):
            where = child_path(path, j, group)
            if _is(concept(group), MEASUREMENT_GROUP):
                _group(group, where, source, out)
            else:
                out.add_item(where, value_type(group), None)
    ours = str(ds.get("Manufacturer") or "").strip().lower() == "dxaspine"
    if ours:
        # dxaspine writes EXCLUDED on every excluded level: absence means included
        from dataclasses import replace

        out.levels = [replace(lv, excluded=bool(lv.excluded)) for lv in out.levels]
        out.note("dxaspine's own SR: exclusions are stated completely")
    return out.build(header_fields(ds))
