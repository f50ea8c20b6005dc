"""The spine as the evidence stage sees it: re-measured from ``(DensityMap, Segmentation)`` only.

Every evidence measure reads the ~1 mm work image (soft tissue 0, vertebral-body core 1), the
spine axis with its body widths, and the intervertebral lines with their disc thickness.  None
of this is taken from a segmenter's internals: the work image is rebuilt from the density map,
the body edges and core are re-measured along the segmentation's axis, and each line's disc
thickness along the line itself, with the same routines the classical segmenter uses.  A
plugged-in segmenter therefore gets exactly the flags the classical one would get for the same
lines and axis (docs/architecture.md, "Evidence").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxaspine.physics.density_map import DensityMap
from dxaspine.segment.axis import SpineAxis, measure_along, rescale_axis
from dxaspine.segment.bone_mask import WorkImage, make_work_image, refine_contrast
from dxaspine.segment.dense import dense_pixels
from dxaspine.segment.discs import Disc, disc_thickness_mm, row_smoothed
from dxaspine.segment.segmentation import QcFlag, Segmentation
from dxaspine.segment.small_stats import median

__all__ = ["SpineGeometry", "spine_geometry"]

# Metal and its surroundings (starved counts, partial volume) are left out of the endplate
# search within this margin, as the classical disc finder does (segment/discs.py).
_DENSE_MARGIN_MM = 3.0
# Body rows needed to set the contrast from the found spine (as in segment/classical.py).
_MIN_BODY_ROWS = 5


@dataclass(frozen=True)
class SpineGeometry:
    """What the evidence measures read, on the work grid."""

    work: WorkImage  # body core at 1
    axis: SpineAxis  # along the segmentation's axis
    discs: tuple[Disc, ...]  # the segmentation's lines, top to bottom, with disc thickness
    labels: tuple[str, ...]  # labels[i] lies between discs[i] and discs[i + 1]
    half_width_mm: float  # the analysis box half-width
    dense: np.ndarray  # bool: metal or what cannot be told from it
    dense_flags: tuple[QcFlag, ...]


def _axis_on_work_grid(work: WorkImage, segmentation: Segmentation) -> np.ndarray:
    rows_full = np.asarray(segmentation.axis_rows, dtype=float)
    cols_full = np.asarray(segmentation.axis_columns, dtype=float)
    ok = np.isfinite(rows_full) & np.isfinite(cols_full)
    if ok.sum() < 2:
        raise ValueError("segmentation has fewer than 2 finite axis points")
    order = np.argsort(rows_full[ok])
    work_rows = np.arange(work.values.shape[0], dtype=float)
    full = np.interp(work.to_full_rows(work_rows), rows_full[ok][order], cols_full[ok][order])
    return np.asarray(work.to_work_cols(full), dtype=float)


def spine_geometry(density_map: DensityMap, segmentation: Segmentation) -> SpineGeometry:
    """Re-measure the spine of a segmentation on its density map.

    Parameters
    ----------
    density_map : DensityMap
    segmentation : Segmentation
        Any segmenter's output (lines top to bottom, labels, axis columns per row).

    Returns
    -------
    SpineGeometry
    """
    work = make_work_image(density_map)
    columns = _axis_on_work_grid(work, segmentation)
    axis = measure_along(work, columns)
    core = axis.body_core[axis.body_rows]
    if core.size >= _MIN_BODY_ROWS:
        factor = median(core)
        refined = refine_contrast(work, factor)
        if refined is not work:
            work, axis = refined, rescale_axis(axis, factor)
    dense, dense_flags = dense_pixels(work, density_map)
    factor_r, factor_c = work.factors
    col_spacing = density_map.pixel_spacing_mm[1]
    half_widths = [
        abs(line.right[0] - line.left[0]) / 2 * col_spacing for line in segmentation.lines
    ]
    half_width_mm = median(half_widths) if half_widths else float("nan")
    exclude = dense
    if dense.any():
        iterations = max(1, int(round(_DENSE_MARGIN_MM / work.pixel_spacing_mm[0])))
        exclude = ndimage.binary_dilation(dense, iterations=iterations)
    smoothed = row_smoothed(work)
    placed = []
    for line in segmentation.lines:
        (c0, r0), (c1, r1) = line.left, line.right
        slope_full = (r1 - r0) / (c1 - c0) if c1 != c0 else 0.0
        mid_col, mid_row = line.midpoint
        row = float(work.to_work_rows(mid_row))
        column = float(work.to_work_cols(mid_col))
        slope = slope_full * factor_c / factor_r
        thickness = disc_thickness_mm(work, smoothed, row, column, slope, half_width_mm, exclude)
        placed.append((row, column, slope, thickness))
    measured = [t for *_, t in placed if np.isfinite(t)]
    # A line whose disc cannot be read (the field's top edge, metal) borrows the spine's own
    # typical disc, as the classical segmenter does for its top-edge line.
    typical = median(measured) if measured else float("nan")
    discs = tuple(
        Disc(
            row=row,
            column=column,
            slope=slope,
            depth=float("nan"),
            fitted=True,
            spread_mm=float("nan"),
            thickness_mm=thickness if np.isfinite(thickness) else typical,
        )
        for row, column, slope, thickness in placed
    )
    return SpineGeometry(
        work=work,
        axis=axis,
        discs=discs,
        labels=tuple(segmentation.labels),
        half_width_mm=half_width_mm,
        dense=dense,
        dense_flags=tuple(dense_flags),
    )
