"""The report page's header boxes: who the patient is, and how the scan was made and analysed.

Two sources, kept apart on purpose (docs/report_page.md, "Identifiers"):

- **The record** (Contract 2, rounded): sex, age, ethnicity, height, weight, BMI, scan date,
  scanner, software, input kind, pixel spacing and its source, reference table, exclusion
  mode.  The record is also shipped to archives, so it carries no direct identifier.
- **The source header**, read here only: PatientName, PatientID and PatientBirthDate, shown
  on the page because the page is a clinical document that must say whose scan it is.  They
  are never logged, never put in the record, never part of an error message: the one place
  they exist outside the DICOM file is the page itself.

Everything here is a pure function returning text rows, so the page's facts are testable
without drawing.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PatientIdentity",
    "analysis_rows",
    "format_person_name",
    "identity_from_header",
    "patient_rows",
    "scan_rows",
]

_NOT_GIVEN = "not given"

# What the input kind means for the numbers on the page (docs/architecture.md, Contract 1).
_KIND_TEXT = {
    "dual_energy": "dual-energy counts (two-material decomposition, soft-tissue baseline)",
    "bmd_map": "areal BMD map from the file",
    "display": "display image: geometry only, no BMD",
}
_EXCLUSION_TEXT = {
    "automatic": "automatic (ISCD + image evidence)",
    "user": "chosen by the user",
    "none": "none applied (flags reported only)",
}


@dataclass(frozen=True)
class PatientIdentity:
    """Who the scan belongs to, as the source header says (shown on the page, never logged)."""

    name: str | None = None
    patient_id: str | None = None
    birth_date: _dt.date | None = None

    def __repr__(self) -> str:  # an identity must not leak through a repr in a log or trace
        return "PatientIdentity(<not shown>)"


def format_person_name(value: Any) -> str | None:
    """A DICOM PN as a reader expects it: ``FAMILY^GIVEN^MIDDLE`` -> ``FAMILY, GIVEN MIDDLE``.

    A single-component name (valid DICOM) is shown as it is; prefix and suffix follow the
    given names.  Only the alphabetic group is used (the page font is Latin).
    """
    if value is None:
        return None
    from pydicom.valuerep import PersonName

    name = value if isinstance(value, PersonName) else PersonName(str(value))
    family = str(name.family_name or "").strip()
    given = " ".join(
        part
        for part in (str(name.name_prefix or ""), str(name.given_name or ""),
                     str(name.middle_name or ""), str(name.name_suffix or ""))
        if part.strip()
    )  # fmt: skip
    if family and given:
        return f"{family}, {given}"
    return family or given or None


def _date(value: Any) -> _dt.date | None:
    text = str(value or "").strip()
    try:
        return _dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def identity_from_header(header: Any) -> PatientIdentity:
    """PatientName, PatientID and PatientBirthDate of a source header (None: no header)."""
    if header is None:
        return PatientIdentity()
    patient_id = str(header.get("PatientID", "") or "").strip() or None
    return PatientIdentity(
        name=format_person_name(header.get("PatientName", None) or None),
        patient_id=patient_id,
        birth_date=_date(header.get("PatientBirthDate", None)),
    )


def _number(value: Any, decimals: int, unit: str) -> str:
    return _NOT_GIVEN if value is None else f"{value:.{decimals}f} {unit}"


def patient_rows(
    record: Mapping[str, Any], identity: PatientIdentity | None
) -> list[tuple[str, str]]:
    """(label, value) rows of the patient box."""
    identity = identity or PatientIdentity()
    patient = record.get("patient") or {}
    sex = {"F": "female", "M": "male"}.get(patient.get("sex"), _NOT_GIVEN)
    age = patient.get("age_years")
    birth = identity.birth_date.isoformat() if identity.birth_date else None
    age_text = f"{age:.0f} y" if age is not None else "age unknown"
    return [
        ("Name", identity.name or _NOT_GIVEN),
        ("Patient ID", identity.patient_id or _NOT_GIVEN),
        ("Birth date / age", f"{birth or _NOT_GIVEN} / {age_text}"),
        ("Sex", sex),
        ("Ethnicity", patient.get("ethnicity") or _NOT_GIVEN),
        ("Height", _number(patient.get("height_cm"), 1, "cm")),
        ("Weight", _number(patient.get("weight_kg"), 1, "kg")),
        ("BMI", _number(patient.get("bmi_kg_m2"), 1, "kg/m²")),
    ]


def scan_rows(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the scan box: date, scanner, input, spacing."""
    info = record.get("input") or {}
    scanner = " ".join(v for v in (info.get("manufacturer"), info.get("model")) if v)
    spacing = info.get("pixel_spacing_mm") or (None, None)
    spacing_text = (
        f"{spacing[0]:.4f} × {spacing[1]:.4f} mm (row × column) from "
        f"{info.get('pixel_spacing_source')}"
        if None not in spacing
        else _NOT_GIVEN
    )
    return [
        ("Scan date", info.get("study_date") or _NOT_GIVEN),
        ("Scanner", scanner or _NOT_GIVEN),
        ("Scanner software", info.get("software_version") or _NOT_GIVEN),
        ("Input", _KIND_TEXT.get(info.get("kind"), str(info.get("kind")))),
        ("Pixel spacing", spacing_text),
    ]


def analysis_rows(record: Mapping[str, Any], label_confidence: str | None) -> list[tuple[str, str]]:
    """(label, value) rows of the analysis settings: everything that does not depend on an operator."""
    exclusion = record.get("exclusion") or {}
    mode = exclusion.get("mode")
    excluded = ", ".join(exclusion.get("excluded") or ()) or "none"
    software = record.get("software") or {}
    conventions = record.get("analysis") or {}  # schema 1.1: how the numbers were made

    def said(key: str) -> str | None:
        value = conventions.get(key)
        return None if value in (None, "", "unstated") else str(value)

    rows = [
        ("Analysis", f"{software.get('name', 'dxaspine')} {software.get('version', '')}".strip()),
    ]
    if said("segmenter"):
        rows.append(("Segmenter", said("segmenter")))
    made = "; ".join(
        f"{label} {said(key)}"
        for key, label in (("edge", "bone edge"), ("box", "box"), ("physics_model", "physics"))
        if said(key)
    )
    if made:
        rows.append(("Conventions", made))
    return rows + [
        ("Exclusion", _EXCLUSION_TEXT.get(mode, str(mode))),
        ("Excluded", excluded),
        ("Reference", (record.get("reference") or {}).get("name") or _NOT_GIVEN),
        ("Labels", label_confidence or "no label confidence"),
    ]
