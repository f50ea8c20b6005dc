"""Image measures for endplate sclerosis and facet arthrosis, relative within one spine.

Both measures are read on the work image (soft tissue 0, vertebral-body core ~1), sampled along
the found intervertebral lines (so a tilted endplate is followed), and are only ever compared
with the same measure on the *other* levels of the same scan.  A display export (an unknown
monotone transform of density, docs/domain.md §6) and a g/cm2 map therefore give the same verdicts.

- Endplate sclerosis (docs/domain.md §2 lists sclerosis among the ISCD exclusion causes): dense
  bands under both endplates.  The measure is the mean density of the first few mm of bone
  below (above) each endplate divided by the body's own mid-height density; a sclerotic level
  has this ratio raised against the other levels of the spine.
- Facet arthrosis: enlarged, dense articular processes.  On a PA image the facets project into
  the disc spaces over the pedicle columns (between the spinous process in the midline and the
  body's lateral margin), one pair in the disc above and one in the disc below the level.  The
  measure is the upper decile of density over the facet columns on the disc rows (the rows where
  the body's lateral margin is empty, i.e. truly disc); a level whose *both* discs read high
  against the spine's other discs is suspect.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["endplate_band_ratios", "facet_density", "relative_excess"]

# Sclerotic band thickness sampled below each endplate, mm.  Subchondral sclerosis is a few mm
# thick (the phantom draws 2-4.5 mm); 4 mm also takes in the normal ~1 mm cortical endplate
# on every level, which the comparison between levels cancels.
BAND_MM = 4.0
# Columns averaged for the endplate profiles: the central 60 % of the body width on either
# side, clear of the rounded corners and of any spurs at the lateral margins.
ENDPLATE_HALF_SPAN = 0.6
# Facet columns, as a fraction of the body half-width from the axis: the articular processes
# sit at ~0.19-0.25 of the body width either side (0.38-0.5 of the half-width); 0.24-0.8 takes
# them in with room for axial rotation (~3 mm at 5 deg) and keeps out the spinous process
# (within ~0.17 of the half-width of the midline).
FACET_COLUMNS = (0.24, 0.8)
# "Empty disc" test columns just inside the body margin: on disc rows only soft tissue there.
DISC_FLOOR_COLUMNS = (0.8, 0.95)
# Below this (body-contrast units) a row of the lateral margin is disc, not endplate bone.
DISC_FLOOR_MAX = 0.2
# Rows within this of the disc's bony edges are dropped (partial volume of the endplates).
DISC_EDGE_TRIM_MM = 1.0
# Search half-range for the disc rows about the found line, mm (discs are 8-12 mm, docs/domain.md §4).
DISC_SEARCH_MM = 9.0
# Upper-decile statistic: the facet is a small blob among disc pixels, the decile reads its
# dense part without riding on one noisy pixel.
FACET_PERCENTILE = 90.0
_STEP_MM = 0.5


def _sample(values, disc, cols, offsets_rows, order=1):
    """Values on lines parallel to ``disc`` shifted by ``offsets_rows`` (work rows)."""
    line_rows = disc.row + disc.slope * (cols - disc.column)
    rr = line_rows[None, :] + offsets_rows[:, None]
    cc = np.broadcast_to(cols[None, :], rr.shape)
    return ndimage.map_coordinates(values, [rr, cc], order=order, mode="constant", cval=0.0)


def endplate_band_ratios(values, field, spacing_mm, axis_columns, upper, lower, half_px):
    """(upper, lower) endplate: (first ``BAND_MM`` of bone) / (mid-body density).

    ``values``: work image with NaN set to 0; ``field``: its measured-pixel mask;
    ``upper``/``lower``: the level's discs.  Each profile starts where it first crosses
    half-way from the disc to the mid-body level.  An endplate whose profile leaves the
    scan field (a level cut by the field edge) or never rises gives NaN.
    """
    spacing_r = spacing_mm[0]
    height_mm = (lower.row - upper.row) * spacing_r
    if not np.isfinite(half_px) or height_mm < 12.0:  # too short for two bands and a middle
        return float("nan"), float("nan")
    mid_row = 0.5 * (upper.row + lower.row)
    centre = float(np.interp(mid_row, np.arange(axis_columns.size), axis_columns))
    cols = centre + np.linspace(-ENDPLATE_HALF_SPAN, ENDPLATE_HALF_SPAN, 25) * half_px
    t_mm = np.arange(-6.0, height_mm / 2 + _STEP_MM, _STEP_MM)
    inside = field.astype(float)
    ratios = []
    for disc, sign in ((upper, 1.0), (lower, -1.0)):
        offsets = sign * t_mm / spacing_r
        if _sample(inside, disc, cols, offsets, order=0).mean() < 0.99:
            ratios.append(float("nan"))
            continue
        profile = _sample(values, disc, cols, offsets).mean(axis=1)
        mid = float(np.median(profile[t_mm >= height_mm / 3]))
        floor = float(profile[t_mm <= 0].min())
        rising = np.flatnonzero((t_mm > -3.0) & (profile >= floor + 0.5 * (mid - floor)))
        if not mid > 0 or rising.size == 0:
            ratios.append(float("nan"))
            continue
        edge = t_mm[rising[0]]
        ratios.append(float(profile[(t_mm >= edge) & (t_mm < edge + BAND_MM)].mean()) / mid)
    return ratios[0], ratios[1]


def facet_density(values, spacing_mm, disc, half_px) -> float:
    """Upper decile of density over the facet columns on the disc's rows (mean of both sides).

    NaN when no disc rows are found (the lateral margin is never empty near the line).
    """
    if not np.isfinite(half_px):
        return float("nan")
    spacing_r = spacing_mm[0]
    t_mm = np.arange(-DISC_SEARCH_MM, DISC_SEARCH_MM + 1e-9, _STEP_MM)
    offsets = t_mm / spacing_r
    floor = np.zeros(t_mm.size)
    facets = []
    for side in (-1.0, 1.0):
        lo, hi = DISC_FLOOR_COLUMNS
        cols = disc.column + side * np.linspace(lo, hi, 15) * half_px
        floor += 0.5 * _sample(values, disc, cols, offsets).mean(axis=1)
        lo, hi = FACET_COLUMNS
        cols = disc.column + side * np.linspace(lo, hi, 15) * half_px
        facets.append(_sample(values, disc, cols, offsets))
    empty = floor < DISC_FLOOR_MAX
    if not empty.any():
        return float("nan")
    # the run of disc rows nearest the found line
    idx = np.flatnonzero(empty)
    a = b = int(idx[np.argmin(np.abs(t_mm[idx]))])
    while a > 0 and empty[a - 1]:
        a -= 1
    while b < t_mm.size - 1 and empty[b + 1]:
        b += 1
    trim = int(round(DISC_EDGE_TRIM_MM / _STEP_MM))
    if b - a >= 2 * trim:
        a, b = a + trim, b - trim
    else:
        a = b = (a + b) // 2
    return float(np.mean([np.percentile(f[a : b + 1], FACET_PERCENTILE) for f in facets]))


def relative_excess(value: float, reference: np.ndarray) -> float:
    """``value`` over the median of the finite ``reference`` values (NaN with fewer than 2)."""
    reference = np.asarray(reference, dtype=float)
    reference = reference[np.isfinite(reference)]
    if reference.size < 2 or not np.isfinite(value):
        return float("nan")
    ref = float(np.median(reference))
    return value / ref if ref > 0 else float("nan")
