"""The report page's evidence: flags in plain words, and the inter-level chart no vendor prints.

- :func:`flag_sentences` turns every distinct flag (scan and level flags merged, as the table
  does: :func:`dxaspine.report.table.merged_flags`) into a title a reader understands, the
  levels it concerns, the measured evidence and the rule it applies.
- :func:`interlevel_evidence` gives, per evaluable L1–L4 level, how far its BMD lies from what
  the *other* levels predict (the clinical layer's deviation score and its NHANES 2017–2020
  calibration, :mod:`dxaspine.clinical.interlevel`; docs/domain.md §3), and the T-score step
  to the next level (ISCD: more than 1.0 excludes, docs/domain.md §2).
  :func:`draw_interlevel_chart` draws both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dxaspine.levels import CLINICAL_LEVELS
from dxaspine.report.table import merged_flags

__all__ = [
    "FLAG_TITLES",
    "FlagSentence",
    "InterlevelEvidence",
    "draw_interlevel_chart",
    "flag_sentences",
    "interlevel_evidence",
]

# Plain-words titles of the flag codes dxaspine raises (clinical/flags.py, evidence/,
# segment/labelling.py).  An unknown code (a plugged-in segmenter's) is shown as its words.
FLAG_TITLES: dict[str, str] = {
    "adjacent_t_difference": "T-scores of neighbouring vertebrae differ by more than 1.0",
    "inter_level_deviation": "BMD does not fit the other levels",
    "suspect_levels_kept": "More suspect levels than ISCD allows to exclude",
    "spine_not_evaluable": "Spine not evaluable",
    "invalid_in_source": "Level marked invalid in the source",
    "osteophyte_suspected": "Osteophyte suspected on the image",
    "sclerosis_suspected": "Sclerosis suspected on the image",
    "facet_arthrosis_suspected": "Facet arthrosis suspected on the image",
    "fracture_suspected": "Fracture suspected on the image",
    "metal": "Metal over the level",
    "metal_over_spine": "Metal over the spine",
    "artifact": "Artifact over the level",
    "spine_rotated": "Spine rotated",
    "spine_off_centre": "Spine off centre in the field",
    "spine_tilted": "Spine tilted",
    "axis_lost": "Spine axis lost",
    "few_lumbar_levels": "Fewer than four lumbar levels in the field",
    "label_disagreement": "Labelling cues disagree",
    "label_single_cue": "Labels rest on one landmark",
    "label_unanchored": "No labelling landmark found",
    "crest_ambiguous": "Iliac crest ambiguous",
    "ribs_clipped": "Lowest ribs cut by the field",
    "lumbar_rib_suspected": "Possible rib on L1 (transitional anatomy)",
    "level_height_inconsistent": "Level much shorter than its neighbours (line or label in doubt)",
    "display_saturated": "Display image saturated over the spine",
    "edge_noise_limited": "Bone edge near the noise (thick patient or low dose): area may read high",
}


@dataclass(frozen=True)
class FlagSentence:
    code: str
    title: str
    levels: tuple[str, ...]
    detail: str
    rule: str | None
    plain: str | None = None  # the inter-level evidence in words, for the inter-level flags


_INTERLEVEL_CODES = ("adjacent_t_difference", "inter_level_deviation")


def _in_words(levels: Sequence[str], evidence: InterlevelEvidence | None) -> str | None:
    if evidence is None:
        return None
    words = []
    for label in levels:
        pct = evidence.percent_from_prediction.get(label)
        if pct is None:
            continue
        side = "above" if pct >= 0 else "below"
        words.append(f"{label}'s BMD is {abs(pct):.0f} % {side} what the other levels predict")
    return "; ".join(words) or None


def flag_sentences(
    record: Mapping[str, Any], evidence: InterlevelEvidence | None = None
) -> list[FlagSentence]:
    """One sentence per distinct finding, scan flags first, in the record's order.

    With ``evidence`` (:func:`interlevel_evidence`), the inter-level flags also say in words
    how far their level lies from what the others predict.
    """
    rules: dict[tuple[str, str], str] = {}
    for flag in [*record.get("flags", ())] + [
        f for lv in record.get("levels", ()) for f in lv.get("flags", ())
    ]:
        if flag.get("rule"):
            rules.setdefault((flag["code"], flag["detail"]), flag["rule"])
    return [
        FlagSentence(
            code=code,
            title=FLAG_TITLES.get(code, code.replace("_", " ").capitalize()),
            levels=tuple(where),
            detail=detail,
            rule=rules.get((code, detail)),
            plain=_in_words(where, evidence) if code in _INTERLEVEL_CODES else None,
        )
        for code, where, detail in merged_flags(record)
    ]


@dataclass(frozen=True)
class InterlevelEvidence:
    """Per evaluable level: deviation score, % from prediction, T step to the next level."""

    levels: tuple[str, ...]
    deviation_score: Mapping[str, float]
    percent_from_prediction: Mapping[str, float]
    t_step_to_next: Mapping[str, float]  # keyed by the upper level of each adjacent pair
    threshold: float
    t_step_limit: float


def interlevel_evidence(record: Mapping[str, Any]) -> InterlevelEvidence | None:
    """The inter-level evidence of a record at full precision, or None without 3 usable levels.

    Usable levels are those the clinical layer scored: L1–L4 with a BMD and not marked
    invalid in the source (``dxaspine.clinical.assess``).  Scores come from the same
    function and model the assessment used, so a flagged level shows the flagged score.
    """
    from dxaspine.clinical.flags import ISCD_T_DIFFERENCE
    from dxaspine.clinical.interlevel import deviation_scores, load_interlevel_model

    by_label = {lv["label"]: lv for lv in record.get("levels", ())}
    usable = [
        label
        for label in CLINICAL_LEVELS
        if label in by_label
        and by_label[label].get("bmd_g_cm2") is not None
        and not any(f["code"] == "invalid_in_source" for f in by_label[label].get("flags", ()))
    ]
    if len(usable) < 3:  # a leave-one-out prediction needs two other levels
        return None
    model = load_interlevel_model()
    bmd = {label: float(by_label[label]["bmd_g_cm2"]) for label in usable}
    scores = deviation_scores(bmd, model)
    # score = (log(BMD / prediction) - offset) / scale  (clinical/interlevel.py), so the
    # measured BMD is exp(score * scale + offset) - 1 away from its prediction.
    percent = {
        label: 100.0 * (math.exp(s * model.scale[label] + model.offset[label]) - 1.0)
        for label, s in scores.items()
    }
    steps = {}
    for upper, lower in zip(usable, usable[1:], strict=False):
        t_upper, t_lower = by_label[upper].get("t_score"), by_label[lower].get("t_score")
        if t_upper is not None and t_lower is not None:
            steps[upper] = t_lower - t_upper
    return InterlevelEvidence(
        levels=tuple(usable),
        deviation_score=scores,
        percent_from_prediction=percent,
        t_step_to_next=steps,
        threshold=model.threshold,
        t_step_limit=ISCD_T_DIFFERENCE,
    )


def draw_interlevel_chart(ax, evidence: InterlevelEvidence | None, reason: str = "") -> None:
    """Bars of each level's deviation score with the flag threshold; T steps between them."""
    ax.set_title(
        "Inter-level evidence: each level against the others",
        fontsize=7.5,
        loc="left",
    )
    ax.tick_params(labelsize=6.5)
    if evidence is None:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(
            0.5, 0.5, reason or "fewer than 3 levels with BMD: no inter-level check",
            transform=ax.transAxes, ha="center", va="center", fontsize=7,
        )  # fmt: skip
        return
    labels = evidence.levels
    scores = [evidence.deviation_score.get(label) for label in labels]
    limit = evidence.threshold
    span = max([limit + 1.0] + [abs(s) + 1.0 for s in scores if s is not None])
    ax.set_ylim(-span, span)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.axhspan(-limit, limit, color=(0.90, 0.95, 0.92), lw=0, zorder=0)
    for y in (-limit, limit):
        ax.axhline(y, color="0.35", lw=0.7, ls="--", zorder=1)
    ax.axhline(0.0, color="0.2", lw=0.6, zorder=1)
    for x, (label, score) in enumerate(zip(labels, scores, strict=True)):
        if score is None:
            continue
        out = abs(score) > limit
        ax.bar(x, score, width=0.55, color=(0.84, 0.37, 0.0) if out else (0.0, 0.45, 0.70),
               zorder=2)  # fmt: skip
        pct = round(evidence.percent_from_prediction.get(label))
        ax.text(
            x, score + (0.25 if score >= 0 else -0.25), f"{pct:+d} %" if pct else "0 %",
            ha="center", va="bottom" if score >= 0 else "top", fontsize=6, zorder=3,
        )  # fmt: skip
    for x, label in enumerate(labels[:-1]):
        step = evidence.t_step_to_next.get(label)
        if step is None:
            continue
        big = abs(step) > evidence.t_step_limit
        ax.text(
            x + 0.5, -span + 0.25, f"ΔT {step:+.1f}", ha="center", va="bottom", fontsize=6,
            color=(0.75, 0.25, 0.0) if big else "0.25", fontweight="bold" if big else "normal",
        )  # fmt: skip
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("deviation score", fontsize=6.5)


def evidence_legend(evidence: InterlevelEvidence | None) -> Sequence[str]:
    """The sentences under the inter-level chart (docs/report_page.md, "Inter-level evidence")."""
    if evidence is None:
        return ()
    return (
        "Not on vendor pages. Bars: each level's BMD against what the other levels predict "
        "with the NHANES 2017–2020 level ratios (per cent above or below; robust score, "
        "flagged beyond the dashed lines). ΔT: T-score step to the next level (ISCD: more "
        "than 1.0 excludes).",
    )
