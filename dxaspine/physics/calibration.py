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
"""

from __future__ import annotations

import numpy as np

from dxaspine.io.private_block import CalibrationTable
from dxaspine.physics import _calibration_kernels
from dxaspine.physics.log_attenuation import _check_2d_float

LEAN_DENSITY_G_CM3 = 1.06  # ICRU-44 soft tissue
FAT_DENSITY_G_CM3 = 0.95  # ICRU-44 adipose
# Fixed-point steps: at most ITERATIONS, stopping once sigma moves by less than TOLERANCE
# relative to 1 + |sigma|.  The step contracts by ~0.05 (GE-like) to ~0.2 (Hologic-like), so
# bone pixels stop after 5-12 steps and soft tissue after 2-3 (tests/test_physics_calibration.py).
ITERATIONS = 30
TOLERANCE = 1e-6


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
    marrow = _marrow_terms(lean_kappa, displaced_cm3_g)
    tables, fat, bone = _table_arrays(table)
    out = np.empty_like(a_low)
    off_table = np.empty(a_low.shape, dtype=np.bool_)
    # The bone coefficients as one (F, J, K, 2) table: a corner's low- and high-energy values
    # share a cache line (the kernel reads both at every step).
    mu_pair = np.ascontiguousarray(np.stack(tables[4:], axis=-1))
    _calibration_kernels.calibrated_density_kernel(
        a_low, a_high, r_st, tables, mu_pair, fat, bone, marrow, iterations, tolerance,
        _fat_ordered_from(tables[0], tables[1]), out, off_table,
    )  # fmt: skip
    return out, off_table


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
