"""T/Z-scores, WHO categories and ISCD applicability (docs/domain.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Applicability", "applicability", "score", "who_category"]

# docs/domain.md §2, WHO: normal T >= -1.0; low bone mass -2.5 < T < -1.0; osteoporosis T <= -2.5.
WHO_NORMAL_MIN_T = -1.0
WHO_OSTEOPOROSIS_MAX_T = -2.5
# docs/domain.md §2, ISCD: Z <= -2.0 is "below the expected range for age".
Z_BELOW_EXPECTED = -2.0
# ISCD: T/WHO for postmenopausal women and men >= 50.  Menopausal status is not in the data,
# so age >= 50 is the documented proxy for postmenopausal women.
T_APPLIES_FROM_AGE_YEARS = 50.0


def score(bmd_g_cm2: float | None, mean_g_cm2: float, sd_g_cm2: float) -> float | None:
    """(BMD − mean) / SD, or None for a missing BMD."""
    if bmd_g_cm2 is None:
        return None
    return (bmd_g_cm2 - mean_g_cm2) / sd_g_cm2


def who_category(t_score: float | None) -> str | None:
    """``normal`` | ``low_bone_mass`` | ``osteoporosis`` (WHO, docs/domain.md §2)."""
    if t_score is None:
        return None
    if t_score <= WHO_OSTEOPOROSIS_MAX_T:
        return "osteoporosis"
    if t_score < WHO_NORMAL_MIN_T:
        return "low_bone_mass"
    return "normal"


@dataclass(frozen=True)
class Applicability:
    score: str | None  # "T" (with WHO) | "Z" | None when it cannot be decided
    reason: str


def applicability(sex: str | None, age_years: float | None) -> Applicability:
    """Which score ISCD says to interpret for this patient (never guessed)."""
    if sex not in ("F", "M") or age_years is None:
        missing = " and ".join(
            n for n, v in (("sex", sex in ("F", "M")), ("age", age_years is not None)) if not v
        )
        return Applicability(None, f"{missing} unknown: ISCD choice of T/WHO or Z not made")
    if age_years >= T_APPLIES_FROM_AGE_YEARS:
        if sex == "F":
            return Applicability(
                "T", "woman >= 50 y (age is the proxy for postmenopausal status): T-score and WHO"
            )
        return Applicability("T", "man >= 50 y: T-score and WHO")
    if sex == "F":
        return Applicability(
            "Z", "woman < 50 y (proxy for premenopausal): Z-score; WHO categories do not apply"
        )
    return Applicability(
        "Z", "man < 50 y: Z-score; no osteoporosis diagnosis from BMD alone (ISCD)"
    )
