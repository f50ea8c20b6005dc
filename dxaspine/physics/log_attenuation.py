"""Per-pixel dual-energy arithmetic: log attenuation and bone areal density (docs/domain.md §5).

Public wrappers validate their arrays (dtype, shape, contiguity; the scikit-image pattern)
and call the numba kernels in :mod:`dxaspine.physics._kernels`.
"""

from __future__ import annotations

import functools

import numpy as np

from dxaspine.physics import _kernels

# Counts below this floor (including zero, negative and non-finite counts, e.g. photon
# starvation behind metal) are clipped to it before the logarithm and flagged.  Half a count
# is the smallest value a Poisson count of zero can stand for without an infinite attenuation;
# it caps A_E at ln(2 I0), so a starved pixel reads as "at least this dense", never Inf/NaN.
COUNT_FLOOR = 0.5

# Poisson counts make ln(I) biased low by about 1 / (2 E[I]) (a 1 % sigma_b error at the ~50
# counts behind 35 cm of tissue on a 0.25 mm pixel); ln(I + 1/2) cancels that first-order
# term.  Noise-free (expected) counts should use 0.
POISSON_LOG_OFFSET = 0.5


# Counts k * step (k an integer below this) are looked up in a per-process table of their
# logarithms (512 KiB per table); 16-bit detector values cover every DXA scanner we know of.
LOG_TABLE_SIZE = 1 << 16


@functools.lru_cache(maxsize=8)
def _log_table(i0: float, count_offset: float, step: float = 1.0) -> np.ndarray:
    """``ln(i0 / (k step + count_offset))`` for k = 0 .. LOG_TABLE_SIZE - 1, built once per I0."""
    table = np.empty(LOG_TABLE_SIZE)
    _kernels.log_table_kernel(i0, count_offset, step, table)
    table.flags.writeable = False
    return table


def _table_step(counts: np.ndarray) -> float:
    """Power-of-two step of the log table that covers ``counts``' largest value.

    A RescaleSlope above 1 (Prodigy-like files store counts / 4) makes counts exceed the
    16-bit table; they are then multiples of the slope, and a table of every ``step``-th count
    holds them again (a power of two keeps ``count / step`` exact).  Counts that are not
    multiples of the step are still computed directly, with the same expression, so the step
    decides only the speed, never a value.
    """
    if counts.size == 0:
        return 1.0
    largest = float(counts.max())
    if not np.isfinite(largest):  # a NaN or infinite count: keep the plain table
        return 1.0
    step = 1.0
    while largest >= step * LOG_TABLE_SIZE and step < 2.0**16:
        step *= 2.0
    return step


def _check_2d_float(name: str, array: np.ndarray, shape: tuple[int, ...] | None = None) -> None:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != np.float64:
        raise TypeError(f"{name} must be float64, got {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def _log_scalars(
    i0_counts: tuple[float, float], floor_counts: float, count_offset: float
) -> tuple[float, float, float, float]:
    """Checked ``(i0_low, i0_high, floor_counts, count_offset)`` of the log passes."""
    i0_low = _check_positive("i0_counts[0]", i0_counts[0])
    i0_high = _check_positive("i0_counts[1]", i0_counts[1])
    floor_counts = _check_positive("floor_counts", floor_counts)
    count_offset = float(count_offset)
    if not (np.isfinite(count_offset) and count_offset >= 0):
        raise ValueError(f"count_offset must be finite and >= 0, got {count_offset}")
    return i0_low, i0_high, floor_counts, count_offset


def log_attenuation(
    counts_low: np.ndarray,
    counts_high: np.ndarray,
    i0_counts: tuple[float, float],
    floor_counts: float = COUNT_FLOOR,
    count_offset: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log attenuations ``A_E = ln(I0_E / (I_E + count_offset))`` at the low and high energy.

    Parameters
    ----------
    counts_low, counts_high : (M, N) ndarray of float64, C-contiguous
        Detected counts per pixel after the Modality LUT.
    i0_counts : (float, float)
        Unattenuated counts per pixel (low, high).
    floor_counts : float
        Counts below this, and non-finite counts, are clipped to it (see ``COUNT_FLOOR``).
    count_offset : float
        Added to the counts before the logarithm; ``POISSON_LOG_OFFSET`` for measured counts.

    Returns
    -------
    a_low, a_high : (M, N) ndarray of float64
        Log attenuations; always finite.
    starved : (M, N) ndarray of bool
        Pixels that were clipped (photon starvation, e.g. metal, or corrupt counts).
    """
    _check_2d_float("counts_low", counts_low)
    _check_2d_float("counts_high", counts_high, counts_low.shape)
    i0_low, i0_high, floor_counts, count_offset = _log_scalars(
        i0_counts, floor_counts, count_offset
    )
    a_low = np.empty_like(counts_low)
    a_high = np.empty_like(counts_low)
    starved = np.empty(counts_low.shape, dtype=np.bool_)
    step_low, step_high = _table_step(counts_low), _table_step(counts_high)
    _kernels.log_attenuation_kernel(
        counts_low,
        counts_high,
        i0_low,
        i0_high,
        floor_counts,
        count_offset,
        _log_table(i0_low, count_offset, step_low),
        _log_table(i0_high, count_offset, step_high),
        a_low,
        a_high,
        starved,
        1.0 / step_low,
        1.0 / step_high,
    )
    return a_low, a_high, starved


def log_attenuation_with_blocks(
    counts_low: np.ndarray,
    counts_high: np.ndarray,
    i0_counts: tuple[float, float],
    floor_counts: float,
    count_offset: float,
    field: np.ndarray,
    factors: tuple[int, int],
) -> tuple[np.ndarray, ...]:
    """:func:`log_attenuation` and the baseline grid's blocks of it, in one pass.

    Parameters
    ----------
    counts_low, counts_high, i0_counts, floor_counts, count_offset
        As for :func:`log_attenuation`.
    field : (M, N) ndarray of bool, C-contiguous
        The scan field.
    factors : (int, int)
        Block size (rows, columns), each >= 1.

    Returns
    -------
    a_low, a_high, starved
        As :func:`log_attenuation` returns them.
    block_low, block_high, block_field, block_starved
        ``resample.block_mean`` of ``a_low`` and ``a_high``, ``resample.block_all(field)``
        and ``resample.block_any(starved)``, bit for bit, without reading the full-size
        arrays again (``_kernels.log_attenuation_blocks_kernel``).
    """
    _check_2d_float("counts_low", counts_low)
    _check_2d_float("counts_high", counts_high, counts_low.shape)
    if not isinstance(field, np.ndarray) or field.dtype != np.bool_:
        raise TypeError("field must be a numpy bool array")
    if field.shape != counts_low.shape or not field.flags.c_contiguous:
        raise ValueError(f"field must be C-contiguous with shape {counts_low.shape}")
    if counts_low.size == 0:
        raise ValueError("cannot resample an empty image")
    i0_low, i0_high, floor_counts, count_offset = _log_scalars(
        i0_counts, floor_counts, count_offset
    )
    row_factor, col_factor = (int(f) for f in factors)
    if row_factor < 1 or col_factor < 1:
        raise ValueError(f"block factors must be >= 1, got {factors}")
    rows, cols = counts_low.shape
    coarse = (-(-rows // row_factor), -(-cols // col_factor))
    a_low = np.empty_like(counts_low)
    a_high = np.empty_like(counts_low)
    starved = np.empty(counts_low.shape, dtype=np.bool_)
    block_low, block_high = np.empty(coarse), np.empty(coarse)
    block_field = np.empty(coarse, dtype=np.bool_)
    block_starved = np.empty(coarse, dtype=np.bool_)
    step_low, step_high = _table_step(counts_low), _table_step(counts_high)
    _kernels.log_attenuation_blocks_kernel(
        counts_low, counts_high, i0_low, i0_high, floor_counts, count_offset,
        _log_table(i0_low, count_offset, step_low), _log_table(i0_high, count_offset, step_high),
        1.0 / step_low, 1.0 / step_high, field, row_factor, col_factor,
        a_low, a_high, starved, block_low, block_high, block_field, block_starved,
    )  # fmt: skip
    return a_low, a_high, starved, block_low, block_high, block_field, block_starved


def areal_density(
    a_low: np.ndarray,
    a_high: np.ndarray,
    r_st: np.ndarray,
    bone_mu_cm2_g: tuple[float, float],
    r_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Bone-mineral areal density ``(A_L - R_st A_H) / (mu_bL - R_st mu_bH)`` in g/cm2.

    Parameters
    ----------
    a_low, a_high : (M, N) ndarray of float64, C-contiguous
        Log attenuations from :func:`log_attenuation`.
    r_st : (M, N) ndarray of float64, C-contiguous
        Soft-tissue ratio per pixel (from :func:`dxaspine.physics.soft_tissue.estimate_soft_tissue_ratio`).
    bone_mu_cm2_g : (float, float)
        Bone-basis (hydroxyapatite) mass attenuation coefficients (low, high).
    r_range : (float, float), optional
        Use ``np.clip(r_st, *r_range)`` (without the clipped copy).

    Returns
    -------
    (M, N) ndarray of float64
        sigma_b in g/cm2.  NaN only where ``r_st`` is NaN.
    """
    _check_2d_float("a_low", a_low)
    _check_2d_float("a_high", a_high, a_low.shape)
    _check_2d_float("r_st", r_st, a_low.shape)
    mu_low = _check_positive("bone_mu_cm2_g[0]", bone_mu_cm2_g[0])
    mu_high = _check_positive("bone_mu_cm2_g[1]", bone_mu_cm2_g[1])
    out = np.empty_like(a_low)
    r_min, r_max = (-np.inf, np.inf) if r_range is None else (float(v) for v in r_range)
    _kernels.areal_density_kernel(a_low, a_high, r_st, mu_low, mu_high, r_min, r_max, out)
    return out
