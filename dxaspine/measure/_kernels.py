"""numba kernel for per-level sums: one pass over the label image.

Private: call it through :func:`dxaspine.measure.levels.level_sums`, which validates dtype,
shape and contiguity first (the scikit-image wrapper pattern, docs/architecture.md Kernels).
"""

from __future__ import annotations

import numpy as np

from dxaspine._numba import jit


@jit
def level_sums_kernel(label_image, bone_mask, density, n_labels):  # pragma: no cover - jitted
    """Accumulate per-label bone-pixel statistics in one raster pass.

    ``label_image`` int32 (R, C), ``bone_mask`` bool (R, C), ``density`` float64 (R, C).
    Only pixels with ``1 <= label <= n_labels`` and ``bone_mask`` count.  Non-finite
    densities are counted in ``nonfinite`` and left out of ``density_sum`` (they still count
    as bone area).  Row extents: first/last bone column of each label on each row (-1 if none).
    Returns ``(count, nonfinite, density_sum, column_sum, first_col, last_col, out_of_range)``.
    """
    rows, cols = label_image.shape
    count = np.zeros(n_labels, dtype=np.int64)
    nonfinite = np.zeros(n_labels, dtype=np.int64)
    density_sum = np.zeros(n_labels, dtype=np.float64)
    column_sum = np.zeros(n_labels, dtype=np.float64)
    first_col = np.full((n_labels, rows), -1, dtype=np.int64)
    last_col = np.full((n_labels, rows), -1, dtype=np.int64)
    out_of_range = 0
    for r in range(rows):
        for c in range(cols):
            lab = label_image[r, c]
            if lab == 0:
                continue
            if lab < 0 or lab > n_labels:
                out_of_range += 1
                continue
            if not bone_mask[r, c]:
                continue
            k = lab - 1
            count[k] += 1
            v = density[r, c]
            if np.isfinite(v):
                density_sum[k] += v
            else:
                nonfinite[k] += 1
            column_sum[k] += c
            if first_col[k, r] < 0:
                first_col[k, r] = c  # columns run left to right, so the first hit is the minimum
            last_col[k, r] = c
    return count, nonfinite, density_sum, column_sum, first_col, last_col, out_of_range
