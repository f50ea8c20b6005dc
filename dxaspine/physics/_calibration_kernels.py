"""numba kernel of the calibrated (beam-hardening corrected) decomposition, with its numpy
reference; the wrapper in :mod:`dxaspine.physics.calibration` validates inputs.

Per pixel, with R the soft-tissue ratio of the baseline, fixed-point steps from the lean
reference's coefficients at the ray's own A_H and 1 g/cm2 of bone, until sigma changes by less
than ``tolerance`` (relative, against 1 + |sigma|) or ``iterations`` steps:

    a     = A_H - mu_bH sigma                 soft-tissue high-energy attenuation
    mu_bE = table(R, a, sigma) + kappa mu_lean,E(a) - v rho_mix mu_mix,E(R, a)
    sigma = (A_L - R A_H) / (mu_bL - R mu_bH)

The last two terms are the optional lean-marrow model (kappa g of lean marrow added and
v cm3 of the surrounding mix displaced per g of mineral, with tangent coefficients; both 0
for the two-material model); in a monoenergetic beam the displaced-mix term vanishes.

``table`` is, for each reference fat fraction f_i, bilinear in (a, sigma) on the file's grids;
across f_i it is linear in R, the reference tissue's A_L / A_H at that a (R falls with fat).
The fat bracket is found in the first ``BRACKET_STEPS`` steps only (it depends on a through
R_i(a), which moves by < 0.2 % as a settles; fixing it keeps a step to three grid searches).
Every coordinate is clamped to its grid, and a pixel whose a or R left the grid is flagged.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine._numba import jit

# error_model="numpy": a division by zero gives inf/nan instead of a Python exception check
# on every division (a third of the kernel's time); NaN/Inf semantics are kept (no fastmath).

BRACKET_STEPS = 2


@jit(error_model="numpy")
def _segment(grid, value):
    """Index i of the interval [grid[i], grid[i+1]] holding ``value`` and the weight of
    grid[i+1], clamped to the ends."""
    n = grid.size
    if value <= grid[0]:
        return 0, 0.0
    if value >= grid[n - 1]:
        return n - 2, 1.0
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if grid[mid] <= value:
            lo = mid
        else:
            hi = mid
    return lo, (value - grid[lo]) / (grid[lo + 1] - grid[lo])


@jit(error_model="numpy")
def _segment_row(grid, row, value):
    """:func:`_segment` on ``grid[row]`` without making a view (the hot path)."""
    n = grid.shape[1]
    if value <= grid[row, 0]:
        return 0, 0.0
    if value >= grid[row, n - 1]:
        return n - 2, 1.0
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if grid[row, mid] <= value:
            lo = mid
        else:
            hi = mid
    return lo, (value - grid[row, lo]) / (grid[row, lo + 1] - grid[row, lo])


@jit(error_model="numpy")
def _bilinear(table, i, j, t, k, u):
    return (1 - t) * ((1 - u) * table[i, j, k] + u * table[i, j, k + 1]) + t * (
        (1 - u) * table[i, j + 1, k] + u * table[i, j + 1, k + 1]
    )


@jit(error_model="numpy")
def _bilinear_pair(table, i, j, t, k, u):
    """:func:`_bilinear` of the low- and high-energy planes of a (F, J, K, 2) table at once:
    the two values of a corner share a cache line."""
    low = (1 - t) * ((1 - u) * table[i, j, k, 0] + u * table[i, j, k + 1, 0]) + t * (
        (1 - u) * table[i, j + 1, k, 0] + u * table[i, j + 1, k + 1, 0]
    )
    high = (1 - t) * ((1 - u) * table[i, j, k, 1] + u * table[i, j, k + 1, 1]) + t * (
        (1 - u) * table[i, j + 1, k, 1] + u * table[i, j + 1, k + 1, 1]
    )
    return low, high


@jit(error_model="numpy")
def _lerp(table, i, j, t):
    return (1 - t) * table[i, j] + t * table[i, j + 1]


@jit(error_model="numpy")
def _slice_ratio(soft_low, soft_high, i, a):
    """R of reference slice i at soft-tissue attenuation a."""
    j, t = _segment_row(soft_high, i, a)
    return _lerp(soft_low, i, j, t) / max(a, 1e-3 * soft_high[i, 1])


@jit(error_model="numpy")
def _bracket(soft_low, soft_high, ratio, a):
    """(lower slice, weight of the upper, off_grid, first slice at or below R) of the fat
    slices bracketing R at a: a scan from the leanest slice."""
    n_fat = soft_high.shape[0]
    lower, w, off = 0, 0.0, False
    r_prev = 0.0
    first = n_fat
    for i in range(n_fat):
        r_i = _slice_ratio(soft_low, soft_high, i, a)
        if ratio >= r_i:
            first = i
            if i == 0:
                off = ratio > r_i
            else:
                lower, w = i - 1, (r_prev - ratio) / (r_prev - r_i)
            break
        if i == n_fat - 1:
            lower, w, off = max(i - 1, 0), 1.0 if n_fat > 1 else 0.0, n_fat > 1
        r_prev = r_i
    return lower, w, off, first


@jit(error_model="numpy")
def _bracket_from(soft_low, soft_high, ratio, a, hint):
    """:func:`_bracket` for a table whose R falls strictly with fat at this a (the kernel's
    ``ordered_from``, checked once per table by ``calibration._fat_ordered_from``).

    "R at or below the pixel's" then holds from one slice on, and the first such slice is
    found by walking from ``hint`` (the previous step's or the neighbouring pixel's): about
    two slice evaluations instead of a scan from the leanest slice.  Each slice ratio is
    computed exactly as the scan computes it, so the result is the scan's bit for bit.
    """
    n_fat = soft_high.shape[0]
    i = min(max(hint, 0), n_fat - 1)
    r_i = _slice_ratio(soft_low, soft_high, i, a)
    r_prev = 0.0
    if ratio >= r_i:
        while i > 0:
            r_prev = _slice_ratio(soft_low, soft_high, i - 1, a)
            if ratio >= r_prev:
                i -= 1
                r_i = r_prev
            else:
                break
        first = i
    else:
        first = n_fat
        while i < n_fat - 1:
            r_prev = r_i
            i += 1
            r_i = _slice_ratio(soft_low, soft_high, i, a)
            if ratio >= r_i:
                first = i
                break
    if first == 0:
        return 0, 0.0, ratio > r_i, first
    if first == n_fat:
        if n_fat == 1:
            return 0, 0.0, False, first
        return n_fat - 2, 1.0, True, first
    return first - 1, (r_prev - ratio) / (r_prev - r_i), False, first


@jit(error_model="numpy")
def _coefficients(soft_high, mu_pair, bone, lower, w, a, sigma):
    """Two-material (mu_bL, mu_bH, off_grid) at one pixel's bracket, a and sigma (module
    docstring), and the soft-grid cells ``(upper, j0, t0, j1, t1)`` for :func:`_lean_marrow`.

    Only the arrays this path reads are passed: numba reference-counts every array argument
    on each call, and the marrow terms' three extra arrays made a call 2.5x dearer even when
    the marrow model was off."""
    n_fat, n_soft = soft_high.shape
    k, u = _segment(bone, sigma)
    upper = min(lower + 1, n_fat - 1)
    off = (
        a < soft_high[lower, 0]
        or a > soft_high[lower, n_soft - 1]
        or a < soft_high[upper, 0]
        or a > soft_high[upper, n_soft - 1]
    )
    j0, t0 = _segment_row(soft_high, lower, a)
    j1, t1 = _segment_row(soft_high, upper, a)
    low0, high0 = _bilinear_pair(mu_pair, lower, j0, t0, k, u)
    low1, high1 = _bilinear_pair(mu_pair, upper, j1, t1, k, u)
    ml = (1 - w) * low0 + w * low1
    mh = (1 - w) * high0 + w * high1
    return ml, mh, off, upper, j0, t0, j1, t1


@jit(error_model="numpy")
def _lean_marrow(soft_high, tan_low, tan_high, fat, marrow, lower, upper, w, j0, t0, j1, t1,
                 a):  # fmt: skip
    """The lean-marrow model's terms added to (mu_bL, mu_bH) (module docstring)."""
    kappa, displaced, lean_density, fat_density = marrow
    jl, tl = _segment_row(soft_high, 0, a)
    f = (1 - w) * fat[lower] + w * fat[upper]
    rho_mix = 1.0 / ((1 - f) / lean_density + f / fat_density)
    mix_low = (1 - w) * _lerp(tan_low, lower, j0, t0) + w * _lerp(tan_low, upper, j1, t1)
    mix_high = (1 - w) * _lerp(tan_high, lower, j0, t0) + w * _lerp(tan_high, upper, j1, t1)
    return (
        kappa * _lerp(tan_low, 0, jl, tl) - displaced * rho_mix * mix_low,
        kappa * _lerp(tan_high, 0, jl, tl) - displaced * rho_mix * mix_high,
    )


@jit(error_model="numpy")
def _start_pair(mu_pair, bone):
    """The leanest slice's (mu_bL, mu_bH) at 1 g/cm2 of bone on each soft-tissue grid point:
    the bone-axis half of :func:`_bilinear_pair` (same operations, so the start is bit for bit
    the bilinear value)."""
    k, u = _segment(bone, 1.0)
    n_soft = mu_pair.shape[1]
    out = np.empty((n_soft, 2))
    for j in range(n_soft):
        for e in range(2):
            out[j, e] = (1 - u) * mu_pair[0, j, k, e] + u * mu_pair[0, j, k + 1, e]
    return out


@jit(error_model="numpy")
def calibrated_density_kernel(a_low, a_high, r_st, tables, mu_pair, fat, bone, marrow,
                              iterations, tolerance, ordered_from, out, off_table):  # fmt: skip
    """Fill ``out`` with sigma_b (g/cm2) and ``off_table`` with the pixels whose soft-tissue
    attenuation or ratio fell outside the table (coefficients clamped).  NaN where an input
    is not finite.  ``tables`` = (soft_low, soft_high, tan_low, tan_high, mu_low, mu_high),
    ``marrow`` = (kappa, displaced_cm3_g, lean_density, fat_density); ``ordered_from``: the
    soft-tissue attenuation from which R falls strictly with fat (inf: nowhere), where the
    fat bracket is searched from the previous one instead of from the leanest slice."""
    soft_low, soft_high, tan_low, tan_high = tables[:4]
    lean = marrow[0] != 0.0 or marrow[1] != 0.0
    start_pair = _start_pair(mu_pair, bone)
    first = 0  # first fat slice at or below R: the search hint, carried from pixel to pixel
    rows, cols = a_low.shape
    for r in range(rows):
        for c in range(cols):
            al, ah, ratio = a_low[r, c], a_high[r, c], r_st[r, c]
            if not (math.isfinite(al) and math.isfinite(ah) and math.isfinite(ratio)):
                out[r, c] = math.nan
                off_table[r, c] = False
                continue
            q = al - ratio * ah
            # start from the lean reference at the ray's own attenuation and 1 g/cm2 of bone:
            # _coefficients(.., lower=0, w=0, a=ah, sigma=1) from its (J, 2) column start_pair
            # (w = 0 leaves the upper slice out exactly: (1 - 0) x + 0 y = x for finite y)
            j0, t0 = _segment_row(soft_high, 0, ah)
            ml = (1 - t0) * start_pair[j0, 0] + t0 * start_pair[j0 + 1, 0]
            mh = (1 - t0) * start_pair[j0, 1] + t0 * start_pair[j0 + 1, 1]
            if lean:
                up = min(1, soft_high.shape[0] - 1)
                j1, t1 = _segment_row(soft_high, up, ah)
                dl, dh = _lean_marrow(soft_high, tan_low, tan_high, fat, marrow, 0, up, 0.0, j0,
                                      t0, j1, t1, ah)  # fmt: skip
                ml += dl
                mh += dh
            sigma = q / (ml - ratio * mh)
            lower, w, off_r = 0, 0.0, False
            off_a = False
            for step in range(iterations):
                a = ah - mh * sigma
                if step < BRACKET_STEPS:
                    if a >= ordered_from:
                        lower, w, off_r, first = _bracket_from(soft_low, soft_high, ratio, a,
                                                               first)  # fmt: skip
                    else:
                        lower, w, off_r, first = _bracket(soft_low, soft_high, ratio, a)
                ml, mh, off_a, up, j0, t0, j1, t1 = _coefficients(soft_high, mu_pair, bone,
                                                                  lower, w, a, sigma)  # fmt: skip
                if lean:
                    dl, dh = _lean_marrow(soft_high, tan_low, tan_high, fat, marrow, lower, up, w,
                                          j0, t0, j1, t1, a)  # fmt: skip
                    ml += dl
                    mh += dh
                new = q / (ml - ratio * mh)
                converged = abs(new - sigma) <= tolerance * (1.0 + abs(new))
                sigma = new
                if converged and step >= BRACKET_STEPS - 1:
                    break
            out[r, c] = sigma
            off_table[r, c] = off_r or off_a


def _segments_reference(grid, values):
    index = np.clip(np.searchsorted(grid, values, side="right") - 1, 0, grid.size - 2)
    t = np.clip((values - grid[index]) / (grid[index + 1] - grid[index]), 0.0, 1.0)
    return index, t


def _bracket_reference(soft_low, soft_high, ratio, a):
    n_fat = soft_high.shape[0]
    rs = []
    for i in range(n_fat):
        j, t = _segments_reference(soft_high[i], a)
        rs.append(
            ((1 - t) * soft_low[i, j] + t * soft_low[i, j + 1])
            / np.maximum(a, 1e-3 * soft_high[i, 1])
        )
    rs = np.array(rs)  # (F, n); R falls with i
    # first slice whose R is at or below the pixel's (n_fat if none): the bracket is (i-1, i)
    at_or_below = ratio[None] >= rs
    first = np.where(at_or_below.any(axis=0), np.argmax(at_or_below, axis=0), n_fat)
    if n_fat == 1:
        return np.zeros(a.shape, dtype=np.intp), np.zeros(a.shape), (first == 0) & (ratio > rs[0])
    lower = np.clip(first - 1, 0, n_fat - 2)
    r_lo = np.take_along_axis(rs, lower[None], 0)[0]
    r_hi = np.take_along_axis(rs, (lower + 1)[None], 0)[0]
    inside = (first > 0) & (first < n_fat)
    w = np.where(inside, (r_lo - ratio) / np.where(inside, r_lo - r_hi, 1.0), 0.0)
    w = np.where(first == n_fat, 1.0, w)
    off = ((first == 0) & (ratio > rs[0])) | (first == n_fat)
    return lower, w, off


def _coefficients_reference(tables, fat, bone, marrow, lower, w, a, sigma):
    soft_low, soft_high, tan_low, tan_high, mu_low, mu_high = tables
    kappa, displaced, lean_density, fat_density = marrow
    n_fat, n_soft = soft_high.shape
    k, u = _segments_reference(bone, sigma)
    upper = np.minimum(lower + 1, n_fat - 1)
    off = np.zeros(a.shape, dtype=bool)
    for i in (lower, upper):
        off = off | (a < soft_high[i, 0]) | (a > soft_high[i, n_soft - 1])

    def at(i):
        j = np.empty(a.shape, dtype=np.intp)
        t = np.empty(a.shape)
        for slice_ in np.unique(i):
            sel = i == slice_
            j[sel], t[sel] = _segments_reference(soft_high[slice_], a[sel])
        return j, t

    def bilinear(table, i, j, t):
        return (1 - t) * ((1 - u) * table[i, j, k] + u * table[i, j, k + 1]) + t * (
            (1 - u) * table[i, j + 1, k] + u * table[i, j + 1, k + 1]
        )

    def lerp(table, i, j, t):
        return (1 - t) * table[i, j] + t * table[i, j + 1]

    j0, t0 = at(lower)
    j1, t1 = at(upper)
    ml = (1 - w) * bilinear(mu_low, lower, j0, t0) + w * bilinear(mu_low, upper, j1, t1)
    mh = (1 - w) * bilinear(mu_high, lower, j0, t0) + w * bilinear(mu_high, upper, j1, t1)
    if kappa != 0.0 or displaced != 0.0:
        zero = np.zeros(a.shape, dtype=np.intp)
        jl, tl = at(zero)
        f = (1 - w) * fat[lower] + w * fat[upper]
        rho_mix = 1.0 / ((1 - f) / lean_density + f / fat_density)
        mix_low = (1 - w) * lerp(tan_low, lower, j0, t0) + w * lerp(tan_low, upper, j1, t1)
        mix_high = (1 - w) * lerp(tan_high, lower, j0, t0) + w * lerp(tan_high, upper, j1, t1)
        ml = ml + kappa * lerp(tan_low, zero, jl, tl) - displaced * rho_mix * mix_low
        mh = mh + kappa * lerp(tan_high, zero, jl, tl) - displaced * rho_mix * mix_high
    return ml, mh, off


def calibrated_density_reference(
    a_low, a_high, r_st, tables, fat, bone, marrow, iterations, tolerance
):
    """numpy reference of :func:`calibrated_density_kernel`; returns ``(sigma, off_table)``."""
    soft_low, soft_high = tables[0], tables[1]
    finite = np.isfinite(a_low) & np.isfinite(a_high) & np.isfinite(r_st)
    ah = np.where(finite, a_high, 0.0).ravel()
    ratio = np.where(finite, r_st, 0.0).ravel()
    q = np.where(finite, a_low, 0.0).ravel() - ratio * ah
    zero = np.zeros(q.shape, dtype=np.intp)
    ml, mh, _ = _coefficients_reference(
        tables, fat, bone, marrow, zero, np.zeros_like(q), ah, np.ones_like(q)
    )
    sigma = q / (ml - ratio * mh)
    lower = np.zeros(q.shape, dtype=np.intp)
    w = np.zeros_like(q)
    off_r = np.zeros(q.shape, dtype=bool)
    off_a = np.zeros(q.shape, dtype=bool)
    active = finite.ravel().copy()
    for step in range(iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        a = ah[idx] - mh[idx] * sigma[idx]
        if step < BRACKET_STEPS:
            lower[idx], w[idx], off_r[idx] = _bracket_reference(soft_low, soft_high, ratio[idx], a)
        ml, mh[idx], off_a[idx] = _coefficients_reference(
            tables, fat, bone, marrow, lower[idx], w[idx], a, sigma[idx]
        )
        new = q[idx] / (ml - ratio[idx] * mh[idx])
        converged = np.abs(new - sigma[idx]) <= tolerance * (1.0 + np.abs(new))
        sigma[idx] = new
        if step >= BRACKET_STEPS - 1:
            active[idx[converged]] = False
    shape = a_low.shape
    out = np.where(finite, sigma.reshape(shape), np.nan)
    return out, finite & (off_r | off_a).reshape(shape)


@jit(error_model="numpy")
def _axis_cell(value, lo, inv_step, n):
    """(cell index, weight of the upper node) of ``value`` on the uniform axis
    ``lo + step * arange(n)``; index -1 when it lies outside ``[lo, lo + step (n - 1)]``."""
    x = (value - lo) * inv_step
    if not (x >= 0.0 and x <= n - 1):  # also False for NaN
        return -1, 0.0
    i = int(x)
    if i > n - 2:
        i = n - 2
    return i, x - i


@jit(error_model="numpy")
def grid_nodes_needed_kernel(a_low, a_high, r_st, stride, lo, inv_step, needed):
    """Mark in ``needed`` (n_R, n_A, n_q) the 8 nodes of the cell of every ``stride``-th
    pixel in each direction that lies inside the grid: the nodes worth solving."""
    n0, n1, n2 = needed.shape
    rows, cols = a_low.shape
    if n0 < 2 or n1 < 2 or n2 < 2:
        return
    # Mark each pixel's cell (one store), then every node of a marked cell: the same nodes
    # as marking eight per pixel, with far fewer stores (most pixels share a few cells).
    occupied = np.zeros((n0 - 1, n1 - 1, n2 - 1), dtype=np.bool_)
    for r in range(0, rows, stride):
        for c in range(0, cols, stride):
            al, ah, ratio = a_low[r, c], a_high[r, c], r_st[r, c]
            if not (math.isfinite(al) and math.isfinite(ah) and math.isfinite(ratio)):
                continue
            i, _ = _axis_cell(ratio, lo[0], inv_step[0], n0)
            j, _ = _axis_cell(ah, lo[1], inv_step[1], n1)
            k, _ = _axis_cell(al - ratio * ah, lo[2], inv_step[2], n2)
            if i < 0 or j < 0 or k < 0:
                continue
            occupied[i, j, k] = True
    for i in range(n0 - 1):
        for j in range(n1 - 1):
            for k in range(n2 - 1):
                if occupied[i, j, k]:
                    for di in range(2):
                        for dj in range(2):
                            needed[i + di, j + dj, k] = True
                            needed[i + di, j + dj, k + 1] = True


@jit(error_model="numpy")
def solution_grid_kernel(a_low, a_high, r_st, lo, inv_step, sigma_nodes, off_cells, out,
                         fallback, fallback_index):  # fmt: skip
    """sigma per pixel by trilinear interpolation of the exact solution on a uniform
    (R, A_H, q = A_L - R A_H) grid (``calibration.solution_grid``); returns the number of
    pixels left for the exact solve.

    ``lo`` and ``inv_step`` are the three axes' first node and inverse step, ``sigma_nodes``
    the (n_R, n_A, n_q) solutions (NaN at nodes not solved) and ``off_cells`` the
    (n_R - 1, n_A - 1, n_q - 1) cells with an off-table node (:func:`off_cells_of`: one
    flag per pixel instead of eight).  A pixel whose (R, A_H, q) lies outside the grid, or whose cell touches
    an off-table or unsolved node, gets ``fallback`` True and its flat index in
    ``fallback_index``, in raster order; a non-finite input gives NaN.
    """
    n0, n1, n2 = sigma_nodes.shape
    rows, cols = a_low.shape
    count = 0
    for r in range(rows):
        for c in range(cols):
            al, ah, ratio = a_low[r, c], a_high[r, c], r_st[r, c]
            fallback[r, c] = False
            if not (math.isfinite(al) and math.isfinite(ah) and math.isfinite(ratio)):
                out[r, c] = math.nan
                continue
            q = al - ratio * ah
            i, t = _axis_cell(ratio, lo[0], inv_step[0], n0)
            j, u = _axis_cell(ah, lo[1], inv_step[1], n1)
            k, v = _axis_cell(q, lo[2], inv_step[2], n2)
            value = math.nan
            if i >= 0 and j >= 0 and k >= 0:
                if not off_cells[i, j, k]:
                    c00 = (1 - v) * sigma_nodes[i, j, k] + v * sigma_nodes[i, j, k + 1]
                    c01 = (1 - v) * sigma_nodes[i, j + 1, k] + v * sigma_nodes[i, j + 1, k + 1]
                    c10 = (1 - v) * sigma_nodes[i + 1, j, k] + v * sigma_nodes[i + 1, j, k + 1]
                    c11 = (1 - v) * sigma_nodes[i + 1, j + 1, k] + v * sigma_nodes[
                        i + 1, j + 1, k + 1
                    ]
                    value = (1 - t) * ((1 - u) * c00 + u * c01) + t * ((1 - u) * c10 + u * c11)
            if math.isfinite(value):
                out[r, c] = value
            else:  # outside the grid, an off-table cell, or an unsolved (NaN) node
                fallback[r, c] = True
                fallback_index[count] = r * cols + c
                count += 1
    return count


def off_cells_of(off_nodes: np.ndarray) -> np.ndarray:
    """The grid cells (one fewer per axis) any of whose 8 nodes is flagged in ``off_nodes``."""
    n0, n1, n2 = off_nodes.shape
    cells = np.zeros((max(n0 - 1, 0), max(n1 - 1, 0), max(n2 - 1, 0)), dtype=np.bool_)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                cells |= off_nodes[di : n0 - 1 + di, dj : n1 - 1 + dj, dk : n2 - 1 + dk]
    return cells


def solution_grid_reference(a_low, a_high, r_st, lo, inv_step, sigma_nodes, off_nodes):
    """numpy reference of :func:`solution_grid_kernel` (which takes ``off_cells_of(off_nodes)``):
    ``(sigma, fallback)``."""
    finite = np.isfinite(a_low) & np.isfinite(a_high) & np.isfinite(r_st)
    q = a_low - r_st * a_high
    index, weight, inside = [], [], finite.copy()
    for axis, value in enumerate((r_st, a_high, q)):
        n = sigma_nodes.shape[axis]
        with np.errstate(invalid="ignore"):
            x = (value - lo[axis]) * inv_step[axis]
            ok = (x >= 0) & (x <= n - 1)
        x = np.where(ok, x, 0.0)
        i = np.minimum(x.astype(np.intp), n - 2)
        index.append(i)
        weight.append(x - i)
        inside &= ok
    i, j, k = index
    t, u, v = weight
    touches_off = np.zeros(a_low.shape, dtype=bool)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                touches_off |= off_nodes[i + di, j + dj, k + dk]

    def node(di, dj, dk):
        return sigma_nodes[i + di, j + dj, k + dk]

    c00 = (1 - v) * node(0, 0, 0) + v * node(0, 0, 1)
    c01 = (1 - v) * node(0, 1, 0) + v * node(0, 1, 1)
    c10 = (1 - v) * node(1, 0, 0) + v * node(1, 0, 1)
    c11 = (1 - v) * node(1, 1, 0) + v * node(1, 1, 1)
    sigma = (1 - t) * ((1 - u) * c00 + u * c01) + t * ((1 - u) * c10 + u * c11)
    fallback = finite & (~inside | touches_off | ~np.isfinite(sigma))
    return np.where(finite & ~fallback, sigma, np.nan), fallback


def grid_nodes_needed_reference(a_low, a_high, r_st, stride, lo, inv_step, shape):
    """numpy reference of :func:`grid_nodes_needed_kernel`."""
    needed = np.zeros(shape, dtype=bool)
    sub = [v[::stride, ::stride] for v in (a_low, a_high, r_st)]
    al, ah, ratio = (
        v[np.isfinite(sub[0]) & np.isfinite(sub[1]) & np.isfinite(sub[2])] for v in sub
    )
    cells, ok = [], np.ones(al.shape, dtype=bool)
    for axis, value in enumerate((ratio, ah, al - ratio * ah)):
        x = (value - lo[axis]) * inv_step[axis]
        ok &= (x >= 0) & (x <= shape[axis] - 1)
        cells.append(np.minimum(np.where(ok, x, 0).astype(np.intp), shape[axis] - 2))
    i, j, k = (c[ok] for c in cells)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                needed[i + di, j + dj, k + dk] = True
    return needed


def warm_up() -> None:
    """Compile (or load from the cache) the kernel on 1 x 1 inputs."""
    one = np.ones((1, 1))
    soft = np.array([[0.0, 1.0]])
    table = np.full((1, 2, 2), 2.0)
    tables = (soft * 2, soft, soft * 2, soft, table, table * 0.5)
    calibrated_density_kernel(
        one, one * 0.5, one, tables, np.stack([table, table * 0.5], axis=-1), np.zeros(1),
        np.array([0.0, 1.0]), (0.0, 0.0, 1.06, 0.95),
        1, 1e-9, np.inf, np.empty((1, 1)), np.empty((1, 1), dtype=np.bool_),
    )  # fmt: skip
    nodes = np.zeros((2, 2, 2), dtype=np.bool_)
    grid_nodes_needed_kernel(one, one * 0.5, one, 1, np.zeros(3), np.ones(3), nodes)
    solution_grid_kernel(
        one, one * 0.5, one, np.zeros(3), np.ones(3), np.zeros((2, 2, 2)), off_cells_of(nodes),
        np.empty((1, 1)), np.empty((1, 1), dtype=np.bool_), np.empty(1, dtype=np.int64),
    )  # fmt: skip
