"""numba kernels of separable symmetric smoothing (the Gaussians of the baseline iteration).

They compute exactly what ``scipy.ndimage.correlate1d`` computes for a symmetric kernel, in
the same float64 operations and order, so results are bit-identical to
``scipy.ndimage.gaussian_filter(1d)``: each output is ``x[i] * w[0]`` plus, from the outermost
tap inwards, ``(x[i - k] + x[i + k]) * w[k]``.  They are faster because the inner loop runs
along contiguous memory (over the columns for both axes), which scipy's line buffers do not.

Boundary modes (indices outside ``[0, n)``): ``MODE_NEAREST`` repeats the edge value,
``MODE_REFLECT`` mirrors about the edge (``d c b a | a b c d | d c b a``), both as in scipy.
The ``*_reference`` functions are the readable numpy specification the parity tests use.
"""

from __future__ import annotations

import numpy as np

from dxaspine._numba import jit

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


def _padded_reference(image, radius, axis, mode):
    n = image.shape[axis]
    index = np.arange(-radius, n + radius)
    if mode == MODE_NEAREST:
        index = np.clip(index, 0, n - 1)
    else:
        index = index % (2 * n)
        index = np.where(index < n, index, 2 * n - 1 - index)
    return np.take(image, index, axis=axis)


def correlate_reference(image, half_weights, mode, axis):
    """numpy reference of :func:`correlate_rows_kernel` (axis 0) / ``_cols_`` (axis 1)."""
    image = np.asarray(image, dtype=np.float64)
    if image.size == 0:
        return image.copy()
    radius = len(half_weights) - 1
    padded = _padded_reference(image, radius, axis, mode)
    n = image.shape[axis]

    def shifted(offset):  # x[i + offset] for every i
        return np.take(padded, np.arange(n) + radius + offset, axis=axis)

    out = image * half_weights[0]
    for k in range(radius, 0, -1):
        out = out + (shifted(-k) + shifted(k)) * half_weights[k]
    return out


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernels here on 1 x 1 inputs."""
    one, out = np.ones((1, 1)), np.empty((1, 1))
    taps = np.array([0.5, 0.25])
    for mode in (MODE_NEAREST, MODE_REFLECT):
        correlate_rows_kernel(one, taps, mode, out)
        correlate_cols_kernel(one, taps, mode, out)
