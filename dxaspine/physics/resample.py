"""Block averaging to a coarser grid and linear upsampling back (for the R_st baseline).

R_st varies over tens of millimetres, so its iteration runs on a ~1 mm grid whatever the
scanner's pixel; log attenuations are linear in the areal masses, so block means of A_L and
A_H are the attenuations of the block's mean composition (no bias from coarsening).

The wrappers validate their arguments and call the numba kernels in
:mod:`dxaspine.physics._kernels` (numpy references there); on an iDXA scan they are 5-10x
faster than the reshape-and-reduce numpy versions, which reduce over strided axes.
"""

from __future__ import annotations

import numpy as np

from dxaspine.physics import _kernels


def grid_factors(
    pixel_spacing_mm: tuple[float, float], target_mm: float, *, at_most: bool = False
) -> tuple[int, int]:
    """Integer block size per axis so that blocks are nearest to ``target_mm``.

    Rounded: a 0.6 mm axis (Prodigy) gets 2-pixel blocks (1.2 mm) rather than none, so the
    dual-energy baseline iteration runs on a ~1 mm grid on every scanner (issue 17).
    ``at_most=True``: the largest blocks not above ``target_mm`` (the display path's rule).
    """
    offset = 1e-9 if at_most else 0.5
    return tuple(max(1, int(np.floor(target_mm / s + offset))) for s in pixel_spacing_mm)  # type: ignore[return-value]


def _check(image: np.ndarray, factors: tuple[int, int], dtype: type) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.dtype != dtype or image.ndim != 2:
        raise TypeError(
            f"expected a 2-D {np.dtype(dtype)} array, got {getattr(image, 'dtype', type(image))}"
        )
    if image.size == 0:
        raise ValueError("cannot resample an empty image")
    row_factor, col_factor = (int(f) for f in factors)
    if row_factor < 1 or col_factor < 1:
        raise ValueError(f"block factors must be >= 1, got {factors}")
    return row_factor, col_factor


def _coarse_shape(shape: tuple[int, int], row_factor: int, col_factor: int) -> tuple[int, int]:
    return -(-shape[0] // row_factor), -(-shape[1] // col_factor)


def block_mean(image: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Mean over ``factors`` blocks (edge rows/columns replicated to fill the last block)."""
    image = np.ascontiguousarray(image, dtype=np.float64)
    row_factor, col_factor = _check(image, factors, np.float64)
    out = np.empty(_coarse_shape(image.shape, row_factor, col_factor))
    _kernels.block_mean_kernel(image, row_factor, col_factor, out)
    return out


def _block_count(mask: np.ndarray, factors: tuple[int, int]) -> tuple[np.ndarray, int]:
    mask = np.ascontiguousarray(mask, dtype=bool)
    row_factor, col_factor = _check(mask, factors, np.bool_)
    out = np.empty(_coarse_shape(mask.shape, row_factor, col_factor), dtype=np.int64)
    _kernels.block_count_kernel(mask, row_factor, col_factor, out)
    return out, row_factor * col_factor


def block_all(mask: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """True where every pixel of the block is (edge-replicated like :func:`block_mean`)."""
    count, size = _block_count(mask, factors)
    return count == size


def block_any(mask: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """True where any pixel of the block is."""
    count, _ = _block_count(mask, factors)
    return count > 0


def upsample_linear(
    coarse: np.ndarray, factors: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    """Separable linear interpolation of block values back to the fine grid ``shape``.

    Fine pixel ``j`` has its centre at ``(j + 0.5) / factor - 0.5`` coarse pixels; beyond the
    outermost block centres the edge value is held.
    """
    if factors == (1, 1) and coarse.shape == shape:
        return coarse
    coarse = np.ascontiguousarray(coarse, dtype=np.float64)
    row_factor, col_factor = _check(coarse, factors, np.float64)
    out = np.empty(shape)
    _kernels.upsample_linear_kernel(coarse, row_factor, col_factor, out)
    return out
