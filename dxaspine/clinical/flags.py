"""Exclusion and degenerative flags, and which levels to propose for exclusion.

Rules (each flag carries code, level, evidence numbers and the rule it cites):

- ``adjacent_t_difference``: |T(level) − T(adjacent)| > 1.0 (ISCD 2019/2023, docs/domain.md §2).
  The rule names a pair; the flag is put on the level of the pair with the larger |inter-level
  deviation score| (the one that fits its neighbours and the NHANES cranio-caudal gradient
  worse, :mod:`dxaspine.clinical.interlevel`).  Its evidence lists both levels and ΔT; the
  other level is named there as ``partner`` and is *not* flagged.  Only when no deviation
  score exists for the pair (fewer than 3 usable levels) is the flag put on both levels,
  since two numbers cannot tell which one is abnormal.
- ``inter_level_deviation``: |deviation score| above the NHANES-calibrated threshold
  (:mod:`dxaspine.clinical.interlevel`; docs/domain.md §3).
- image evidence: QC flags from the image pipeline (``EXCLUDING_IMAGE_CODES``) are passed
  through and make their level a suspect.

Choosing exclusions (ISCD: at most 2, at least 2 evaluable remain, never one vertebra):
suspects are ranked image evidence first, then by |deviation score| (strongest first); at
most ``2 − (levels already unusable)`` are excluded, never leaving fewer than 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "EXCLUDING_IMAGE_CODES",
    "Flag",
    "adjacent_t_flags",
    "attribute_pair_flags",
    "deviation_flags",
    "rank_suspects",
]

ISCD_T_DIFFERENCE = 1.0  # docs/domain.md §2
MAX_EXCLUDED = 2  # ISCD 2019/2023
MIN_EVALUABLE = 2  # ISCD: never a single vertebra
# Image evidence that excludes its level.  ISCD excludes vertebrae affected by local
# structural change (fracture, osteophytes, sclerosis, implants, artifact; docs/domain.md §2).
# Facet arthrosis is included: on a PA scan the hypertrophic, sclerotic facets project onto
# the level's region (half of each adjacent disc belongs to it) and raise its BMD like other
# degenerative change; its level is as clearly abnormal as one with endplate sclerosis.
EXCLUDING_IMAGE_CODES = frozenset(
    {
        "osteophyte_suspected",
        "sclerosis_suspected",
        "facet_arthrosis_suspected",
        "fracture_suspected",
        "metal",
        "metal_over_spine",
        "artifact",
    }
)
RULE_ISCD = (
    "ISCD 2019/2023: exclude a vertebra > 1.0 T-score from its neighbour (docs/domain.md §2)"
)
RULE_DEVIATION = "dxaspine inter-level deviation, NHANES 2017-2020 calibration (docs/domain.md §3)"
RULE_IMAGE = "ISCD 2019/2023: exclude clearly abnormal/non-assessable vertebrae (docs/domain.md §2)"


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


def attribute_pair_flags(
    pair_flags: list[Flag],
    scores: Mapping[str, float],
    fallback_scores: Mapping[str, float] | None = None,
) -> list[Flag]:
    """Put each ISCD pair flag on the pair member that deviates more (see module docstring).

    ``scores`` are the model's (sequential) deviation scores; a pair with a member they leave
    unscored (two other levels already removed as outliers) is judged on ``fallback_scores``
    (one pass against all levels).  Returns one flag per pair with ``level`` set to the
    outlier, or two flags (one per level) when the pair cannot be scored at all.
    """
    out = []
    for f in pair_flags:
        a, b = f.evidence["pair"]
        if not (a in scores and b in scores) and fallback_scores is not None:
            if a in fallback_scores and b in fallback_scores:
                scores = {**scores, a: fallback_scores[a], b: fallback_scores[b]}
        if a in scores and b in scores:
            outlier, partner = (a, b) if abs(scores[a]) >= abs(scores[b]) else (b, a)
            out.append(
                Flag(
                    code=f.code,
                    detail=f"{f.detail}; {outlier} fits its neighbours worse "
                    f"(deviation {scores[outlier]:+.2f} vs {scores[partner]:+.2f})",
                    level=outlier,
                    evidence={
                        **f.evidence,
                        "partner": partner,
                        "partner_note": f"{partner} fits its neighbours better; not flagged",
                        "deviation_scores": {a: scores[a], b: scores[b]},
                    },
                    rule=f.rule,
                )
            )
        else:
            out += [
                Flag(f.code, f"{f.detail}; cannot tell which level is abnormal", lv,
                     {**f.evidence, "partner": b if lv == a else a}, f.rule)
                for lv in (a, b)
            ]  # fmt: skip
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
        # attributed flags name their outlier (attribute_pair_flags); an unattributed pair
        # (no deviation scores) names no suspect: two numbers cannot tell which is abnormal
        if f.level and "deviation_scores" in f.evidence:
            add(f.level, 1)
    return sorted(suspects, key=lambda lv: suspects[lv], reverse=True)
