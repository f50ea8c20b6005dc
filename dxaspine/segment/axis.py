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
from dxaspine.segment.kernels import body_filter, edge_midpoints, gaussian_rows, track_path

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
    """Midpoint and width of the body's half-contrast edges on each row near ``path``.

    One numba pass over the rows (``kernels.edge_midpoints``; the numpy form is
    ``_numpy_reference.edge_midpoints_reference``).
    """
    reach = int(round(1.6 * BODY_HALF_WIDTH_MM / work.pixel_spacing_mm[1]))
    core_half = max(1, int(round(5.0 / work.pixel_spacing_mm[1])))
    return edge_midpoints(
        work.zeroed, path, reach, core_half, BODY_CORE_MIN, BODY_WIDTH_RANGE_MM,
        work.pixel_spacing_mm[1],
    )  # fmt: skip


def rescale_axis(axis: SpineAxis, factor: float) -> SpineAxis:
    """The same axis on a work image whose values were divided by ``factor``."""
    return SpineAxis(
        columns=axis.columns,
        response=axis.response / factor,
        body_rows=axis.body_rows,
        body_width_mm=axis.body_width_mm,
        body_core=axis.body_core / factor,
    )
