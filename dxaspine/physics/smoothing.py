"""Gaussian smoothing, bit-identical to ``scipy.ndimage`` and several times faster.

The baseline iteration smooths the full-resolution excess before thresholding and the
baseline along the spine every iteration; scipy's ``gaussian_filter`` spends most of that time
copying lines in and out of buffers (axis 0 of a C array is strided).  These wrappers validate
their inputs and call the kernels of :mod:`dxaspine.physics._kernels`, which do the same
float64 arithmetic in the same order, so the results are identical to scipy's.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from dxaspine.physics import _kernels

_MODES = {"nearest": _kernels.MODE_NEAREST, "reflect": _kernels.MODE_REFLECT}


@functools.lru_cache(maxsize=64)
def gaussian_half_weights(sigma_px: float, truncate: float) -> np.ndarray:
    """Taps ``w[0..radius]`` of scipy's 1-D Gaussian (radius ``int(truncate * sigma + 0.5)``).

    Taken from scipy's own impulse response, so they are its taps to the last bit whatever
    formula the installed scipy uses (an impulse times a tap plus zeros is exactly the tap).
    """
    radius = int(truncate * float(sigma_px) + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    response = ndimage.gaussian_filter1d(impulse, sigma_px, mode="constant", truncate=truncate)
    half = np.ascontiguousarray(response[radius:])
    if not np.array_equal(response[:radius][::-1], half[1:]):  # pragma: no cover - scipy change
        raise RuntimeError("scipy's Gaussian kernel is not symmetric")
    half.flags.writeable = False
    return half


def _check(image: np.ndarray, mode: str) -> tuple[np.ndarray, int]:
    if not isinstance(image, np.ndarray) or image.ndim != 2:
        raise TypeError(f"expected a 2-D numpy array, got {getattr(image, 'shape', type(image))}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    return np.ascontiguousarray(image, dtype=np.float64), _MODES[mode]


def gaussian_filter_rows(
    image: np.ndarray, sigma_px: float, mode: str = "nearest", truncate: float = 4.0
) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(image, sigma_px, axis=0, mode=..., truncate=...)``.

    Parameters
    ----------
    image : (M, N) ndarray, converted to C-contiguous float64
    sigma_px : float
        Standard deviation in pixels along axis 0 (rows), > 0.
    mode : {"nearest", "reflect"}
    truncate : float
        Kernel radius in sigmas.
    """
    image, code = _check(image, mode)
    if not sigma_px > 0:
        raise ValueError(f"sigma_px must be > 0, got {sigma_px}")
    out = np.empty_like(image)
    _kernels.correlate_rows_kernel(
        image, gaussian_half_weights(float(sigma_px), float(truncate)), code, out
    )
    return out


def gaussian_filter_2d(
    image: np.ndarray,
    sigma_px: tuple[float, float],
    mode: str = "reflect",
    truncate: float = 4.0,
) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, sigma_px, mode=..., truncate=...)`` for 2-D float.

    As in scipy, axis 0 is filtered first, and an axis whose sigma is at most 1e-15 is skipped.
    """
    image, code = _check(image, mode)
    sigma_r, sigma_c = (float(s) for s in sigma_px)
    if sigma_r > 1e-15 and sigma_c > 1e-15:  # both axes in one pass, no intermediate image
        out = np.empty_like(image)
        _kernels.correlate_2d_kernel(
            image,
            gaussian_half_weights(sigma_r, float(truncate)),
            gaussian_half_weights(sigma_c, float(truncate)),
            code,
            out,
        )
        return out
    out = image
    if sigma_r > 1e-15:
        out = np.empty_like(image)
        _kernels.correlate_rows_kernel(
            image, gaussian_half_weights(sigma_r, float(truncate)), code, out
        )
    if sigma_c > 1e-15:
        if out is image:
            out = np.empty_like(image)
        _kernels.correlate_cols_kernel(
            image if sigma_r <= 1e-15 else out,
            gaussian_half_weights(sigma_c, float(truncate)),
            code,
            out,
        )
    return out.copy() if out is image else out
