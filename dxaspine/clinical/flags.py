"""Exclusion and degenerative flags, and which levels to propose for exclusion.

Rules (each flag carries code, level, evidence numbers and the rule it cites):

- ``adjacent_t_difference``: |T(level) − T(adjacent)| > 1.0 (ISCD 2019/2023, DOMAIN.md §2).
  The rule names a pair; the level of the pair with the larger |inter-level deviation| is the
  suspect (the other one fits its neighbours better).
- ``inter_level_deviation``: |deviation score| above the NHANES-calibrated threshold
  (:mod:`dxaspine.clinical.interlevel`; DOMAIN.md §3).
- image evidence: QC flags from the image pipeline (``EXCLUDING_IMAGE_CODES``) are passed
  through and make their level a suspect.

Choosing exclusions (ISCD: at most 2, at least 2 evaluable remain, never one vertebra):
suspects are ranked image evidence first, then by |deviation score| (strongest first); at
most ``2 − (levels already unusable)`` are excluded, never leaving fewer than 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["EXCLUDING_IMAGE_CODES", "Flag", "adjacent_t_flags", "deviation_flags", "rank_suspects"]

ISCD_T_DIFFERENCE = 1.0  # DOMAIN.md §2
MAX_EXCLUDED = 2  # ISCD 2019/2023
MIN_EVALUABLE = 2  # ISCD: never a single vertebra
EXCLUDING_IMAGE_CODES = frozenset(
    {
        "osteophyte_suspected",
        "sclerosis_suspected",
        "fracture_suspected",
        "metal",
        "metal_over_spine",
        "artifact",
    }
)
RULE_ISCD = "ISCD 2019/2023: exclude a vertebra > 1.0 T-score from its neighbour (DOMAIN.md 2)"
RULE_DEVIATION = "dxaspine inter-level deviation, NHANES 2017-2020 calibration (DOMAIN.md 3)"
RULE_IMAGE = "ISCD 2019/2023: exclude clearly abnormal/non-assessable vertebrae (DOMAIN.md 2)"


@dataclass(frozen=True)
class Flag:
    code: str
    detail: str
    level: str | None = None
    evidence: Mapping[str, object] = field(default_factory=dict)
    rule: str = ""


def adjacent_t_flags(t_by_level: Mapping[str, float], order: Iterable[str]) -> list[Flag]:
    """One flag per adjacent pair (in ``order``) whose T-scores differ by more than 1.0."""
    levels = [lv for lv in order if t_by_level.get(lv) is not None]
    out = []
    for upper, lower in zip(levels, levels[1:], strict=False):
        diff = t_by_level[lower] - t_by_level[upper]
        if abs(diff) > ISCD_T_DIFFERENCE:
            out.append(
                Flag(
                    code="adjacent_t_difference",
                    detail=f"{upper}/{lower} T differ by {diff:+.2f} (> {ISCD_T_DIFFERENCE})",
                    level=None,
                    evidence={"pair": [upper, lower], "t_difference": diff},
                    rule=RULE_ISCD,
                )
            )
    return out


def deviation_flags(scores: Mapping[str, float], threshold: float) -> list[Flag]:
    return [
        Flag(
            code="inter_level_deviation",
            detail=f"{lv} BMD {'above' if s > 0 else 'below'} what its neighbours predict "
            f"(score {s:+.2f}, |score| > {threshold})",
            level=lv,
            evidence={"deviation_score": s, "threshold": threshold},
            rule=RULE_DEVIATION,
        )
        for lv, s in scores.items()
        if abs(s) > threshold
    ]


def rank_suspects(
    pair_flags: list[Flag],
    dev_flags: list[Flag],
    image_flags: list[Flag],
    scores: Mapping[str, float],
) -> list[str]:
    """Suspect levels, strongest evidence first (image, then |deviation score|)."""
    suspects: dict[str, tuple[int, float]] = {}

    def add(level: str, tier: int) -> None:
        strength = (tier, abs(scores.get(level, 0.0)))
        suspects[level] = max(suspects.get(level, strength), strength)

    for f in image_flags:
        if f.level and f.code in EXCLUDING_IMAGE_CODES:
            add(f.level, 2)
    for f in dev_flags:
        add(f.level, 1)
    for f in pair_flags:
        a, b = f.evidence["pair"]
        if a in scores and b in scores:
            # The pair member that fits its neighbours worse is the suspect.
            add(a if abs(scores[a]) >= abs(scores[b]) else b, 1)
    return sorted(suspects, key=lambda lv: suspects[lv], reverse=True)
