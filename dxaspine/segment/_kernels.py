"""numba kernels of the segmentation stage (DESIGN.md, Kernels).

Each ``@jit`` function works on arrays and scalars only; the public wrappers in
:mod:`dxaspine.segment.kernels` validate dtype, shape and contiguity before calling them, and
:mod:`dxaspine.segment._reference` holds the plain numpy references the parity tests compare
against.
"""

from __future__ import annotations

import numpy as np

from dxaspine._numba import jit


@jit
def block_mean_kernel(image, valid, factor_rows, factor_cols):  # pragma: no cover - numba
    """Mean of the valid, finite pixels of each ``factor_rows x factor_cols`` block.

    Blocks without any valid finite pixel are NaN.  Trailing rows/columns that do not fill a
    whole block are dropped.
    """
    out_rows = image.shape[0] // factor_rows
    out_cols = image.shape[1] // factor_cols
    out = np.full((out_rows, out_cols), np.nan)
    for i in range(out_rows):
        for j in range(out_cols):
            total = 0.0
            count = 0
            for a in range(i * factor_rows, (i + 1) * factor_rows):
                for b in range(j * factor_cols, (j + 1) * factor_cols):
                    v = image[a, b]
                    if valid[a, b] and np.isfinite(v):
                        total += v
                        count += 1
            if count > 0:
                out[i, j] = total / count
    return out


@jit
def track_path_kernel(cost, max_step, step_penalty):  # pragma: no cover - numba
    """Minimum-cost path with one column per row (dynamic programming over rows).

    ``acc[r, c] = cost[r, c] + min_{|d| <= max_step} (acc[r-1, c+d] + step_penalty * |d|)``.
    NaN costs count as +inf.  Ties go to the first candidate in the order ``d = -max_step ..
    +max_step`` and, for the last row, to the lowest column.  Returns the column per row.
    """
    rows, cols = cost.shape
    path = np.zeros(rows, dtype=np.int64)
    if rows == 0 or cols == 0:
        return path
    acc = np.empty((rows, cols))
    back = np.zeros((rows, cols), dtype=np.int64)
    for c in range(cols):
        v = cost[0, c]
        acc[0, c] = v if np.isfinite(v) else np.inf
    for r in range(1, rows):
        for c in range(cols):
            best = np.inf
            best_c = c
            for d in range(-max_step, max_step + 1):
                cc = c + d
                if cc < 0 or cc >= cols:
                    continue
                cand = acc[r - 1, cc] + step_penalty * abs(d)
                if cand < best:
                    best = cand
                    best_c = cc
            v = cost[r, c]
            acc[r, c] = (v if np.isfinite(v) else np.inf) + best
            back[r, c] = best_c
    last = 0
    best = np.inf
    for c in range(cols):
        if acc[rows - 1, c] < best:
            best = acc[rows - 1, c]
            last = c
    path[rows - 1] = last
    for r in range(rows - 1, 0, -1):
        path[r - 1] = back[r, path[r]]
    return path


@jit
def rasterize_levels_kernel(
    n_rows, n_cols, box_lo, box_hi, line_col, line_row, line_slope
):  # pragma: no cover - numba
    """Label image: ``k + 1`` for pixels inside the box between line ``k`` and line ``k + 1``.

    Row ``r`` of the box spans columns ``box_lo[r] <= c <= box_hi[r]`` (NaN bounds: the row
    is outside the box).  Line ``k`` is ``row = line_row[k] + line_slope[k] * (c -
    line_col[k])``; a pixel belongs to level ``k`` when ``row_k(c) <= r < row_{k+1}(c)``
    (first such ``k``).
    """
    out = np.zeros((n_rows, n_cols), dtype=np.int32)
    n_lines = line_col.shape[0]
    for r in range(n_rows):
        lo = box_lo[r]
        hi = box_hi[r]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        c_start = max(0, int(np.ceil(lo)))
        c_stop = min(n_cols - 1, int(np.floor(hi)))
        for c in range(c_start, c_stop + 1):
            for k in range(n_lines - 1):
                top = line_row[k] + line_slope[k] * (c - line_col[k])
                bottom = line_row[k + 1] + line_slope[k + 1] * (c - line_col[k + 1])
                if top <= r < bottom:
                    out[r, c] = k + 1
                    break
    return out
