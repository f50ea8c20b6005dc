"""Plain numpy references of the physics kernels in :mod:`._kernels` (parity tests, benchmarks).

Readable, loop-free where possible, and slow: the specification each kernel is held to.
"""

from __future__ import annotations

import warnings

import numpy as np

from dxaspine.physics._kernels import MODE_NEAREST


def log_attenuation_reference(
    counts_low, counts_high, i0_low, i0_high, floor_counts, count_offset=0.0
):
    """numpy reference of :func:`log_attenuation_kernel`: ``(a_low, a_high, starved)``."""
    lo = np.asarray(counts_low, dtype=np.float64)
    hi = np.asarray(counts_high, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad_lo = ~((lo >= floor_counts) & (lo < np.inf))
        bad_hi = ~((hi >= floor_counts) & (hi < np.inf))
    lo = np.where(bad_lo, floor_counts, lo)
    hi = np.where(bad_hi, floor_counts, hi)
    a_low = np.log(i0_low / (lo + count_offset))
    a_high = np.log(i0_high / (hi + count_offset))
    return a_low, a_high, bad_lo | bad_hi


def areal_density_reference(a_low, a_high, r_st, mu_low, mu_high, r_min=-np.inf, r_max=np.inf):
    """numpy reference of :func:`areal_density_kernel`."""
    r_st = np.clip(r_st, r_min, r_max)
    return (a_low - r_st * a_high) / (mu_low - r_st * mu_high)


def row_baselines_reference(
    values, usable, half_window, gap_scale, extrapolated_weight, curved=True
):
    """numpy reference of :func:`row_baselines_kernel` (a direct, slow transcription):
    returns ``(baseline, weight)``."""
    values = np.asarray(values, dtype=np.float64)
    rows, cols = values.shape
    out = np.full((rows, cols), np.nan)
    weight = np.zeros((rows, cols))
    ok_all = np.asarray(usable, dtype=bool) & np.isfinite(values)
    columns = np.arange(cols, dtype=np.float64)
    width = 2 * half_window
    for r in range(rows):
        ok = ok_all[r]
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        v = values[r]
        for c in range(cols):
            if ok[c]:
                sel = ok[max(0, c - half_window) : c + half_window + 1]
                out[r, c] = v[max(0, c - half_window) : c + half_window + 1][sel].mean()
                weight[r, c] = 1.0
                continue
            before = idx[idx < c]
            after = idx[idx > c]
            sides = []
            outer = []
            d = min(c - before[-1] if before.size else cols, after[0] - c if after.size else cols)
            w = 1.0 / (1.0 + (d / gap_scale) ** 2)
            if before.size:
                gl = before[-1]
                s = slice(max(0, gl - width), gl + 1)
                sides.append((v[s][ok[s]].mean(), columns[s][ok[s]].mean()))
                s = slice(max(0, gl - 2 * width - 1), max(0, gl - width))
                if gl - width - 1 >= 0 and ok[s].any():
                    outer.append((v[s][ok[s]].mean(), columns[s][ok[s]].mean()))
            if after.size:
                gr = after[0]
                s = slice(gr, min(cols - 1, gr + width) + 1)
                sides.append((v[s][ok[s]].mean(), columns[s][ok[s]].mean()))
                s = slice(gr + width + 1, min(cols - 1, gr + 2 * width + 1) + 1)
                if gr + width + 1 <= cols - 1 and ok[s].any():
                    outer.append((v[s][ok[s]].mean(), columns[s][ok[s]].mean()))
            if len(sides) == 1:
                out[r, c] = sides[0][0]
                weight[r, c] = extrapolated_weight * w
            else:
                (m_l, x_l), (m_r, x_r) = sides
                t = np.clip((c - x_l) / (x_r - x_l), 0.0, 1.0)
                out[r, c] = m_l + t * (m_r - m_l)
                weight[r, c] = w
                if curved and len(outer) == 2:  # least-squares parabola, outer windows
                    (m_lo, x_lo), (m_ro, x_ro) = outer
                    slope = (m_r - m_l) / (x_r - x_l)
                    b = np.array([(x_lo - x_l) * (x_lo - x_r), (x_ro - x_l) * (x_ro - x_r)])
                    res = np.array([m_lo, m_ro]) - (m_l + slope * (np.array([x_lo, x_ro]) - x_l))
                    b_c = (c - x_l) * (c - x_r)
                    if (b @ b) > 0 and b_c < 0:
                        out[r, c] += (res @ b) / (b @ b) * b_c
    return out, weight


def _pad_blocks(image, row_factor, col_factor):
    rows, cols = image.shape
    padded = np.pad(image, ((0, -rows % row_factor), (0, -cols % col_factor)), mode="edge")
    r, c = padded.shape
    return padded.reshape(r // row_factor, row_factor, c // col_factor, col_factor)


def block_mean_reference(image, row_factor, col_factor):
    """numpy reference of :func:`block_mean_kernel`."""
    return _pad_blocks(image, row_factor, col_factor).mean(axis=(1, 3))


def block_count_reference(mask, row_factor, col_factor):
    """numpy reference of :func:`block_count_kernel`."""
    return _pad_blocks(mask, row_factor, col_factor).sum(axis=(1, 3))


def upsample_linear_reference(coarse, row_factor, col_factor, shape):
    """numpy reference of :func:`upsample_linear_kernel` (output of shape ``shape``)."""

    def along(values, factor, size, axis):
        n = values.shape[axis]
        position = np.clip((np.arange(size) + 0.5) / factor - 0.5, 0.0, n - 1)
        lower = np.minimum(np.floor(position).astype(np.intp), max(n - 2, 0))
        upper = np.minimum(lower + 1, n - 1)
        t = (position - lower).reshape([-1, 1] if axis == 0 else [1, -1])
        return np.take(values, lower, axis=axis) * (1 - t) + np.take(values, upper, axis=axis) * t

    return along(along(coarse, row_factor, shape[0], 0), col_factor, shape[1], 1)


def _padded_reference(image, radius, axis, mode):
    n = image.shape[axis]
    index = np.arange(-radius, n + radius)
    if mode == MODE_NEAREST:
        index = np.clip(index, 0, n - 1)
    else:
        index = index % (2 * n)
        index = np.where(index < n, index, 2 * n - 1 - index)
    return np.take(image, index, axis=axis)


def correlate_reference(image, half_weights, mode, axis):
    """numpy reference of :func:`correlate_rows_kernel` (axis 0) / ``_cols_`` (axis 1)."""
    image = np.asarray(image, dtype=np.float64)
    if image.size == 0:
        return image.copy()
    radius = len(half_weights) - 1
    padded = _padded_reference(image, radius, axis, mode)
    n = image.shape[axis]

    def shifted(offset):  # x[i + offset] for every i
        return np.take(padded, np.arange(n) + radius + offset, axis=axis)

    out = image * half_weights[0]
    for k in range(radius, 0, -1):
        out = out + (shifted(-k) + shifted(k)) * half_weights[k]
    return out


def order_statistics_reference(values, ranks):
    """numpy reference of :func:`order_statistics_kernel`: ``sorted(values)[ranks]``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or len(ranks) == 0:
        return np.empty(0)
    return np.partition(values, np.asarray(ranks))[np.asarray(ranks)]


def peak_histogram_reference(values, lo, scale, bins):
    """numpy reference of :func:`peak_histogram_kernel` (the counts it adds)."""
    index = ((np.asarray(values, dtype=np.float64) - lo) * scale).astype(np.intp)
    inside = (index >= 0) & (index < bins)
    return np.bincount(index[inside], minlength=bins)


def values_below_reference(values, limit):
    """numpy reference of :func:`values_below_kernel`."""
    values = np.asarray(values, dtype=np.float64)
    return values[values < limit]


def usable_mask_reference(
    candidate, bone, excess, peak, outlier_limit, radius_rows, radius_cols, gas_values,
    gas_soft, gas_order, gas_factor,
):  # fmt: skip
    """numpy reference of :func:`usable_mask_kernel` (the baseline iteration's former steps:
    a boolean maximum filter, the outlier guard and the gas exclusion by row medians;
    the reference needs no ``gas_order``)."""
    from scipy import ndimage

    near = ndimage.maximum_filter(bone, size=(2 * radius_rows + 1, 2 * radius_cols + 1))
    usable = candidate & ~near & (np.abs(excess - peak) <= outlier_limit)
    if gas_values.size:
        soft = np.where(gas_soft & ~bone, gas_values, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no gas
            row_median = np.nanmedian(soft, axis=1)
        usable &= ~(gas_values < gas_factor * row_median[:, None])
    return usable


def weighted_smooth_rows_reference(baseline, weight, sigma_px, truncate=3.0):
    """numpy reference of :func:`weighted_smooth_rows_kernel` (scipy's Gaussian of the
    weighted values over scipy's Gaussian of the weights): ``out`` with NaN where the smoothed
    weight is not above 1e-12; all NaN when no entry is finite with a positive weight."""
    from scipy import ndimage

    finite = np.isfinite(baseline) & (weight > 0)
    weight = np.where(finite, weight, 0.0)
    filled = np.where(finite, baseline * weight, 0.0)
    if sigma_px > 0:
        filled = ndimage.gaussian_filter1d(
            filled, sigma_px, axis=0, mode="nearest", truncate=truncate
        )
        weight = ndimage.gaussian_filter1d(
            weight, sigma_px, axis=0, mode="nearest", truncate=truncate
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        out = filled / weight
    out[~(weight > 1e-12)] = np.nan
    return out


def neighbour_noise_reference(counts, field, row_step):
    """numpy reference of :func:`neighbour_noise_kernel` (the former
    ``plausibility.photon_noise_excess`` steps)."""
    counts, field = counts[::row_step], field[::row_step]
    pair = field[:, 1:] & field[:, :-1]
    first, second = counts[:, 1:][pair], counts[:, :-1][pair]
    keep = (first >= 1) & (second >= 1)
    return (first[keep] - second[keep]) / np.sqrt(first[keep] + second[keep])


def log_attenuation_blocks_reference(
    counts_low, counts_high, i0_low, i0_high, floor_counts, count_offset, field, rf, cf
):
    """numpy reference of :func:`log_attenuation_blocks_kernel`: the log attenuations, then
    the block means and block all/any (``(a_low, a_high, starved, mean_low, mean_high,
    field_all, starved_any)``)."""
    a_low, a_high, starved = log_attenuation_reference(
        counts_low, counts_high, i0_low, i0_high, floor_counts, count_offset
    )
    size = rf * cf
    return (
        a_low,
        a_high,
        starved,
        block_mean_reference(a_low, rf, cf),
        block_mean_reference(a_high, rf, cf),
        block_count_reference(field, rf, cf) == size,
        block_count_reference(starved, rf, cf) > 0,
    )


def count_either_above_reference(low, high, limit_low, limit_high):
    """numpy reference of :func:`count_either_above_kernel`."""
    return int(np.count_nonzero((low > limit_low) | (high > limit_high)))


def both_at_least_reference(low, high, step, minimum):
    """numpy reference of :func:`both_at_least_kernel`."""
    low, high = low[::step], high[::step]
    keep = (low >= minimum) & (high >= minimum)
    return low[keep], high[keep]
