"""``Segmentation``: what any segmenter returns (docs/architecture.md: segmenters are pluggable).

A segmenter is any callable ``(DensityMap, Scan) -> Segmentation``.  All coordinates are
``[column, row]`` pixel coordinates of the *loaded* (head-up) image; outputs map them back to
the stored image with ``Scan.to_stored_xy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from dxaspine.levels import LEVEL_ORDER  # noqa: E402,F401  (re-exported: the level names)


@dataclass(frozen=True)
class IntervertebralLine:
    """A (possibly tilted) line through a disc space, from the box's left edge to its right."""

    left: tuple[float, float]  # [column, row]
    right: tuple[float, float]  # [column, row]
    name: str = ""  # e.g. "T12/L1"

    @property
    def midpoint(self) -> tuple[float, float]:
        return ((self.left[0] + self.right[0]) / 2, (self.left[1] + self.right[1]) / 2)

    def row_at(self, column: float | np.ndarray) -> float | np.ndarray:
        """Row of the line at ``column`` (lines are never vertical)."""
        (c0, r0), (c1, r1) = self.left, self.right
        slope = (r1 - r0) / (c1 - c0) if c1 != c0 else 0.0
        return r0 + slope * (np.asarray(column) - c0)


@dataclass(frozen=True)
class QcFlag:
    code: str  # e.g. "label_disagreement", "axis_lost", "metal_over_spine"
    detail: str
    level: str | None = None
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Segmentation:
    """Bone mask, spine axis, analysis box, intervertebral lines and labelled level regions.

    ``lines`` are ordered top to bottom; level ``i`` lies between ``lines[i]`` and
    ``lines[i + 1]`` and is called ``labels[i]``.  ``label_image`` holds ``i + 1`` for the
    pixels of level ``i`` inside the analysis box (0 elsewhere), whether bone or not;
    intersect with ``bone_mask`` for the DXA bone area.
    """

    bone_mask: np.ndarray  # bool (rows, cols)
    axis_rows: np.ndarray  # float (K,)
    axis_columns: np.ndarray  # float (K,): column of the spine axis at each row
    box_mask: np.ndarray  # bool (rows, cols): the analysis box around the axis
    lines: tuple[IntervertebralLine, ...]
    labels: tuple[str, ...]
    label_confidence: tuple[float, ...]
    label_image: np.ndarray  # int32 (rows, cols)
    qc_flags: tuple[QcFlag, ...] = ()
    # the measurement conventions the segmenter used (dxaspine.segment.conventions), e.g.
    # {"edge": "relative:0.1", "edge_noise": "isophote:3,2mm (applied)",
    # "box": "L4 body width + 7 mm", "segmenter": "..."}; a plugged-in
    # segmenter that does not say is recorded as "unstated"
    conventions: Mapping[str, str] = field(default_factory=dict)

    def level_mask(self, label: str) -> np.ndarray:
        """Bone pixels of the named level."""
        index = self.labels.index(label)
        return (self.label_image == index + 1) & self.bone_mask


Segmenter = Callable[..., Segmentation]  # (DensityMap, Scan) -> Segmentation
