"""GE enCORE results XML in ImageComments (0020,4000) of a "STR" object -> VendorResults.

Two layouts are known, both from one public parser of real files (docs/vendor_results.md §4;
**unverified** here):

- ``<DXA_RESULTS>`` (newer): ``<SCAN type="AP Spine">`` holding ``<ROI region="L1">`` with
  ``<BMD>``, ``<BMD_TSCORE>``, ``<BMD_ZSCORE>`` (FRAX elements on some versions, kept as
  other numbers), and ``<TREND region="L1-L4">`` holding ``<EXAM date="MM/DD/YYYY">`` with
  ``<BMD>`` and ``<CHANGE type="PCHANGE_VS_PREVIOUS"><BMD units="%">``;
- ``<DENSITOMETRY_RESULTS>`` (older): ``<CURRENT_EXAM><SCAN type=…><TREND>`` with
  ``<TREND_ROI>``, and ``<EXAM>`` elements holding ``<EXAM_DATE>``, ``<BMD>``, ``<YAT>``
  (young-adult T-score), ``<AMZ>`` (age-matched Z-score) and ``<BMD_CHANGE>`` (``<TYPE>``,
  ``<VALUE>``).  The current exam's numbers are the exam dated on the study date, else the
  last exam (the public parser takes the last).

Element and attribute names are matched case-insensitively.  BMD carries no unit in either
layout; it is read as g/cm² when it lies in 0.05–5 and as mg/cm² in 50–5000 (the public
parser divides femoral values above 10 by 1000), and the assumption is noted.  ``<BMC>`` and
``<AREA>`` are read when present (not seen publicly).  An ``<EXCLUDED>`` yes/no element in a
ROI is the dxaspine fixture's marker (no public source shows how exclusions are written).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pydicom.dataset import Dataset

from dxaspine.errors import VendorResultsError, describe
from dxaspine.io.vendor.common import (
    Collector,
    header_fields,
    is_spine_body_part,
    make_value,
    parse_trend_date,
)
from dxaspine.io.vendor.ge_sr import yes_no
from dxaspine.io.vendor.names import parse_region, region_name
from dxaspine.io.vendor.results import TrendPoint, VendorResults, VendorValue
from dxaspine.io.vendor.units import known_unit
from dxaspine.io.vendor.xml_text import decode_text, parse_xml

__all__ = ["IMAGE_COMMENTS", "ROOTS", "read_ge_xml", "read_ge_xml_text"]

IMAGE_COMMENTS = "(0020,4000)"
ROOTS = ("DXA_RESULTS", "DENSITOMETRY_RESULTS")
_FIELDS = {
    "BMD": ("bmd_g_cm2", "bmd"),
    "BMC": ("bmc_g", "bmc"),
    "AREA": ("area_cm2", "area"),
    "BMD_TSCORE": ("t_score", "score"),
    "YAT": ("t_score", "score"),
    "BMD_ZSCORE": ("z_score", "score"),
    "AMZ": ("z_score", "score"),
}
_CHANGES = {
    "CHANGE_VS_PREVIOUS": ("change_vs_previous_g_cm2", "bmd_change"),
    "PCHANGE_VS_PREVIOUS": ("pchange_vs_previous_percent", "percent"),
    "CHANGE_VS_BASELINE": ("change_vs_baseline_g_cm2", "bmd_change"),
    "PCHANGE_VS_BASELINE": ("pchange_vs_baseline_percent", "percent"),
    "ROC_VS_PREVIOUS": ("pchange_vs_previous_percent", "percent"),  # rate of change, %
}


def _tag(el: ET.Element) -> str:
    return el.tag.split("}")[-1].strip().upper()


def _attr(el: ET.Element, name: str) -> str | None:
    for k, v in el.attrib.items():
        if k.upper() == name.upper():
            return v.strip()
    return None


def _kids(el: ET.Element, tag: str | None = None) -> list[ET.Element]:
    return [c for c in el if tag is None or _tag(c) == tag]


def _child_text(el: ET.Element, tag: str) -> str:
    found = _kids(el, tag)
    return (found[0].text or "").strip() if found else ""


def _path(parent: str, el: ET.Element, key: str | None = None) -> str:
    value = _attr(el, key) if key else None
    return f"{parent}/{_tag(el)}" + (f"[@{key}={value!r}]" if value is not None else "")


def _value(el: ET.Element, quantity: str, where: str, source, out: Collector) -> VendorValue:
    value = make_value((el.text or "").strip(), _attr(el, "units"), quantity, source, where)
    out.note(value.unit_note)
    return value


def _roi_fields(roi: ET.Element, where: str, source, out: Collector) -> dict:
    fields: dict = {"source": where}
    other = []
    for el in roi:
        here = _path(where, el)
        tag = _tag(el)
        if tag == "EXCLUDED":
            fields["excluded"] = yes_no(el.text, source, here)
        elif tag in _FIELDS:
            fields[_FIELDS[tag][0]] = _value(el, _FIELDS[tag][1], here, source, out)
        elif len(el) == 0 and (el.text or "").strip():
            unit = _attr(el, "units")
            quantity = known_unit(unit) if unit else None
            try:
                value = make_value(el.text.strip(), unit, quantity or "score", source, here)
            except VendorResultsError:
                out.add_item(here, "XML", None)  # text, or a number with an unknown unit
                continue
            other.append((el.tag, value))  # e.g. FRAX probabilities
        else:
            out.add_item(here, "XML", None)
    if other:
        fields["other"] = tuple(other)
    return fields


def _trend_point(exam, region, region_as_read, scan_type, date_text, where, source, out):
    date, note = parse_trend_date(date_text)
    out.note(note)
    values: dict = {}
    for el in exam:
        here = _path(where, el, "type")
        tag = _tag(el)
        if tag in ("BMD", "YAT", "AMZ", "BMD_TSCORE", "BMD_ZSCORE"):
            name, quantity = _FIELDS[tag]
            values[name] = _value(el, quantity, here, source, out)
        elif tag == "AGE":
            values["age_years"] = _value(el, "age", here, source, out)
        elif tag in ("CHANGE", "BMD_CHANGE"):
            # newer: <CHANGE type="..."><BMD>; older: <BMD_CHANGE><TYPE>...</TYPE><VALUE>
            kind = _attr(el, "type") or _child_text(el, "TYPE")
            kind = kind.upper()
            inner = _kids(el, "BMD") or _kids(el, "VALUE")
            if kind in _CHANGES and inner:
                name, quantity = _CHANGES[kind]
                values[name] = _value(inner[0], quantity, _path(here, inner[0]), source, out)
            else:
                out.add_item(here, "XML", None)
        elif tag != "EXAM_DATE":
            out.add_item(here, "XML", None)
    return TrendPoint(region=region, region_as_read=region_as_read, date=date,
                      date_text=date_text, source=where, body_part=scan_type, **values)  # fmt: skip


def _read_trend(trend, region_as_read, scan_type, where, source, out) -> list:
    levels = parse_region(region_as_read) if is_spine_body_part(scan_type) else None
    region = region_name(levels) if levels else region_as_read
    points = []
    for i, exam in enumerate(_kids(trend, "EXAM")):
        here = f"{where}/EXAM[{i}]"
        date_text = _attr(exam, "date")
        if date_text is None and _kids(exam, "EXAM_DATE"):
            date_text = (_kids(exam, "EXAM_DATE")[0].text or "").strip()
        points.append(_trend_point(exam, region, region_as_read, scan_type, date_text or "",
                                   here, source, out))  # fmt: skip
    return points


def _new_layout(root, source, out: Collector, top: str) -> None:
    for scan in _kids(root, "SCAN"):
        scan_type = _attr(scan, "type") or ""
        where = _path(top, scan, "type")
        spine = is_spine_body_part(scan_type)
        for el in scan:
            tag = _tag(el)
            if tag == "ROI":
                name = _attr(el, "region") or ""
                here = _path(where, el, "region")
                out.add_region(name, scan_type, spine, **_roi_fields(el, here, source, out))
            elif tag == "TREND":
                here = _path(where, el, "region")
                out.trend.extend(
                    _read_trend(el, _attr(el, "region") or "", scan_type, here, source, out)
                )
            else:
                out.add_item(_path(where, el), "XML", None)


def _old_layout(root, source, out: Collector, top: str, study_date) -> None:
    for current in _kids(root, "CURRENT_EXAM"):
        for scan in _kids(current, "SCAN"):
            scan_type = _attr(scan, "type") or ""
            where = _path(f"{top}/CURRENT_EXAM", scan, "type")
            for trend in _kids(scan, "TREND"):
                roi = (_kids(trend, "TREND_ROI") or [None])[0]
                name = (roi.text or "").strip() if roi is not None else ""
                here = f"{where}/TREND[TREND_ROI={name!r}]"
                points = _read_trend(trend, name, scan_type, here, source, out)
                out.trend.extend(points)
                if not points:
                    continue
                same_day = [p for p in points if study_date and p.date == study_date]
                now = same_day[0] if same_day else points[-1]
                if not same_day:
                    out.note(f"{here}: no exam on the study date; the last exam taken as current")
                fields = {k: getattr(now, k) for k in ("bmd_g_cm2", "t_score", "z_score")}
                out.add_region(name, scan_type, is_spine_body_part(scan_type),
                               source=now.source, **fields)  # fmt: skip


def read_ge_xml_text(text: str, header: dict, source: object = None) -> VendorResults:
    """Read the results XML itself (``header``: :func:`header_fields` of its dataset)."""
    root = parse_xml(text, source, IMAGE_COMMENTS)
    name = _tag(root)
    if name not in ROOTS:
        raise VendorResultsError(
            describe(
                source,
                f"{IMAGE_COMMENTS}: XML root <{root.tag}> is not a GE results document",
                f"expected one of {', '.join(ROOTS)}",
            )  # fmt: skip
        )
    out = Collector("ge_xml", source)
    top = f"{IMAGE_COMMENTS} /{name}"
    if name == "DXA_RESULTS":
        _new_layout(root, source, out, top)
    else:
        _old_layout(root, source, out, top, header.get("study_date"))
    return out.build(header)


def read_ge_xml(ds: Dataset, source: object = None) -> VendorResults:
    """Read the GE results XML of a dataset's ImageComments.

    Raises
    ------
    VendorResultsError
        No ImageComments, unsafe or malformed XML, an unknown root, or a malformed number.
    """
    value = ds.get("ImageComments")
    if not value:
        raise VendorResultsError(
            describe(source, f"no ImageComments {IMAGE_COMMENTS}", "not a GE STR results object")
        )
    text, note = decode_text(value, source, IMAGE_COMMENTS)
    results = read_ge_xml_text(text, header_fields(ds), source)
    if note:
        from dataclasses import replace

        results = replace(results, notes=(*results.notes, note))
    return results
