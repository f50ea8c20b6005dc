"""numba kernels of the physics stage: the dual-energy decomposition and separable smoothing.

The kernels take C-contiguous float64 / bool arrays and scalars only; the public wrappers by
concept (:mod:`.log_attenuation`, :mod:`.resample`, :mod:`.smoothing`, :mod:`.soft_tissue`)
validate dtype, shape and contiguity before calling them (docs/architecture.md, Kernels).  Each
kernel's readable specification is its plain numpy reference in :mod:`._numpy_reference`,
which the parity tests hold it to.

The smoothing kernels compute exactly what ``scipy.ndimage.correlate1d`` computes for a
symmetric kernel, in the same float64 operations and order, so results are bit-identical to
``scipy.ndimage.gaussian_filter(1d)``: each output is ``x[i] * w[0]`` plus, from the outermost
tap inwards, ``(x[i - k] + x[i + k]) * w[k]``.  They are faster because the inner loop runs
along contiguous memory.  Boundary modes (indices outside ``[0, n)``): ``MODE_NEAREST``
repeats the edge value, ``MODE_REFLECT`` mirrors about the edge (``d c b a | a b c d | d c b
a``), both as in scipy.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine._numba import jit


@jit
def log_table_kernel(i0, count_offset, step, out):
    """``out[k] = ln(i0 / (k step + count_offset))``: the log of every count ``k step``
    (``step`` a power of two, so ``k step`` is exact) below ``out.size step``."""
    for k in range(out.size):
        # k = 0 without an offset is never looked up: counts are clipped to a positive floor.
        count = k * step
        out[k] = math.log(i0 / (count + count_offset)) if count + count_offset > 0 else math.inf


@jit
def _log_count(count, i0, count_offset, table, inv_step):
    # Counts come from integer detector values times an integer RescaleSlope, so a table
    # lookup (the very same expression, evaluated once per process) replaces the logarithm,
    # the costliest step of the pass.  ``inv_step`` is the inverse of a power of two, so
    # ``count * inv_step`` is exact and an integer only for multiples of the table's step.
    x = count * inv_step
    if x < table.size and x == math.floor(x):
        return table[int(x)]
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
    inv_step_low,
    inv_step_high,
):
    """Fill ``a_low = ln(i0_low / (counts_low + count_offset))`` (and high); pixels whose count
    is below the floor or not finite are clipped to ``floor_counts`` first and flagged in
    ``starved``.  ``table_*`` hold the same expression for the counts ``k / inv_step_*``
    (``log_table_kernel``; may be empty).  Returns the number flagged."""
    n_starved = 0
    for r in range(counts_low.shape[0]):
        n_starved += _log_row(
            counts_low, counts_high, r, i0_low, i0_high, floor_counts, count_offset,
            table_low, table_high, inv_step_low, inv_step_high, a_low, a_high, starved,
        )  # fmt: skip
    return n_starved


@jit
def _log_row(
    counts_low, counts_high, r, i0_low, i0_high, floor_counts, count_offset,
    table_low, table_high, inv_step_low, inv_step_high, a_low, a_high, starved,
):  # fmt: skip
    """One row of :func:`log_attenuation_kernel` (shared with the fused block pass); returns
    the row's number of starved pixels."""
    n_starved = 0
    for c in range(counts_low.shape[1]):
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
        a_low[r, c] = _log_count(lo, i0_low, count_offset, table_low, inv_step_low)
        a_high[r, c] = _log_count(hi, i0_high, count_offset, table_high, inv_step_high)
        starved[r, c] = bad
        if bad:
            n_starved += 1
    return n_starved


@jit
def log_attenuation_blocks_kernel(
    counts_low,
    counts_high,
    i0_low,
    i0_high,
    floor_counts,
    count_offset,
    table_low,
    table_high,
    inv_step_low,
    inv_step_high,
    field,
    row_factor,
    col_factor,
    a_low,
    a_high,
    starved,
    mean_low,
    mean_high,
    field_all,
    starved_any,
):
    """:func:`log_attenuation_kernel` and, in the same pass, the baseline grid's block values:
    ``mean_* = block_mean_kernel(a_*)``, ``field_all`` (every pixel of the block in
    ``field``) and ``starved_any`` (any pixel starved), edge rows and columns replicated.
    The block sums are formed in ``block_mean_kernel``'s order (per fine row, the block's
    columns in turn; the fine rows in turn), so the means are the same to the last bit.
    Returns the number of starved pixels.
    """
    rows, cols = counts_low.shape
    out_rows, out_cols = mean_low.shape
    n_starved = 0
    acc_low = np.empty(out_cols)
    acc_high = np.empty(out_cols)
    n = row_factor * col_factor
    for block_r in range(out_rows):
        for block_c in range(out_cols):
            acc_low[block_c] = 0.0
            acc_high[block_c] = 0.0
            field_all[block_r, block_c] = True
            starved_any[block_r, block_c] = False
        for i in range(row_factor):
            r = block_r * row_factor + i
            if r < rows:  # a new fine row: its logarithms
                n_starved += _log_row(
                    counts_low, counts_high, r, i0_low, i0_high, floor_counts, count_offset,
                    table_low, table_high, inv_step_low, inv_step_high, a_low, a_high, starved,
                )  # fmt: skip
            else:  # beyond the last row: the last row again, as block_mean_kernel repeats it
                r = rows - 1
            for block_c in range(out_cols):
                total_low = 0.0
                total_high = 0.0
                all_in = field_all[block_r, block_c]
                any_bad = starved_any[block_r, block_c]
                start = block_c * col_factor
                if start + col_factor <= cols:  # a whole block: no edge to replicate
                    for c in range(start, start + col_factor):
                        total_low += a_low[r, c]
                        total_high += a_high[r, c]
                        all_in &= field[r, c]
                        any_bad |= starved[r, c]
                else:
                    for j in range(col_factor):
                        c = min(start + j, cols - 1)
                        total_low += a_low[r, c]
                        total_high += a_high[r, c]
                        all_in &= field[r, c]
                        any_bad |= starved[r, c]
                acc_low[block_c] += total_low
                acc_high[block_c] += total_high
                field_all[block_r, block_c] = all_in
                starved_any[block_r, block_c] = any_bad
        for block_c in range(out_cols):
            mean_low[block_r, block_c] = acc_low[block_c] / n
            mean_high[block_r, block_c] = acc_high[block_c] / n
    return n_starved


@jit
def areal_density_kernel(a_low, a_high, r_st, mu_low, mu_high, r_min, r_max, out):
    """sigma_b with R_st clipped to ``[r_min, r_max]`` as ``np.clip`` does (the maximum,
    then the minimum; NaN stays NaN): no clipped copy of R_st."""
    rows, cols = a_low.shape
    for r in range(rows):
        for c in range(cols):
            ratio = r_st[r, c]
            if ratio < r_min:
                ratio = r_min
            if ratio > r_max:
                ratio = r_max
            out[r, c] = (a_low[r, c] - ratio * a_high[r, c]) / (mu_low - ratio * mu_high)


@jit
def row_baselines_kernel(
    values, usable, half_window, gap_scale, extrapolated_weight, curved_bridge, out, weight
):
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
        c = 0
        while c < cols:
            if count[c + 1] > count[c]:
                lo = max(0, c - half_window)
                hi = min(cols - 1, c + half_window)
                out[r, c] = (sum_v[hi + 1] - sum_v[lo]) / (count[hi + 1] - count[lo])
                weight[r, c] = 1.0
                c += 1
                continue
            # A run of unusable pixels [c, end): the side windows, the slope and the
            # curvature are the run's, so they are formed once per run (the same expressions
            # as per pixel, hence the same values); only the position terms vary.
            gl = left[c]
            gr = right[c]
            end = gr if gr >= 0 else cols
            if gl < 0 and gr < 0:
                for p in range(c, end):
                    out[r, p] = math.nan
                    weight[r, p] = 0.0
                c = end
                continue
            mean_l = mean_r = x_l = x_r = 0.0
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
            if gl < 0 or gr < 0:  # one-sided: the nearest side window's mean
                side = mean_r if gl < 0 else mean_l
                for p in range(c, end):
                    d = gr - p if gl < 0 else p - gl
                    w = 1.0 / (1.0 + (d / gap_scale) ** 2)
                    out[r, p] = side
                    weight[r, p] = extrapolated_weight * w
                c = end
                continue
            curved = False
            curvature = 0.0
            lo_hi = gl - width - 1
            ro_lo = gr + width + 1
            if curved_bridge and lo_hi >= 0 and ro_lo <= cols - 1:
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
                        curved = True
            for p in range(c, end):
                d = min(p - gl, gr - p)
                w = 1.0 / (1.0 + (d / gap_scale) ** 2)
                t = (p - x_l) / (x_r - x_l)
                t = min(1.0, max(0.0, t))
                value = mean_l + t * (mean_r - mean_l)
                if curved:
                    b_c = (p - x_l) * (p - x_r)
                    if b_c < 0.0:
                        value += curvature * b_c
                out[r, p] = value
                weight[r, p] = w
            c = end


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


# --------------------------------------------------------------------------------------------
# Separable symmetric smoothing (the Gaussians of the baseline iteration).
# --------------------------------------------------------------------------------------------

MODE_NEAREST = 0

MODE_REFLECT = 1


@jit
def _boundary_index(i, n, mode):
    if 0 <= i < n:
        return i
    if mode == MODE_NEAREST:
        return 0 if i < 0 else n - 1
    period = 2 * n
    i = i % period  # Python semantics: non-negative
    return i if i < n else period - 1 - i


@jit
def correlate_rows_kernel(image, half_weights, mode, out):
    """Symmetric correlation along axis 0; ``half_weights[k]`` is the tap at offsets +-k.

    ``out`` must not be ``image``.
    """
    rows, cols = image.shape
    if rows == 0 or cols == 0:
        return
    radius = half_weights.size - 1
    w0 = half_weights[0]
    # A private accumulator row: the compiler can vectorise loops that provably do not alias.
    acc = np.empty(cols)
    for i in range(rows):
        centre = image[i]
        for c in range(cols):
            acc[c] = centre[c] * w0
        for k in range(radius, 0, -1):
            above = image[_boundary_index(i - k, rows, mode)]
            below = image[_boundary_index(i + k, rows, mode)]
            w = half_weights[k]
            for c in range(cols):
                acc[c] += (above[c] + below[c]) * w
        out[i, :] = acc


@jit
def correlate_cols_kernel(image, half_weights, mode, out):
    """Symmetric correlation along axis 1 (``out`` may be ``image``: each row is buffered)."""
    rows, cols = image.shape
    if rows == 0 or cols == 0:
        return
    radius = half_weights.size - 1
    w0 = half_weights[0]
    line = np.empty(cols + 2 * radius)
    acc = np.empty(cols)
    for i in range(rows):
        for j in range(cols + 2 * radius):
            line[j] = image[i, _boundary_index(j - radius, cols, mode)]
        for c in range(cols):
            acc[c] = line[c + radius] * w0
        # Tap by tap over the whole row (the per-pixel order of the sum is unchanged), so the
        # inner loop runs over contiguous memory.
        for k in range(radius, 0, -1):
            w = half_weights[k]
            left = line[radius - k : radius - k + cols]
            right = line[radius + k : radius + k + cols]
            for c in range(cols):
                acc[c] += (left[c] + right[c]) * w
        out[i, :] = acc


@jit
def correlate_2d_kernel(image, row_weights, col_weights, mode, out):
    """``correlate_cols(correlate_rows(image))`` row by row, without the intermediate image:
    each output row is ``correlate_rows_kernel``'s row, then ``correlate_cols_kernel``'s pass
    over it, in their operations and order (so the same values, as scipy's
    ``gaussian_filter`` gives: axis 0 first).  ``out`` must not be ``image``.
    """
    rows, cols = image.shape
    if rows == 0 or cols == 0:
        return
    radius = row_weights.size - 1
    w0 = row_weights[0]
    col_radius = col_weights.size - 1
    c0 = col_weights[0]
    acc = np.empty(cols)
    line = np.empty(cols + 2 * col_radius)
    acc_c = np.empty(cols)
    for i in range(rows):
        centre = image[i]
        for c in range(cols):
            acc[c] = centre[c] * w0
        # Two taps per sweep over the row, added in the same order as one tap at a time
        # ((acc + tap k) + tap k - 1): half the loads and stores of the accumulator.
        k = radius
        while k >= 2:
            above = image[_boundary_index(i - k, rows, mode)]
            below = image[_boundary_index(i + k, rows, mode)]
            above_2 = image[_boundary_index(i - k + 1, rows, mode)]
            below_2 = image[_boundary_index(i + k - 1, rows, mode)]
            w = row_weights[k]
            w_2 = row_weights[k - 1]
            for c in range(cols):
                acc[c] = (acc[c] + (above[c] + below[c]) * w) + (above_2[c] + below_2[c]) * w_2
            k -= 2
        if k == 1:
            above = image[_boundary_index(i - 1, rows, mode)]
            below = image[_boundary_index(i + 1, rows, mode)]
            w = row_weights[1]
            for c in range(cols):
                acc[c] += (above[c] + below[c]) * w
        for j in range(cols + 2 * col_radius):
            line[j] = acc[_boundary_index(j - col_radius, cols, mode)]
        for c in range(cols):
            acc_c[c] = line[c + col_radius] * c0
        k = col_radius
        while k >= 2:
            w = col_weights[k]
            w_2 = col_weights[k - 1]
            left = line[col_radius - k : col_radius - k + cols]
            right = line[col_radius + k : col_radius + k + cols]
            left_2 = line[col_radius - k + 1 : col_radius - k + 1 + cols]
            right_2 = line[col_radius + k - 1 : col_radius + k - 1 + cols]
            for c in range(cols):
                acc_c[c] = (acc_c[c] + (left[c] + right[c]) * w) + (left_2[c] + right_2[c]) * w_2
            k -= 2
        if k == 1:
            left = line[col_radius - 1 : col_radius - 1 + cols]
            right = line[col_radius + 1 : col_radius + 1 + cols]
            w = col_weights[1]
            for c in range(cols):
                acc_c[c] += (left[c] + right[c]) * w
        out[i, :] = acc_c


# Bins of the order-statistics histogram: ~10 values per bin for the ~40 000 values the
# baseline iteration selects from, so the final sorts are tiny.
ORDER_STATISTICS_BINS = 4096


@jit
def order_statistics_kernel(values, ranks, out):
    """``out[r] = sorted(values)[ranks[r]]`` by histogram selection; False (``out`` unset)
    when ``values`` holds a non-finite value or its range is too small or large to bin.

    One pass for the range, one to histogram into ``ORDER_STATISTICS_BINS`` equal bins (the
    bin index is monotone in the value, so rank k lies in the bin where the cumulative count
    passes k), one to gather the values of the bins holding the ranks, which are then sorted.
    The selected values are elements of ``values``, so they equal numpy's partition's exactly.
    ``ranks`` must be sorted, each in ``[0, values.size)``.
    """
    n = values.size
    m = ranks.size
    if n == 0 or m == 0:
        return True
    lo, hi = values[0], values[0]
    for i in range(n):
        v = values[i]
        if not math.isfinite(v):
            return False
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return order_statistics_in_range_kernel(values, ranks, lo, hi, out)


@jit
def order_statistics_in_range_kernel(values, ranks, lo, hi, out):
    """:func:`order_statistics_kernel` given the range of ``values``: ``lo`` and ``hi``
    must be their minimum and maximum, both finite (numpy's ``min``/``max`` are vectorised,
    and a third of the kernel's time was its own range pass).  False (``out`` unset) when
    the range is too small or large to bin.
    """
    n = values.size
    m = ranks.size
    if n == 0 or m == 0:
        return True
    if not hi > lo:
        for r in range(m):
            out[r] = values[0]  # all equal: the first, as the range pass keeps it (signed 0)
        return True
    bins = ORDER_STATISTICS_BINS
    scale = bins / (hi - lo)
    if not (math.isfinite(scale) and scale > 0):  # a subnormal or overflowing range
        return False
    below = np.zeros(bins + 1, dtype=np.int64)  # below[b]: values in bins < b (after the sum)
    for i in range(n):
        b = min(int((values[i] - lo) * scale), bins - 1)
        below[b + 1] += 1
    for b in range(bins):
        below[b + 1] += below[b]
    wanted = np.empty(m, dtype=np.int64)  # the bin of each rank
    for r in range(m):
        k = ranks[r]
        first, last = 0, bins
        while last - first > 1:  # largest b with below[b] <= k
            mid = (first + last) // 2
            if below[mid] <= k:
                first = mid
            else:
                last = mid
        wanted[r] = first
    # distinct wanted bins (ranks sorted, so bins are non-decreasing): gather their values
    slot = np.full(bins, -1, dtype=np.int64)
    offsets = np.zeros(m + 1, dtype=np.int64)
    n_slots = 0
    for r in range(m):
        b = wanted[r]
        if slot[b] < 0:
            slot[b] = n_slots
            offsets[n_slots + 1] = offsets[n_slots] + below[b + 1] - below[b]
            n_slots += 1
    gathered = np.empty(offsets[n_slots])
    fill = offsets[:n_slots].copy()
    for i in range(n):
        v = values[i]
        s = slot[min(int((v - lo) * scale), bins - 1)]
        if s >= 0:
            gathered[fill[s]] = v
            fill[s] += 1
    for s in range(n_slots):
        gathered[offsets[s] : offsets[s + 1]].sort()
    for r in range(m):
        b = wanted[r]
        s = slot[b]
        out[r] = gathered[offsets[s] + ranks[r] - below[b]]
    return True


@jit
def peak_histogram_kernel(values, lo, scale, counts):
    """``counts[b]`` += 1 for every value whose ``int((v - lo) * scale)`` is a bin ``b`` of
    ``counts``: ``np.bincount`` of numpy's ``astype(intp)`` of the same product, kept where
    ``0 <= index < bins``, without the index and mask arrays (a product in (-1, 0) truncates to
    bin 0 in both)."""
    bins = counts.size
    for i in range(values.size):
        x = (values[i] - lo) * scale
        if x > -1.0 and x < bins:
            counts[int(x)] += 1


@jit
def values_below_kernel(values, limit):
    """``values[values < limit]`` (in order) without the mask array.

    Branch-free (every value is written, the next slot taken only when it is below): about
    half the values of a soft-tissue peak lie below its mode, in no order, so a branch on
    the test was mispredicted every other value.
    """
    n = 0
    for i in range(values.size):
        n += values[i] < limit
    out = np.empty(n + 1)
    n = 0
    for i in range(values.size):
        v = values[i]
        out[n] = v
        n += v < limit
    return out[:n]


@jit
def usable_mask_kernel(
    candidate,
    bone,
    excess,
    peak,
    outlier_limit,
    radius_rows,
    radius_cols,
    gas_values,
    gas_soft,
    gas_order,
    gas_factor,
    out,
):
    """The bone-free pixels of one baseline iteration, in one pass per row:
    ``candidate & ~dilate(bone) & (|excess - peak| <= outlier_limit) & ~gas``.

    The dilation is any ``bone`` pixel within ``radius_rows`` rows and ``radius_cols``
    columns (clipped at the image edge, as ``scipy.ndimage.maximum_filter`` with its default
    ``reflect`` mode gives for booleans).  Gas, when ``gas_values`` is not empty: a pixel
    whose value is below ``gas_factor`` times the median of its row's ``gas_soft & ~bone``
    pixels (NaN values left out; no such pixel: no gas), the median as ``np.nanmedian``
    takes it.  ``gas_order`` holds each row's column indices in ascending order of
    ``gas_values`` (``np.argsort(gas_values, axis=1)``): the bone mask changes from
    iteration to iteration but the values do not, so the median is the middle of the soft
    pixels in that order, found by counting (a selection per row and iteration was the
    kernel's largest cost, its comparisons unpredictable).
    """
    rows, cols = bone.shape
    if rows == 0 or cols == 0:
        return
    # Dilation along the row by a running count of bone in the window [c - rc, c + rc].
    near = np.empty((rows, cols), dtype=np.bool_)
    for r in range(rows):
        count = 0
        for c in range(min(radius_cols, cols)):
            count += bone[r, c]
        for c in range(cols):
            if c + radius_cols < cols:
                count += bone[r, c + radius_cols]
            if c - radius_cols - 1 >= 0:
                count -= bone[r, c - radius_cols - 1]
            near[r, c] = count > 0
    # ... then across rows: per column, how many rows of the window [r - rr, r + rr] are near.
    in_window = np.zeros(cols, dtype=np.int64)
    for r in range(min(radius_rows, rows)):
        for c in range(cols):
            in_window[c] += near[r, c]
    with_gas = gas_values.size > 0
    for r in range(rows):
        if r + radius_rows < rows:
            for c in range(cols):
                in_window[c] += near[r + radius_rows, c]
        if r - radius_rows - 1 >= 0:
            for c in range(cols):
                in_window[c] -= near[r - radius_rows - 1, c]
        gas_limit = -math.inf  # no gas in this row unless its soft tissue says so
        if with_gas:
            n = 0
            for c in range(cols):
                v = gas_values[r, c]
                n += gas_soft[r, c] & (not bone[r, c]) & (v == v)
            if n > 0:
                # the soft pixels of ranks (n - 1) // 2 and n // 2 in ascending order, with
                # conditional moves rather than branches
                rank_lower, rank_upper = (n - 1) // 2, n // 2
                lower = upper = 0.0
                seen = 0
                for j in range(cols):
                    c = gas_order[r, j]
                    v = gas_values[r, c]
                    soft = gas_soft[r, c] & (not bone[r, c]) & (v == v)
                    lower = v if soft & (seen == rank_lower) else lower
                    upper = v if soft & (seen == rank_upper) else upper
                    seen += soft
                median = upper if n % 2 else (lower + upper) / 2
                gas_limit = gas_factor * median
        # Bitwise, not short-circuit: the tests are unpredictable from pixel to pixel, and
        # branches on them made this loop 3x slower than the rest of the kernel.
        if with_gas:
            for c in range(cols):
                out[r, c] = (
                    candidate[r, c]
                    & (in_window[c] == 0)
                    & (abs(excess[r, c] - peak) <= outlier_limit)
                    & (not gas_values[r, c] < gas_limit)
                )
        else:
            for c in range(cols):
                out[r, c] = (
                    candidate[r, c]
                    & (in_window[c] == 0)
                    & (abs(excess[r, c] - peak) <= outlier_limit)
                )


@jit
def weighted_smooth_rows_kernel(baseline, weight, half_weights, out):
    """Normalised (weighted) correlation along axis 0 with ``MODE_NEAREST``: ``out =
    correlate(baseline * weight) / correlate(weight)`` over the entries where ``baseline`` is
    finite and ``weight > 0`` (the others count as 0 in both), NaN where the correlated
    weight is not above 1e-12.  Both correlations repeat ``correlate_rows_kernel``'s
    operations in its order.  Returns ``(finite entries, NaN entries of out)``.
    """
    rows, cols = baseline.shape
    filled = np.empty((rows, cols))
    kept = np.empty((rows, cols))
    n_finite = 0
    for i in range(rows):
        for c in range(cols):
            v = baseline[i, c]
            w = weight[i, c]
            if math.isfinite(v) and w > 0:
                filled[i, c] = v * w
                kept[i, c] = w
                n_finite += 1
            else:
                filled[i, c] = 0.0
                kept[i, c] = 0.0
    if rows == 0 or cols == 0 or n_finite == 0:
        return n_finite, 0
    radius = half_weights.size - 1
    w0 = half_weights[0]
    acc_f = np.empty(cols)
    acc_w = np.empty(cols)
    n_bad = 0
    for i in range(rows):
        for c in range(cols):
            acc_f[c] = filled[i, c] * w0
            acc_w[c] = kept[i, c] * w0
        # Two taps per sweep, added in the one-tap order ((acc + tap k) + tap k - 1), as in
        # correlate_2d_kernel: fewer accumulator loads and stores.
        k = radius
        while k >= 2:
            above, below = (
                _boundary_index(i - k, rows, MODE_NEAREST),
                _boundary_index(i + k, rows, MODE_NEAREST),
            )
            above_2, below_2 = (
                _boundary_index(i - k + 1, rows, MODE_NEAREST),
                _boundary_index(i + k - 1, rows, MODE_NEAREST),
            )
            w, w_2 = half_weights[k], half_weights[k - 1]
            f_a, f_b, f_a2, f_b2 = filled[above], filled[below], filled[above_2], filled[below_2]
            k_a, k_b, k_a2, k_b2 = kept[above], kept[below], kept[above_2], kept[below_2]
            for c in range(cols):
                acc_f[c] = (acc_f[c] + (f_a[c] + f_b[c]) * w) + (f_a2[c] + f_b2[c]) * w_2
            for c in range(cols):
                acc_w[c] = (acc_w[c] + (k_a[c] + k_b[c]) * w) + (k_a2[c] + k_b2[c]) * w_2
            k -= 2
        if k == 1:
            above = _boundary_index(i - 1, rows, MODE_NEAREST)
            below = _boundary_index(i + 1, rows, MODE_NEAREST)
            w = half_weights[1]
            for c in range(cols):
                acc_f[c] += (filled[above, c] + filled[below, c]) * w
                acc_w[c] += (kept[above, c] + kept[below, c]) * w
        for c in range(cols):
            if acc_w[c] > 1e-12:
                out[i, c] = acc_f[c] / acc_w[c]
            else:
                out[i, c] = math.nan
                n_bad += 1
    return n_finite, n_bad


@jit
def neighbour_noise_kernel(counts, field, row_step):
    """Photon-noise z of horizontal neighbours on every ``row_step``-th row: for each pair
    ``(c + 1, c)`` in the field whose counts are both at least 1, ``(I[c + 1] - I[c]) /
    sqrt(I[c + 1] + I[c])``, in raster order (``plausibility.photon_noise_excess``, in one
    pass instead of six masked copies)."""
    rows, cols = counts.shape
    out = np.empty(((rows + row_step - 1) // row_step) * max(cols - 1, 0))
    n = 0
    for r in range(0, rows, row_step):
        for c in range(cols - 1):
            if field[r, c + 1] and field[r, c]:
                first = counts[r, c + 1]
                second = counts[r, c]
                if first >= 1 and second >= 1:
                    out[n] = (first - second) / math.sqrt(first + second)
                    n += 1
    return out[:n]


@jit
def count_either_above_kernel(low, high, limit_low, limit_high):
    """How many ``i`` have ``low[i] > limit_low`` or ``high[i] > limit_high`` (1-D arrays of
    one size): ``np.count_nonzero((low > limit_low) | (high > limit_high))`` without the
    three full-size masks."""
    n = 0
    for i in range(low.size):
        n += (low[i] > limit_low) | (high[i] > limit_high)
    return n


@jit
def both_at_least_kernel(low, high, step, minimum):
    """``(low[::step][keep], high[::step][keep])`` with ``keep = (low[::step] >= minimum) &
    (high[::step] >= minimum)``, for 1-D ``low`` and ``high`` of one size, in one pass."""
    n = (low.size + step - 1) // step
    kept_low = np.empty(n + 1)
    kept_high = np.empty(n + 1)
    count = 0
    for i in range(0, low.size, step):
        a = low[i]
        b = high[i]
        kept_low[count] = a
        kept_high[count] = b
        count += (a >= minimum) & (b >= minimum)  # branch-free: write, keep on the test
    return kept_low[:count], kept_high[:count]
