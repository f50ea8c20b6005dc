"""GE Lunar enCORE Enhanced SR (SOP class 1.2.840.10008.5.1.4.1.1.88.22) -> VendorResults.

Structure (docs/vendor_results.md §3; from public parsers of real files, **unverified** here):
items are matched by CodeMeaning, case- and spacing-insensitively.

- root container ``DXA Report``; body-part containers below it (``AP Spine``, ``Left Femur``,
  ``Right Femur``, ``DualFemur``, ``Left Forearm``, ``Right Forearm``; ibh-daai parser);
- region containers in a body part (``L1`` … ``L4``, ``L1-L4``, ``L1-L3``, ``L2-L4``, ``Neck``,
  ``Total``, ``Radius 33%``), each holding ``BMD`` (NUM with units), ``BMD_TSCORE`` and
  ``BMD_ZSCORE`` — as TEXT items holding the number according to the second public parser
  (NUM is accepted too) — and, from enCORE 10.2, BMC and area (docs/domain.md §6; their concept
  names are not in any public source: ``BMC``/``Bone Mineral Content`` and ``Area``/
  ``Bone Area`` are accepted);
- ``Trend <region>`` containers holding one container per exam named by its date
  (``%d-%b-%Y`` per ibh-daai, ``MM/DD/YYYY`` per the second parser), each with ``AGE``,
  ``BMD`` and containers ``CHANGE_VS_PREVIOUS``, ``PCHANGE_VS_PREVIOUS``,
  ``CHANGE_VS_BASELINE`` (and ``PCHANGE_VS_BASELINE``) each holding a ``BMD`` NUM.

How enCORE marks an excluded vertebra is not public.  A TEXT or CODE item ``EXCLUDED`` with
a yes/no value in a level container is read as the vendor's statement (this is the form the
dxaspine fixtures write; docs/vendor_results.md §7); without it ``exclusions_stated`` is
False.  Items no rule covers are kept in ``items_not_understood`` with their paths (TEXT
values withheld: free text may identify the patient).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from dxaspine.errors import VendorResultsError, describe
from dxaspine.io.vendor.common import (
    Collector,
    header_fields,
    is_spine_body_part,
    make_value,
    parse_number,
    parse_trend_date,
)
from dxaspine.io.vendor.names import parse_region, region_name
from dxaspine.io.vendor.results import TrendPoint, VendorResults, VendorValue
from dxaspine.io.vendor.sr_tree import (
    Code,
    child_path,
    children,
    code_value,
    concept,
    key,
    num_value,
    text_value,
    value_type,
)
from dxaspine.io.vendor.units import known_unit

__all__ = ["ENHANCED_SR", "ROOT_MEANING", "read_ge_sr"]

ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
ROOT_MEANING = "DXA Report"

FIELDS = {
    "BMD": "bmd_g_cm2",
    "BMC": "bmc_g",
    "BONE_MINERAL_CONTENT": "bmc_g",
    "AREA": "area_cm2",
    "BONE_AREA": "area_cm2",
    "BMD_TSCORE": "t_score",
    "T_SCORE": "t_score",
    "BMD_ZSCORE": "z_score",
    "Z_SCORE": "z_score",
}
QUANTITY = {
    "bmd_g_cm2": "bmd",
    "bmc_g": "bmc",
    "area_cm2": "area",
    "t_score": "score",
    "z_score": "score",
}
_TREND_FIELDS = {
    "AGE": ("age_years", "age"),
    "BMD": ("bmd_g_cm2", "bmd"),
    "BMD_TSCORE": ("t_score", "score"),
    "BMD_ZSCORE": ("z_score", "score"),
    "CHANGE_VS_PREVIOUS": ("change_vs_previous_g_cm2", "bmd_change"),
    "PCHANGE_VS_PREVIOUS": ("pchange_vs_previous_percent", "percent"),
    "CHANGE_VS_BASELINE": ("change_vs_baseline_g_cm2", "bmd_change"),
    "PCHANGE_VS_BASELINE": ("pchange_vs_baseline_percent", "percent"),
}
_YES = {"YES", "Y", "TRUE", "1", "EXCLUDED"}
_NO = {"NO", "N", "FALSE", "0", "INCLUDED"}


def unit_text(code: Code | None) -> str | None:
    """The unit spelling to convert from: the UCUM code, else whichever field is a unit."""
    if code is None:
        return None
    if code.scheme.upper() == "UCUM":
        return code.value
    for text in (code.value, code.meaning):
        if text and known_unit(text):
            return text
    return code.value or code.meaning or None


def _number_of(item: Dataset, source, where: str) -> tuple[str | None, str | None]:
    """``(number text, unit)`` of a NUM item or of a TEXT item that holds a number."""
    vt = value_type(item)
    if vt == "NUM":
        num = num_value(item)
        return num.text, unit_text(num.unit)
    if vt == "TEXT":
        return text_value(item), None
    return None, None


def yes_no(text: str | None, source, where: str) -> bool:
    t = (text or "").strip().upper()
    if t in _YES or t in _NO:
        return t in _YES
    raise VendorResultsError(
        describe(source, f"{where}: EXCLUDED value {t[:20]!r} is not yes/no", "re-export")
    )


def other_value(text: str, unit: str | None, source, where: str) -> VendorValue:
    """A number no field rule covers: converted if its unit is known, else kept as read."""
    quantity = known_unit(unit) if unit else None
    if quantity is not None:
        return make_value(text, unit, quantity, source, where)
    return VendorValue(parse_number(text, source, where), unit or "", where, unit, text)


def read_region(item: Dataset, path: str, source, out: Collector) -> dict:
    """The fields of one region container: numbers, other numbers, the exclusion statement."""
    fields: dict = {"source": path}
    other: list[tuple[str, VendorValue]] = []
    for i, child in enumerate(children(item)):
        where = child_path(path, i, child)
        c = concept(child)
        k = key(c.meaning if c else "")
        vt = value_type(child)
        if k == "EXCLUDED" and vt in ("TEXT", "CODE"):
            code = code_value(child) if vt == "CODE" else None
            fields["excluded"] = yes_no(code.meaning if code else text_value(child), source, where)
            continue
        text, unit = _number_of(child, source, where)
        if text is None:
            out.add_item(
                where, vt, code_value(child).meaning if vt == "CODE" and code_value(child) else None
            )
            continue
        name = FIELDS.get(k)
        if vt == "TEXT" and not _is_number(text):
            # e.g. a T-score the vendor could not compute ("n/a"): absent, and said so
            out.add_item(where, vt, None)
            out.note(f"{where}: text that is not a number; ignored")
            continue
        if name is None:
            if vt == "NUM" or _is_number(text):
                other.append((c.meaning if c else "?", other_value(text, unit, source, where)))
            else:
                out.add_item(where, vt, None)
            continue
        value = make_value(text, unit, QUANTITY[name], source, where)
        previous = fields.get(name)
        if previous is not None and previous.value != value.value:
            raise VendorResultsError(
                describe(
                    source,
                    f"{name} given twice with different values ({previous.source}, {where})",
                    "the report contradicts itself; re-export it",
                )  # fmt: skip
            )
        fields[name] = previous or value
    if other:
        fields["other"] = tuple(other)
    return fields


def _is_number(text: str) -> bool:
    try:
        parse_number(text, None, "")
    except VendorResultsError:
        return False
    return True


def read_trend(item: Dataset, path: str, name: str, body_part: str, source, out: Collector):
    """One ``Trend <region>`` container: a TrendPoint per dated exam container."""
    levels = parse_region(name) if is_spine_body_part(body_part) else None
    region = region_name(levels) if levels else name
    for i, exam in enumerate(children(item)):
        where = child_path(path, i, exam)
        c = concept(exam)
        if value_type(exam) != "CONTAINER" or c is None:
            out.add_item(where, value_type(exam), None)
            continue
        date, note = parse_trend_date(c.meaning)
        out.note(note)
        values: dict = {}
        for j, entry in enumerate(children(exam)):
            here = child_path(where, j, entry)
            ce = concept(entry)
            field = _TREND_FIELDS.get(key(ce.meaning if ce else ""))
            if field is None:
                out.add_item(here, value_type(entry), None)
                continue
            target = entry
            if value_type(entry) == "CONTAINER":  # CHANGE_* containers hold one "BMD" NUM
                inner = [
                    x
                    for x in children(entry)
                    if key(concept(x).meaning if concept(x) else "") == "BMD"
                ]
                if not inner:
                    out.add_item(here, "CONTAINER", None)
                    continue
                target, here = inner[0], child_path(here, children(entry).index(inner[0]), inner[0])
            text, unit = _number_of(target, source, here)
            if text is not None:
                values[field[0]] = make_value(text, unit, field[1], source, here)
                out.note(values[field[0]].unit_note)
        out.trend.append(
            TrendPoint(
                region=region,
                region_as_read=name,
                date=date,
                date_text=c.meaning,
                source=where,
                body_part=body_part,
                **values,
            )  # fmt: skip
        )


def read_ge_sr(ds: Dataset, source: object = None) -> VendorResults:
    """Read a GE enCORE "DXA Report" Enhanced SR.

    Parameters
    ----------
    ds : pydicom.Dataset
        The whole SR dataset.
    source : path-like, optional
        Names the file in messages and in ``VendorResults.path``.

    Raises
    ------
    VendorResultsError
        The root is not a "DXA Report", or an item is malformed (the message names its path).
    """
    root = concept(ds)
    if root is None or key(root.meaning) != key(ROOT_MEANING):
        found = root.meaning if root else "(none)"
        raise VendorResultsError(
            describe(
                source,
                f"SR root concept {found!r} is not {ROOT_MEANING!r}",
                "this is not a GE enCORE DXA report",
            )  # fmt: skip
        )
    out = Collector("ge_sr", source)
    top = root.meaning
    for i, part in enumerate(children(ds)):
        path = child_path(top, i, part)
        c = concept(part)
        if value_type(part) != "CONTAINER" or c is None:
            out.add_item(path, value_type(part), None)
            continue
        spine = is_spine_body_part(c.meaning)
        for j, item in enumerate(children(part)):
            where = child_path(path, j, item)
            ci = concept(item)
            if value_type(item) != "CONTAINER" or ci is None:
                out.add_item(where, value_type(item), None)
                continue
            name = ci.meaning
            if key(name).startswith("TREND_"):
                read_trend(
                    item, where, name.strip()[len("Trend") :].strip(), c.meaning, source, out
                )
                continue
            out.add_region(name, c.meaning, spine, **read_region(item, where, source, out))
    if not ds.get("SOPClassUID") == ENHANCED_SR:
        out.note(f"SOP class {ds.get('SOPClassUID')} is not Enhanced SR; read as a DXA Report")
    return out.build(header_fields(ds))
