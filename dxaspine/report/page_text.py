"""The report page's sentences: the reported region and the ISCD statement that applies.

Nothing here re-derives a clinical decision.  Which score applies, the WHO category and
whether a Z-score is below the expected range come from the clinical layer
(``record["interpretation"]``, made by ``dxaspine.clinical.assess`` with
``dxaspine.clinical.scores.applicability``); this module only puts them into words, with the
ISCD positions they rest on (docs/domain.md §2; quoted in docs/report_page.md, "ISCD
statements").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dxaspine.report.page_tables import FLAG_SHORT
from dxaspine.report.table import WHO_TEXT, is_quantitative

__all__ = ["ISCD_EXCLUSION", "ISCD_MONITORING", "interpretation_lines", "reported_line"]

# docs/domain.md §2 (ISCD adult official positions 2019/2023).
ISCD_EXCLUSION = (
    "ISCD: report PA L1–L4, excluding vertebrae that are clearly abnormal or differ by more "
    "than 1.0 T-score from a neighbour; at most 2 excluded, never a single vertebra."
)
ISCD_MONITORING = (
    "ISCD monitoring: compare BMD in g/cm² (never T-scores), at the same levels; a change "
    "counts only if it is at least the least significant change (LSC)."
)
ISCD_WHO = "WHO (T-score): normal ≥ −1.0; low bone mass between −1.0 and −2.5; osteoporosis ≤ −2.5."
ISCD_Z = "ISCD: a Z-score of −2.0 or lower is “below the expected range for age”."
# The header records no menopausal status; the clinical layer uses age >= 50 for it
# (dxaspine/clinical/scores.py, T_APPLIES_FROM_AGE_YEARS), and the page says so.
MENOPAUSE_PROXY = (
    "Menopausal status is not in the DICOM header: age 50 stands in for it (ISCD applies "
    "T-scores and WHO to postmenopausal women)."
)


def _region(record: Mapping[str, Any], name: str | None) -> Mapping[str, Any] | None:
    return next((r for r in record.get("regions", ()) if r["name"] == name), None)


def reported_line(record: Mapping[str, Any]) -> str:
    """``Reported region L1-L3: BMD 0.871 g/cm², T −1.6, Z −0.2 (L4 excluded: ...)``."""
    name = record.get("reported_region")
    if not is_quantitative(record):
        return "Reported region: none (display image: no BMD, geometry only)."
    region = _region(record, name)
    if name is None or region is None:
        return "Reported region: none: fewer than 2 evaluable vertebrae (ISCD: use another site)."
    parts = [f"BMD {region['bmd_g_cm2']:.3f} g/cm²"]
    if region.get("t_score") is not None:
        parts.append(f"T-score {region['t_score']:.1f}")
    if region.get("z_score") is not None:
        parts.append(f"Z-score {region['z_score']:.1f}")
    text = f"Reported region {name}: " + ", ".join(parts)
    excluded = (record.get("exclusion") or {}).get("excluded") or []
    if excluded:
        by_label = {lv["label"]: lv for lv in record.get("levels", ())}
        reasons = []
        for label in excluded:
            codes = [
                FLAG_SHORT.get(f["code"], f["code"].replace("_", " "))
                for f in by_label.get(label, {}).get("flags", ())
            ]
            reasons.append(f"{label} ({', '.join(dict.fromkeys(codes)) or 'not evaluable'})")
        text += "; excluded: " + "; ".join(reasons)
    return text + "."


def interpretation_lines(record: Mapping[str, Any]) -> list[str]:
    """The ISCD statement that applies to this patient and result, then the rules it uses."""
    interp = record.get("interpretation") or {}
    score = interp.get("score")
    reason = str(interp.get("reason") or "").replace(">=", "≥")
    patient = record.get("patient") or {}
    lines: list[str] = []
    region = _region(record, record.get("reported_region"))
    if score == "T":
        who = interp.get("who_category")
        lines.append(f"Applies: {reason}.")
        if who is not None and region is not None:
            lines.append(
                f"WHO category ({region['name']}, T-score {region['t_score']:.1f}): "
                f"{WHO_TEXT.get(who, who)}."
            )
        lines.append(ISCD_WHO)
        if patient.get("sex") == "F":
            lines.append(MENOPAUSE_PROXY)
    elif score == "Z":
        lines.append(f"Applies: {reason}.")
        below = interp.get("z_below_expected_range")
        if region is not None and region.get("z_score") is not None:
            verdict = (
                "below the expected range for age" if below else "within the expected range for age"
            )
            lines.append(f"Z-score ({region['name']}) {region['z_score']:.1f}: {verdict}.")
        elif region is not None:
            lines.append(
                "No Z-score: the reference table has no age-matched row for this patient, so "
                "no statement against age can be made."
            )
        lines.append(ISCD_Z)
        if patient.get("sex") == "F":
            lines.append(MENOPAUSE_PROXY)
    else:
        lines.append(f"No ISCD interpretation: {reason}.")
    if is_quantitative(record):
        lines.append(ISCD_EXCLUSION)
    return lines
