"""numba kernels of the dual-energy decomposition, each with its plain numpy reference.

The kernels take C-contiguous float64 / bool arrays and scalars only; the public wrappers in
:mod:`dxaspine.physics.kernels` validate dtype, shape and contiguity before calling them
(DESIGN.md, Kernels).  The ``*_reference`` functions are the readable specification that the
parity tests hold the kernels to.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine._numba import jit
from dxaspine.physics import _filter_kernels

# --------------------------------------------------------------------------------------------
# Log attenuation  A_E = ln(I0_E / I_E)  (DOMAIN.md §5), with a floor for starved pixels.
# --------------------------------------------------------------------------------------------


@jit
def log_table_kernel(i0, count_offset, out):
    """``out[k] = ln(i0 / (k + count_offset))``: the log of every integer count below ``out.size``."""
    for k in range(out.size):
        # k = 0 without an offset is never looked up: counts are clipped to a positive floor.
        out[k] = math.log(i0 / (k + count_offset)) if k + count_offset > 0 else math.inf


@jit
def _log_count(count, i0, count_offset, table):
    # Counts come from integer detector values, so a table lookup (the very same expression,
    # evaluated once per process) replaces the logarithm, the costliest step of the pass.
    if count < table.size and count == math.floor(count):
        return table[int(count)]
    return math.log(i0 / (count + count_offset))


@jit
def log_attenuation_kernel(
    counts_low,
    counts_high,
    i0_low,
    i0_high,
    floor_counts,
    count_offset,
    table_low,
    table_high,
    a_low,
    a_high,
    starved,
):
    """Fill ``a_low = ln(i0_low / (counts_low + count_offset))`` (and high); pixels whose count
    is below the floor or not finite are clipped to ``floor_counts`` first and flagged in
    ``starved``.  ``table_*`` hold the same expression for integer counts (``log_table_kernel``;
    may be empty).  Returns the number flagged."""
    rows, cols = counts_low.shape
    n_starved = 0
    for r in range(rows):
        for c in range(cols):
            lo = counts_low[r, c]
            hi = counts_high[r, c]
            bad = False
            # ``not (x >= floor)`` is also true for NaN; +inf fails the upper test.
            if not (lo >= floor_counts and lo < math.inf):
                lo = floor_counts
                bad = True
            if not (hi >= floor_counts and hi < math.inf):
                hi = floor_counts
                bad = True
            a_low[r, c] = _log_count(lo, i0_low, count_offset, table_low)
            a_high[r, c] = _log_count(hi, i0_high, count_offset, table_high)
            starved[r, c] = bad
            if bad:
                n_starved += 1
    return n_starved


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


# --------------------------------------------------------------------------------------------
# Bone areal density  sigma_b = (A_L - R A_H) / (mu_bL - R mu_bH)  (DOMAIN.md §5).
# --------------------------------------------------------------------------------------------


@jit
def areal_density_kernel(a_low, a_high, r_st, mu_low, mu_high, out):
    rows, cols = a_low.shape
    for r in range(rows):
        for c in range(cols):
            ratio = r_st[r, c]
            out[r, c] = (a_low[r, c] - ratio * a_high[r, c]) / (mu_low - ratio * mu_high)


def areal_density_reference(a_low, a_high, r_st, mu_low, mu_high):
    """numpy reference of :func:`areal_density_kernel`."""
    return (a_low - r_st * a_high) / (mu_low - r_st * mu_high)


# --------------------------------------------------------------------------------------------
# Row baselines: per scan line, the soft-tissue baseline of ``values`` from usable pixels.
#
# A usable pixel gets the mean of the usable pixels within +-half_window columns.  A run of
# unusable pixels (bone, its dilated fringe, gas, starved pixels) is bridged by interpolation
# between the mean of the usable pixels in a window of 2*half_window+1 columns ending at the
# last usable pixel on its left and the one starting at the first usable pixel on its right,
# each placed at the mean column of its pixels.  The bridge is the line through those two
# points plus a parabola term c (x - x_l)(x - x_r), c fitted by least squares to the next
# window out on each side when both have usable pixels: fat makes the flanks' R lower than
# the midline's, and a straight bridge would miss that curvature under the spine.  A run
# touching the row's end takes the one side it has; a row without usable pixels is NaN.  Non-finite values are
# treated as unusable.  Robustness to outliers comes from the caller's ``usable`` mask.
# ``weight`` says how far to trust each value when smoothing along the spine: 1 for a usable
# pixel; 1 / (1 + (d / gap_scale)^2) for a bridged pixel d columns from the nearest usable one
# (a linear bridge misses the curvature of the soft-tissue profile, more so mid-gap), times
# ``extrapolated_weight`` for a one-sided extrapolation (the row may slope beyond its last
# soft-tissue pixel); 0 for NaN.
# --------------------------------------------------------------------------------------------


@jit
def row_baselines_kernel(values, usable, half_window, gap_scale, extrapolated_weight, out, weight):
    rows, cols = values.shape
    sum_v = np.zeros(cols + 1)
    sum_x = np.zeros(cols + 1)
    count = np.zeros(cols + 1, dtype=np.int64)
    left = np.empty(cols, dtype=np.int64)
    right = np.empty(cols, dtype=np.int64)
    width = 2 * half_window
    for r in range(rows):
        last = -1
        for c in range(cols):
            v = values[r, c]
            ok = usable[r, c] and math.isfinite(v)
            sum_v[c + 1] = sum_v[c] + (v if ok else 0.0)
            sum_x[c + 1] = sum_x[c] + (c if ok else 0.0)
            count[c + 1] = count[c] + (1 if ok else 0)
            if ok:
                last = c
            left[c] = last
        nxt = -1
        for c in range(cols - 1, -1, -1):
            if count[c + 1] > count[c]:
                nxt = c
            right[c] = nxt
        for c in range(cols):
            if count[c + 1] > count[c]:
                lo = max(0, c - half_window)
                hi = min(cols - 1, c + half_window)
                out[r, c] = (sum_v[hi + 1] - sum_v[lo]) / (count[hi + 1] - count[lo])
                weight[r, c] = 1.0
                continue
            gl = left[c]
            gr = right[c]
            mean_l = mean_r = x_l = x_r = 0.0
            if gl < 0 and gr < 0:
                out[r, c] = math.nan
                weight[r, c] = 0.0
                continue
            if gl >= 0:
                lo = max(0, gl - width)
                n = count[gl + 1] - count[lo]
                mean_l = (sum_v[gl + 1] - sum_v[lo]) / n
                x_l = (sum_x[gl + 1] - sum_x[lo]) / n
            if gr >= 0:
                hi = min(cols - 1, gr + width)
                n = count[hi + 1] - count[gr]
                mean_r = (sum_v[hi + 1] - sum_v[gr]) / n
                x_r = (sum_x[hi + 1] - sum_x[gr]) / n
            d = cols
            if gl >= 0:
                d = c - gl
            if gr >= 0:
                d = min(d, gr - c)
            w = 1.0 / (1.0 + (d / gap_scale) ** 2)
            if gl < 0:
                out[r, c] = mean_r
                weight[r, c] = extrapolated_weight * w
            elif gr < 0:
                out[r, c] = mean_l
                weight[r, c] = extrapolated_weight * w
            else:
                t = (c - x_l) / (x_r - x_l)
                t = min(1.0, max(0.0, t))
                value = mean_l + t * (mean_r - mean_l)
                lo_hi = gl - width - 1
                ro_lo = gr + width + 1
                if lo_hi >= 0 and ro_lo <= cols - 1:
                    lo_lo = max(0, lo_hi - width)
                    ro_hi = min(cols - 1, ro_lo + width)
                    n_lo = count[lo_hi + 1] - count[lo_lo]
                    n_ro = count[ro_hi + 1] - count[ro_lo]
                    if n_lo > 0 and n_ro > 0:
                        slope = (mean_r - mean_l) / (x_r - x_l)
                        x_lo = (sum_x[lo_hi + 1] - sum_x[lo_lo]) / n_lo
                        m_lo = (sum_v[lo_hi + 1] - sum_v[lo_lo]) / n_lo
                        x_ro = (sum_x[ro_hi + 1] - sum_x[ro_lo]) / n_ro
                        m_ro = (sum_v[ro_hi + 1] - sum_v[ro_lo]) / n_ro
                        b_lo = (x_lo - x_l) * (x_lo - x_r)
                        b_ro = (x_ro - x_l) * (x_ro - x_r)
                        res_lo = m_lo - (mean_l + slope * (x_lo - x_l))
                        res_ro = m_ro - (mean_l + slope * (x_ro - x_l))
                        norm = b_lo * b_lo + b_ro * b_ro
                        if norm > 0.0:
                            curvature = (res_lo * b_lo + res_ro * b_ro) / norm
                            b_c = (c - x_l) * (c - x_r)
                            if b_c < 0.0:
                                value += curvature * b_c
                out[r, c] = value
                weight[r, c] = w


def row_baselines_reference(values, usable, half_window, gap_scale, extrapolated_weight):
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
                if len(outer) == 2:  # least-squares parabola through the outer windows
                    (m_lo, x_lo), (m_ro, x_ro) = outer
                    slope = (m_r - m_l) / (x_r - x_l)
                    b = np.array([(x_lo - x_l) * (x_lo - x_r), (x_ro - x_l) * (x_ro - x_r)])
                    res = np.array([m_lo, m_ro]) - (m_l + slope * (np.array([x_lo, x_ro]) - x_l))
                    b_c = (c - x_l) * (c - x_r)
                    if (b @ b) > 0 and b_c < 0:
                        out[r, c] += (res @ b) / (b @ b) * b_c
    return out, weight


# --------------------------------------------------------------------------------------------
# Block averaging to the ~1 mm baseline grid and linear upsampling back (resample.py).  The
# last block of a row or column that the image does not fill repeats the edge pixel, as
# ``np.pad(mode="edge")`` would.
# --------------------------------------------------------------------------------------------


@jit
def block_mean_kernel(image, row_factor, col_factor, out):
    rows, cols = image.shape
    out_rows, out_cols = out.shape
    out[:, :] = 0.0
    for block_r in range(out_rows):
        for i in range(row_factor):
            r = min(block_r * row_factor + i, rows - 1)
            for block_c in range(out_cols):
                total = 0.0
                for j in range(col_factor):
                    total += image[r, min(block_c * col_factor + j, cols - 1)]
                out[block_r, block_c] += total
    n = row_factor * col_factor
    for block_r in range(out_rows):
        for block_c in range(out_cols):
            out[block_r, block_c] /= n


@jit
def block_count_kernel(mask, row_factor, col_factor, out):
    """Number of True pixels per block (edge-replicated like ``block_mean_kernel``)."""
    rows, cols = mask.shape
    out_rows, out_cols = out.shape
    out[:, :] = 0
    for block_r in range(out_rows):
        for i in range(row_factor):
            r = min(block_r * row_factor + i, rows - 1)
            for block_c in range(out_cols):
                for j in range(col_factor):
                    if mask[r, min(block_c * col_factor + j, cols - 1)]:
                        out[block_r, block_c] += 1


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


@jit
def _linear_weights(size, factor, n):
    # Fine pixel j has its centre at (j + 0.5) / factor - 0.5 in coarse pixel coordinates.
    lower = np.empty(size, dtype=np.int64)
    upper = np.empty(size, dtype=np.int64)
    t = np.empty(size)
    for j in range(size):
        position = min(max((j + 0.5) / factor - 0.5, 0.0), n - 1.0)
        lo = min(int(math.floor(position)), max(n - 2, 0))
        lower[j] = lo
        upper[j] = min(lo + 1, n - 1)
        t[j] = position - lo
    return lower, upper, t


@jit
def upsample_linear_kernel(coarse, row_factor, col_factor, out):
    """Separable linear interpolation: along columns of ``coarse`` first, then along rows."""
    n_rows, n_cols = coarse.shape
    rows, cols = out.shape
    row_lo, row_hi, row_t = _linear_weights(rows, row_factor, n_rows)
    col_lo, col_hi, col_t = _linear_weights(cols, col_factor, n_cols)
    line = np.empty(n_cols)
    for r in range(rows):
        a, b, t = row_lo[r], row_hi[r], row_t[r]
        for c in range(n_cols):
            line[c] = coarse[a, c] * (1 - t) + coarse[b, c] * t
        for c in range(cols):
            u = col_t[c]
            out[r, c] = line[col_lo[c]] * (1 - u) + line[col_hi[c]] * u


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


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel here on 1 x 1 inputs.

    DESIGN.md (Kernels): compile cost is part of the product; a server or batch worker calls
    this once at start so the first scan does not pay it.
    """
    one = np.ones((1, 1))
    flag = np.zeros((1, 1), dtype=np.bool_)
    out, out2 = np.empty((1, 1)), np.empty((1, 1))
    table = np.empty(2)
    log_table_kernel(2.0, 0.5, table)
    table.flags.writeable = False  # as the cached tables are
    log_attenuation_kernel(one, one, 2.0, 2.0, 0.5, 0.0, table, table, out, out2, flag)
    areal_density_kernel(one, one, one, 1.0, 0.5, out)
    row_baselines_kernel(one, ~flag, 1, 1.0, 1e-3, out, out2)
    block_mean_kernel(one, 1, 1, out)
    block_count_kernel(flag, 1, 1, np.empty((1, 1), dtype=np.int64))
    upsample_linear_kernel(one, 1, 1, out)
    _filter_kernels.warm_up()
