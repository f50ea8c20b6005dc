"""Plain numpy reference for :mod:`dxaspine.measure._kernels` (parity tests, benchmark).

Deliberately written differently from the kernel (one boolean mask per label, numpy
reductions) so that agreement means something.
"""

from __future__ import annotations

import numpy as np


def level_sums_reference(
    label_image: np.ndarray, bone_mask: np.ndarray, density: np.ndarray, n_labels: int
) -> tuple[np.ndarray, ...]:
    """Same outputs as ``level_sums_kernel`` (see there), computed label by label."""
    rows = label_image.shape[0]
    count = np.zeros(n_labels, dtype=np.int64)
    nonfinite = np.zeros(n_labels, dtype=np.int64)
    density_sum = np.zeros(n_labels, dtype=np.float64)
    column_sum = np.zeros(n_labels, dtype=np.float64)
    first_col = np.full((n_labels, rows), -1, dtype=np.int64)
    last_col = np.full((n_labels, rows), -1, dtype=np.int64)
    out_of_range = int(np.count_nonzero((label_image < 0) | (label_image > n_labels)))
    columns = np.arange(label_image.shape[1])
    for k in range(n_labels):
        mask = (label_image == k + 1) & bone_mask
        values = density[mask]
        finite = np.isfinite(values)
        count[k] = mask.sum()
        nonfinite[k] = (~finite).sum()
        density_sum[k] = values[finite].sum()
        column_sum[k] = np.nonzero(mask)[1].sum(dtype=np.float64)
        any_row = mask.any(axis=1)
        if not any_row.any():
            continue
        first_col[k, any_row] = np.argmax(mask[any_row], axis=1)
        last_col[k, any_row] = columns[-1] - np.argmax(mask[any_row, ::-1], axis=1)
    return count, nonfinite, density_sum, column_sum, first_col, last_col, out_of_range
