"""numba kernel of the calibrated (beam-hardening corrected) decomposition, with its numpy
reference; the wrapper in :mod:`dxaspine.physics.calibration` validates inputs.

Per pixel, with R the soft-tissue ratio of the baseline and a fixed number of fixed-point
steps (the coefficients change by well under 1 % per step after the first):

    a     = A_H - mu_bH sigma                 soft-tissue high-energy attenuation
    mu_bE = table(R, a, sigma) + kappa mu_lean,E(a) - v rho_mix mu_mix,E(R, a)
    sigma = (A_L - R A_H) / (mu_bL - R mu_bH)

The last two terms are the optional lean-marrow model (kappa g of lean marrow added and
v cm3 of the surrounding mix displaced per g of mineral, with tangent coefficients; both 0
for the two-material model); in a monoenergetic beam the displaced-mix term vanishes.

``table`` is, for each reference fat fraction f_i, bilinear in (a, sigma) on the file's grids;
across f_i it is linear in R, the reference tissue's A_L / A_H at that a (R falls with fat).
Every coordinate is clamped to its grid, and a pixel whose a or R left the grid is flagged.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine._numba import jit


@jit
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


@jit
def _bilinear(table, i, j, t, k, u):
    return (1 - t) * ((1 - u) * table[i, j, k] + u * table[i, j, k + 1]) + t * (
        (1 - u) * table[i, j + 1, k] + u * table[i, j + 1, k + 1]
    )


@jit
def _lerp(table, i, j, t):
    return (1 - t) * table[i, j] + t * table[i, j + 1]


@jit
def _coefficients(tables, fat, bone, marrow, ratio, a, sigma):
    """(mu_bL, mu_bH, off_grid) at one pixel's (R, a, sigma); see the module docstring."""
    soft_low, soft_high, tan_low, tan_high, mu_low, mu_high = tables
    kappa, displaced, lean_density, fat_density = marrow
    n_fat, n_soft = soft_high.shape
    k, u = _segment(bone, sigma)
    # the fat slices bracketing R, with R_i the ratio of slice i at this attenuation a
    lower, w, off = 0, 0.0, False
    r_prev = 0.0
    for i in range(n_fat):
        j, t = _segment(soft_high[i], a)
        r_i = _lerp(soft_low, i, j, t) / max(a, 1e-3 * soft_high[i, 1])
        if ratio >= r_i:
            if i == 0:
                off = ratio > r_i
            else:
                lower, w = i - 1, (r_prev - ratio) / (r_prev - r_i)
            break
        if i == n_fat - 1:
            lower, w, off = max(i - 1, 0), 1.0 if n_fat > 1 else 0.0, n_fat > 1
        r_prev = r_i
    upper = min(lower + 1, n_fat - 1)
    for i in (lower, upper):
        if a < soft_high[i, 0] or a > soft_high[i, n_soft - 1]:
            off = True
    j0, t0 = _segment(soft_high[lower], a)
    j1, t1 = _segment(soft_high[upper], a)
    ml = (1 - w) * _bilinear(mu_low, lower, j0, t0, k, u) + w * _bilinear(
        mu_low, upper, j1, t1, k, u
    )
    mh = (1 - w) * _bilinear(mu_high, lower, j0, t0, k, u) + w * _bilinear(
        mu_high, upper, j1, t1, k, u
    )
    if kappa != 0.0 or displaced != 0.0:
        jl, tl = _segment(soft_high[0], a)
        f = (1 - w) * fat[lower] + w * fat[upper]
        rho_mix = 1.0 / ((1 - f) / lean_density + f / fat_density)
        mix_low = (1 - w) * _lerp(tan_low, lower, j0, t0) + w * _lerp(tan_low, upper, j1, t1)
        mix_high = (1 - w) * _lerp(tan_high, lower, j0, t0) + w * _lerp(tan_high, upper, j1, t1)
        ml += kappa * _lerp(tan_low, 0, jl, tl) - displaced * rho_mix * mix_low
        mh += kappa * _lerp(tan_high, 0, jl, tl) - displaced * rho_mix * mix_high
    return ml, mh, off


@jit
def calibrated_density_kernel(a_low, a_high, r_st, tables, fat, bone, marrow, iterations,
                              out, off_table):  # fmt: skip
    """Fill ``out`` with sigma_b (g/cm2) and ``off_table`` with the pixels whose soft-tissue
    attenuation or ratio fell outside the table (coefficients clamped).  NaN where an input
    is not finite.  ``tables`` = (soft_low, soft_high, tan_low, tan_high, mu_low, mu_high),
    ``marrow`` = (kappa, displaced_cm3_g, lean_density, fat_density)."""
    rows, cols = a_low.shape
    for r in range(rows):
        for c in range(cols):
            al, ah, ratio = a_low[r, c], a_high[r, c], r_st[r, c]
            if not (math.isfinite(al) and math.isfinite(ah) and math.isfinite(ratio)):
                out[r, c] = math.nan
                off_table[r, c] = False
                continue
            q = al - ratio * ah
            sigma = 0.0
            mh = 0.0
            off = False
            for _ in range(iterations):
                a = ah - mh * sigma
                ml, mh, off = _coefficients(tables, fat, bone, marrow, ratio, a, sigma)
                sigma = q / (ml - ratio * mh)
            out[r, c] = sigma
            off_table[r, c] = off


def _segments_reference(grid, values):
    index = np.clip(np.searchsorted(grid, values, side="right") - 1, 0, grid.size - 2)
    t = np.clip((values - grid[index]) / (grid[index + 1] - grid[index]), 0.0, 1.0)
    return index, t


def _coefficients_reference(tables, fat, bone, marrow, ratio, a, sigma):
    soft_low, soft_high, tan_low, tan_high, mu_low, mu_high = tables
    kappa, displaced, lean_density, fat_density = marrow
    n_fat, n_soft = soft_high.shape
    k, u = _segments_reference(bone, sigma)
    js, ts, rs = [], [], []
    for i in range(n_fat):
        j, t = _segments_reference(soft_high[i], a)
        js.append(j)
        ts.append(t)
        rs.append(
            ((1 - t) * soft_low[i, j] + t * soft_low[i, j + 1])
            / np.maximum(a, 1e-3 * soft_high[i, 1])
        )
    js, ts, rs = np.array(js), np.array(ts), np.array(rs)  # (F, ...); R falls with i
    # first slice whose R is at or below the pixel's (n_fat if none): the bracket is (i-1, i)
    at_or_below = ratio[None] >= rs
    first = np.where(at_or_below.any(axis=0), np.argmax(at_or_below, axis=0), n_fat)
    if n_fat == 1:
        lower, w = np.zeros(a.shape, dtype=np.intp), np.zeros(a.shape)
        off = (first == 0) & (ratio > rs[0])
    else:
        lower = np.clip(first - 1, 0, n_fat - 2)
        r_lo = np.take_along_axis(rs, lower[None], 0)[0]
        r_hi = np.take_along_axis(rs, (lower + 1)[None], 0)[0]
        inside = (first > 0) & (first < n_fat)
        w = np.where(inside, (r_lo - ratio) / np.where(inside, r_lo - r_hi, 1.0), 0.0)
        w = np.where(first == n_fat, 1.0, w)
        off = ((first == 0) & (ratio > rs[0])) | (first == n_fat)
    upper = np.minimum(lower + 1, n_fat - 1)
    for i in (lower, upper):
        off = off | (a < soft_high[i, 0]) | (a > soft_high[i, n_soft - 1])

    def at(i):
        return np.take_along_axis(js, i[None], 0)[0], np.take_along_axis(ts, i[None], 0)[0]

    def bilinear(table, i):
        j, t = at(i)
        return (1 - t) * ((1 - u) * table[i, j, k] + u * table[i, j, k + 1]) + t * (
            (1 - u) * table[i, j + 1, k] + u * table[i, j + 1, k + 1]
        )

    def lerp(table, i):
        j, t = at(i)
        return (1 - t) * table[i, j] + t * table[i, j + 1]

    ml = (1 - w) * bilinear(mu_low, lower) + w * bilinear(mu_low, upper)
    mh = (1 - w) * bilinear(mu_high, lower) + w * bilinear(mu_high, upper)
    if kappa != 0.0 or displaced != 0.0:
        zero = np.zeros(a.shape, dtype=np.intp)
        f = (1 - w) * fat[lower] + w * fat[upper]
        rho_mix = 1.0 / ((1 - f) / lean_density + f / fat_density)
        mix_low = (1 - w) * lerp(tan_low, lower) + w * lerp(tan_low, upper)
        mix_high = (1 - w) * lerp(tan_high, lower) + w * lerp(tan_high, upper)
        ml = ml + kappa * lerp(tan_low, zero) - displaced * rho_mix * mix_low
        mh = mh + kappa * lerp(tan_high, zero) - displaced * rho_mix * mix_high
    return ml, mh, off


def calibrated_density_reference(a_low, a_high, r_st, tables, fat, bone, marrow, iterations):
    """numpy reference of :func:`calibrated_density_kernel`; returns ``(sigma, off_table)``."""
    finite = np.isfinite(a_low) & np.isfinite(a_high) & np.isfinite(r_st)
    al, ah, ratio = (np.where(finite, x, 0.0) for x in (a_low, a_high, r_st))
    q = al - ratio * ah
    sigma = np.zeros_like(al)
    mh = np.zeros_like(al)
    off = np.zeros(al.shape, dtype=bool)
    for _ in range(iterations):
        a = ah - mh * sigma
        ml, mh, off = _coefficients_reference(tables, fat, bone, marrow, ratio, a, sigma)
        sigma = q / (ml - ratio * mh)
    return np.where(finite, sigma, np.nan), finite & off


def warm_up() -> None:
    """Compile (or load from the cache) the kernel on 1 x 1 inputs."""
    one = np.ones((1, 1))
    soft = np.array([[0.0, 1.0]])
    table = np.full((1, 2, 2), 2.0)
    tables = (soft * 2, soft, soft * 2, soft, table, table * 0.5)
    calibrated_density_kernel(
        one, one * 0.5, one, tables, np.zeros(1), np.array([0.0, 1.0]), (0.0, 0.0, 1.06, 0.95),
        1, np.empty((1, 1)), np.empty((1, 1), dtype=np.bool_),
    )  # fmt: skip
