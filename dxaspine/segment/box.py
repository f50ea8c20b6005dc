"""The analysis box: the spine axis +- a half-width from the vertebral body widths.

Vendors draw the spine ROI a little wider than the widest analysed body, L4, clipping the
transverse processes; we follow the same convention: half the L4 body width plus a soft-tissue
margin (docs/domain.md §1: everything between two lines inside the box belongs to the level).
"""

from __future__ import annotations

import numpy as np

from dxaspine.segment.axis import SpineAxis
from dxaspine.segment.bone_mask import WorkImage
from dxaspine.segment.small_stats import percentile

# Soft tissue beyond the widest body edge, mm: a vendor-like ROI margin.  (The phantom's truth
# box uses the same 7 mm convention, so widths agree when the L4 width is measured well.)
BOX_MARGIN_MM = 7.0
# Before labels exist, the widest bodies in view stand in for L4: the 85th percentile of row
# widths (L4/L5 are the widest lumbar bodies, docs/domain.md §4 widths growing caudally).
PRELIMINARY_WIDTH_PERCENTILE = 85
# Within one level, the endplate width (the body's full width) is near the top of its row
# widths: the sides are waisted at mid-height.
LEVEL_WIDTH_PERCENTILE = 90
# Fallback when no body row was measured, mm: docs/domain.md §4 width 40-50 mm.
DEFAULT_BODY_WIDTH_MM = 45.0


def preliminary_half_width_mm(axis: SpineAxis) -> float:
    widths = axis.body_width_mm[np.isfinite(axis.body_width_mm)]
    width = (
        percentile(widths, PRELIMINARY_WIDTH_PERCENTILE)
        if widths.size >= 5
        else DEFAULT_BODY_WIDTH_MM
    )
    return width / 2 + BOX_MARGIN_MM


def level_body_width_mm(axis: SpineAxis, top_row: float, bottom_row: float) -> float:
    """Endplate width of the body between two work rows (NaN if no body row was measured)."""
    lo, hi = int(np.ceil(top_row)), int(np.floor(bottom_row)) + 1
    widths = axis.body_width_mm[max(lo, 0) : max(hi, 0)]
    widths = widths[np.isfinite(widths)]
    if widths.size < 3:
        return float("nan")
    return percentile(widths, LEVEL_WIDTH_PERCENTILE)


def half_width_from_level(width_mm: float, fallback_mm: float) -> float:
    return width_mm / 2 + BOX_MARGIN_MM if np.isfinite(width_mm) else fallback_mm


def box_bounds(
    work: WorkImage,
    axis: SpineAxis,
    half_width_mm: float,
    shape: tuple[int, int],
    col_spacing_mm: float,
    row_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per full-resolution row: axis column and the box's first/last column (NaN outside).

    ``row_range`` (full-resolution rows, inclusive) limits the box to the analysed span.
    """
    rows = shape[0]
    full_rows = np.arange(rows, dtype=float)
    work_rows = work.to_work_rows(full_rows)
    axis_col = work.to_full_cols(np.interp(work_rows, np.arange(axis.columns.size), axis.columns))
    hw_px = half_width_mm / col_spacing_mm
    lo = axis_col - hw_px
    hi = axis_col + hw_px
    outside = (full_rows < np.floor(row_range[0])) | (full_rows > np.ceil(row_range[1]))
    lo[outside] = np.nan
    hi[outside] = np.nan
    return axis_col, lo, hi


def box_mask(shape: tuple[int, int], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The analysis box as a pixel mask: columns ``ceil(lo[r])`` to ``floor(hi[r])`` of each
    row (none where ``lo`` or ``hi`` is NaN), in one numba pass (``kernels.box_pixels``).

    Parameters
    ----------
    shape : (int, int)
        The full-resolution image shape.
    lo, hi : (rows,) ndarray
        First and last box column per row, as :func:`box_bounds` gives them.

    Returns
    -------
    (rows, cols) bool ndarray
    """
    from dxaspine.segment.kernels import box_pixels

    return box_pixels(shape, lo, hi)
