"""The spine axis: a column per row through the vertebral bodies, following scoliosis.

Two steps on the ~1 mm work image:

1. A body-width matched filter scores every pixel as the centre of a vertebral body (bright
   band ~45 mm wide between darker flanks).  Dynamic programming over rows picks one column per
   row, maximising the score with a penalty on lateral steps; ribs and iliac wings are too
   narrow or too far off the path to capture it.
2. The path is refined to the midpoint of the body's lateral edges on body rows (discs and
   spinous processes give no reliable edges), smoothed along the spine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxaspine.segment.bone_mask import WorkImage
from dxaspine.segment.kernels import body_filter, gaussian_rows, track_path

# docs/domain.md §4: transverse body width 40-50 mm -> matched-filter half-width 22 mm.
BODY_HALF_WIDTH_MM = 22.0
# Flanks beside the body that should be soft tissue, mm.
FLANK_MM = 12.0
# Largest lateral slope of the axis (mm per mm).  A C-curve of 25 mm amplitude over ~200 mm
# (phantom maximum, ~20 deg Cobb-equivalent) has a maximum slope ~0.4; 0.8 leaves margin.
MAX_SLOPE = 0.8
# Step penalty in body-contrast units per mm of lateral step: small against the ~0.6 per-row
# matched-filter contrast of a body, so the path follows a real curve but never jumps to a rib.
STEP_PENALTY_PER_MM = 0.05
# Body rows for the edge refinement: the body core is at least half the contrast.
BODY_CORE_MIN = 0.5
# Edge widths accepted as a vertebral body, mm (docs/domain.md §4: 40-50 mm, with wide margins for
# small and large patients and body_scale).
BODY_WIDTH_RANGE_MM = (22.0, 75.0)
# Smoothing of the refined axis along the spine, mm: shorter than a scoliotic curve, longer
# than a vertebra, so one level's asymmetric edge (osteophyte) barely moves it.
AXIS_SMOOTHING_MM = 12.0


@dataclass(frozen=True)
class SpineAxis:
    """The axis on the work grid."""

    columns: np.ndarray  # float (rows,): work-grid column of the axis per work row
    response: np.ndarray  # float (rows,): matched-filter score along the path
    body_rows: np.ndarray  # bool (rows,): rows with measured body edges
    body_width_mm: np.ndarray  # float (rows,): edge-to-edge width, NaN off body rows
    body_core: np.ndarray  # float (rows,): median of the central ±5 mm, per row


def body_filter_response(work: WorkImage) -> np.ndarray:
    """Per-pixel score: mean over a body-wide window minus the mean of its two flanks."""
    values = work.zeroed
    half = max(1, int(round(BODY_HALF_WIDTH_MM / work.pixel_spacing_mm[1])))
    flank = max(1, int(round(FLANK_MM / work.pixel_spacing_mm[1])))
    # The weaker flank counts, so a bright neighbour on one side (ilium, rib) cannot be
    # averaged away by dark soft tissue on the other.  One numba pass over running row sums
    # (numpy reference: _numpy_reference.body_filter_reference).
    return body_filter(values, half, flank)


def _smoothed_response(work: WorkImage) -> np.ndarray:
    """:func:`body_filter_response` smoothed 3 mm down the rows, made once per work image
    (the tracker and :func:`measure_along` read it; ``WorkImage.derived``).  Never written to."""
    response = work.derived.get("axis.body_response")
    if response is None:
        # scipy's gaussian_filter1d(axis=0) with its numbers, in one vectorised numba call
        response = gaussian_rows(body_filter_response(work), 3.0 / work.pixel_spacing_mm[0])
        work.derived["axis.body_response"] = response
    return response  # type: ignore[return-value]


def track_axis(work: WorkImage) -> SpineAxis:
    """Find the spine axis on the work image."""
    rows, cols = work.values.shape
    response = _smoothed_response(work)
    ratio = work.pixel_spacing_mm[0] / work.pixel_spacing_mm[1]
    max_step = max(1, int(np.ceil(MAX_SLOPE * ratio)))
    penalty = STEP_PENALTY_PER_MM * work.pixel_spacing_mm[1]
    path = track_path(-response, max_step, penalty).astype(float)
    path_response = response[np.arange(rows), path.astype(int)]
    centre, width, core = _edge_midpoints(work, path)
    ok = np.isfinite(centre)
    columns = path.copy()
    if ok.sum() >= 5:
        idx = np.arange(rows)
        # median across ~15 mm first: a single odd row (osteophyte, rib crossing) drops out
        med = ndimage.median_filter(centre[ok], size=max(3, int(15 / work.pixel_spacing_mm[0]) | 1))
        filled = np.interp(idx, idx[ok], med)
        columns = ndimage.gaussian_filter1d(
            filled, AXIS_SMOOTHING_MM / work.pixel_spacing_mm[0], mode="nearest"
        )
    return SpineAxis(
        columns=columns, response=path_response, body_rows=ok, body_width_mm=width, body_core=core
    )


def measure_along(work: WorkImage, columns: np.ndarray) -> SpineAxis:
    """Body-filter response, body edges and core along a given axis (work-grid columns per row).

    What :func:`track_axis` measures along its own path, for an axis found by anyone (the
    evidence stage re-measures a plugged-in segmenter's axis this way).
    """
    rows, cols = work.values.shape
    response = _smoothed_response(work)
    path = np.clip(np.asarray(columns, dtype=float), 0, cols - 1)
    path_response = response[np.arange(rows), path.astype(int)]
    _, width, core = _edge_midpoints(work, path)
    return SpineAxis(
        columns=np.asarray(columns, dtype=float),
        response=path_response,
        body_rows=np.isfinite(width),
        body_width_mm=width,
        body_core=core,
    )


def _edge_midpoints(work: WorkImage, path: np.ndarray):
    """Midpoint and width of the body's half-contrast edges on each row near ``path``."""
    rows, cols = work.values.shape
    values = work.zeroed
    reach = int(round(1.6 * BODY_HALF_WIDTH_MM / work.pixel_spacing_mm[1]))
    core_half = max(1, int(round(5.0 / work.pixel_spacing_mm[1])))
    offsets = np.arange(-reach, reach + 1)
    cols_idx = np.clip(path.astype(int)[:, None] + offsets[None, :], 0, cols - 1)
    profile = values[np.arange(rows)[:, None], cols_idx]
    centre_band = profile[:, reach - core_half : reach + core_half + 1]
    core = np.median(centre_band, axis=1)
    level = 0.5 * core[:, None]
    below = profile < level
    # nearest column below half level on each side of the centre
    left_part = below[:, :reach][:, ::-1]
    right_part = below[:, reach + 1 :]
    has_left = left_part.any(axis=1)
    has_right = right_part.any(axis=1)
    k_left = np.argmax(left_part, axis=1)  # steps outward from the centre, 0-based
    k_right = np.argmax(right_part, axis=1)
    # sub-pixel crossing between the last above-level and the first below-level sample
    r = np.arange(rows)
    i_out_l = reach - 1 - k_left
    i_in_l = np.minimum(i_out_l + 1, 2 * reach)
    i_out_r = reach + 1 + k_right
    i_in_r = np.maximum(i_out_r - 1, 0)
    lvl = level[:, 0]

    def crossing(i_in, i_out):
        v_in, v_out = profile[r, i_in], profile[r, i_out]
        frac = np.clip((v_in - lvl) / np.where(v_in - v_out == 0, 1, v_in - v_out), 0, 1)
        return i_in + (i_out - i_in) * frac

    left = crossing(i_in_l, i_out_l)
    right = crossing(i_in_r, i_out_r)
    width_mm = (right - left) * work.pixel_spacing_mm[1]
    ok = (core > BODY_CORE_MIN) & has_left & has_right
    ok &= (width_mm >= BODY_WIDTH_RANGE_MM[0]) & (width_mm <= BODY_WIDTH_RANGE_MM[1])
    centre = np.where(ok, path + (left + right) / 2 - reach, np.nan)
    return centre, np.where(ok, width_mm, np.nan), core


def rescale_axis(axis: SpineAxis, factor: float) -> SpineAxis:
    """The same axis on a work image whose values were divided by ``factor``."""
    return SpineAxis(
        columns=axis.columns,
        response=axis.response / factor,
        body_rows=axis.body_rows,
        body_width_mm=axis.body_width_mm,
        body_core=axis.body_core / factor,
    )
