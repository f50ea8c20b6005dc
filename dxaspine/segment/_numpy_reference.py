"""Plain numpy references of the kernels in ``_kernels.py`` (parity tests and benchmarks).

They are written for clarity, not speed, and define the semantics the kernels must match.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def masked_block_mean_reference(
    image: np.ndarray, valid: np.ndarray, factor_rows: int, factor_cols: int
) -> np.ndarray:
    out_rows = image.shape[0] // factor_rows
    out_cols = image.shape[1] // factor_cols
    crop = image[: out_rows * factor_rows, : out_cols * factor_cols]
    ok = valid[: out_rows * factor_rows, : out_cols * factor_cols] & np.isfinite(crop)
    blocks = np.where(ok, crop, 0.0).reshape(out_rows, factor_rows, out_cols, factor_cols)
    counts = ok.reshape(out_rows, factor_rows, out_cols, factor_cols).sum(axis=(1, 3))
    sums = blocks.sum(axis=(1, 3))
    out = np.full((out_rows, out_cols), np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def track_path_reference(cost: np.ndarray, max_step: int, step_penalty: float) -> np.ndarray:
    rows, cols = cost.shape
    path = np.zeros(rows, dtype=np.int64)
    if rows == 0 or cols == 0:
        return path
    finite_cost = np.where(np.isfinite(cost), cost, np.inf)
    acc = finite_cost[0].copy()
    back = np.zeros((rows, cols), dtype=np.int64)
    steps = np.arange(-max_step, max_step + 1)
    for r in range(1, rows):
        # candidates[k, c] = acc[c + steps[k]] + penalty * |steps[k]| (inf outside the row)
        candidates = np.full((steps.size, cols), np.inf)
        for k, d in enumerate(steps):
            lo, hi = max(0, -d), min(cols, cols - d)
            candidates[k, lo:hi] = acc[lo + d : hi + d] + step_penalty * abs(d)
        k_best = np.argmin(candidates, axis=0)  # first minimum = the kernel's tie rule
        best = candidates[k_best, np.arange(cols)]
        back[r] = np.arange(cols) + steps[k_best]
        # a column with no finite predecessor keeps itself as predecessor, like the kernel
        back[r, ~np.isfinite(best)] = np.arange(cols)[~np.isfinite(best)]
        acc = finite_cost[r] + best
    path[-1] = int(np.argmin(acc))
    for r in range(rows - 1, 0, -1):
        path[r - 1] = back[r, path[r]]
    return path


def rasterize_levels_reference(
    n_rows: int,
    n_cols: int,
    box_lo: np.ndarray,
    box_hi: np.ndarray,
    line_col: np.ndarray,
    line_row: np.ndarray,
    line_slope: np.ndarray,
) -> np.ndarray:
    out = np.zeros((n_rows, n_cols), dtype=np.int32)
    rr, cc = np.mgrid[0:n_rows, 0:n_cols]
    with np.errstate(invalid="ignore"):
        inside = (cc >= np.ceil(box_lo)[:, None]) & (cc <= np.floor(box_hi)[:, None])
    # walk the levels from the bottom up so the first matching level (top) wins
    for k in range(line_col.size - 2, -1, -1):
        top = line_row[k] + line_slope[k] * (cc - line_col[k])
        bottom = line_row[k + 1] + line_slope[k + 1] * (cc - line_col[k + 1])
        out[inside & (rr >= top) & (rr < bottom)] = k + 1
    return out


def disc_centre_reference(
    prof: np.ndarray, guess: float, search: int, rise_max: float, min_depth: float
) -> tuple[float, float]:
    """(midpoint, endplate distance) in one column profile; see ``disc_centres_kernel``."""
    n = prof.size
    if not np.isfinite(prof).all() or not np.isfinite(guess):
        return np.nan, np.nan
    lo, hi = max(1, int(guess) - search), min(n - 1, int(guess) + search + 1)
    if hi - lo < 1:
        return np.nan, np.nan
    i_min = lo + int(np.argmin(prof[lo:hi]))
    v_min = prof[i_min]
    depth = min(prof[: i_min + 1].max(), prof[i_min:].max()) - v_min
    if depth < min_depth:
        return np.nan, np.nan
    level = v_min + min(rise_max, 0.5 * depth)
    above = np.flatnonzero(prof[:i_min] >= level)
    below = np.flatnonzero(prof[i_min + 1 :] >= level)
    if above.size == 0 or below.size == 0:
        return np.nan, np.nan
    i_a, i_b = above[-1], i_min + 1 + below[0]
    a0, a1 = prof[i_a], prof[i_a + 1]
    top_edge = i_a + (a0 - level) / (a0 - a1) if a0 != a1 else float(i_a)
    b0, b1 = prof[i_b - 1], prof[i_b]
    bottom_edge = i_b - 1 + (level - b0) / (b1 - b0) if b1 != b0 else float(i_b)
    return 0.5 * (top_edge + bottom_edge), bottom_edge - top_edge


def disc_centres_reference(smoothed, cols, starts, length, guesses, search, rise_max, min_depth):
    rows, n_cols = smoothed.shape
    centre = np.full(cols.size, np.nan)
    thickness = np.full(cols.size, np.nan)
    for k in range(cols.size):
        s, c = starts[k], cols[k]
        if s < 0 or s + length > rows or c < 0 or c >= n_cols or length < 3:
            continue
        mid, dist = disc_centre_reference(
            smoothed[s : s + length, c], guesses[k], search, rise_max, min_depth
        )
        if np.isfinite(mid):
            centre[k], thickness[k] = mid + s, dist
    return centre, thickness


def drop_small_components_reference(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    out = mask.copy()
    # specks and holes are both judged on the mask as given
    for target, value in ((out, False), (~out, True)):
        labels, n = ndimage.label(target)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())
        small = sizes < min_pixels
        small[0] = False
        out[small[labels]] = value
    return out


def above_edge_blend_reference(values, valid, lo, hi, left, right, offset):
    cols = values.shape[1]
    t = (np.arange(cols)[None, :] - lo[:, None]) / np.maximum(hi - lo, 1.0)[:, None]
    t = np.clip(t, 0.0, 1.0)
    level = left[:, None] * (1 - t) + right[:, None] * t
    return valid & (values > offset + level)


def band_trace_reference(values, cols, upper, lower, threshold):
    """``(index, edge)`` of :func:`~dxaspine.segment._kernels.band_trace_kernel`, run by run."""
    rows, n_cols = values.shape
    index, edge = [], []
    previous = None
    for m, c in enumerate(cols):
        if not 0 <= c < n_cols:
            break
        top = upper[0] + upper[1] * (c - upper[2])
        bottom = lower[0] + lower[1] * (c - lower[2])
        r0 = max(0, int(np.ceil(top)))
        r1 = min(rows - 1, int(np.floor(bottom)))
        if r1 < r0:
            break
        d = np.diff(
            np.concatenate([[0], (values[r0 : r1 + 1, c] > threshold).astype(np.int8), [0]])
        )
        runs = [
            (a + r0, b + r0)
            for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1, strict=True)
        ]
        if previous is None:
            runs = sorted(runs, key=lambda ab: ab[1] - ab[0])[-1:]
        else:
            runs = [ab for ab in runs if ab[0] <= previous[1] + 1 and ab[1] >= previous[0] - 1]
        if not runs:
            break
        previous = max(runs, key=lambda ab: ab[1])
        index.append(m)
        edge.append(previous[1] - 0.5 * (top + bottom))
    return np.asarray(index, dtype=np.int64), np.asarray(edge, dtype=float)


def band_half_edge_reference(values, cols, index, bottom, upper, lower, half_cols, peak_px,
                             floor_px):  # fmt: skip
    """``edge`` of :func:`~dxaspine.segment._kernels.band_half_edge_kernel`, array by array."""
    rows, n_cols = values.shape
    out = np.full(len(index), np.nan)
    for j, (m, b) in enumerate(zip(index, bottom, strict=True)):
        c = cols[m]
        top = upper[0] + upper[1] * (c - upper[2])
        low = lower[0] + lower[1] * (c - lower[2])
        r0, r1 = max(0, int(np.ceil(top))), min(rows - 1, int(np.floor(low)))
        if b < r0 or b >= r1:
            continue
        near = np.asarray(cols[max(0, m - half_cols) : m + half_cols + 1])
        near = near[(near >= 0) & (near < n_cols)]
        profile = values[r0 : r1 + 1][:, near].mean(axis=1)
        lo = max(r0, b - peak_px)
        peak_row = lo + int(np.argmax(profile[lo - r0 : b - r0 + 1]))
        peak = profile[peak_row - r0]
        floor = profile[b - r0 : min(r1, b + floor_px) - r0 + 1].min()
        if not peak > floor:
            continue
        level = 0.5 * (peak + floor)
        below = np.flatnonzero(profile[peak_row - r0 :] < level)
        if below.size == 0:
            continue
        r = peak_row + int(below[0]) - 1  # the last row at or above the level
        p0, p1 = profile[r - r0], profile[r + 1 - r0]
        out[j] = r + (p0 - level) / (p0 - p1) - 0.5 * (top + low)
    return out


def robust_line_reference(x: np.ndarray, y: np.ndarray, min_scale: float):
    """``discs.robust_line`` as numpy (the form it had before its kernel).

    The per-column disc centres hold outliers where an articular process or an osteophyte
    overlaps the disc; the median of pairwise slopes ignores up to ~29 % of them.
    """
    if x.size < 4:
        return None
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    good = dx != 0
    if not good.any():
        return None
    slope = float(np.median((y[j] - y[i])[good] / dx[good]))
    intercept = float(np.median(y - slope * x))
    for _ in range(2):
        resid = y - (intercept + slope * x)
        scale = max(1.4826 * float(np.median(np.abs(resid))), min_scale)
        keep = np.abs(resid) <= 2.5 * scale
        if keep.sum() < 4 or np.ptp(x[keep]) == 0:
            break
        slope, intercept = _least_squares_reference(x[keep], y[keep])
    resid = y - (intercept + slope * x)
    keep = np.abs(resid) <= 2.5 * max(1.4826 * float(np.median(np.abs(resid))), min_scale)
    rms = float(np.sqrt(np.mean(resid[keep] ** 2))) if keep.any() else float("nan")
    return slope, intercept, rms


def _least_squares_reference(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    slope = float((dx * (y - ym)).sum() / (dx * dx).sum())
    return slope, float(ym - slope * xm)


def side_bone_reference(values, col0, side, edge_px, offsets, upper, lower, threshold):
    """``(reach, counts)`` of :func:`~dxaspine.segment._kernels.side_bone_kernel`, as
    ``landmarks.lateral_bone`` computed them in numpy before the kernel."""
    rows, cols = values.shape
    c = np.round(col0 + side * (edge_px + offsets)).astype(int)
    inside = (c >= 0) & (c < cols)
    c = np.clip(c, 0, cols - 1)
    top = np.ceil(upper[0] + upper[1] * (c - upper[2]))
    bottom = np.floor(lower[0] + lower[1] * (c - lower[2]))
    r_lo = int(max(0, top.min()))
    r_hi = int(min(rows - 1, bottom.max()))
    rr = np.arange(r_lo, r_hi + 1)[:, None]
    in_level = (rr >= top[None, :]) & (rr <= bottom[None, :]) & inside[None, :]
    bone = (values[rr, c[None, :]] > threshold) & in_level
    has_bone = bone.any(axis=0)
    has_bone &= np.cumprod(inside).astype(bool)
    empty = np.flatnonzero(~has_bone)
    n = empty[0] if empty.size else has_bone.size
    return int(n), bone.sum(axis=0).astype(np.int64)


def noise_differences_reference(values, valid, lo, hi, gap, band):
    """The differences of :func:`~dxaspine.segment._kernels.noise_differences_kernel`, as
    ``edge_noise.soft_tissue_noise`` took them in numpy before the kernel."""
    valid = valid & np.isfinite(values)
    cols = values.shape[1]
    have = np.isfinite(lo) & np.isfinite(hi)
    c = np.arange(cols, dtype=float)[None, :]
    lo_c = np.where(have, lo, np.nan)[:, None]
    hi_c = np.where(have, hi, np.nan)[:, None]
    with np.errstate(invalid="ignore"):
        beside = ((c <= lo_c - gap) & (c >= lo_c - gap - band)) | (
            (c >= hi_c + gap) & (c <= hi_c + gap + band)
        )
    beside &= valid
    pair = beside[:, 1:] & beside[:, :-1]
    return (values[:, 1:] - values[:, :-1])[pair]


def body_filter_reference(values, half, flank):
    """:func:`~dxaspine.segment._kernels.body_filter_kernel` as ``axis.body_filter_response``
    computed it in numpy before the kernel."""
    rows, cols = values.shape
    pad = half + flank + 1
    padded = np.pad(values, ((0, 0), (pad, pad)), mode="constant")
    csum = np.concatenate([np.zeros((rows, 1)), np.cumsum(padded, axis=1)], axis=1)
    centre = np.arange(cols) + pad

    def window(lo, hi):  # mean of [lo, hi)
        return (csum[:, hi] - csum[:, lo]) / (hi - lo)[None, :]

    body = window(centre - half, centre + half + 1)
    left = window(centre - half - flank, centre - half)
    right = window(centre + half + 1, centre + half + flank + 1)
    return body - np.maximum(left, right)


def iso_tangent_reference(smooth, scale_r, scale_c):
    """``(tan_r, tan_c)`` of :func:`~dxaspine.segment._kernels.iso_tangent_kernel`, as
    ``edge_noise._direction_fields`` computed them with scipy and numpy before the kernel."""
    grad_r = ndimage.sobel(smooth, axis=0) / scale_r
    grad_c = ndimage.sobel(smooth, axis=1) / scale_c
    norm = np.hypot(grad_r, grad_c)
    flat = norm <= 1e-12
    tan_r = np.where(flat, 1.0, -grad_c / np.where(flat, 1.0, norm))
    tan_c = np.where(flat, 0.0, grad_r / np.where(flat, 1.0, norm))
    return tan_r, tan_c


def gaussian_nearest_reference(image, sigma):
    """:func:`~dxaspine.segment._kernels.gaussian_nearest_kernel`'s result: scipy's own
    ``gaussian_filter(image, sigma, mode="nearest")`` (float64)."""
    return ndimage.gaussian_filter(np.asarray(image, dtype=float), sigma, mode="nearest")


def near_edge_reference(values, valid, lo, hi, left, right, threshold, band):
    """:func:`~dxaspine.segment._kernels.near_edge_kernel` as ``bone_mask`` computed it."""
    t = (np.arange(values.shape[1])[None, :] - lo[:, None]) / np.maximum(hi - lo, 1.0)[:, None]
    t = np.clip(t, 0.0, 1.0)
    level = threshold + left[:, None] * (1 - t) + right[:, None] * t
    return valid & (np.abs(values - level) <= band)


def box_mask_reference(shape, lo, hi):
    """:func:`~dxaspine.segment._kernels.box_mask_kernel` as ``box.box_mask`` computed it."""
    cols = np.arange(shape[1])[None, :]
    with np.errstate(invalid="ignore"):
        return (cols >= np.ceil(lo)[:, None]) & (cols <= np.floor(hi)[:, None])


def gaussian_rows_reference(image, sigma, mode):
    """:func:`~dxaspine.segment._kernels.gaussian_rows_kernel`'s result: scipy's own
    ``gaussian_filter1d(image, sigma, axis=0, mode=mode)`` (float64)."""
    return ndimage.gaussian_filter1d(np.asarray(image, dtype=float), sigma, axis=0, mode=mode)


def edge_midpoints_reference(values, path, reach, core_half, core_min, width_range, spacing_c):
    """``(centre, width, core)`` of :func:`~dxaspine.segment._kernels.edge_midpoints_kernel`,
    as ``axis._edge_midpoints`` computed them with numpy."""
    rows, cols = values.shape
    offsets = np.arange(-reach, reach + 1)
    cols_idx = np.clip(path.astype(int)[:, None] + offsets[None, :], 0, cols - 1)
    profile = values[np.arange(rows)[:, None], cols_idx]
    centre_band = profile[:, reach - core_half : reach + core_half + 1]
    core = np.median(centre_band, axis=1)
    level = 0.5 * core[:, None]
    below = profile < level
    left_part = below[:, :reach][:, ::-1]
    right_part = below[:, reach + 1 :]
    has_left = left_part.any(axis=1)
    has_right = right_part.any(axis=1)
    k_left = np.argmax(left_part, axis=1)
    k_right = np.argmax(right_part, axis=1)
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
    width_mm = (right - left) * spacing_c
    ok = (core > core_min) & has_left & has_right
    ok &= (width_mm >= width_range[0]) & (width_mm <= width_range[1])
    centre = np.where(ok, path + (left + right) / 2 - reach, np.nan)
    return centre, np.where(ok, width_mm, np.nan), core
