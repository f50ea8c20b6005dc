"""numba kernels of the evidence stage (docs/architecture.md, Kernels), with the numpy
references the parity tests compare against in :mod:`dxaspine.evidence._numpy_reference`.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine._numba import jit


@jit
def sample_lines_kernel(values, row0, slope, col0, cols, offsets, order, out):  # pragma: no cover
    """``out[m, k]``: ``values`` at row ``row0 + slope (cols[k] - col0) + offsets[m]``, column
    ``cols[k]``, as ``scipy.ndimage.map_coordinates(..., mode="constant", cval=0)`` reads it:
    0 outside ``[0, rows - 1] x [0, cols - 1]``; inside, bilinear (``order`` 1) or the nearest
    pixel, halves rounding up (``order`` 0)."""
    n_rows, n_cols = values.shape
    for k in range(cols.shape[0]):
        c = cols[k]
        base = row0 + slope * (c - col0)
        for m in range(offsets.shape[0]):
            r = base + offsets[m]
            if not (r >= 0.0 and r <= n_rows - 1 and c >= 0.0 and c <= n_cols - 1):
                out[m, k] = 0.0
                continue
            if order == 0:
                out[m, k] = values[int(math.floor(r + 0.5)), int(math.floor(c + 0.5))]
                continue
            i = int(math.floor(r))
            j = int(math.floor(c))
            t = r - i
            u = c - j
            i1 = min(i + 1, n_rows - 1)
            j1 = min(j + 1, n_cols - 1)
            out[m, k] = (1 - t) * ((1 - u) * values[i, j] + u * values[i, j1]) + t * (
                (1 - u) * values[i1, j] + u * values[i1, j1]
            )


@jit
def lateral_extent_kernel(values, rows, centres, side, start, stop, threshold):  # pragma: no cover
    """``lesion_measures.extent_px``: on each of ``rows``, walk outward from the axis
    (``centres``, one per row) on the ``side`` (-1 or 1) through offsets ``start`` ..
    ``stop - 1`` columns, the column rounded half to even and clamped to the image, until the
    first pixel not above ``threshold``; returns ``start`` plus the largest number of bone
    pixels before that gap over the rows (``stop - start`` on a row with no gap)."""
    n_cols = values.shape[1]
    width = stop - start
    best = 0
    for m in range(rows.shape[0]):
        r = rows[m]
        centre = centres[m]
        first = width
        for k in range(width):
            c = min(max(int(np.rint(centre + side * (start + k))), 0), n_cols - 1)
            if not values[r, c] > threshold:
                first = k
                break
        if first > best:
            best = first
    return start + best


@jit
def level_profile_kernel(values, axis_columns, r0, r1, offsets, out):  # pragma: no cover
    """``rotation._level_profile``: the mean over rows ``r0 .. r1`` of ``values`` sampled at
    column ``axis_columns[r] + offsets[k]`` of each row, linearly between the two nearest
    columns, as ``scipy.ndimage.map_coordinates(order=1, mode="nearest")`` reads them on
    whole rows and ``mean(axis=0)`` sums them (row after row); the same numbers.  Every
    column must lie in ``[0, cols - 1]`` (the caller checks)."""
    n_cols = values.shape[1]
    n_off = offsets.shape[0]
    for r in range(r0, r1 + 1):
        for k in range(n_off):
            c = axis_columns[r] + offsets[k]
            c0 = math.floor(c)
            u = c - c0
            i0 = int(c0)
            i1 = min(i0 + 1, n_cols - 1)
            v = values[r, i0] * (1.0 - u) + values[r, i1] * u
            out[k] = v if r == r0 else out[k] + v
    n = r1 - r0 + 1
    for k in range(n_off):
        out[k] = out[k] / n
