"""Spine segmentation and vertebral labelling (T12-L5).

A segmenter is any callable ``(DensityMap, Scan) -> Segmentation`` (docs/architecture.md);
:func:`segment_spine` is the default classical one.
"""

from dxaspine.segment.classical import segment_spine
from dxaspine.segment.segmentation import (
    LEVEL_ORDER,
    IntervertebralLine,
    QcFlag,
    Segmentation,
    Segmenter,
)

__all__ = [
    "segment_spine",
    "Segmentation",
    "IntervertebralLine",
    "QcFlag",
    "LEVEL_ORDER",
    "Segmenter",
]
