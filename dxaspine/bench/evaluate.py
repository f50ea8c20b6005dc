"""One case, one segmenter: the analysis compared with truth, as one flat row.

The prediction is brought to the stored pixel grid exactly as the label export writes it
(:func:`dxaspine.report.labels.label_export`), so the benchmark scores what a user of
``analyze --labels`` would get.  Columns (docs/benchmark.md, "Per-case rows"): identity and
status, runtime, labels, lines, level masks, measurements, the clinical answer, and three JSON
columns with the per-level, per-line and per-mask details the report and ``compare`` read.
"""

from __future__ import annotations

import json
import math

import numpy as np

from dxaspine.bench.folder import BenchCase
from dxaspine.bench.measurement import ClinicalAnswer, measurement_errors
from dxaspine.bench.metrics import (
    label_outcome,
    level_masks_compared,
    level_truth_names,
    line_errors,
    regions_from_lines,
    scan_warned,
)
from dxaspine.bench.truth import CaseTruth, TruthError
from dxaspine.errors import describe
from dxaspine.levels import CLINICAL_LEVELS

__all__ = ["failure_row", "row_columns", "score_case"]

_IDENTITY = ["segmenter", "case", "group", "kind", "status", "stage", "error_class", "error"]
_RUNTIME = ["load_s", "segment_s", "downstream_s"]
_LABELS = [
    "labels_scan_correct", "scan_warned", "min_label_confidence", "levels_n",
    "levels_correct_n", "levels_wrong_n", "levels_wrong_warned_n", "truth_levels_missed_n",
    *(f"{n}_label_correct" for n in CLINICAL_LEVELS),
]  # fmt: skip
_LINES = [
    "lines_matched_n", "line_midpoint_error_mean_mm", "line_midpoint_error_max_mm",
    "line_tilt_error_mean_deg", "line_tilt_error_max_deg",
]  # fmt: skip
_MASKS = [
    "dice_mean", "dice_min", *(f"{n}_dice" for n in CLINICAL_LEVELS),
    "boundary_assd_mean_mm", "boundary_hd95_max_mm",
]  # fmt: skip
_MEASURES = [
    *(f"{n}_{q}_error_percent" for n in CLINICAL_LEVELS for q in ("area", "bmc", "bmd")),
    "L1-L4_bmd_error_percent", "L1-L4_bmd_error_g_cm2",
    "reported_region", "truth_reported_region", "reported_region_agrees",
    "who_category", "truth_who_category", "who_category_agrees",
]  # fmt: skip
_DETAILS = ["levels_json", "lines_json", "masks_json"]


def row_columns() -> list[str]:
    """The per-case columns, in order."""
    return [*_IDENTITY, *_RUNTIME, *_LABELS, *_LINES, *_MASKS, *_MEASURES, *_DETAILS]


def failure_row(segmenter: str, case: BenchCase, stage: str, exc: BaseException, **extra) -> dict:
    """The row of a case the segmenter (or the input) failed on: it counts as labels wrong."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    row = dict.fromkeys(row_columns())
    row.update(segmenter=segmenter, case=case.id, group=case.group, kind=case.kind or "unknown",
               status="failed", stage=stage, error_class=type(exc).__name__, error=message,
               labels_scan_correct=False)  # fmt: skip
    row.update(extra)
    return row


def _mean(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def _extreme(values, fn):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(fn(values)) if values else None


def score_case(
    segmenter: str,
    case: BenchCase,
    truth: CaseTruth,
    result,
    truth_answer: ClinicalAnswer | None,
    runtime: dict,
) -> dict:
    """Compare one analysis (a ``dxaspine.pipeline.ScanResult``) with truth.

    Raises
    ------
    TruthError
        The truth's label image does not have the stored image's shape.
    """
    from dxaspine.report.labels import label_export

    scan, seg = result.scan, result.segmentation
    export = label_export(scan, seg)
    shape = export.label_image.shape
    if truth.label_image is not None and truth.label_image.shape != shape:
        raise TruthError(describe(truth.path, f"label image is {truth.label_image.shape[0]} x "
                                  f"{truth.label_image.shape[1]}, the image {shape[0]} x {shape[1]}",
                                  "write the label image on the stored image grid"))  # fmt: skip
    spacing = truth.pixel_spacing_mm or tuple(scan.pixel_spacing_mm)
    flags = [f.code for f in seg.qc_flags]  # the segmenter's own labelling doubts
    row = dict.fromkeys(row_columns())
    row.update(segmenter=segmenter, case=case.id, group=case.group,
               kind=case.kind or scan.kind, status="ok", **runtime)  # fmt: skip

    # labels
    labels, conf = list(seg.labels), list(seg.label_confidence)
    if truth.label_image is not None:
        names = level_truth_names(export.label_image, len(labels), truth.label_image,
                                  truth.label_codes)  # fmt: skip
    else:  # lines only: the truth levels between the truth lines, extended across the image
        regions, codes = regions_from_lines(shape, truth.lines)
        names = level_truth_names(export.label_image, len(labels), regions, codes)
    outcome = label_outcome(labels, conf, flags, names, truth.complete_clinical)
    wrong = outcome.wrong
    row.update(
        labels_scan_correct=outcome.scan_correct,
        scan_warned=scan_warned(conf, flags),
        min_label_confidence=min(conf, default=None),
        levels_n=len(labels),
        levels_correct_n=sum(lv.correct is True for lv in outcome.levels),
        levels_wrong_n=len(wrong),
        levels_wrong_warned_n=sum(lv.warned for lv in wrong),
        truth_levels_missed_n=len(outcome.missing),
    )
    by_truth = {lv.truth: lv for lv in outcome.levels if lv.truth is not None}
    for name in CLINICAL_LEVELS:
        if name in truth.complete_clinical:
            hit = by_truth.get(name)
            row[f"{name}_label_correct"] = bool(hit is not None and hit.predicted == name)

    # lines
    errors = line_errors([(ln["name"], ln["left"], ln["right"]) for ln in export.lines],
                         truth.lines, spacing)  # fmt: skip
    mid = [e.midpoint_mm for e in errors]
    tilt = [e.tilt_deg for e in errors]
    row.update(
        lines_matched_n=len(errors),
        line_midpoint_error_mean_mm=_mean(mid),
        line_midpoint_error_max_mm=_extreme(mid, max),
        line_tilt_error_mean_deg=_mean(tilt),
        line_tilt_error_max_deg=_extreme(tilt, max),
    )

    # level masks
    masks = {}
    if truth.label_image is not None:
        masks = level_masks_compared(
            export.label_image, export.bone_mask, labels, names, truth.label_image,
            truth.label_codes, truth.bone_mask, level_masks=truth.level_masks, spacing_mm=spacing,
        )  # fmt: skip
    dice = [d for d, _, _ in masks.values()]
    row.update(
        dice_mean=_mean(dice),
        dice_min=_extreme(dice, min),
        boundary_assd_mean_mm=_mean([a for _, a, _ in masks.values()]),
        boundary_hd95_max_mm=_extreme([h for _, _, h in masks.values()], max),
        **{f"{n}_dice": masks[n][0] for n in masks},
    )

    # measurements and the clinical answer (quantitative inputs with numeric truth)
    assessment = result.assessment
    if scan.quantitative and truth.has_measurements:
        region = assessment.region("L1-L4")
        row.update(measurement_errors(result.levels, region.bmd_g_cm2 if region else None, truth))
        who = assessment.interpretation.get("who_category")
        row.update(reported_region=assessment.reported_region, who_category=who)
        if truth_answer is not None:
            row.update(
                truth_reported_region=truth_answer.reported_region,
                truth_who_category=truth_answer.who_category,
                reported_region_agrees=assessment.reported_region == truth_answer.reported_region,
                who_category_agrees=who == truth_answer.who_category,
            )

    # predicted levels against the truth under them, then the complete L1-L4 truth levels no
    # predicted level lies over (predicted None: the confusion table's "not found" column)
    seen = {lv.truth for lv in outcome.levels}
    row["levels_json"] = json.dumps([
        {"predicted": lv.predicted, "truth": lv.truth, "confidence": lv.confidence,
         "warned": lv.warned} for lv in outcome.levels
    ] + [
        {"predicted": None, "truth": n, "confidence": None, "warned": None}
        for n in truth.complete_clinical if n not in seen
    ])  # fmt: skip
    errors_by_name = {e.name: e for e in errors}
    row["lines_json"] = json.dumps([
        {**ln, "midpoint_mm": getattr(errors_by_name.get(ln["name"]), "midpoint_mm", None),
         "tilt_deg": getattr(errors_by_name.get(ln["name"]), "tilt_deg", None)}
        for ln in export.lines
    ])  # fmt: skip
    row["masks_json"] = json.dumps(
        {n: {"dice": d, "assd_mm": a, "hd95_mm": h} for n, (d, a, h) in masks.items()}
    )
    return row
