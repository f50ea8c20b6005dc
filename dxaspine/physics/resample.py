"""Block averaging to a coarser grid and linear upsampling back (for the R_st baseline).

R_st varies over tens of millimetres, so its iteration runs on a ~1 mm grid whatever the
scanner's pixel; log attenuations are linear in the areal masses, so block means of A_L and
A_H are the attenuations of the block's mean composition (no bias from coarsening).
"""

from __future__ import annotations

import numpy as np


def grid_factors(pixel_spacing_mm: tuple[float, float], target_mm: float) -> tuple[int, int]:
    """Integer block size per axis so that blocks are at most about ``target_mm``."""
    return tuple(max(1, int(np.floor(target_mm / s + 1e-9))) for s in pixel_spacing_mm)  # type: ignore[return-value]


def _pad_to_multiple(image: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    rows, cols = image.shape
    pad = (-rows % factors[0], -cols % factors[1])
    if pad == (0, 0):
        return image
    return np.pad(image, ((0, pad[0]), (0, pad[1])), mode="edge")


def _blocks(image: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    padded = _pad_to_multiple(image, factors)
    rows, cols = padded.shape
    return padded.reshape(rows // factors[0], factors[0], cols // factors[1], factors[1])


def block_mean(image: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Mean over ``factors`` blocks (edge rows/columns replicated to fill the last block)."""
    return np.ascontiguousarray(_blocks(image, factors).mean(axis=(1, 3)))


def block_all(mask: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(_blocks(mask, factors).all(axis=(1, 3)))


def block_any(mask: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(_blocks(mask, factors).any(axis=(1, 3)))


def _linear_along(coarse: np.ndarray, factor: int, size: int, axis: int) -> np.ndarray:
    # Fine pixel j has its centre at (j + 0.5) / factor - 0.5 in coarse pixel coordinates.
    n = coarse.shape[axis]
    position = np.clip((np.arange(size) + 0.5) / factor - 0.5, 0.0, n - 1)
    lower = np.minimum(np.floor(position).astype(np.intp), max(n - 2, 0))
    upper = np.minimum(lower + 1, n - 1)
    t = position - lower
    shape = [1, 1]
    shape[axis] = size
    t = t.reshape(shape)
    return np.take(coarse, lower, axis=axis) * (1 - t) + np.take(coarse, upper, axis=axis) * t


def upsample_linear(
    coarse: np.ndarray, factors: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    """Separable linear interpolation of block values back to the fine grid ``shape``."""
    if factors == (1, 1) and coarse.shape == shape:
        return coarse
    out = _linear_along(coarse, factors[0], shape[0], axis=0)
    return np.ascontiguousarray(_linear_along(out, factors[1], shape[1], axis=1))
