"""Measurement metrics where truth has numbers: area, BMC, BMD per level and L1-L4, and the
clinical answer (ISCD reported region, WHO category) against the answer truth gives.

Definitions (docs/benchmark.md, "Measurements"):

- a level's error is ``100 (measured - truth) / truth`` in percent, for the level the
  segmentation *names* L1 ... L4 against the truth level of that name, so a mislabelled level
  shows the clinical error of the mislabelling (docs/domain.md §3: calling T12 "L1" moved
  L1-L4 BMD from 0.937 to 0.916);
- the L1-L4 error compares the result's L1-L4 composite with the truth's (total BMC over
  total area, docs/domain.md §1);
- the **truth's clinical answer** applies :func:`dxaspine.assess` (ISCD exclusion, composites,
  WHO category) to the truth's per-level BMC and area, with the truth's lesions passed as the
  image evidence an ideal reader would see (each lesion type that ISCD excludes for, as the
  evidence code the pipeline raises for it: docs/domain.md §2).  The benchmark reports
  whether the analysed scan's reported region and WHO category agree with it.

Display inputs measure no BMD (Contract 1), so they have no measurement metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dxaspine.bench.truth import CaseTruth
from dxaspine.levels import CLINICAL_LEVELS

__all__ = ["ClinicalAnswer", "measurement_errors", "truth_clinical_answer"]

# Phantom lesion type -> the evidence code the pipeline raises for it (evidence/lesions.py,
# evidence/positioning.py); ISCD excludes these levels (docs/domain.md §2).  Aortic
# calcification lies in front of the spine, not in the vertebra: no exclusion.
LESION_EVIDENCE = {
    "osteophyte": "osteophyte_suspected",
    "sclerosis": "sclerosis_suspected",
    "facet_arthrosis": "facet_arthrosis_suspected",
    "fracture": "fracture_suspected",
    "pedicle_screws": "metal",
}
COMPOSITE = "L1-L4"


@dataclass(frozen=True)
class ClinicalAnswer:
    reported_region: str | None
    who_category: str | None


def _percent(measured, truth) -> float | None:
    if measured is None or truth is None or truth == 0:
        return None
    return 100.0 * (float(measured) - float(truth)) / float(truth)


def _truth_composite(truth: CaseTruth) -> float | None:
    given = truth.composites.get(COMPOSITE) if truth.composites else None
    if given and given.get("bmd_g_cm2") is not None:
        return float(given["bmd_g_cm2"])
    levels = [truth.level(n) for n in CLINICAL_LEVELS]
    if any(lv is None or lv.bmc_g is None or not lv.area_cm2 for lv in levels):
        return None
    return sum(lv.bmc_g for lv in levels) / sum(lv.area_cm2 for lv in levels)


def measurement_errors(
    measured_levels: Iterable[object], l1l4_bmd_g_cm2: float | None, truth: CaseTruth
) -> dict[str, float | None]:
    """Flat ``{"L1_bmd_error_percent": ..., "L1-L4_bmd_error_percent": ...}`` for one case.

    Parameters
    ----------
    measured_levels : objects with ``label``, ``bmc_g``, ``area_cm2``, ``bmd_g_cm2``
        (``dxaspine.measure.LevelMeasurement``)
    l1l4_bmd_g_cm2 : the result's L1-L4 composite BMD, None when not formed
    truth : CaseTruth
    """
    by_name = {m.label: m for m in measured_levels}
    out: dict[str, float | None] = {}
    for name in CLINICAL_LEVELS:
        ours, theirs = by_name.get(name), truth.level(name)
        for key, column in (("area_cm2", "area"), ("bmc_g", "bmc"), ("bmd_g_cm2", "bmd")):
            value = None
            if ours is not None and theirs is not None:
                value = _percent(getattr(ours, key), getattr(theirs, key))
            out[f"{name}_{column}_error_percent"] = value
    truth_l1l4 = _truth_composite(truth)
    out[f"{COMPOSITE}_bmd_error_percent"] = _percent(l1l4_bmd_g_cm2, truth_l1l4)
    out[f"{COMPOSITE}_bmd_error_g_cm2"] = (
        None if l1l4_bmd_g_cm2 is None or truth_l1l4 is None else l1l4_bmd_g_cm2 - truth_l1l4
    )
    return out


def truth_clinical_answer(
    truth: CaseTruth, patient: Mapping[str, object] | object | None
) -> ClinicalAnswer | None:
    """The reported region and WHO category the truth's own numbers give (None without them)."""
    from dxaspine.clinical import assess

    levels = [
        {"label": lv.label, "bmc_g": lv.bmc_g, "area_cm2": lv.area_cm2}
        for lv in truth.levels
        if lv.label in CLINICAL_LEVELS and lv.bmc_g is not None and lv.area_cm2
    ]
    if len(levels) < 2:
        return None
    evidence = [
        {"code": LESION_EVIDENCE[kind], "level": lv.label, "detail": f"truth lesion: {kind}"}
        for lv in truth.levels
        for kind in lv.lesions
        if kind in LESION_EVIDENCE and lv.label in CLINICAL_LEVELS
    ]
    result = assess(levels, truth.patient or patient, image_flags=evidence)
    return ClinicalAnswer(result.reported_region, result.interpretation.get("who_category"))
