"""Image measures for endplate sclerosis and facet arthrosis, relative within one spine.

Both measures are read on the work image (soft tissue 0, vertebral-body core ~1), sampled along
the found intervertebral lines (so a tilted endplate is followed), and are only ever compared
with the same measure on the *other* levels of the same scan.  A display export (an unknown
monotone transform of density, docs/domain.md §6) and a g/cm2 map therefore give the same verdicts.

- Endplate sclerosis (docs/domain.md §2 lists sclerosis among the ISCD exclusion causes): dense
  bands under both endplates.  The measure is the mean density of the first few mm of bone
  below (above) each endplate divided by the body's own mid-height density; a sclerotic level
  has this ratio raised against the other levels of the spine.  A band is read only where the
  disc is seen as a dark gap: on a real spine the posterior arch (laminae, articular processes,
  spinous process) projects over the central disc rows and over the endplate rows beside them,
  and there a dense "band" is the arch, not the endplate.  Measured on the shared CT: its L2
  endplate zones are not denser in HU than L1's, L3's or L4's, yet its projected L2 endplates
  read 1.17-1.25x their body (three development poses); projected without the posterior
  elements, 0.87-1.07x (docs/segmentation.md §7).
- Osteophytes: bone contiguous with the body reaching beyond it at an endplate.  The reference
  at an endplate is the widest of the level's own waist, what the *facing* endplate across
  the disc explains, and (per side) the level's own body rows just inside the endplate: on a
  real spine a lordotic disc is seen obliquely, so the facing body's endplate, its normal
  flare and (at L4/L5) the L5 transverse-process roots project into the same rows, and real
  L4 bodies widen gradually towards their lower endplate.  A spur protrudes from the rim
  beyond the rows inside it.  The facing side and the inner rows explain at most a body's
  half-width plus the spine's typical flare, so spurs on both sides of a disc (bridging) and
  spurs beside a transverse process still stand out.
- Facet arthrosis: enlarged, dense articular processes.  On a PA image the facets project into
  the disc spaces over the pedicle columns (between the spinous process in the midline and the
  body's lateral margin), one pair in the disc above and one in the disc below the level.  The
  measure is the upper decile of density over the facet columns on the disc rows (the rows where
  the body's lateral margin is empty, i.e. truly disc); a level whose *both* discs read high
  against the spine's other discs is suspect.
"""

from __future__ import annotations

import numpy as np

from dxaspine.evidence._kernels import lateral_extent_kernel, sample_lines_kernel
from dxaspine.segment.small_stats import median, percentile

__all__ = [
    "endplate_band_ratios",
    "extent_px",
    "facet_density",
    "osteophyte_widening_mm",
    "relative_excess",
]

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
# The fixed sampling grids of the measures, made once (np.linspace / np.arange give the same
# values on every call; never written to)
_ENDPLATE_FRACTIONS = np.linspace(-ENDPLATE_HALF_SPAN, ENDPLATE_HALF_SPAN, 25)
_FLOOR_FRACTIONS = np.linspace(*DISC_FLOOR_COLUMNS, 15)
_FACET_FRACTIONS = np.linspace(*FACET_COLUMNS, 15)
_DISC_T_MM = np.arange(-DISC_SEARCH_MM, DISC_SEARCH_MM + 1e-9, _STEP_MM)
# The disc floor of an endplate profile is searched within this of the found line, mm: lines
# sit within ~1.5 mm of the mid-disc on both families (median; CT 95th percentile 2.4 mm,
# docs/segmentation.md §6) and discs are 8-12 mm (docs/domain.md §4), so the disc's darkest
# row lies within ~6 mm of the line, and the body beyond it is dense.
FLOOR_SEARCH_MM = 6.0
# An endplate band is read only where the disc is seen: its darkest row below this fraction of
# the mid-body (profile means over the central columns).
DISC_FLOOR_FRACTION = 0.5


def _sample(values, disc, cols, offsets_rows, order=1):
    """Values on lines parallel to ``disc`` shifted by ``offsets_rows`` (work rows): bilinear
    (``order`` 1) or nearest (0), 0 outside the image (``_kernels.sample_lines_kernel``)."""
    cols = np.ascontiguousarray(cols, dtype=np.float64)
    offsets_rows = np.ascontiguousarray(offsets_rows, dtype=np.float64)
    out = np.empty((offsets_rows.size, cols.size))
    values = np.ascontiguousarray(values, dtype=np.float64)
    sample_lines_kernel(values, float(disc.row), float(disc.slope), float(disc.column), cols,
                        offsets_rows, int(order), out)  # fmt: skip
    return out


def endplate_band_ratios(values, field, spacing_mm, axis_columns, upper, lower, half_px):
    """``((upper, lower) band / mid-body, (upper, lower) band)`` of a level's endplates.

    A band is the mean density of the first ``BAND_MM`` of bone under an endplate (work
    units); the first pair is its ratio to the mid-body density, the second the band itself
    (both from one sampling of each profile).  ``values``: work image with NaN set to 0;
    ``field``: its measured-pixel mask (bool, or as float 0/1 when the caller reads several
    levels: it is sampled as float); ``upper``/``lower``: the level's discs.  Each profile
    starts where it first crosses half-way from the disc to the mid-body level.  An endplate
    whose profile leaves the scan field (a level cut by the field edge) or never rises gives
    NaN in both pairs.
    """
    nan = float("nan")
    spacing_r = spacing_mm[0]
    height_mm = (lower.row - upper.row) * spacing_r
    if not np.isfinite(half_px) or height_mm < 12.0:  # too short for two bands and a middle
        return (nan, nan), (nan, nan)
    mid_row = 0.5 * (upper.row + lower.row)
    centre = float(np.interp(mid_row, np.arange(axis_columns.size), axis_columns))
    cols = centre + _ENDPLATE_FRACTIONS * half_px
    t_mm = np.arange(-6.0, height_mm / 2 + _STEP_MM, _STEP_MM)
    inside = field if field.dtype == np.float64 else field.astype(float)
    ratios, bands = [nan, nan], [nan, nan]
    for k, (disc, sign) in enumerate(((upper, 1.0), (lower, -1.0))):
        offsets = sign * t_mm / spacing_r
        if _sample(inside, disc, cols, offsets, order=0).mean() < 0.99:
            continue
        profile = _sample(values, disc, cols, offsets).mean(axis=1)
        mid = median(profile[t_mm >= height_mm / 3])
        # the disc's darkest row near the line; the band starts after it (with a found line a
        # few mm off the disc's middle, the facing body's endplate and the arch lie on this
        # side of the line, and a half-way crossing there is not this endplate)
        near = np.flatnonzero(np.abs(t_mm) <= FLOOR_SEARCH_MM)
        at = near[np.argmin(profile[near])]
        floor = float(profile[at])
        rising = np.flatnonzero((t_mm > t_mm[at]) & (profile >= floor + 0.5 * (mid - floor)))
        # no dark disc, no endplate to read: where the posterior arch fills the disc rows in
        # projection it lies over the endplate rows too (module docstring)
        if not mid > 0 or floor > DISC_FLOOR_FRACTION * mid or rising.size == 0:
            continue
        edge = t_mm[rising[0]]
        bands[k] = float(profile[(t_mm >= edge) & (t_mm < edge + BAND_MM)].mean())
        ratios[k] = bands[k] / mid
    return (ratios[0], ratios[1]), (bands[0], bands[1])


def facet_density(values, spacing_mm, disc, half_px) -> float:
    """Upper decile of density over the facet columns on the disc's rows (mean of both sides).

    NaN when no disc rows are found (the lateral margin is never empty near the line).
    """
    if not np.isfinite(half_px):
        return float("nan")
    spacing_r = spacing_mm[0]
    t_mm = _DISC_T_MM
    offsets = t_mm / spacing_r
    floor = np.zeros(t_mm.size)
    facets = []
    # the four column sets (floor and facet columns, left then right) in one sampling: each
    # sample is read on its own, so the blocks are those of four separate calls
    sets = [
        disc.column + side * fractions * half_px
        for side in (-1.0, 1.0)
        for fractions in (_FLOOR_FRACTIONS, _FACET_FRACTIONS)
    ]
    samples = _sample(values, disc, np.concatenate(sets), offsets)
    blocks, at = [], 0
    for cols in sets:
        blocks.append(np.ascontiguousarray(samples[:, at : at + cols.size]))
        at += cols.size
    for floor_block, facet_block in (blocks[:2], blocks[2:]):
        floor += 0.5 * floor_block.mean(axis=1)
        facets.append(facet_block)
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
    left, right = (percentile(f[a : b + 1], FACET_PERCENTILE) for f in facets)
    return (left + right) / 2.0  # np.mean of the two, as before


def relative_excess(value: float, reference: np.ndarray) -> float:
    """``value`` over the median of the finite ``reference`` values (NaN with fewer than 2)."""
    reference = np.asarray(reference, dtype=float)
    reference = reference[np.isfinite(reference)]
    if reference.size < 2 or not np.isfinite(value):
        return float("nan")
    ref = median(reference)
    return value / ref if ref > 0 else float("nan")


# Rows read around an endplate for its lateral extent, mm either side of the endplate edge.
ENDPLATE_WINDOW_MM = 3.0
# Bone contiguous with the body edge (body-contrast units): a spur is cortical and dense.
EXTENT_BONE = 0.3
# How far beyond the body edge the extent is followed, work pixels (~25 mm).
EXTENT_REACH_PX = 25


def extent_px(values, rows_sel, centres, side, half_px) -> float:
    """Largest lateral extent (px from the axis) of bone contiguous with the body edge.

    On each row of ``rows_sel`` (axis column ``centres``), the bone (``values`` above
    ``EXTENT_BONE``) is followed outward on ``side`` (-1 or 1) from 0.6 ``half_px`` to
    ``half_px + EXTENT_REACH_PX`` px; the extent is where the first gap is, the largest over
    the rows.  One numba pass (``_kernels.lateral_extent_kernel``; numpy reference
    ``_numpy_reference.extent_px_reference``); about 40 calls per scan.
    """
    if rows_sel.size == 0:
        return 0.0
    start, stop = int(0.6 * half_px), int(half_px + EXTENT_REACH_PX)
    if stop <= start:
        raise IndexError("extent_px: no offsets to follow (half-width not positive)")
    return float(
        lateral_extent_kernel(
            np.ascontiguousarray(values, dtype=np.float64),
            np.ascontiguousarray(rows_sel, dtype=np.int64),
            np.ascontiguousarray(centres, dtype=np.float64),
            int(side), start, stop, EXTENT_BONE,
        )
    )  # fmt: skip


def nan_to(value: float, fill: float) -> float:
    """``np.nan_to_num(value, nan=fill)`` of one number (about 10x cheaper than the array
    function): NaN becomes ``fill``, an infinity the largest finite float of its sign."""
    value = float(value)
    if value != value:
        return fill
    return max(-_FLOAT_MAX, min(_FLOAT_MAX, value))


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _window_rows(edge_row: float, spacing_r: float, n_rows: int) -> np.ndarray:
    half = ENDPLATE_WINDOW_MM / spacing_r
    r = np.arange(max(0, int(np.ceil(edge_row - half))), min(n_rows, int(edge_row + half) + 1))
    return r


def _body_half_px(axis, a: float, b: float, spacing_c: float) -> float:
    """Half the median body width over rows a..b (work px); NaN with fewer than 3 rows measured."""
    rows = axis.body_width_mm.size
    lo, hi = sorted((a, b))
    r = np.arange(max(0, int(np.ceil(lo))), min(rows, int(np.floor(hi)) + 1))
    widths = axis.body_width_mm[r] if r.size else np.array([])
    widths = widths[np.isfinite(widths)]
    return median(widths) / 2 / spacing_c if widths.size >= 3 else float("nan")


def osteophyte_widening_mm(values, axis, discs, i, stats, spacing_mm, flare_mm) -> float:
    """Widest endplate extent of level ``i`` beyond what its body and the facing one explain, mm.

    ``stats`` is the level's ``_level_stats`` (``half_px``, ``endplates``: ``(0 upper / 1 lower,
    extent px)`` and ``endplate_sides``: ``(0 / 1, (left, right) extent px, (left, right)
    inner-row extent px)``); ``flare_mm`` is the spine's typical endplate flare.  Per endplate
    the reference is ``max(own half-width, min(facing extent, facing half-width + flare))``
    (module docstring); the facing body is measured over the middle half of one level height
    beyond the disc, and its endplate in the same window as the level's own.  Per side, the
    same side's rows just inside the endplate (lesions.INNER_ROWS_MM) raise the reference too,
    capped like the facing side at the body's half-width plus the spine's flare: a transverse
    process or rib beside them is not the body's own width.
    """
    half_own = stats.get("half_px", float("nan"))
    if not stats.get("endplates") or not np.isfinite(half_own):
        return 0.0
    spacing_r, spacing_c = spacing_mm
    height = discs[i + 1].row - discs[i].row
    references = {}
    for k, _ in stats["endplates"]:
        disc = discs[i + k]
        step = -1.0 if k == 0 else 1.0  # upper endplate: the body above; lower: the one below
        half_across = _body_half_px(
            axis, disc.row + step * 0.25 * height, disc.row + step * 0.75 * height, spacing_c
        )
        if not np.isfinite(half_across):
            half_across = half_own
        thickness = nan_to(disc.thickness_mm, 9.0) / spacing_r
        rows = _window_rows(disc.row + step * 0.5 * thickness, spacing_r, values.shape[0])
        facing = max(
            extent_px(values, rows, axis.columns[rows], side, half_across) for side in (-1, 1)
        )
        explained = min(facing, half_across + flare_mm / spacing_c)
        references[k] = max(half_own, explained)
    inner_cap = half_own + flare_mm / spacing_c
    best = 0.0
    for k, ends, inners in stats["endplate_sides"]:
        for extent, inner in zip(ends, inners, strict=True):
            reference = max(references[k], min(inner, inner_cap))
            best = max(best, (extent - reference) * spacing_c)
    return best
