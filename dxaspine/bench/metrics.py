"""Per-case benchmark metrics: labels, lines, level masks, measurements (docs/benchmark.md, "Metrics").

Every function compares a prediction with truth **on one pixel grid** (the benchmark uses the
image as stored; ``tests/test_segment_accuracy.py`` calls the same functions on the head-up
grid of an in-memory phantom), so both sides must be in the same orientation.  Definitions:

- **level names under a predicted level**: the truth level holding most of the predicted
  region's labelled truth pixels (0 = no level is ignored); None when the region lies wholly
  outside the truth's levels (such a level is neither right nor wrong);
- **scan labels right**: every predicted level with a truth level under it is named as that
  level, and every L1-L4 level wholly inside the image is among the predicted names;
- **warned**: a predicted level's confidence is below :data:`LOW_CONFIDENCE`, or the scan
  carries a labelling doubt flag (:data:`LABEL_FLAGS`): the reader was told to check;
- **confident and wrong**: of the predicted levels with a truth level under them and a
  confidence of at least :data:`CONFIDENT` (the review threshold: 0.95 two cues agree, 0.9 a
  clipped rib's inferred attachment agrees, segment/labelling.py), the share named wrong;
  what a confidence of 0.9 is worth (:func:`confident_and_wrong`);
- **line midpoint error**: Euclidean distance in mm between the midpoints of the predicted
  and truth lines of the same name (so a mislabelled line is compared with the disc its name
  says, and the error is about one vertebra period); **tilt error**: the absolute difference
  of the two lines' angles, in mm space, in degrees;
- **level Dice**: for each L1-L4 level the prediction names right, 2|A∩B|/(|A|+|B|) of the
  predicted level's bone pixels and the truth level's bone pixels (truth bone mask when the
  truth has one; else the truth label image itself when it holds traced outlines,
  ``level_masks="bone"``; else predicted and truth box regions without a bone mask);
  **boundary distance**: the mean symmetric distance between the two masks' boundary pixels
  (ASSD) and its 95th percentile (HD95), in mm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxaspine.levels import CLINICAL_LEVELS

__all__ = [
    "CONFIDENT",
    "LABEL_FLAGS",
    "LOW_CONFIDENCE",
    "LabelOutcome",
    "LevelLabel",
    "LineError",
    "boundary_distance_mm",
    "label_outcome",
    "confident_and_wrong",
    "level_dice",
    "level_truth_names",
    "line_errors",
    "regions_from_lines",
    "scan_warned",
]

# Flags that tell the reader the labels need checking (the classical segmenter's labelling
# doubts; a plugged-in segmenter may raise the same codes).
LABEL_FLAGS = (
    "label_disagreement",
    "label_single_cue",
    "label_unanchored",
    "crest_ambiguous",
    "ribs_clipped",
    "lumbar_rib_suspected",
    "level_height_inconsistent",
)
# Below this stated confidence a label counts as "uncertain": the classical segmenter's own
# scale, where 0.5 means one cue without confirmation (segment/labelling.py).
LOW_CONFIDENCE = 0.5
# At or above this a label is "confident": routed past review (tests/test_segment_accuracy.py).
CONFIDENT = 0.9


@dataclass(frozen=True)
class LineError:
    name: str
    midpoint_mm: float
    tilt_deg: float


@dataclass(frozen=True)
class LevelLabel:
    """One predicted level against the truth level under it."""

    predicted: str
    truth: str | None  # None: no truth level under the predicted region
    confidence: float
    warned: bool

    @property
    def correct(self) -> bool | None:
        return None if self.truth is None else self.truth == self.predicted


@dataclass(frozen=True)
class LabelOutcome:
    scan_correct: bool
    levels: tuple[LevelLabel, ...]
    missing: tuple[str, ...]  # complete L1-L4 truth levels no predicted level is named as

    @property
    def wrong(self) -> tuple[LevelLabel, ...]:
        return tuple(lv for lv in self.levels if lv.correct is False)


def _angle_deg(left, right, spacing_mm) -> float:
    dc = (right[0] - left[0]) * spacing_mm[1]
    dr = (right[1] - left[1]) * spacing_mm[0]
    return math.degrees(math.atan2(dr, dc))


def line_errors(
    predicted: Iterable[tuple[str, Sequence[float], Sequence[float]]],
    truth: Iterable[object],
    spacing_mm: Sequence[float],
) -> list[LineError]:
    """Midpoint (mm) and tilt (deg) error of each predicted line that has a truth line of its name.

    Parameters
    ----------
    predicted : iterable of (name, (column, row) left, (column, row) right)
    truth : iterable of lines with ``name``, ``left``, ``right`` (mappings or objects)
    spacing_mm : (row, column) pixel spacing

    Returns
    -------
    list of LineError, in the predicted order
    """

    def get(obj, key):
        return obj[key] if isinstance(obj, Mapping) else getattr(obj, key)

    by_name = {get(t, "name"): (get(t, "left"), get(t, "right")) for t in truth}
    out = []
    spacing_r, spacing_c = float(spacing_mm[0]), float(spacing_mm[1])
    for name, left, right in predicted:
        if name not in by_name:
            continue
        t_left, t_right = by_name[name]
        tc, tr = (t_left[0] + t_right[0]) / 2, (t_left[1] + t_right[1]) / 2
        mc, mr = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
        midpoint = float(np.hypot((mc - tc) * spacing_c, (mr - tr) * spacing_r))
        tilt = abs(_angle_deg(left, right, spacing_mm) - _angle_deg(t_left, t_right, spacing_mm))
        tilt = min(tilt % 180.0, 180.0 - tilt % 180.0)  # a line has no direction
        out.append(LineError(name, midpoint, float(tilt)))
    return out


def level_truth_names(
    predicted_label_image: np.ndarray,
    n_levels: int,
    truth_label_image: np.ndarray,
    truth_codes: Mapping[int, str],
) -> list[str | None]:
    """The truth level under each predicted level (index i holds value i + 1); see module doc."""
    if predicted_label_image.shape != truth_label_image.shape:
        raise ValueError(
            f"label images differ in shape: {predicted_label_image.shape} vs "
            f"{truth_label_image.shape}"
        )
    pred = np.asarray(predicted_label_image).ravel()
    truth = np.asarray(truth_label_image).ravel()
    both = (pred > 0) & (pred <= n_levels) & (truth > 0)
    out: list[str | None] = [None] * n_levels
    if not both.any():
        return out
    # one joint histogram instead of n_levels masks over the image
    width = int(truth.max()) + 1
    joint = np.bincount(pred[both].astype(np.int64) * width + truth[both], minlength=0)
    joint = np.pad(joint, (0, (n_levels + 1) * width - joint.size)).reshape(n_levels + 1, width)
    for i in range(n_levels):
        counts = joint[i + 1]
        if counts.any():
            out[i] = truth_codes.get(int(counts.argmax()))
    return out


def scan_warned(confidences: Sequence[float], flag_codes: Iterable[str]) -> bool:
    """Low confidence on any level, or a labelling doubt flag (the scan-level warning)."""
    return min(confidences, default=0.0) < LOW_CONFIDENCE or any(
        code in LABEL_FLAGS for code in flag_codes
    )


def label_outcome(
    predicted: Sequence[str],
    confidences: Sequence[float],
    flag_codes: Iterable[str],
    truth_names: Sequence[str | None],
    complete_clinical: Iterable[str],
) -> LabelOutcome:
    """Per-level and per-scan labelling against truth (definitions in the module docstring)."""
    doubt = any(code in LABEL_FLAGS for code in flag_codes)
    levels = tuple(
        LevelLabel(name, true, float(conf), bool(conf < LOW_CONFIDENCE or doubt))
        for name, conf, true in zip(predicted, confidences, truth_names, strict=True)
    )
    missing = tuple(name for name in complete_clinical if name not in predicted)
    correct = all(lv.correct is not False for lv in levels) and not missing
    return LabelOutcome(bool(correct), levels, missing)


def confident_and_wrong(
    levels: Iterable[LevelLabel], threshold: float = CONFIDENT
) -> tuple[int, int]:
    """(confident levels with a truth level under them, of which named wrong).

    ``levels`` pools any number of scans' :attr:`LabelOutcome.levels`; the share wrong is
    ``wrong / confident`` (undefined when no level is confident).
    """
    confident = [lv for lv in levels if lv.correct is not None and lv.confidence >= threshold]
    return len(confident), sum(lv.correct is False for lv in confident)


def _truth_level_mask(truth_label_image, code, truth_bone, level_masks: str) -> np.ndarray:
    region = truth_label_image == code
    if truth_bone is not None:
        return region & truth_bone
    return region  # "bone": traced outlines; "regions" without bone: box regions


def level_dice(
    predicted_label_image: np.ndarray,
    predicted_bone: np.ndarray | None,
    predicted_labels: Sequence[str],
    truth_names: Sequence[str | None],
    truth_label_image: np.ndarray,
    truth_codes: Mapping[int, str],
    truth_bone: np.ndarray | None = None,
    *,
    level_masks: str = "regions",
    levels: Iterable[str] = CLINICAL_LEVELS,
) -> dict[str, float]:
    """Dice of each correctly named level in ``levels`` (see the module docstring)."""
    return {name: dice for name, (dice, _, _) in level_masks_compared(
        predicted_label_image, predicted_bone, predicted_labels, truth_names, truth_label_image,
        truth_codes, truth_bone, level_masks=level_masks, levels=levels, spacing_mm=None,
    ).items()}  # fmt: skip


def level_masks_compared(
    predicted_label_image: np.ndarray,
    predicted_bone: np.ndarray | None,
    predicted_labels: Sequence[str],
    truth_names: Sequence[str | None],
    truth_label_image: np.ndarray,
    truth_codes: Mapping[int, str],
    truth_bone: np.ndarray | None = None,
    *,
    level_masks: str = "regions",
    levels: Iterable[str] = CLINICAL_LEVELS,
    spacing_mm: Sequence[float] | None = None,
) -> dict[str, tuple[float, float | None, float | None]]:
    """``{level: (dice, assd_mm, hd95_mm)}``; distances only when ``spacing_mm`` is given."""
    wanted = set(levels)
    code_of = {name: code for code, name in truth_codes.items()}
    # Predicted bone pixels are compared whenever the truth says where bone is (its own mask,
    # or traced outlines); box regions are compared only with box regions.
    use_bone = predicted_bone is not None and (truth_bone is not None or level_masks == "bone")
    out = {}
    for i, (name, true) in enumerate(zip(predicted_labels, truth_names, strict=True)):
        if name not in wanted or true != name or name not in code_of:
            continue
        ours = predicted_label_image == i + 1
        if use_bone:
            ours = ours & predicted_bone
        theirs = _truth_level_mask(truth_label_image, code_of[name], truth_bone, level_masks)
        total = int(ours.sum()) + int(theirs.sum())
        dice = float(2 * (ours & theirs).sum() / total) if total else float("nan")
        assd = hd95 = None
        if spacing_mm is not None:
            assd, hd95 = boundary_distance_mm(ours, theirs, spacing_mm)
        out[name] = (dice, assd, hd95)
    return out


def _boundary(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def boundary_distance_mm(
    a: np.ndarray, b: np.ndarray, spacing_mm: Sequence[float]
) -> tuple[float | None, float | None]:
    """Average symmetric surface distance and 95th-percentile Hausdorff distance, in mm.

    Boundary pixels are mask pixels with a 4-neighbour outside the mask; distances are
    Euclidean in mm with the (row, column) spacing.  (None, None) when a mask is empty.
    """
    if not a.any() or not b.any():
        return None, None
    rows, cols = np.nonzero(a | b)
    pad = 2
    r0, r1 = max(rows.min() - pad, 0), rows.max() + pad + 1
    c0, c1 = max(cols.min() - pad, 0), cols.max() + pad + 1
    a, b = a[r0:r1, c0:c1], b[r0:r1, c0:c1]  # distances need only the masks' neighbourhood
    edge_a, edge_b = _boundary(a), _boundary(b)
    sampling = (float(spacing_mm[0]), float(spacing_mm[1]))
    to_b = ndimage.distance_transform_edt(~edge_b, sampling=sampling)
    to_a = ndimage.distance_transform_edt(~edge_a, sampling=sampling)
    distances = np.concatenate([to_b[edge_a], to_a[edge_b]])
    return float(distances.mean()), float(np.percentile(distances, 95))


def regions_from_lines(shape: tuple[int, int], lines: Iterable[object]) -> tuple[np.ndarray, dict]:
    """A truth label image from annotated lines alone, for naming predicted levels.

    Each line is extended across the whole image width; the pixels between two consecutive
    lines (by row) that share a vertebra name ("L1/L2" and "L2/L3": L2) get that level.  Only
    for :func:`level_truth_names`: the regions are not vertebra masks (no Dice against them).
    """
    from dxaspine.segment.kernels import rasterize_levels

    def get(obj, key):
        return obj[key] if isinstance(obj, Mapping) else getattr(obj, key)

    ordered = sorted(lines, key=lambda ln: (get(ln, "left")[1] + get(ln, "right")[1]) / 2)
    rows, cols = int(shape[0]), int(shape[1])
    if len(ordered) < 2:
        return np.zeros((rows, cols), dtype=np.int32), {}
    left = np.array([get(ln, "left") for ln in ordered], dtype=float)
    right = np.array([get(ln, "right") for ln in ordered], dtype=float)
    slope = (right[:, 1] - left[:, 1]) / np.where(right[:, 0] != left[:, 0],
                                                  right[:, 0] - left[:, 0], 1.0)  # fmt: skip
    image = rasterize_levels(
        (rows, cols), np.zeros(rows), np.full(rows, cols - 1.0),
        (left[:, 0] + right[:, 0]) / 2, (left[:, 1] + right[:, 1]) / 2, slope,
    )  # fmt: skip
    codes = {}
    for k, (a, b) in enumerate(zip(ordered, ordered[1:], strict=False)):
        common = set(get(a, "name").split("/")) & set(get(b, "name").split("/"))
        if len(common) == 1:
            codes[k + 1] = common.pop()
    image[~np.isin(image, list(codes))] = 0
    return image, codes
