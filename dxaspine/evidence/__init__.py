"""Image evidence for the clinical rules, from ``(DensityMap, Segmentation)`` only.

The pipeline stage between segmentation and measurement (docs/architecture.md):
lesions (osteophyte, sclerosis, facet arthrosis, fracture), metal, axial rotation and
positioning QC.  It reads nothing of the segmenter but its ``Segmentation`` (lines, labels,
axis), so any segmenter gets the same flags, and with them the same ISCD exclusions
(docs/domain.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass

from dxaspine.evidence.geometry import SpineGeometry, spine_geometry
from dxaspine.evidence.lesions import level_flags
from dxaspine.evidence.positioning import field_flags, positioning_flags
from dxaspine.evidence.rotation import RotationEstimate, estimate_rotation, rotation_flag
from dxaspine.physics.density_map import DensityMap
from dxaspine.segment.segmentation import QcFlag, Segmentation

__all__ = ["Evidence", "SpineGeometry", "RotationEstimate", "find_evidence", "spine_geometry"]


@dataclass(frozen=True)
class Evidence:
    """The evidence stage's output.

    ``flags`` hold positioning QC (whole spine, ``level`` None) and per-level evidence
    (``level`` set); the clinical layer excludes levels on the lesion and metal codes.
    """

    flags: tuple[QcFlag, ...]
    rotation: RotationEstimate | None = None


def find_evidence(density_map: DensityMap, segmentation: Segmentation) -> Evidence:
    """Image evidence of one segmented scan.

    Parameters
    ----------
    density_map : DensityMap
    segmentation : Segmentation
        From any segmenter.

    Returns
    -------
    Evidence
    """
    if len(segmentation.lines) < 2:
        return Evidence(flags=tuple(field_flags(segmentation.labels)))
    geometry = spine_geometry(density_map, segmentation)
    flags = list(geometry.dense_flags)
    flags += positioning_flags(geometry)
    flags += level_flags(geometry)
    rotation = estimate_rotation(
        density_map.values,
        density_map.pixel_spacing_mm,
        segmentation.axis_columns,
        segmentation.lines,
        segmentation.labels,
    )
    rotated = rotation_flag(rotation)
    if rotated is not None:
        flags.append(rotated)
    flags += field_flags(segmentation.labels)
    return Evidence(flags=tuple(flags), rotation=rotation)
