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


def _axis_per_row(segmentation: Segmentation, rows: int):
    """The segmentation's axis column at every image row (the contract gives it at
    ``axis_rows``, which a segmenter need not make every row)."""
    import numpy as np

    r = np.asarray(segmentation.axis_rows, dtype=float)
    c = np.asarray(segmentation.axis_columns, dtype=float)
    if r.size == rows and np.array_equal(r, np.arange(rows)):
        return c
    ok = np.isfinite(r) & np.isfinite(c)
    order = np.argsort(r[ok])
    return np.interp(np.arange(rows, dtype=float), r[ok][order], c[ok][order])


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
        _axis_per_row(segmentation, density_map.shape[0]),
        segmentation.lines,
        segmentation.labels,
    )
    rotated = rotation_flag(rotation)
    if rotated is not None:
        flags.append(rotated)
    flags += field_flags(segmentation.labels)
    return Evidence(flags=tuple(flags), rotation=rotation)
