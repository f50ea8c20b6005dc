"""The ``Segmentation`` contract, checked: what a plugged-in segmenter must return.

A segmenter's output is checked before anything downstream reads it, so that a segmenter
returning garbage is one recorded failure naming what is wrong, not a crash somewhere in the
evidence stage.  The rules are those of ``dxaspine/segment/segmentation.py`` and
docs/architecture.md ("Segmenters"):

- a :class:`~dxaspine.segment.Segmentation`;
- ``bone_mask`` and ``box_mask`` boolean, ``label_image`` integer, all of the density map's
  shape; label values 0 .. number of levels;
- one more line than levels (level i lies between lines i and i + 1), lines with finite
  endpoints, ordered top to bottom, left endpoint left of the right one;
- labels from the vertebra vocabulary (``dxaspine.levels.LEVEL_ORDER``), no repeats, in
  cranio-caudal order; one confidence per label, in [0, 1];
- ``axis_rows`` and ``axis_columns`` 1-D of equal length with at least two finite points, one
  column for every image row ("axis column per row": the evidence stage reads
  ``axis_columns`` by image row).
"""

from __future__ import annotations

import numpy as np

from dxaspine.errors import SegmentationError, describe
from dxaspine.levels import LEVEL_ORDER
from dxaspine.segment.segmentation import IntervertebralLine, Segmentation

__all__ = ["SegmenterOutputError", "contract_problems", "check_segmentation"]


class SegmenterOutputError(SegmentationError):
    """A segmenter returned something that breaks the ``Segmentation`` contract."""


def _finite(values) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(values, dtype=float))))
    except (TypeError, ValueError):
        return False


def contract_problems(seg: object, shape: tuple[int, int]) -> list[str]:
    """Everything wrong with ``seg`` for a density map of ``shape`` (empty when valid)."""
    if not isinstance(seg, Segmentation):
        return [f"returned {type(seg).__name__}, not a dxaspine.segment.Segmentation"]
    problems = []
    for name, kind in (("bone_mask", "b"), ("box_mask", "b"), ("label_image", "iu")):
        array = getattr(seg, name)
        if not isinstance(array, np.ndarray):
            problems.append(f"{name} is {type(array).__name__}, not a numpy array")
        elif array.shape != tuple(shape):
            problems.append(f"{name} has shape {array.shape}, the density map {tuple(shape)}")
        elif array.dtype.kind not in kind:
            problems.append(f"{name} has dtype {array.dtype}")
    labels, lines, conf = seg.labels, seg.lines, seg.label_confidence
    if len(lines) != len(labels) + 1:
        problems.append(f"{len(lines)} lines for {len(labels)} levels (need levels + 1)")
    if len(conf) != len(labels):
        problems.append(f"{len(conf)} confidences for {len(labels)} labels")
    elif not _finite(conf) or any(not 0.0 <= float(c) <= 1.0 for c in conf):
        problems.append("label confidences must be numbers in [0, 1]")
    unknown = [x for x in labels if x not in LEVEL_ORDER]
    if unknown:
        problems.append(f"labels {unknown} are not in {LEVEL_ORDER}")
    elif len(set(labels)) != len(labels) or list(labels) != sorted(labels, key=LEVEL_ORDER.index):
        problems.append(f"labels {list(labels)} repeat or are not cranial to caudal")
    rows = []
    for i, line in enumerate(lines):
        if not isinstance(line, IntervertebralLine) or not _finite([*line.left, *line.right]):
            problems.append(f"lines[{i}] is not an IntervertebralLine with finite endpoints")
            break
        if line.right[0] <= line.left[0]:
            problems.append(f"lines[{i}] runs right to left")
            break
        rows.append(line.midpoint[1])
    else:
        if any(b < a for a, b in zip(rows, rows[1:], strict=False)):
            problems.append("lines are not ordered top to bottom")
    image = seg.label_image
    if isinstance(image, np.ndarray) and image.dtype.kind in "iu" and image.size:
        if image.min() < 0 or image.max() > len(labels):
            problems.append(f"label_image values {image.min()}..{image.max()} exceed the levels")
    axis_r, axis_c = np.asarray(seg.axis_rows), np.asarray(seg.axis_columns)
    if axis_r.ndim != 1 or axis_r.shape != axis_c.shape:
        problems.append(f"axis_rows {axis_r.shape} and axis_columns {axis_c.shape} differ")
    else:
        try:
            ok = np.isfinite(axis_r.astype(float)) & np.isfinite(axis_c.astype(float))
        except (TypeError, ValueError):
            ok = np.zeros(0, dtype=bool)
        if ok.sum() < 2:
            problems.append("the axis has fewer than 2 finite points")
        elif axis_c.size != shape[0]:
            # docs/architecture.md: "axis column per row"; the evidence stage reads
            # axis_columns by image row (evidence/rotation.py)
            problems.append(f"axis_columns has {axis_c.size} values for {shape[0]} image rows")
    return problems


def check_segmentation(seg: object, shape: tuple[int, int], source: object, name: str) -> None:
    """Raise :class:`SegmenterOutputError` (one line, naming source and segmenter) if invalid."""
    problems = contract_problems(seg, shape)
    if problems:
        raise SegmenterOutputError(
            describe(
                source,
                f"segmenter {name} broke the Segmentation contract: {'; '.join(problems[:3])}",
                "return dxaspine.segment.Segmentation as docs/architecture.md describes",
            )
        )
