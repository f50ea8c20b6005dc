"""numba kernels of the segmentation stage (docs/architecture.md, Kernels).

Each ``@jit`` function works on arrays and scalars only; the public wrappers in
:mod:`dxaspine.segment.kernels` validate dtype, shape and contiguity before calling them, and
:mod:`dxaspine.segment._numpy_reference` holds the plain numpy references the parity tests compare
against.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine._numba import jit


@jit
def masked_block_mean_kernel(image, valid, factor_rows, factor_cols):  # pragma: no cover - numba
    """Mean of the valid, finite pixels of each ``factor_rows x factor_cols`` block.

    Blocks without any valid finite pixel are NaN.  Trailing rows/columns that do not fill a
    whole block are dropped.
    """
    out_rows = image.shape[0] // factor_rows
    out_cols = image.shape[1] // factor_cols
    out = np.full((out_rows, out_cols), np.nan)
    for i in range(out_rows):
        for j in range(out_cols):
            total = 0.0
            count = 0
            for a in range(i * factor_rows, (i + 1) * factor_rows):
                for b in range(j * factor_cols, (j + 1) * factor_cols):
                    v = image[a, b]
                    if valid[a, b] and np.isfinite(v):
                        total += v
                        count += 1
            if count > 0:
                out[i, j] = total / count
    return out


@jit
def track_path_kernel(cost, max_step, step_penalty):  # pragma: no cover - numba
    """Minimum-cost path with one column per row (dynamic programming over rows).

    ``acc[r, c] = cost[r, c] + min_{|d| <= max_step} (acc[r-1, c+d] + step_penalty * |d|)``.
    NaN costs count as +inf.  Ties go to the first candidate in the order ``d = -max_step ..
    +max_step`` and, for the last row, to the lowest column.  Returns the column per row.
    """
    rows, cols = cost.shape
    path = np.zeros(rows, dtype=np.int64)
    if rows == 0 or cols == 0:
        return path
    acc = np.empty((rows, cols))
    back = np.zeros((rows, cols), dtype=np.int64)
    for c in range(cols):
        v = cost[0, c]
        acc[0, c] = v if np.isfinite(v) else np.inf
    for r in range(1, rows):
        for c in range(cols):
            best = np.inf
            best_c = c
            for d in range(-max_step, max_step + 1):
                cc = c + d
                if cc < 0 or cc >= cols:
                    continue
                cand = acc[r - 1, cc] + step_penalty * abs(d)
                if cand < best:
                    best = cand
                    best_c = cc
            v = cost[r, c]
            acc[r, c] = (v if np.isfinite(v) else np.inf) + best
            back[r, c] = best_c
    last = 0
    best = np.inf
    for c in range(cols):
        if acc[rows - 1, c] < best:
            best = acc[rows - 1, c]
            last = c
    path[rows - 1] = last
    for r in range(rows - 1, 0, -1):
        path[r - 1] = back[r, path[r]]
    return path


@jit
def rasterize_levels_kernel(
    n_rows, n_cols, box_lo, box_hi, line_col, line_row, line_slope
):  # pragma: no cover - numba
    """Label image: ``k + 1`` for pixels inside the box between line ``k`` and line ``k + 1``.

    Row ``r`` of the box spans columns ``box_lo[r] <= c <= box_hi[r]`` (NaN bounds: the row
    is outside the box).  Line ``k`` is ``row = line_row[k] + line_slope[k] * (c -
    line_col[k])``; a pixel belongs to level ``k`` when ``row_k(c) <= r < row_{k+1}(c)``
    (first such ``k``).
    """
    out = np.zeros((n_rows, n_cols), dtype=np.int32)
    n_lines = line_col.shape[0]
    for r in range(n_rows):
        lo = box_lo[r]
        hi = box_hi[r]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        c_start = max(0, int(np.ceil(lo)))
        c_stop = min(n_cols - 1, int(np.floor(hi)))
        for c in range(c_start, c_stop + 1):
            for k in range(n_lines - 1):
                top = line_row[k] + line_slope[k] * (c - line_col[k])
                bottom = line_row[k + 1] + line_slope[k + 1] * (c - line_col[k + 1])
                if top <= r < bottom:
                    out[r, c] = k + 1
                    break
    return out


@jit
def _disc_centre_1d(prof, guess, search, rise_max, min_depth):  # pragma: no cover - numba
    n = prof.shape[0]
    for i in range(n):
        if not np.isfinite(prof[i]):
            return np.nan, np.nan
    if not np.isfinite(guess):
        return np.nan, np.nan
    lo = max(1, int(guess) - search)
    hi = min(n - 1, int(guess) + search + 1)
    if hi - lo < 1:
        return np.nan, np.nan
    i_min = lo
    for i in range(lo + 1, hi):
        if prof[i] < prof[i_min]:
            i_min = i
    v_min = prof[i_min]
    top_level = prof[0]
    for i in range(1, i_min + 1):
        top_level = max(top_level, prof[i])
    bottom_level = prof[i_min]
    for i in range(i_min + 1, n):
        bottom_level = max(bottom_level, prof[i])
    depth = min(top_level, bottom_level) - v_min
    if depth < min_depth:
        return np.nan, np.nan
    level = v_min + min(rise_max, 0.5 * depth)
    i_a = -1
    for i in range(i_min - 1, -1, -1):
        if prof[i] >= level:
            i_a = i
            break
    i_b = -1
    for i in range(i_min + 1, n):
        if prof[i] >= level:
            i_b = i
            break
    if i_a < 0 or i_b < 0:
        return np.nan, np.nan
    a0, a1 = prof[i_a], prof[i_a + 1]
    top_edge = i_a + (a0 - level) / (a0 - a1) if a0 != a1 else float(i_a)
    b0, b1 = prof[i_b - 1], prof[i_b]
    bottom_edge = i_b - 1 + (level - b0) / (b1 - b0) if b1 != b0 else float(i_b)
    return 0.5 * (top_edge + bottom_edge), bottom_edge - top_edge


@jit
def disc_centres_kernel(
    smoothed, cols, starts, length, guesses, search, rise_max, min_depth
):  # pragma: no cover - numba
    """Per column ``k``: disc centre row and endplate distance in ``smoothed[starts[k]:
    starts[k] + length, cols[k]]`` around the minimum within ``search`` rows of
    ``starts[k] + guesses[k]``.

    The edges are where the profile first rises ``min(rise_max, depth / 2)`` above the disc
    floor on each side; the disc must be ``min_depth`` deep.  NaN where a column is outside
    the image (or ``starts[k] < 0``), holds NaN, or has no disc.
    """
    k_count = cols.shape[0]
    centre = np.full(k_count, np.nan)
    thickness = np.full(k_count, np.nan)
    rows, n_cols = smoothed.shape
    for k in range(k_count):
        s = starts[k]
        c = cols[k]
        if s < 0 or s + length > rows or c < 0 or c >= n_cols or length < 3:
            continue
        mid, dist = _disc_centre_1d(
            smoothed[s : s + length, c], guesses[k], search, rise_max, min_depth
        )
        if np.isfinite(mid):
            centre[k] = mid + s
            thickness[k] = dist
    return centre, thickness


@jit
def _root(parent, i):  # pragma: no cover - numba
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving keeps the trees shallow
        i = parent[i]
    return i


@jit
def flip_small_components_kernel(mask, min_pixels):  # pragma: no cover - numba
    """In place: every 4-connected component (of True or of False pixels) with fewer than
    ``min_pixels`` pixels is inverted, all judged on the mask as given.

    Works on runs (maximal stretches of equal pixels within a row): a run joins the runs of
    the row above that overlap it and hold the same value (``scipy.ndimage.label``'s default
    cross connectivity), by union-find; a component's size is the sum of its run lengths.
    """
    rows, cols = mask.shape
    if rows == 0 or cols == 0:
        return
    n_runs = 0
    for r in range(rows):
        n_runs += 1
        for c in range(1, cols):
            if mask[r, c] != mask[r, c - 1]:
                n_runs += 1
    start = np.empty(n_runs, dtype=np.int32)  # run k covers start[k] .. end[k] - 1
    end = np.empty(n_runs, dtype=np.int32)
    parent = np.empty(n_runs, dtype=np.int32)
    size = np.zeros(n_runs, dtype=np.int32)
    k = 0
    prev_first = 0  # first run of the previous row
    for r in range(rows):
        first = k
        c0 = 0
        for c in range(1, cols + 1):
            if c == cols or mask[r, c] != mask[r, c0]:
                start[k] = c0
                end[k] = c
                parent[k] = k
                k += 1
                c0 = c
        if r > 0:
            # runs of both rows are sorted by column: walk them together
            j = prev_first
            for i in range(first, k):
                while end[j] <= start[i]:
                    j += 1
                jj = j
                while jj < first and start[jj] < end[i]:
                    if mask[r - 1, start[jj]] == mask[r, start[i]]:
                        a = _root(parent, i)
                        b = _root(parent, jj)
                        if a < b:
                            parent[b] = a
                        elif b < a:
                            parent[a] = b
                    jj += 1
        prev_first = first
    for i in range(n_runs):
        size[_root(parent, i)] += end[i] - start[i]
    k = 0
    for r in range(rows):
        c0 = 0
        while c0 < cols:
            c1 = end[k]
            if size[_root(parent, k)] < min_pixels:
                value = not mask[r, c0]
                for c in range(c0, c1):
                    mask[r, c] = value
            c0 = c1
            k += 1


@jit
def above_edge_blend_kernel(values, valid, lo, hi, left, right, offset, out):  # pragma: no cover
    """``out = valid & (values > offset + level)``, the level blended across each row.

    ``level[r, c] = left[r] * (1 - t) + right[r] * t`` with ``t = clip((c - lo[r]) /
    max(hi[r] - lo[r], 1), 0, 1)``: ``left`` at and before column ``lo``, ``right`` from
    ``hi`` on.  The same float64 operations in the same order as the numpy reference.
    """
    rows, cols = values.shape
    for r in range(rows):
        lo_r = lo[r]
        span = max(hi[r] - lo_r, 1.0)
        left_r = left[r]
        right_r = right[r]
        for c in range(cols):
            t = (c - lo_r) / span
            t = min(max(t, 0.0), 1.0)
            level = offset + (left_r * (1 - t) + right_r * t)
            out[r, c] = valid[r, c] and values[r, c] > level


@jit
def band_trace_kernel(
    values, cols, upper, lower, threshold, out_index, out_edge
):  # pragma: no cover - numba
    """Trace the bone band beside a level outward, column by column (``landmarks.
    lateral_band_fall``): returns the number ``n`` of columns traced, with ``out_index[:n]``
    the traced positions in ``cols`` and ``out_edge[:n]`` the band's lower edge (rows below
    the midline between the level's two lines).

    ``upper`` and ``lower`` are the lines as (row, slope, column).  In each column the
    level's rows run from ceil(upper line) to floor(lower line); a bone run is a stretch of
    ``values > threshold``.  The first column takes its longest run (the later one of equal
    length), each next column the lowest run touching the previous one (rows overlapping or
    adjacent); the trace stops at the first column outside the image, without rows or
    without such a run.
    """
    rows, n_cols = values.shape
    n = 0
    prev_a, prev_b = -1, -1
    for m in range(cols.shape[0]):
        c = cols[m]
        if c < 0 or c >= n_cols:
            break
        top = upper[0] + upper[1] * (c - upper[2])
        bottom = lower[0] + lower[1] * (c - lower[2])
        r0 = max(0, int(math.ceil(top)))
        r1 = min(rows - 1, int(math.floor(bottom)))
        if r1 < r0:
            break
        best_a, best_b = -1, -1
        r = r0
        while r <= r1:
            if values[r, c] > threshold:
                a = r
                while r + 1 <= r1 and values[r + 1, c] > threshold:
                    r += 1
                if n == 0:
                    if best_a < 0 or r - a >= best_b - best_a:
                        best_a, best_b = a, r
                elif a <= prev_b + 1 and r >= prev_a - 1:
                    best_a, best_b = a, r
            r += 1
        if best_a < 0:
            break
        prev_a, prev_b = best_a, best_b
        out_index[n] = m
        out_edge[n] = best_b - 0.5 * (top + bottom)
        n += 1
    return n


@jit
def band_half_edge_kernel(
    values, cols, index, bottom, upper, lower, half_cols, peak_px, floor_px, out
):  # pragma: no cover - numba
    """Half-maximum lower edge of a traced band (``landmarks.band_edge_fall``), per traced
    column, into ``out`` (rows below the midline between the level's two lines; NaN where
    the edge is not read).

    Traced column ``j`` sits at ``cols[index[j]]`` and its band run ends at row
    ``bottom[j]`` (``band_trace_kernel``).  Its profile is the mean, row by row over the
    level's rows (ceil(upper line) to floor(lower line) at that column, clipped to the image),
    of the trace columns ``cols[index[j] - half_cols .. index[j] + half_cols]`` that lie in
    ``cols`` and in the image.  The peak is the profile's maximum (the first of equal ones)
    from ``peak_px`` rows above ``bottom[j]`` down to it, the floor its minimum from
    ``bottom[j]`` down ``floor_px`` rows; from the peak down, the edge is where the profile
    first drops below half-way between them, interpolated linearly between the two rows.  No
    edge when ``bottom[j]`` is the level's last row, the peak does not exceed the floor, or
    the profile does not drop below half-way inside the level.
    """
    rows, n_cols = values.shape
    n_trace = cols.shape[0]
    profile = np.empty(rows)
    for j in range(index.shape[0]):
        out[j] = np.nan
        m = index[j]
        c = cols[m]
        top = upper[0] + upper[1] * (c - upper[2])
        low = lower[0] + lower[1] * (c - lower[2])
        r0 = max(0, int(math.ceil(top)))
        r1 = min(rows - 1, int(math.floor(low)))
        b = bottom[j]
        if b < r0 or b >= r1:
            continue
        for r in range(r0, r1 + 1):
            total = 0.0
            count = 0
            for k in range(max(0, m - half_cols), min(n_trace - 1, m + half_cols) + 1):
                ck = cols[k]
                if 0 <= ck < n_cols:
                    total += values[r, ck]
                    count += 1
            profile[r] = total / count
        peak_row = max(r0, b - peak_px)
        for r in range(peak_row + 1, b + 1):
            if profile[r] > profile[peak_row]:
                peak_row = r
        floor = profile[b]
        for r in range(b + 1, min(r1, b + floor_px) + 1):
            floor = min(floor, profile[r])
        if not profile[peak_row] > floor:
            continue
        level = 0.5 * (profile[peak_row] + floor)
        r = peak_row
        while r + 1 <= r1 and profile[r + 1] >= level:
            r += 1
        if r + 1 > r1:
            continue
        edge = r + (profile[r] - level) / (profile[r] - profile[r + 1])
        out[j] = edge - 0.5 * (top + low)


@jit
def side_bone_kernel(values, col0, side, edge_px, offsets, upper, lower, threshold, counts):
    """Bone beside one level on one side (``landmarks.lateral_bone``); returns the reach.

    Column ``k`` is ``rint(col0 + side (edge_px + offsets[k]))`` clamped to the image; its
    level rows run from ceil(upper line) to floor(lower line) at that column (``upper`` and
    ``lower`` as (row, slope, column)), within the rows ``[max(0, min top), min(rows - 1, max
    bottom)]`` over all columns.  ``counts[k]`` gets the number of rows there with
    ``values > threshold`` (0 for a column outside the image); the return value is the first
    ``k`` without bone or past the image's edge (``offsets.size`` when there is none).
    """  # pragma: no cover - numba
    rows, n_cols = values.shape
    n_off = offsets.shape[0]
    c = np.empty(n_off, dtype=np.int64)
    top = np.empty(n_off)
    bottom = np.empty(n_off)
    inside = np.empty(n_off, dtype=np.bool_)
    top_min, bottom_max = np.inf, -np.inf
    for k in range(n_off):
        ck = int(np.rint(col0 + side * (edge_px + offsets[k])))
        inside[k] = 0 <= ck < n_cols
        ck = min(max(ck, 0), n_cols - 1)
        c[k] = ck
        top[k] = math.ceil(upper[0] + upper[1] * (ck - upper[2]))
        bottom[k] = math.floor(lower[0] + lower[1] * (ck - lower[2]))
        top_min = min(top_min, top[k])
        bottom_max = max(bottom_max, bottom[k])
    r_lo = int(top_min) if top_min > 0 else 0  # int(max(0, min top)), as in numpy
    r_hi = int(bottom_max) if bottom_max < rows - 1 else rows - 1
    reach = n_off
    all_inside = True
    for k in range(n_off):
        all_inside = all_inside and inside[k]
        count = 0
        if inside[k]:
            for r in range(r_lo, r_hi + 1):
                if r >= top[k] and r <= bottom[k] and values[r, c[k]] > threshold:
                    count += 1
        counts[k] = count
        if reach == n_off and not (count > 0 and all_inside):
            reach = k
    return reach


@jit
def noise_differences_kernel(values, valid, lo, hi, gap, band, out):  # pragma: no cover
    """Horizontal first differences of the soft tissue beside the box
    (``edge_noise.soft_tissue_noise``): writes ``values[r, c + 1] - values[r, c]`` to ``out``
    for every pair of neighbours both beside the box and ``valid`` (finite too), row by row,
    left to right, and returns how many.  Beside: ``lo - gap - band <= c <= lo - gap`` or
    ``hi + gap <= c <= hi + gap + band``, on rows where both box edges are finite."""
    rows, cols = values.shape
    n = 0
    for r in range(rows):
        a, b = lo[r], hi[r]
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        left_hi = a - gap
        left_lo = left_hi - band
        right_lo = b + gap
        right_hi = right_lo + band
        previous = False
        for c in range(cols):
            x = float(c)
            here = (
                ((x <= left_hi and x >= left_lo) or (x >= right_lo and x <= right_hi))
                and valid[r, c]
                and math.isfinite(values[r, c])
            )
            if here and previous:
                out[n] = values[r, c] - values[r, c - 1]
                n += 1
            previous = here
    return n


@jit
def body_filter_kernel(values, half, flank, out):  # pragma: no cover - numba
    """``axis.body_filter_response``: per pixel, the mean of ``values`` over the body window
    (columns c - half .. c + half) minus the larger of the means over the two flanks (the
    ``flank`` columns beyond each side), columns outside the image counting 0.  The means
    come from each row's running sum as numpy's ``cumsum`` forms it (padded with zeros), so
    they are the same numbers."""
    rows, cols = values.shape
    pad = half + flank + 1
    csum = np.empty(cols + 2 * pad + 1)
    width_body = float(2 * half + 1)
    width_flank = float(flank)
    for r in range(rows):
        csum[0] = 0.0
        acc = 0.0
        for j in range(cols + 2 * pad):
            k = j - pad
            if 0 <= k < cols:
                acc = acc + values[r, k]
            else:
                acc = acc + 0.0
            csum[j + 1] = acc
        for c in range(cols):
            centre = c + pad
            body = (csum[centre + half + 1] - csum[centre - half]) / width_body
            left = (csum[centre - half] - csum[centre - half - flank]) / width_flank
            right = (csum[centre + half + flank + 1] - csum[centre + half + 1]) / width_flank
            out[r, c] = body - (left if left >= right else right)


@jit
def _block_sum(a, lo, n):  # pragma: no cover - numba
    """numpy's pairwise sum of a block of at most 128 values, ``a[lo : lo + n]``: a plain loop
    under 8 values, else 8 interleaved partial sums combined as a tree, then the rest."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@jit
def _pairwise_sum(a, lo, n):  # pragma: no cover - numba
    """numpy's pairwise summation of ``a[lo : lo + n]`` (float64, n >= 1): blocks of at most
    128 values (``_block_sum``), longer runs split in two at a multiple of 8 and the halves'
    sums added.  numpy recurses; this walks the same tree with an explicit stack (a cached
    recursive numba function crashed when loaded from the cache)."""
    if n <= 128:
        return _block_sum(a, lo, n)
    starts = np.empty(64, dtype=np.int64)
    counts = np.empty(64, dtype=np.int64)
    left_done = np.zeros(64, dtype=np.bool_)
    left_sum = np.empty(64)
    top = 0
    starts[0], counts[0] = lo, n
    while True:
        start, count = starts[top], counts[top]
        if count > 128:  # split: the left half first
            half = count // 2
            half -= half % 8
            top += 1
            starts[top], counts[top], left_done[top] = start, half, False
            continue
        value = _block_sum(a, start, count)
        while True:  # hand the finished node's sum to its parent
            if top == 0:
                return value
            top -= 1
            if not left_done[top]:  # the left half: keep it, do the right half
                left_sum[top] = value
                left_done[top] = True
                half = counts[top] // 2
                half -= half % 8
                starts[top + 1] = starts[top] + half
                counts[top + 1] = counts[top] - half
                left_done[top + 1] = False
                top += 1
                break
            value = left_sum[top] + value  # both halves done


@jit
def _numpy_sum(a):  # pragma: no cover - numba
    """``np.sum(a)`` of a 1-D float64 array, the same number: numpy's reduction starts from
    the identity 0 and adds the pairwise sum of all values."""
    if a.shape[0] == 0:
        return 0.0
    return 0.0 + _pairwise_sum(a, 0, a.shape[0])


@jit
def _numpy_median(a):  # pragma: no cover - numba
    """``np.median`` of a non-empty 1-D float64 array without NaN (a sorted copy's middle;
    the mean of the two middle values is (a + b) / 2 in numpy too)."""
    s = np.sort(a)
    n = s.shape[0]
    if n % 2:
        return s[n // 2]
    return (s[n // 2 - 1] + s[n // 2]) / 2.0


@jit
def _least_squares_line(x, y):  # pragma: no cover - numba
    """``discs._least_squares``: the closed-form straight line, its means and sums taken as
    numpy takes them."""
    n = x.shape[0]
    xm = _numpy_sum(x) / n
    ym = _numpy_sum(y) / n
    dx = x - xm
    slope = _numpy_sum(dx * (y - ym)) / _numpy_sum(dx * dx)
    return slope, ym - slope * xm


@jit
def robust_line_kernel(x, y, min_scale, out):  # pragma: no cover - numba
    """``discs.robust_line`` (its numpy form is ``_numpy_reference.robust_line_reference``):
    Theil-Sen slope (median of the pairwise slopes of points with distinct ``x``), intercept
    the median residual, then twice least squares on the points within 2.5 robust sigmas
    (1.4826 x median |residual|, at least ``min_scale``), stopping early when fewer than 4
    points or a single ``x`` remain.  Writes (slope, intercept, rms of the inliers' residuals)
    to ``out`` and returns True; False when there are fewer than 4 points or no two distinct
    ``x``.  Inputs finite; every median and mean is numpy's, so the numbers are the same.
    """
    n = x.shape[0]
    if n < 4:
        return False
    slopes = np.empty(n * (n - 1) // 2)
    m = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx = x[j] - x[i]
            if dx != 0:
                slopes[m] = (y[j] - y[i]) / dx
                m += 1
    if m == 0:
        return False
    slope = _numpy_median(slopes[:m])
    intercept = _numpy_median(y - slope * x)
    for _ in range(2):
        resid = y - (intercept + slope * x)
        spread = 1.4826 * _numpy_median(np.abs(resid))
        scale = min_scale if min_scale > spread else spread  # Python's max(spread, min_scale)
        keep = np.abs(resid) <= 2.5 * scale
        count = 0
        lo, hi = np.inf, -np.inf
        for k in range(n):
            if keep[k]:
                count += 1
                lo = min(lo, x[k])
                hi = max(hi, x[k])
        if count < 4 or hi - lo == 0:
            break
        slope, intercept = _least_squares_line(x[keep], y[keep])
    resid = y - (intercept + slope * x)
    spread = 1.4826 * _numpy_median(np.abs(resid))
    scale = min_scale if min_scale > spread else spread
    keep = np.abs(resid) <= 2.5 * scale
    inliers = resid[keep]
    out[0] = slope
    out[1] = intercept
    if inliers.shape[0]:
        out[2] = math.sqrt(_numpy_sum(inliers * inliers) / inliers.shape[0])
    else:
        out[2] = np.nan
    return True


@jit(inline="always")
def _reflect(i, n):  # pragma: no cover - numba
    """Index ``i`` (one beyond either end at most) in scipy.ndimage's "reflect" mode."""
    if i < 0:
        return 0
    if i >= n:
        return n - 1
    return i


@jit(inline="always")
def _central_difference(a, b, centre):  # pragma: no cover - numba
    """scipy.ndimage.correlate1d with weights [-1, 0, 1] at one sample (``a`` before, ``b``
    after), as its C loop takes an antisymmetric filter: ``centre * 0 + (a - b) * -1``."""
    out = centre * 0.0
    out += (a - b) * -1.0
    return out


@jit(inline="always")
def _smooth_121(a, b, centre):  # pragma: no cover - numba
    """scipy.ndimage.correlate1d with weights [1, 2, 1] at one sample, as its C loop takes a
    symmetric filter: ``centre * 2 + (a + b) * 1``."""
    out = centre * 2.0
    out += (a + b) * 1.0
    return out


@jit
def iso_tangent_kernel(smooth, scale_r, scale_c, tan_r, tan_c):  # pragma: no cover - numba
    """Unit tangent of the iso-density lines of ``smooth`` (``edge_noise._direction_fields``):
    the gradient is ``ndimage.sobel(smooth, axis=0) / scale_r`` and ``ndimage.sobel(smooth,
    axis=1) / scale_c`` (scipy's separable passes and "reflect" edges, each sample formed as
    scipy's C loop forms it), the tangent (-g_c, g_r) / hypot(g_r, g_c), and (1, 0) where
    that norm is <= 1e-12.  One pass instead of four filter passes and nine temporaries; the
    same numbers (the numpy/scipy form is ``_numpy_reference.iso_tangent_reference``)."""
    rows, cols = smooth.shape
    for r in range(rows):
        for c in range(cols):
            tan_r[r, c], tan_c[r, c] = _tangent_at(smooth, r, c, scale_r, scale_c)


@jit(inline="always")
def _tangent_at(smooth, r, c, scale_r, scale_c):  # pragma: no cover - numba
    """``iso_tangent_kernel`` at one pixel, ``(tan_r, tan_c)``: the isophote walk makes its
    tangent field with it too (the same operations, so the same numbers)."""
    rows, cols = smooth.shape
    ru, rd = _reflect(r - 1, rows), _reflect(r + 1, rows)
    cl, cr = _reflect(c - 1, cols), _reflect(c + 1, cols)
    # sobel along the rows: the difference down each column, smoothed across columns
    d_l = _central_difference(smooth[ru, cl], smooth[rd, cl], smooth[r, cl])
    d_c = _central_difference(smooth[ru, c], smooth[rd, c], smooth[r, c])
    d_r = _central_difference(smooth[ru, cr], smooth[rd, cr], smooth[r, cr])
    g_r = _smooth_121(d_l, d_r, d_c) / scale_r
    # sobel along the columns: the difference along each row, smoothed down the rows
    e_u = _central_difference(smooth[ru, cl], smooth[ru, cr], smooth[ru, c])
    e_c = _central_difference(smooth[r, cl], smooth[r, cr], smooth[r, c])
    e_d = _central_difference(smooth[rd, cl], smooth[rd, cr], smooth[rd, c])
    g_c = _smooth_121(e_u, e_d, e_c) / scale_c
    norm = math.hypot(g_r, g_c)
    if norm <= 1e-12:
        return 1.0, 0.0
    return -(g_c / norm), g_r / norm


@jit(inline="always")
def _isophote_step(fields, pr, pc, dr, dc, ir, ic, step_r, step_c, rows, cols):  # pragma: no cover
    """One step of an isophote walk: the tangent re-read where the walk stands (turned to keep
    the direction of travel), the new position, and its nearest pixel (halves to even, clamped)."""
    nr, nc = fields[ir, ic, 0], fields[ir, ic, 1]
    flip = -1.0 if nr * dr + nc * dc < 0 else 1.0
    dr, dc = nr * flip, nc * flip
    pr = pr + dr * step_r
    pc = pc + dc * step_c
    ir = min(max(int(np.rint(pr)), 0), rows - 1)
    ic = min(max(int(np.rint(pc)), 0), cols - 1)
    return pr, pc, dr, dc, ir, ic


@jit(inline="always")
def _isophote_sample(fields, ir, ic, weight, s0, guide):  # pragma: no cover - numba
    """(weight, weight x value) of one walk sample; an unmeasured pixel (NaN) weighs 0.

    The guide factor is taken even for an infinite ``guide`` (no guide weight): it is then
    exp(-0) = 1 exactly, and a branch on it made the whole walk 1.5x slower (measured).
    """
    b = fields[ir, ic, 3]
    if b != b:
        return 0.0, 0.0
    w = weight * math.exp(-0.5 * ((fields[ir, ic, 2] - s0) / guide) ** 2)
    return w, w * b


@jit
def isophote_walk_kernel(
    base, valid, smooth, scale_r, scale_c, near, step_r, step_c, steps, weights_k, guide, out
):  # pragma: no cover - numba
    """At every ``near`` pixel, ``out`` = the weighted mean of ``base`` along its iso-density
    line (``edge_noise.isophote_average``, whose numpy form is the reference).

    From the pixel, walk ``steps`` steps each way (first backwards, then forwards) along the
    unit tangent of ``smooth``'s iso-lines (``iso_tangent_kernel``'s, with its divisors
    ``scale_r`` and ``scale_c``; made here, straight into the walk's packed fields; re-read
    where the walk stands and turned to keep the direction of travel), each step ``step_r`` rows and ``step_c`` columns per unit of
    tangent; the sample is the nearest pixel (halves to even), clamped to the image, weighted
    ``weights_k[k - 1]`` times its validity, and, with a finite ``guide``, times
    exp(-0.5 ((smooth[sample] - smooth[start]) / guide)^2).  The start counts with weight 1
    when valid.  ``out`` is left unchanged elsewhere.  ``base`` must be finite where
    ``valid`` (the wrapper's is: 0 elsewhere).

    The sums are taken in that order (start, backward samples, forward samples), so the
    result is the plain walk's bit for bit.  How it is faster: a step depends on the tangent
    read at the previous step's pixel, so one walk is a chain of dependent loads; two pixels'
    four walks are stepped together (independent chains the processor overlaps), their
    samples buffered and summed in the walk order afterwards; and the four values a sample
    reads (tangent, smoothed value, value or NaN when unmeasured) sit in one (rows, cols, 4)
    array, one cache line per sample instead of five arrays.
    """
    rows, cols = base.shape
    fields = np.empty((rows, cols, 4))
    for r in range(rows):
        for c in range(cols):
            fields[r, c, 0], fields[r, c, 1] = _tangent_at(smooth, r, c, scale_r, scale_c)
            fields[r, c, 2] = smooth[r, c]
            fields[r, c, 3] = base[r, c] if valid[r, c] else np.nan
    starts = np.flatnonzero(near.ravel())
    n = starts.size
    # (walk, step, [weight, weight x value]); walks: pixel 1 back, forward, pixel 2 back, forward
    samples = np.empty((4, steps, 2))
    for m in range(0, n, 2):
        p1 = starts[m]
        p2 = starts[m + 1] if m + 1 < n else p1  # an odd last pixel is walked twice
        r1, c1 = p1 // cols, p1 % cols
        r2, c2 = p2 // cols, p2 % cols
        s1, s2 = fields[r1, c1, 2], fields[r2, c2, 2]
        # walk a: pixel 1 backwards, b: pixel 1 forwards, c and d: pixel 2 likewise
        ar, ac, air, aic = float(r1), float(c1), r1, c1
        br, bc, bir, bic = ar, ac, r1, c1
        cr, cc, cir, cic = float(r2), float(c2), r2, c2
        dr, dc, dir_, dic = cr, cc, r2, c2
        bdr, bdc = fields[r1, c1, 0], fields[r1, c1, 1]
        ddr, ddc = fields[r2, c2, 0], fields[r2, c2, 1]
        adr, adc, cdr, cdc = -bdr, -bdc, -ddr, -ddc
        for k in range(steps):
            ar, ac, adr, adc, air, aic = _isophote_step(
                fields, ar, ac, adr, adc, air, aic, step_r, step_c, rows, cols
            )
            br, bc, bdr, bdc, bir, bic = _isophote_step(
                fields, br, bc, bdr, bdc, bir, bic, step_r, step_c, rows, cols
            )
            cr, cc, cdr, cdc, cir, cic = _isophote_step(
                fields, cr, cc, cdr, cdc, cir, cic, step_r, step_c, rows, cols
            )
            dr, dc, ddr, ddc, dir_, dic = _isophote_step(
                fields, dr, dc, ddr, ddc, dir_, dic, step_r, step_c, rows, cols
            )
            w = weights_k[k]
            samples[0, k, 0], samples[0, k, 1] = _isophote_sample(fields, air, aic, w, s1, guide)
            samples[1, k, 0], samples[1, k, 1] = _isophote_sample(fields, bir, bic, w, s1, guide)
            samples[2, k, 0], samples[2, k, 1] = _isophote_sample(fields, cir, cic, w, s2, guide)
            samples[3, k, 0], samples[3, k, 1] = _isophote_sample(fields, dir_, dic, w, s2, guide)
        for h in range(2 if m + 1 < n else 1):
            r, c = (r1, c1) if h == 0 else (r2, c2)
            total = base[r, c]
            wsum = 1.0 if valid[r, c] else 0.0
            for walk in (2 * h, 2 * h + 1):
                for k in range(steps):
                    total += samples[walk, k, 1]
                    wsum += samples[walk, k, 0]
            out[r, c] = total / wsum if wsum > 0 and valid[r, c] else 0.0


@jit
def gaussian_nearest_kernel(image, weights_r, weights_c, out):  # pragma: no cover - numba
    """``scipy.ndimage.gaussian_filter(image, sigma, mode="nearest")`` with the correlation
    weights of each axis given (``weights_r`` down the rows first, then ``weights_c`` along
    them; odd lengths, symmetric), each output sample formed as scipy's C loop forms it for a
    symmetric filter: ``x[i] * w[0]``, then ``+= (x[i - k] + x[i + k]) * w[-k]`` from the
    farthest pair in (no fused multiply-add, as on x86-64).  Beyond the ends the edge value
    repeats ("nearest").  The same numbers as scipy (``_numpy_reference.
    gaussian_nearest_reference``).  ``out`` must not be ``image``.

    Faster because each pass runs over whole rows: one output pixel's sum is still taken in
    scipy's order, but neighbouring pixels are summed side by side (vectorised) instead of
    one after the other.  The loops index 1-D row views from 0 up, so numba can tell the
    indices are never negative and drops its wraparound check, which otherwise stops the
    vectorisation (indexing the 2-D arrays directly was slower than scipy).
    """
    rows, cols = image.shape
    hr = weights_r.shape[0] // 2
    hc = weights_c.shape[0] // 2
    # down the rows, into ``out``: row r from whole rows r - k and r + k (clamped: "nearest")
    for r in range(rows):
        t = out[r]
        x = image[r]
        w0 = weights_r[hr]
        for c in range(cols):
            t[c] = x[c] * w0
        for k in range(hr, 0, -1):
            w = weights_r[hr - k]
            above = image[max(r - k, 0)]
            below = image[min(r + k, rows - 1)]
            for c in range(cols):
                t[c] += (above[c] + below[c]) * w
    # along each row, in place: the row copied out with its edge values repeated, then the
    # same sums side by side (no second image-sized buffer: a fresh one per call cost more
    # in page faults than the whole pass)
    line = np.empty(cols + 2 * hc)
    for r in range(rows):
        if cols == 0:
            break
        t = out[r]
        for c in range(cols):
            line[hc + c] = t[c]
        for k in range(hc):
            line[k] = t[0]
            line[hc + cols + k] = t[cols - 1]
        o = out[r]
        w0 = weights_c[hc]
        for c in range(cols):
            o[c] = line[hc + c] * w0
        for k in range(hc, 0, -1):
            w = weights_c[hc - k]
            left = line[hc - k : hc - k + cols]
            right = line[hc + k : hc + k + cols]
            for c in range(cols):
                o[c] += (left[c] + right[c]) * w


@jit
def near_edge_kernel(values, valid, lo, hi, left, right, threshold, band, out):  # pragma: no cover
    """``out = valid & (|values - level| <= band)``: the pixels the noise-aware edge averages
    (``bone_mask._noise_aware_values``), with the edge level blended across each row as
    there: ``level = threshold + left[r] * (1 - t) + right[r] * t`` (summed left to right,
    as numpy evaluates it), ``t = clip((c - lo[r]) / max(hi[r] - lo[r], 1), 0, 1)``.  The
    same float64 operations in the same order as the numpy form
    (``_numpy_reference.near_edge_reference``), without its five image-sized temporaries.
    """
    rows, cols = values.shape
    for r in range(rows):
        lo_r = lo[r]
        span = max(hi[r] - lo_r, 1.0)
        left_r = left[r]
        right_r = right[r]
        for c in range(cols):
            t = (c - lo_r) / span
            t = min(max(t, 0.0), 1.0)
            level = threshold + left_r * (1.0 - t) + right_r * t
            out[r, c] = valid[r, c] and abs(values[r, c] - level) <= band


@jit
def box_mask_kernel(lo, hi, out):  # pragma: no cover - numba
    """``out[r, c] = ceil(lo[r]) <= c <= floor(hi[r])`` (False on a row whose ``lo`` or
    ``hi`` is NaN), as ``box.box_mask``'s broadcast comparisons (its numpy form,
    ``_numpy_reference.box_mask_reference``) give it, without the two image-sized
    temporaries: each row is one run."""
    rows, cols = out.shape
    for r in range(rows):
        row = out[r]
        for c in range(cols):
            row[c] = False
        # float bounds, so NaN (and +-inf) compare as in numpy: a NaN row stays empty
        first = np.ceil(lo[r])
        last = np.floor(hi[r])
        for c in range(cols):
            if c >= first and c <= last:
                row[c] = True


@jit(inline="always")
def _extended_index(i, n, reflect):  # pragma: no cover - numba
    """Index ``i`` (any distance beyond either end) of a line of ``n`` in scipy.ndimage's
    "reflect" (d c b a | a b c d | d c b a, repeating) or "nearest" mode."""
    if not reflect:
        return min(max(i, 0), n - 1)
    period = 2 * n
    j = i % period  # numba's % on integers follows Python: never negative
    return period - 1 - j if j >= n else j


@jit
def gaussian_rows_kernel(image, weights, reflect, out):  # pragma: no cover - numba
    """``scipy.ndimage.gaussian_filter1d(image, sigma, axis=0, mode=...)`` with its correlation
    weights given (odd length, symmetric), ``reflect`` True for mode "reflect" (scipy's
    default) and False for "nearest": each output sample formed as scipy's symmetric loop
    forms it (``gaussian_nearest_kernel``'s notes), whole rows summed side by side.  The same
    numbers as scipy (``_numpy_reference.gaussian_rows_reference``).  ``out`` must not be
    ``image``.
    """
    rows, cols = image.shape
    h = weights.shape[0] // 2
    for r in range(rows):
        t = out[r]
        x = image[r]
        w0 = weights[h]
        for c in range(cols):
            t[c] = x[c] * w0
        for k in range(h, 0, -1):
            w = weights[h - k]
            above = image[_extended_index(r - k, rows, reflect)]
            below = image[_extended_index(r + k, rows, reflect)]
            for c in range(cols):
                t[c] += (above[c] + below[c]) * w


@jit
def edge_midpoints_kernel(
    values, path, reach, core_half, core_min, width_lo, width_hi, spacing_c, centre, width, core
):  # pragma: no cover - numba
    """Per row of ``values``: the body's half-contrast edges about column ``path[r]``
    (``axis._edge_midpoints``, whose numpy form is ``_numpy_reference.edge_midpoints_reference``).

    The row's profile is ``values`` at columns ``int(path[r]) + (-reach .. reach)`` (clamped);
    ``core[r]`` is the median of its central ``2 core_half + 1`` samples (the middle one, as
    np.median takes it for an odd count); on each side the first sample below half of it,
    counted outward from the centre, and the sub-sample crossing between it and the sample
    inside.  ``centre[r]`` (``path + (left + right) / 2 - reach``) and ``width[r]`` (mm) are
    NaN unless the core exceeds ``core_min``, both sides cross and the width is within
    [``width_lo``, ``width_hi``].  The same float64 operations as the numpy form.
    """
    rows, cols = values.shape
    n = 2 * reach + 1
    profile = np.empty(n)
    band = np.empty(2 * core_half + 1)
    for r in range(rows):
        p = int(path[r])
        for j in range(n):
            profile[j] = values[r, min(max(p - reach + j, 0), cols - 1)]
        for j in range(band.shape[0]):
            band[j] = profile[reach - core_half + j]
        band.sort()
        core_r = band[core_half]
        core[r] = core_r
        level = 0.5 * core_r
        # nearest sample below the level on each side, counted outward from the centre
        k_left = -1
        for k in range(reach):
            if profile[reach - 1 - k] < level:
                k_left = k
                break
        k_right = -1
        for k in range(reach):
            if profile[reach + 1 + k] < level:
                k_right = k
                break
        i_out_l = reach - 1 - max(k_left, 0)
        i_in_l = min(i_out_l + 1, 2 * reach)
        i_out_r = reach + 1 + max(k_right, 0)
        i_in_r = max(i_out_r - 1, 0)
        left = _edge_crossing(profile, i_in_l, i_out_l, level)
        right = _edge_crossing(profile, i_in_r, i_out_r, level)
        width_mm = (right - left) * spacing_c
        ok = core_r > core_min and k_left >= 0 and k_right >= 0
        ok = ok and width_mm >= width_lo and width_mm <= width_hi
        if ok:
            centre[r] = path[r] + (left + right) / 2 - reach
            width[r] = width_mm
        else:
            centre[r] = np.nan
            width[r] = np.nan


@jit(inline="always")
def _edge_crossing(profile, i_in, i_out, level):  # pragma: no cover - numba
    """Sub-sample index where ``profile`` crosses ``level`` between ``i_in`` and ``i_out``, as
    ``axis._edge_midpoints`` forms it: ``i_in + (i_out - i_in) * clip((v_in - level) /
    (v_in - v_out, or 1 when 0), 0, 1)``."""
    v_in = profile[i_in]
    v_out = profile[i_out]
    d = v_in - v_out
    frac = (v_in - level) / (1.0 if d == 0 else d)
    frac = min(max(frac, 0.0), 1.0)
    return i_in + (i_out - i_in) * frac
