"""Beam-hardening calibration: sigma_b with thickness- and density-dependent coefficients.

With a polyenergetic beam the effective bone-basis coefficients fall as the beam hardens:
with more soft tissue in the ray and with more bone (docs/domain.md §5: the HA denominator drops
about 8 % from 10 to 30 cm of water; far more for a kVp-switching beam, docs/physics.md).
Vendors calibrate against thickness.  A file of the interchange profile may carry the table
(``Scan.calibration``, elements (0071,xx05-0C), docs/interchange.md): for reference soft
tissue on a grid, its log attenuations and the secant bone coefficients over a bone grid.
:func:`calibrated_areal_density` solves, per pixel,

    sigma = (A_L - R A_H) / (mu_bL(R, a, sigma) - R mu_bH(R, a, sigma)),   a = A_H - mu_bH sigma,

by fixed-point steps, R the soft-tissue ratio of the baseline (measured beside the spine, as
in the uncalibrated two-material model), which also picks the table's lean/fat reference
tissue.  For reference tissue plus bone it is exact up to the table's interpolation; the soft
tissue *under* the bone is still assumed to be the tissue beside it, the two-material model's
own assumption (docs/domain.md §5).  ``lean_kappa`` and ``displaced_cm3_g`` add the optional
lean-marrow model of :mod:`dxaspine.physics.bone_basis` with the reference tissues' tangent
coefficients (lean marrow added, the surrounding mix displaced; in a polyenergetic beam the
displaced mix no longer cancels, because tangent and secant ratios differ).

**Solution grid** (issue 17; docs/performance.md).  The per-pixel solve costs about 240 ns, 80 %
of a large scan's decomposition, while sigma is a smooth function of three numbers only, (R,
A_H, q = A_L - R A_H).  On a scan with enough pixels (``method="auto"``) the exact solve runs on
a uniform grid of those three spanning the scan's own values (robust limits from a subsample),
and each pixel interpolates it trilinearly; a pixel outside the grid, or whose cell touches a
node that left the table, is solved exactly.  Interpolation moves sigma by at most about 1e-3
g/cm2 per pixel and the mean over bone by at most 3e-4 g/cm2 (0.03 % of BMD; measured on both
beams, ``SOLUTION_GRIDS``); ``method="exact"`` keeps the per-pixel solve.
"""

from __future__ import annotations

import logging

import numpy as np

from dxaspine.io.private_block import CalibrationTable
from dxaspine.physics import _calibration_kernels
from dxaspine.physics.log_attenuation import _check_2d_float
from dxaspine.physics.quantiles import linear_quantiles

logger = logging.getLogger(__name__)

LEAN_DENSITY_G_CM3 = 1.06  # ICRU-44 soft tissue
FAT_DENSITY_G_CM3 = 0.95  # ICRU-44 adipose
# Fixed-point steps: at most ITERATIONS, stopping once sigma moves by less than TOLERANCE
# relative to 1 + |sigma|.  The step contracts by ~0.05 (GE-like) to ~0.2 (Hologic-like), so
# bone pixels stop after 5-12 steps and soft tissue after 2-3 (tests/test_physics_calibration.py).
ITERATIONS = 30
TOLERANCE = 1e-6
# Solution grid (module docstring): (least pixel count, (n_R, n_A_H, n_q) nodes).  Measured
# against the exact solve (tests/test_physics_calibration.py; docs/performance.md) on drawn-phantom scans (GE-like Prodigy and iDXA, Hologic-like; 14 and
# 30 cm of tissue) and on a test image whose fat share changes by 0.06 across the field: per
# pixel at most 3e-5-6e-5 g/cm2 (GE-like) and 2.3e-4-1.1e-3 (Hologic-like, whose small HA
# denominator bends sigma most with R), on the mean over bone at most 3e-5 (scans) and
# 2.9e-4 (the test image's coarse grid).  Building the grid costs about what solving a
# quarter of its nodes' count in pixels costs, so it is used only from 40,000 pixels on (a
# Prodigy scan has 56,400), with fewer nodes below 200,000.
SOLUTION_GRIDS = ((200_000, (9, 33, 129)), (40_000, (5, 17, 129)))
# Robust limits of each grid axis: these percentiles of a strided subsample of the pixels
# (every GRID_STRIDE-th row and column); the ~0.1 % beyond them are solved exactly.
GRID_PERCENTILES = (0.05, 99.95)
GRID_STRIDE = 7
# Only the nodes of cells that hold one of every GRID_NODE_STRIDE-th pixel (rows and
# columns) are solved; a pixel in a cell none of those reach is solved exactly.
GRID_NODE_STRIDE = 2
# The grid checks itself: GRID_CHECK_PIXELS pixels spread over the image are solved exactly,
# and if any differs from its interpolated value by more than GRID_CHECK_G_CM2 (0.2 % of a
# 1 g/cm2 pixel, a twenty-fifth of a Hologic-like pixel's noise) the whole image is solved
# exactly.  A scan spans a narrow R and A_H; an image spanning far more (a test image of
# 12-35 cm and 20-50 % fat in one field: 7e-3 on the coarse grid) is what the check catches.
GRID_CHECK_PIXELS = 1024
GRID_CHECK_G_CM2 = 2e-3
METHODS = ("auto", "exact", "grid")


def describe_calibration(table: CalibrationTable | None) -> str:
    """The short string a DensityMap records for the calibration applied."""
    return "none" if table is None else f"file table: {table.identifier}"


def tangent_coefficients(table: CalibrationTable) -> tuple[np.ndarray, np.ndarray]:
    """dA_E/dm (cm2/g) of every reference tissue at each thickness, (F, J) low and high."""
    m = np.asarray(table.soft_tissue_g_cm2, dtype=np.float64)
    return (
        np.gradient(np.asarray(table.soft_log_low, dtype=np.float64), m, axis=1),
        np.gradient(np.asarray(table.soft_log_high, dtype=np.float64), m, axis=1),
    )


def lean_coefficients_at(table: CalibrationTable, soft_log_high: float) -> tuple[float, float]:
    """Leanest reference tissue's tangent coefficients at one soft-tissue attenuation."""
    low, high = tangent_coefficients(table)
    grid = np.asarray(table.soft_log_high, dtype=np.float64)[0]
    return (
        float(np.interp(soft_log_high, grid, low[0])),
        float(np.interp(soft_log_high, grid, high[0])),
    )


def calibrated_areal_density(
    a_low: np.ndarray,
    a_high: np.ndarray,
    r_st: np.ndarray,
    table: CalibrationTable,
    lean_kappa: float = 0.0,
    displaced_cm3_g: float = 0.0,
    iterations: int = ITERATIONS,
    tolerance: float = TOLERANCE,
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """sigma_b (g/cm2) per pixel with the table's coefficients.

    Parameters
    ----------
    a_low, a_high : (M, N) ndarray of float64, C-contiguous
        Log attenuations.
    r_st : (M, N) ndarray of float64, C-contiguous
        Soft-tissue ratio of the baseline per pixel.
    table : CalibrationTable
        The file's table (validated when it was read).
    lean_kappa, displaced_cm3_g : float
        Lean-marrow model (:mod:`dxaspine.physics.bone_basis`): grams of lean marrow added
        and cm3 of the surrounding lean/fat mix displaced per gram of mineral; both 0 for the
        two-material model.
    iterations : int
        Most fixed-point steps (>= 1).
    tolerance : float
        Stop once sigma moves by less than this, relative to 1 + |sigma| (>= 0).
    method : {"auto", "exact", "grid"}
        ``"exact"`` solves every pixel; ``"grid"`` interpolates the exact solution on a
        (R, A_H, q) grid (module docstring); ``"auto"`` uses the grid from 40,000 pixels on.

    Returns
    -------
    sigma : (M, N) ndarray of float64
        NaN where an input is not finite.
    off_table : (M, N) ndarray of bool
        The soft-tissue attenuation or ratio lay outside the table (coefficients clamped).
    """
    _check_2d_float("a_low", a_low)
    _check_2d_float("a_high", a_high, a_low.shape)
    _check_2d_float("r_st", r_st, a_low.shape)
    iterations = int(iterations)
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    tolerance = float(tolerance)
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    solve = _ExactSolver(table, _marrow_terms(lean_kappa, displaced_cm3_g), iterations, tolerance)
    shape = _grid_shape(a_low.size, method)
    if shape is None:
        return solve(a_low, a_high, r_st)
    grid = solution_grid(a_low, a_high, r_st, solve, shape)
    if grid is None:  # no finite pixel to span a grid
        return solve(a_low, a_high, r_st)
    lo, inv_step, sigma_nodes, off_nodes = grid
    out = np.empty_like(a_low)
    fallback = np.empty(a_low.shape, dtype=np.bool_)
    index = np.empty(a_low.size, dtype=np.int64)
    count = _calibration_kernels.solution_grid_kernel(
        a_low, a_high, r_st, lo, inv_step, sigma_nodes,
        _calibration_kernels.off_cells_of(off_nodes), out, fallback, index,
    )  # fmt: skip
    if not _grid_agrees(a_low, a_high, r_st, out, fallback, solve):
        logger.debug("solution grid off by > %g g/cm2 on its check pixels: exact solve",
                     GRID_CHECK_G_CM2)  # fmt: skip
        return solve(a_low, a_high, r_st)
    off_table = np.zeros(a_low.shape, dtype=np.bool_)
    if count:
        where = np.unravel_index(index[:count], a_low.shape)
        exact, off = solve(*(_gather(v, where) for v in (a_low, a_high, r_st)))
        out[where], off_table[where] = exact[0], off[0]
    return out, off_table


def _gather(values: np.ndarray, where) -> np.ndarray:
    return np.ascontiguousarray(values[where][None, :])


def _grid_agrees(a_low, a_high, r_st, interpolated, fallback, solve) -> bool:
    """Whether the exact solve of up to ``GRID_CHECK_PIXELS`` spread pixels matches the grid."""
    pick = np.linspace(0, a_low.size - 1, min(GRID_CHECK_PIXELS, a_low.size)).astype(np.intp)
    pick = pick[~fallback.ravel()[pick] & np.isfinite(interpolated.ravel()[pick])]
    if pick.size == 0:
        return True
    where = np.unravel_index(pick, a_low.shape)
    exact, _ = solve(*(_gather(v, where) for v in (a_low, a_high, r_st)))
    return bool(np.abs(exact[0] - interpolated[where]).max() <= GRID_CHECK_G_CM2)


def _grid_shape(n_pixels: int, method: str) -> tuple[int, int, int] | None:
    if method == "exact":
        return None
    for least, shape in SOLUTION_GRIDS:
        if n_pixels >= least:
            return shape
    return SOLUTION_GRIDS[-1][1] if method == "grid" else None


# The kernel's arrays of the last few tables, by content: a batch of one scanner's files
# carries the same table in every file, and preparing it (tangents, the bone-coefficient pairs,
# the fat-order check) cost about 0.1-0.3 ms of every decompose.  Keyed by the table's values,
# so a table read from another file with the same numbers shares the entry.
_PREPARED: dict[tuple, tuple] = {}
_PREPARED_MAX = 8
_TABLE_FIELDS = (
    "fat_fraction", "soft_tissue_g_cm2", "soft_log_low", "soft_log_high", "bone_g_cm2",
    "bone_mu_low_cm2_g", "bone_mu_high_cm2_g",
)  # fmt: skip


def _prepared(table: CalibrationTable) -> tuple:
    """``(tables, fat, bone, mu_pair, ordered_from)`` of :class:`_ExactSolver` for ``table``."""
    key = (table.identifier,) + tuple(
        (a.shape, a.tobytes())
        for a in (np.ascontiguousarray(getattr(table, f), dtype=np.float64) for f in _TABLE_FIELDS)
    )
    hit = _PREPARED.get(key)
    if hit is not None:
        return hit
    tables, fat, bone = _table_arrays(table)
    # The bone coefficients as one (F, J, K, 2) table: a corner's low- and high-energy
    # values share a cache line (the kernel reads both at every step).
    mu_pair = np.ascontiguousarray(np.stack(tables[4:], axis=-1))
    prepared = (tables, fat, bone, mu_pair, _fat_ordered_from(tables[0], tables[1]))
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[key] = prepared
    return prepared


class _ExactSolver:
    """The per-pixel fixed-point solve of one table and marrow model (module docstring)."""

    def __init__(self, table: CalibrationTable, marrow, iterations: int, tolerance: float):
        self.tables, self.fat, self.bone, self.mu_pair, self.ordered_from = _prepared(table)
        self.marrow, self.iterations, self.tolerance = marrow, iterations, tolerance

    def __call__(self, a_low, a_high, r_st) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty_like(a_low)
        off_table = np.empty(a_low.shape, dtype=np.bool_)
        _calibration_kernels.calibrated_density_kernel(
            a_low, a_high, r_st, self.tables, self.mu_pair, self.fat, self.bone, self.marrow,
            self.iterations, self.tolerance, self.ordered_from, out, off_table,
        )  # fmt: skip
        return out, off_table


def solution_grid(
    a_low: np.ndarray,
    a_high: np.ndarray,
    r_st: np.ndarray,
    solve,
    shape: tuple[int, int, int],
):
    """The exact solution on a uniform (R, A_H, q) grid spanning these pixels' values.

    Returns ``(lo, inv_step, sigma_nodes, off_nodes)`` for
    :func:`~dxaspine.physics._calibration_kernels.solution_grid_kernel`, or None when no pixel
    is finite.  Each axis spans the ``GRID_PERCENTILES`` of a strided subsample.
    """
    step = GRID_STRIDE
    sub = [v[::step, ::step] for v in (r_st, a_high, a_low)]
    finite = np.isfinite(sub[0]) & np.isfinite(sub[1]) & np.isfinite(sub[2])
    if not finite.any():
        return None
    ratio, ah, al = (v[finite] for v in sub)
    # np.percentile(..., axis=1) of the three, bit for bit (physics.quantiles: q / 100 as
    # numpy divides it, then its linear quantiles), without numpy's per-call overhead
    q = tuple(p / 100 for p in GRID_PERCENTILES)
    lo, hi = np.array(
        [linear_quantiles(v, q) for v in (ratio, ah, np.ascontiguousarray(al - ratio * ah))]
    ).T
    # a constant axis (a noise-free test image) still gets a cell: widen it by a hair
    hi = np.maximum(hi, lo + 1e-9 * (1.0 + np.abs(lo)))
    n = np.asarray(shape)
    inv_step = (n - 1) / (hi - lo)
    axes = [lo[i] + (hi[i] - lo[i]) * np.arange(n[i]) / (n[i] - 1) for i in range(3)]
    needed = np.zeros(shape, dtype=np.bool_)
    lo, inv_step = np.ascontiguousarray(lo), np.ascontiguousarray(inv_step)
    _calibration_kernels.grid_nodes_needed_kernel(
        a_low, a_high, r_st, GRID_NODE_STRIDE, lo, inv_step, needed
    )
    # solve only the nodes of occupied cells ((R, A_H, q) are correlated, so most of the box
    # is empty); the others stay NaN, and a pixel reaching one is solved exactly
    flat = np.flatnonzero(needed)
    i, j, k = np.unravel_index(flat, shape)
    rr, aa, qq = axes[0][i], axes[1][j], axes[2][k]
    sigma, off = solve(
        np.ascontiguousarray((qq + rr * aa)[None, :]),
        np.ascontiguousarray(aa[None, :]),
        np.ascontiguousarray(rr[None, :]),
    )
    sigma_nodes = np.full(shape, np.nan)
    off_nodes = np.zeros(shape, dtype=np.bool_)
    sigma_nodes.ravel()[flat] = sigma[0]
    off_nodes.ravel()[flat] = off[0]
    return lo, inv_step, sigma_nodes, off_nodes


def _fat_ordered_from(soft_low: np.ndarray, soft_high: np.ndarray) -> float:
    """Soft-tissue attenuation from which R falls strictly with fat (inf: the table does not).

    The kernel then walks to a pixel's fat bracket from the previous one instead of scanning
    from the leanest slice (``_calibration_kernels._bracket_from``: the same result).  For
    a >= 1e-3 A_H(second grid point) of every slice the slice ratios share their denominator
    a, so their order is that of the slices' low-energy attenuations L_i(a), which are linear
    between the union of the slices' grid points (and constant beyond): checked there and
    beyond the last, with a relative margin far above rounding, the order holds for every a.
    """
    n_fat = soft_high.shape[0]
    if n_fat < 2:
        return -np.inf  # a single slice: nothing to order
    start = float(np.max(1e-3 * soft_high[:, 1]))
    points = np.unique(np.concatenate([soft_high.ravel(), [start, soft_high.max() + 1.0]]))
    points = points[points >= start]
    low = np.array([np.interp(points, soft_high[i], soft_low[i]) for i in range(n_fat)])
    ordered = bool(np.all(low[:-1] > low[1:] * (1 + 1e-9) + 1e-12))
    return start if ordered else np.inf


def calibrated_areal_density_reference(
    a_low, a_high, r_st, table: CalibrationTable, lean_kappa=0.0, displaced_cm3_g=0.0,
    iterations=ITERATIONS, tolerance=TOLERANCE,
):  # fmt: skip
    """numpy reference of :func:`calibrated_areal_density` (the parity tests' specification)."""
    tables, fat, bone = _table_arrays(table)
    return _calibration_kernels.calibrated_density_reference(
        a_low, a_high, r_st, tables, fat, bone, _marrow_terms(lean_kappa, displaced_cm3_g),
        int(iterations), float(tolerance),
    )  # fmt: skip


def _marrow_terms(lean_kappa: float, displaced_cm3_g: float) -> tuple[float, float, float, float]:
    for name, value in (("lean_kappa", lean_kappa), ("displaced_cm3_g", displaced_cm3_g)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value}")
    # the table's reference tissues are ICRU-44 soft tissue / adipose mixtures (their densities)
    return float(lean_kappa), float(displaced_cm3_g), LEAN_DENSITY_G_CM3, FAT_DENSITY_G_CM3


def _table_arrays(table: CalibrationTable):
    def c(array):
        return np.ascontiguousarray(array, dtype=np.float64)

    tan_low, tan_high = tangent_coefficients(table)
    tables = (
        c(table.soft_log_low),
        c(table.soft_log_high),
        c(tan_low),
        c(tan_high),
        c(table.bone_mu_low_cm2_g),
        c(table.bone_mu_high_cm2_g),
    )
    return tables, c(table.fat_fraction), c(table.bone_g_cm2)
