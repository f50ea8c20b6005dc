"""Hologic APEX results XML in a private element -> VendorResults.

Where (docs/vendor_results.md §5; **unverified** here):

- ``(0021,xx01)`` "Image Analysis Data in XML" (LT) under private creator ``HOLOGIC`` —
  pydicom's private dictionary;
- ``(0019,1000)`` — the public hologic-dxa-maps parser (APEX 13.6 whole body) reads the XML
  from this fixed tag.

What: an XML document whose ``<JavaScriptFile>`` sections hold assignments.  The results are
``ResultsTable1[row][col] = "value";`` lines: row 0 is the header (HTML tags and entities
allowed: ``Area[cm&sup2;]``), column 0 the region.  The whole-body layout seen publicly is
region, Area, BMC, BMD, Fat, Lean, …, T-Score, Z-Score; a second public parser of hip/spine
reports reads BMD, T and Z from columns 3, 4 and 6 (consistent with region, area, BMC, BMD,
T, PR, Z, AM).  The spine layout is not documented, so **columns are identified by their
header text, never by position**; units come from the header (``[g/cm²]``, ``(cm²)``).
Scan variables (``Age``, ``PatientSex``, ``Height``, ``Weight``, ``ScanMode``,
``AnalProtocol``, ``TableNote1`` with ACF/BCF) are kept; other variables (which include
names, IDs and birth dates) are listed by name only.

A spine table lists levels (``L1`` … ``L4``) and ``Total``.  ``Total`` is read as the
composite of the levels it sums: with BMC and area printed, the subset of listed levels whose
ΣBMC and ΣArea match it within print rounding is found, and listed levels outside it are the
vendor's exclusions (a number-derived statement; how APEX marks exclusions is not public).
"""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dxaspine.errors import VendorResultsError, describe
from dxaspine.io.vendor.common import Collector, header_fields, make_value
from dxaspine.io.vendor.detect import CREATORS, find_hologic_xml
from dxaspine.io.vendor.ge_sr import other_value
from dxaspine.io.vendor.names import parse_region, region_name
from dxaspine.io.vendor.results import VendorResults, VendorValue
from dxaspine.io.vendor.units import known_unit
from dxaspine.io.vendor.xml_text import decode_text, parse_xml

__all__ = ["CREATORS", "find_hologic_xml", "read_hologic_xml", "read_hologic_text"]

_CELL = re.compile(
    r'(ResultsTable\d+)\s*\[\s*(\d+)\s*\]\s*\[\s*(\d+)\s*\]\s*=\s*"((?:[^"\\]|\\.)*)"\s*;'
)
_SCALAR = re.compile(r'^\s*([A-Za-z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*;', re.MULTILINE)
_TAGS = re.compile(r"<[^>]*>")
_UNIT = re.compile(r"[\[(]\s*([^\[\]()]+?)\s*[\])]\s*$")
KEPT_VARIABLES = ("Age", "PatientSex", "Height", "Weight", "ScanMode", "AnalProtocol", "TableNote1")


def _clean(cell: str) -> str:
    return " ".join(html.unescape(_TAGS.sub("", cell.replace('\\"', '"'))).split())


@dataclass(frozen=True)
class _Column:
    index: int
    field: str | None  # bmd_g_cm2 ... or None for "other"
    quantity: str | None
    header: str
    unit: str | None


def _columns(header: dict[int, str]) -> tuple[int | None, list[_Column]]:
    label_col, cols = None, []
    for c in sorted(header):
        text = _clean(header[c])
        unit_match = _UNIT.search(text)
        unit = unit_match.group(1) if unit_match else None
        name = _UNIT.sub("", text).strip().upper().replace(" ", "")
        if label_col is None and name.startswith("REGION"):
            label_col = c
            continue
        field, quantity = {
            "AREA": ("area_cm2", "area"),
            "BMC": ("bmc_g", "bmc"),
            "BMD": ("bmd_g_cm2", "bmd"),
            "T-SCORE": ("t_score", "score"),
            "TSCORE": ("t_score", "score"),
            "Z-SCORE": ("z_score", "score"),
            "ZSCORE": ("z_score", "score"),
        }.get(name, (None, known_unit(unit) if unit else None))
        cols.append(_Column(c, field, quantity, text, unit))
    return label_col, cols


def _row_fields(row, cols, where_row, source, out: Collector) -> dict:
    fields: dict = {"source": where_row}
    other = []
    for col in cols:
        cell = _clean(row.get(col.index, ""))
        if not cell:
            continue
        where = f"{where_row}[{col.index}]"
        if col.field is not None:
            fields[col.field] = make_value(cell, col.unit, col.quantity, source, where)
        elif col.quantity is not None:
            other.append((col.header, make_value(cell, col.unit, col.quantity, source, where)))
        else:
            try:  # an unknown column: the number kept as printed, in its own (unknown) unit
                other.append((col.header, other_value(cell, col.unit, source, where)))
            except VendorResultsError:
                out.add_item(where, "table cell", None)  # text in an unknown column
    if other:
        fields["other"] = tuple(other)
    return fields


def _half_unit(value: VendorValue | None) -> float:
    d = value.decimals if value is not None else None
    return 0.5 * 10.0 ** -(2 if d is None else d)


def _total_members(
    total: dict, levels: dict[str, dict]
) -> tuple[tuple[str, ...], bool, str | None]:
    """``(levels Total sums, derived?, note)``: the subset matching its ΣBMC and ΣArea."""
    listed = tuple(levels)
    needed = [total, *levels.values()]
    if any(f.get("bmc_g") is None or f.get("area_cm2") is None for f in needed):
        return listed, False, None
    matches = []
    for k in range(len(listed), 0, -1):
        for subset in itertools.combinations(listed, k):
            ok = True
            for key in ("bmc_g", "area_cm2"):
                s = sum(levels[n][key].value for n in subset)
                # each printed number is within half a unit of its last digit
                tol = _half_unit(total[key]) + sum(_half_unit(levels[n][key]) for n in subset)
                ok = ok and abs(s - total[key].value) <= tol + 1e-9
            if ok:
                matches.append(subset)
    if len(matches) == 1:
        return matches[0], True, None
    why = "matches no subset" if not matches else "matches several subsets"
    return (
        listed,
        False,
        f"Hologic Total {why} of the listed levels by BMC and area; read as all of them",
    )


def _single_level(label: str) -> str | None:
    levels = parse_region(label)
    return levels[0] if levels and len(levels) == 1 else None


def _read_table(name, cells, out: Collector, source, body_part: str | None, where_el: str) -> None:
    rows: dict[int, dict[int, str]] = {}
    for r, c, v in cells:
        rows.setdefault(r, {})[c] = v
    if 0 not in rows:
        raise VendorResultsError(
            describe(source, f"{where_el} {name} has no header row 0", "unknown table layout")
        )
    label_col, cols = _columns(rows.pop(0))
    if label_col is None:
        raise VendorResultsError(
            describe(
                source,
                f"{where_el} {name}: no 'Region' column in the header",
                "unknown table layout",
            )
        )
    labelled = []
    for r in sorted(rows):
        label = _clean(rows[r].get(label_col, ""))
        if not label:
            out.note(f"{where_el} {name} row {r} has no region label; skipped")
            continue
        labelled.append((label, _row_fields(rows[r], cols, f"{where_el} {name}[{r}]", source, out)))
    spine = any(parse_region(label) for label, _ in labelled)
    if not spine:
        for label, fields in labelled:
            out.add_region(label, body_part, False, **fields)
        return
    level_rows = {_single_level(lb): f for lb, f in labelled if _single_level(lb)}
    totals = [(lb, f) for lb, f in labelled if lb.strip().upper() == "TOTAL"]
    for label, fields in labelled:
        if (label, fields) in totals:
            continue
        out.add_region(label, body_part, True, **fields)
    for label, fields in totals:
        members, derived, note = _total_members(fields, level_rows)
        out.note(note)
        if derived:
            out.exclusions = tuple(n for n in level_rows if n not in members)
        out.reported_region = region_name(members)
        if len(members) == 1:
            out.note(f"Hologic Total is the single vertebra {members[0]}")
            continue
        out.add_region(label, body_part, True, levels=members, **fields)


def read_hologic_text(text: str, header: dict, where: str, source: object = None) -> VendorResults:
    """Read the results document itself (``header``: :func:`header_fields` of its dataset)."""
    out = Collector("hologic_xml", source)
    if "<" in text:
        root = parse_xml(text, source, where)  # safety and well-formedness, then the text
        script = "\n".join(root.itertext())
    else:
        script = text
    cells: dict[str, list] = {}
    for m in _CELL.finditer(script):
        cells.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3)), m.group(4)))
    variables = {m.group(1): m.group(2) for m in _SCALAR.finditer(script)}
    for key in KEPT_VARIABLES:
        if key in variables:
            out.scan_info.append((key, _clean(variables[key])))
    for key in sorted(set(variables) - set(KEPT_VARIABLES)):
        out.add_item(f"{where} {key}", "JavaScript", None)  # may identify: name only
    if not cells:
        raise VendorResultsError(
            describe(
                source, f"{where}: no ResultsTable assignments", "unknown Hologic layout; re-export"
            )
        )
    body_part = variables.get("AnalProtocol") or variables.get("ScanMode")
    for name in sorted(cells, key=lambda n: int(n[len("ResultsTable") :])):
        _read_table(name, cells[name], out, source, body_part, where)
    if header.get("patient_age_years") is None and "Age" in variables:
        try:
            header = {**header, "patient_age_years": float(_clean(variables["Age"]).split()[0])}
        except (ValueError, IndexError):
            out.note(f"{where} Age is not a number; ignored")
    if header.get("patient_sex") is None and "PatientSex" in variables:
        sex = _clean(variables["PatientSex"]).upper()[:1]
        header = {**header, "patient_sex": sex if sex in ("F", "M") else None}
    return out.build(header)


def read_hologic_xml(ds: Dataset, source: object = None) -> VendorResults:
    """Read the Hologic results XML of a dataset (either location).

    Raises
    ------
    VendorResultsError
        No results element, unsafe or malformed XML, or a table whose layout is unknown.
    """
    found = find_hologic_xml(ds)
    if not found:
        raise VendorResultsError(
            describe(
                source,
                "no Hologic results XML in (0021,xx01) or (0019,1000)",
                "not a Hologic results object",
            )
        )
    tag, where = found[0]
    text, note = decode_text(ds[tag].value, source, where)
    results = read_hologic_text(text, header_fields(ds), where, source)
    extra = [
        n
        for n in (
            note,
            f"results XML also in {found[1][1]}; {where} read" if len(found) > 1 else None,
        )
        if n
    ]
    if extra:
        from dataclasses import replace

        results = replace(results, notes=(*results.notes, *extra))
    return results
