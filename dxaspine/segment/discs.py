"""Intervertebral lines: the disc spaces as tilted low-density lines across the body.

On the work image, straightened along the spine axis, the mean density of the *lateral* body
columns (left and right of the midline, where no spinous process or facet overlaps the disc)
drops at each disc.  Minima of that profile are kept when they fit the anatomical priors of
docs/domain.md §4 (vertebra + disc period ~37 mm, discs 8-12 mm), missed ones are filled in, and
each disc is then fitted locally: in every lateral column the disc centre is the midpoint of
the two endplate edges (half-contrast crossings), and a robust straight line through those
centres gives the disc's position and tilt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxaspine.segment._kernels import robust_line_kernel
from dxaspine.segment.axis import SpineAxis
from dxaspine.segment.bone_mask import WorkImage
from dxaspine.segment.disc_choice import END_DEPTH_SHARE, extend_below, prefer_regular_spacing
from dxaspine.segment.kernels import disc_centres, gaussian_rows
from dxaspine.segment.small_stats import median

# docs/domain.md §4: vertebra + disc period ~37 mm on iDXA; bodies 20-30 mm and discs 8-12 mm give
# 28-42 mm.  Accept 20-55 mm to allow small/large patients and fractured levels.
PERIOD_RANGE_MM = (20.0, 55.0)
# Minima closer than this are one disc (a disc is <= 12 mm; half a body is >= 10 mm).
MIN_DISC_SEPARATION_MM = 16.0
# Lateral band of the body used for the profile, as fractions of the *body* half-width: the
# spinous process (midline) and the articular processes (facets, out to about half the body
# half-width plus their own size) overlap the disc space further in; beyond 0.95 the
# rounded body edge gives no disc contrast.
LATERAL_BAND = (0.55, 0.95)
# The box half-width is the body half-width plus this margin (box.BOX_MARGIN_MM).
_BOX_MARGIN_MM = 7.0
# A disc is at least this deep in body-contrast units (bodies ~0.7-1 in the lateral band, a
# disc ~0-0.2): rejects dips from bowel gas or noise.
MIN_DEPTH = 0.2
# Half-height of the window searched around a disc for its endplate edges, mm (a body is
# >= 20 mm high, so the neighbouring bodies' cores lie within 15 mm of the disc centre).
EDGE_WINDOW_MM = 15.0
# Endplate edge: where the density first rises this far (body-contrast units) above the disc
# floor; bodies are >= 0.5 in the lateral band, so the edge is the body's outer boundary.
EDGE_RISE = 0.25
# Largest disc tilt accepted relative to the image rows (row mm per column mm): ~30 deg.
MAX_DISC_SLOPE = 0.6


@dataclass(frozen=True)
class Disc:
    """One intervertebral line on the work grid."""

    row: float  # work row where the line crosses the axis
    column: float  # work column of the axis at that row
    slope: float  # d row / d column in *work pixels*
    depth: float  # profile contrast of the disc (body-contrast units)
    fitted: bool  # False when the line came from the period prior only
    spread_mm: float  # RMS residual of the per-column disc centres about the line
    thickness_mm: float = float("nan")  # median endplate-to-endplate distance


def lateral_profile(
    work: WorkImage, axis: SpineAxis, half_width_mm: float, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Mean work value per row over the lateral body bands on both sides of the axis.

    ``exclude`` (bool, work grid) marks pixels to leave out (metal and its surroundings,
    where dual-energy counts starve and the density is meaningless).
    """
    rows, cols = work.values.shape
    values = work.zeroed
    if exclude is not None and exclude.any():
        values = np.where(exclude, np.nan, values)
    u = _band_offsets(half_width_mm, work.pixel_spacing_mm[1])
    c = axis.columns[:, None] + u[None, :]
    c0 = np.clip(np.floor(c).astype(int), 0, cols - 2)
    frac = np.clip(c - c0, 0.0, 1.0)
    r = np.arange(rows)[:, None]
    sampled = values[r, c0] * (1 - frac) + values[r, c0 + 1] * frac
    if exclude is None or not exclude.any():
        return sampled.mean(axis=1)
    ok = np.isfinite(sampled)
    total = np.where(ok, sampled, 0.0).sum(axis=1)
    count = ok.sum(axis=1)
    profile = np.divide(total, count, out=np.full(rows, np.nan), where=count > 0)
    idx = np.arange(rows)
    good = np.isfinite(profile)
    return np.interp(idx, idx[good], profile[good]) if good.any() else np.zeros(rows)


def _band_offsets(half_width_mm: float, spacing_c: float) -> np.ndarray:
    """Column offsets (work pixels) of the lateral body bands, both sides."""
    body_px = max(half_width_mm - _BOX_MARGIN_MM, 10.0) / spacing_c
    u = np.arange(
        int(np.floor(LATERAL_BAND[0] * body_px)), int(np.ceil(LATERAL_BAND[1] * body_px)) + 1
    )
    return np.concatenate([-u[::-1], u]).astype(float)


def find_discs(
    work: WorkImage, axis: SpineAxis, half_width_mm: float, exclude: np.ndarray | None = None
) -> list[Disc]:
    """Intervertebral lines top to bottom (work grid); ``exclude`` marks metal pixels."""
    spacing_r = work.pixel_spacing_mm[0]
    if exclude is not None and exclude.any():
        # metal plus a 3 mm margin (starved counts, partial volume around it)
        exclude = ndimage.binary_dilation(exclude, iterations=max(1, int(round(3.0 / spacing_r))))
    profile = lateral_profile(work, axis, half_width_mm, exclude)
    profile = ndimage.gaussian_filter1d(profile, 1.0 / spacing_r)
    minima = _candidate_minima(profile, spacing_r)
    rows = _regularise(minima, profile, spacing_r)
    discs = []
    smoothed = row_smoothed(work)
    # d col / d row of the axis, the tilt every disc's first guess is perpendicular to
    gradient = np.gradient(axis.columns) if work.values.shape[0] > 1 else np.zeros(1)
    for row, depth, fitted in rows:
        discs.append(
            _fit_disc(work, axis, half_width_mm, row, depth, fitted, exclude, smoothed, gradient)
        )
    discs.sort(key=lambda d: d.row)
    edge = _top_edge_disc(work, axis, half_width_mm, profile, discs)
    if edge is not None:
        discs.insert(0, edge)
    return discs


def _candidate_minima(profile: np.ndarray, spacing_r: float) -> list[tuple[float, float]]:
    """(row, depth) of the profile's local minima deeper than MIN_DEPTH, one per disc."""
    n = profile.size
    window = max(2, int(round(EDGE_WINDOW_MM / spacing_r)))
    if n < 3:
        return []
    left_max = ndimage.maximum_filter1d(profile, window + 1, origin=window // 2, mode="nearest")
    right_max = ndimage.maximum_filter1d(profile, window + 1, origin=-(window // 2), mode="nearest")
    local_min = (profile <= np.roll(profile, 1)) & (profile <= np.roll(profile, -1))
    local_min[[0, -1]] = False
    depth = np.minimum(left_max, right_max) - profile
    idx = np.flatnonzero(local_min & (depth >= MIN_DEPTH))
    # one minimum per disc: keep the deepest within MIN_DISC_SEPARATION_MM
    kept: list[int] = []
    for i in idx[np.argsort(-depth[idx])]:
        if all(abs(i - k) * spacing_r >= MIN_DISC_SEPARATION_MM for k in kept):
            kept.append(int(i))
    kept.sort()
    kept = prefer_regular_spacing(kept, [int(i) for i in idx], depth)
    # the shallow lowest disc (disc_choice.extend_below): only where the body below it is in
    # the profile over the whole window its depth is read on, not a rise cut by the field end
    # (drawn standard seed 0 case 25: a 0.16 "dip" 4 mm above the image's last row)
    shallow = np.flatnonzero(local_min & (depth >= END_DEPTH_SHARE * MIN_DEPTH))
    shallow = shallow[shallow + window < n]
    kept = extend_below(kept, [int(i) for i in shallow], depth)
    return [(_parabolic(profile, i), float(depth[i])) for i in kept]


def _parabolic(profile: np.ndarray, i: int) -> float:
    """Sub-pixel position of the minimum at ``i``."""
    if i <= 0 or i >= profile.size - 1:
        return float(i)
    a, b, c = profile[i - 1], profile[i], profile[i + 1]
    den = a - 2 * b + c
    return float(i + 0.5 * (a - c) / den) if den > 0 else float(i)


def _regularise(minima, profile, spacing_r) -> list[tuple[float, float, bool]]:
    """Drop minima that break the period prior and fill single missed discs."""
    if len(minima) < 2:
        return [(r, d, True) for r, d in minima]
    rows = [r for r, _ in minima]
    depths = [d for _, d in minima]
    spacing = np.diff(rows) * spacing_r
    ok = (spacing >= PERIOD_RANGE_MM[0]) & (spacing <= PERIOD_RANGE_MM[1])
    period_mm = median(spacing[ok]) if ok.any() else 37.0  # docs/domain.md §4
    out = [(rows[0], depths[0], True)]
    for r, d in zip(rows[1:], depths[1:], strict=True):
        prev_r, prev_d, _ = out[-1]
        gap_mm = (r - prev_r) * spacing_r
        if gap_mm < PERIOD_RANGE_MM[0]:
            # two minima in one period: a dip inside a body; keep the deeper
            if d > prev_d:
                out[-1] = (r, d, True)
            continue
        n_missing = int(round(gap_mm / period_mm)) - 1
        if n_missing >= 1 and gap_mm > 1.5 * period_mm:
            for k in range(1, n_missing + 1):
                guess = prev_r + k * (r - prev_r) / (n_missing + 1)
                lo = int(max(0, guess - 0.25 * period_mm / spacing_r))
                hi = int(min(profile.size, guess + 0.25 * period_mm / spacing_r + 1))
                j = lo + int(np.argmin(profile[lo:hi]))
                out.append((float(j), 0.0, False))
        out.append((r, d, True))
    return out


def _endplate_midpoints(work, smoothed, col0, row, slope, half_width_mm, exclude):
    """Per lateral column near a disc: the column, the disc-centre row and the disc thickness.

    Searched in a window about the line ``row + slope * (column - col0)`` (work pixels); the
    centre is the midpoint of the two endplate edges, the thickness their distance (rows).
    Columns whose window holds an ``exclude`` pixel (metal) give NaN.
    """
    rows, cols = work.values.shape
    spacing_r, spacing_c = work.pixel_spacing_mm
    u = _band_offsets(half_width_mm, spacing_c)
    c = np.clip(np.round(col0 + u).astype(int), 0, cols - 1)
    half = int(round(EDGE_WINDOW_MM / spacing_r))
    predicted = row + slope * (c - col0)
    starts = np.floor(predicted).astype(np.int64) - half
    length = 2 * half + 1
    if exclude is not None and exclude.any():
        for k in range(u.size):
            lo = starts[k]
            if 0 <= lo and lo + length <= rows and exclude[lo : lo + length, c[k]].any():
                starts[k] = -1  # metal in this column's window: its edges are not endplates
    centre_rows, thickness = disc_centres(
        smoothed,
        c,
        starts,
        length,
        predicted - starts,
        max(1, int(round(6.0 / spacing_r))),  # the disc centre is within ~6 mm of the guess
        EDGE_RISE,
        MIN_DEPTH,
    )
    return c, centre_rows, thickness


def row_smoothed(work: WorkImage) -> np.ndarray:
    """The work image smoothed along the rows (0.8 mm), as the endplate search reads it.

    Made once per work image (the disc finder and the evidence stage read the same one,
    ``WorkImage.derived``); never written to.
    """
    smoothed = work.derived.get("discs.row_smoothed")
    if smoothed is None:
        # scipy's gaussian_filter1d(axis=0) with its numbers, in one vectorised numba call
        smoothed = gaussian_rows(work.zeroed, 0.8 / work.pixel_spacing_mm[0])
        work.derived["discs.row_smoothed"] = smoothed
    return smoothed  # type: ignore[return-value]


def disc_thickness_mm(
    work: WorkImage,
    smoothed: np.ndarray,
    row: float,
    column: float,
    slope: float,
    half_width_mm: float,
    exclude: np.ndarray | None = None,
) -> float:
    """Median endplate-to-endplate distance (mm) of the disc on a known line (NaN if none)."""
    _, _, thickness = _endplate_midpoints(
        work, smoothed, column, row, slope, half_width_mm, exclude
    )
    if not np.isfinite(thickness).any():
        return float("nan")
    return median(thickness[~np.isnan(thickness)]) * work.pixel_spacing_mm[0]


def _fit_disc(work, axis, half_width_mm, row, depth, fitted, exclude, smoothed, grad) -> Disc:
    """Fit position and tilt of one disc from per-column endplate midpoints.

    ``smoothed`` is the work image smoothed along the rows (0.8 mm) and ``grad`` the axis
    gradient (``np.gradient(axis.columns)``, zeros(1) for one row), both shared by all discs.
    """
    rows = work.values.shape[0]
    spacing_r, spacing_c = work.pixel_spacing_mm
    i_row = int(np.clip(round(row), 0, rows - 1))
    col0 = float(axis.columns[i_row])
    # first guess of the tilt: perpendicular to the axis (d col / d row of the axis)
    axis_slope_mm = grad[i_row] * spacing_c / spacing_r
    slope0 = -axis_slope_mm * (spacing_c / spacing_r)  # d row / d col in work pixels
    c, centre_rows, thickness = _endplate_midpoints(
        work, smoothed, col0, row, slope0, half_width_mm, exclude
    )
    ok = np.isfinite(centre_rows)
    slope, spread = slope0, np.nan
    centre_row = row
    if ok.sum() >= 4:
        x = (c[ok] - col0).astype(float)
        y = centre_rows[ok]
        fit = robust_line(x, y, min_scale=0.7 / spacing_r)
        if fit is not None and abs(fit[0]) * spacing_r / spacing_c <= MAX_DISC_SLOPE:
            slope, centre_row, spread = fit[0], fit[1], fit[2] * spacing_r
        else:
            centre_row = median(y - slope0 * x)
    thick = (
        median(thickness[~np.isnan(thickness)]) * spacing_r
        if np.isfinite(thickness).any()
        else np.nan
    )
    return Disc(
        row=centre_row,
        column=col0,
        slope=slope,
        depth=depth,
        fitted=fitted,
        spread_mm=spread,
        thickness_mm=thick,
    )


def robust_line(x: np.ndarray, y: np.ndarray, min_scale: float):
    """(slope, intercept, rms residual) by Theil-Sen, then least squares on the inliers.

    The per-column disc centres hold outliers where an articular process or an osteophyte
    overlaps the disc; the median of pairwise slopes ignores up to ~29 % of them.  None with
    fewer than 4 points or no two distinct ``x``.  One numba call
    (``_kernels.robust_line_kernel``, numpy's medians and sums, so the same numbers as its
    numpy form ``_numpy_reference.robust_line_reference``).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError("robust_line: x and y must be 1-D of one length")
    out = np.empty(3)
    if not robust_line_kernel(x, y, float(min_scale), out):
        return None
    return float(out[0]), float(out[1]), float(out[2])


def _top_edge_disc(work, axis, half_width_mm, profile, discs) -> Disc | None:
    """A disc cut by the top of the field: from the endplate edge below it alone.

    A large patient's T12/L1 disc can sit a few mm inside the field's top, with no body
    above it for a proper minimum.  When the profile starts low (no body) and a full period
    separates the field top from the first disc, the upper endplate of the first body is
    fitted and the line placed half a disc (measured on the other discs) above it.
    """
    if len(discs) < 2:
        return None
    spacing_r, spacing_c = work.pixel_spacing_mm
    period = median(np.diff([d.row for d in discs]))
    first = discs[0].row
    field_rows = np.flatnonzero(work.field.any(axis=1))
    if field_rows.size == 0:
        return None
    top = int(field_rows[0])
    if (first - top) < 0.75 * period:
        return None
    measured = np.array([d.thickness_mm for d in discs[:3]])
    measured = measured[np.isfinite(measured)]
    if measured.size == 0:
        return None
    thick = median(measured) / spacing_r
    head = profile[top : int(top + 0.2 * period) + 1]
    if head.size == 0 or head.min() > median(profile[int(first) : int(first + period)]) - MIN_DEPTH:
        return None  # the field starts on bone: the disc above is out of view
    values = work.zeroed
    rows, cols = values.shape
    u = _band_offsets(half_width_mm, spacing_c)
    col0 = float(axis.columns[top])
    c = np.clip(np.round(col0 + u).astype(int), 0, cols - 1)
    stop = int(min(rows, top + 0.6 * period))
    edges = np.full(u.size, np.nan)
    for k in range(u.size):
        prof = ndimage.gaussian_filter1d(values[top:stop, c[k]], 0.8 / spacing_r)
        i_floor = int(np.argmin(prof[: max(2, int(0.2 * period))]))
        floor = prof[i_floor]
        above = np.flatnonzero(prof[i_floor:] >= floor + EDGE_RISE)
        if above.size == 0:
            continue
        i = i_floor + above[0]
        p0, p1 = prof[i - 1], prof[i]
        edges[k] = top + i - 1 + (floor + EDGE_RISE - p0) / (p1 - p0) if p1 != p0 else top + i
    ok = np.isfinite(edges)
    if ok.sum() < 4:
        return None
    fit = robust_line(c[ok] - col0, edges[ok], min_scale=0.7 / spacing_r)
    if fit is None or abs(fit[0]) * spacing_r / spacing_c > MAX_DISC_SLOPE:
        return None
    row = fit[1] - 0.5 * thick
    if row < top - 0.25 * thick:
        return None
    return Disc(
        row=float(row),
        column=col0,
        slope=float(fit[0]),
        depth=0.0,
        fitted=False,
        spread_mm=fit[2] * spacing_r,
        thickness_mm=float(thick * spacing_r),
    )
