"""Read per-scan rows of per-level numbers for ``dxaspine assess TABLE.csv``.

Two layouts are recognised from the header:

- **plain**: ``id`` (optional), ``sex`` (F/M), ``age_years``, ``ethnicity`` (optional) and per
  level ``L1_bmc_g``, ``L1_area_cm2`` and/or ``L1_bmd_g_cm2`` … ``L4_…``; optional
  ``L1_invalid`` (non-empty = level unusable, the text is the reason).
- **NHANES** (P_DXXSPN joined to P_DEMO): ``SEQN``, ``DXXL1BMC``, ``DXXL1A``, ``DXXL1BMD``,
  ``DXXL1BCC`` (invalidity code; ≠ 0 marks the level unusable), ``RIAGENDR`` (1 M, 2 F),
  ``RIDAGEYR``, ``RIDRETH1``.

Each row becomes ``(row_id, levels, patient)`` or a :class:`~dxaspine.errors.InputError` for
that row alone, so one bad row never stops the others.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

from dxaspine.errors import InputError, describe
from dxaspine.measure.composites import CLINICAL_LEVELS

__all__ = ["read_table"]

NHANES_ETHNICITY = {1: "Mexican American", 2: "Other Hispanic", 3: "White", 4: "Black", 5: "Other"}
NHANES_CODES = {
    1: "objects",
    2: "implants",
    3: "obesity noise",
    4: "scan area",
    5: "movement",
    6: "degenerative disease, fusion or fracture",
}  # fmt: skip  (docs/domain.md §3)


def _num(text: str | None, where: str, column: str) -> float | None:
    text = (text or "").strip()
    if text == "" or text.upper() in ("NA", "NAN"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            describe(where, f"{column}={text!r} is not a number", "fix the cell")
        ) from None
    if not math.isfinite(value):
        return None
    return value


def _layout(header: list[str]) -> str:
    if "DXXL1BMC" in header or "DXXL1BMD" in header:
        return "nhanes"
    if any(h.startswith("L1_") for h in header):
        return "plain"
    return ""


def _nhanes_row(raw: dict, where: str) -> tuple[str, list, dict]:
    levels = []
    for i, lv in enumerate(CLINICAL_LEVELS, 1):
        code = _num(raw.get(f"DXXL{i}BCC"), where, f"DXXL{i}BCC")
        item = {
            "label": lv,
            "bmc_g": _num(raw.get(f"DXXL{i}BMC"), where, f"DXXL{i}BMC"),
            "area_cm2": _num(raw.get(f"DXXL{i}A"), where, f"DXXL{i}A"),
            "bmd_g_cm2": _num(raw.get(f"DXXL{i}BMD"), where, f"DXXL{i}BMD"),
        }
        if code:
            item["invalid_reason"] = f"NHANES code {int(code)}: {NHANES_CODES.get(int(code), '?')}"
        elif not item["area_cm2"] and not item["bmd_g_cm2"]:
            item["invalid_reason"] = "no value"
        levels.append(item)
    sex = {1: "M", 2: "F"}.get(int(_num(raw.get("RIAGENDR"), where, "RIAGENDR") or 0))
    eth = _num(raw.get("RIDRETH1"), where, "RIDRETH1")
    patient = {
        "sex": sex,
        "age_years": _num(raw.get("RIDAGEYR"), where, "RIDAGEYR"),
        "ethnicity": NHANES_ETHNICITY.get(int(eth)) if eth else None,
    }
    seqn = (raw.get("SEQN") or "").strip()
    return (seqn[:-2] if seqn.endswith(".0") else seqn), levels, patient


def _plain_row(raw: dict, where: str, number: int) -> tuple[str, list, dict]:
    levels = []
    for lv in CLINICAL_LEVELS:
        item = {"label": lv}
        for key in ("bmc_g", "area_cm2", "bmd_g_cm2"):
            item[key] = _num(raw.get(f"{lv}_{key}"), where, f"{lv}_{key}")
        invalid = (raw.get(f"{lv}_invalid") or "").strip()
        if invalid:
            item["invalid_reason"] = invalid
        if all(item[k] is None for k in ("bmc_g", "area_cm2", "bmd_g_cm2")):
            continue
        if item["bmd_g_cm2"] is None and (item["bmc_g"] is None or not item["area_cm2"]):
            raise InputError(
                describe(where, f"{lv} has neither BMD nor BMC and area", f"fill {lv}_bmd_g_cm2")
            )
        levels.append(item)
    sex_text = (raw.get("sex") or "").strip()
    sex = {"f": "F", "female": "F", "m": "M", "male": "M"}.get(sex_text.lower())
    if sex_text and sex is None:
        raise InputError(describe(where, f"sex={sex_text!r}", "use F or M (or leave it empty)"))
    patient = {
        "sex": sex,
        "age_years": _num(raw.get("age_years"), where, "age_years"),
        "ethnicity": (raw.get("ethnicity") or "").strip() or None,
    }
    return (raw.get("id") or "").strip() or str(number), levels, patient


def read_table(path: str | Path) -> Iterator[tuple[str, object]]:
    """Yield ``(row_id, (levels, patient))`` or ``(row_id, InputError)`` per data row.

    Raises
    ------
    InputError
        The file cannot be read or its header matches neither layout.
    """
    path = Path(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(describe(path, f"cannot open ({exc.strerror})", "check the path")) from exc
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        layout = _layout(header)
        if not layout:
            raise InputError(
                describe(
                    path,
                    "header has neither L1_bmc_g/L1_bmd_g_cm2 nor DXXL1BMC columns",
                    "use the plain layout (L1_bmc_g, L1_area_cm2, sex, age_years) or NHANES",
                )  # fmt: skip
            )
        reader.fieldnames = header
        for number, raw in enumerate(reader, 1):
            where = f"{path} row {number}"
            try:
                if layout == "nhanes":
                    row_id, levels, patient = _nhanes_row(raw, where)
                else:
                    row_id, levels, patient = _plain_row(raw, where, number)
            except InputError as exc:
                yield str(number), exc
                continue
            yield row_id, (levels, patient)
