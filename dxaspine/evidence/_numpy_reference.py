"""Plain numpy/scipy references of :mod:`dxaspine.evidence._kernels` (parity tests)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def sample_lines_reference(values, row0, slope, col0, cols, offsets, order):
    line_rows = row0 + slope * (cols - col0)
    rr = line_rows[None, :] + offsets[:, None]
    cc = np.broadcast_to(cols[None, :], rr.shape)
    return ndimage.map_coordinates(values, [rr, cc], order=order, mode="constant", cval=0.0)


def extent_px_reference(values, rows_sel, centres, side, half_px, threshold=0.3, reach_px=25):
    """``lesion_measures.extent_px`` as numpy (the form it had before its kernel)."""
    if rows_sel.size == 0:
        return 0.0
    cols = values.shape[1]
    offs = np.arange(int(0.6 * half_px), int(half_px + reach_px))
    c = np.clip(np.round(centres[:, None] + side * offs[None, :]).astype(int), 0, cols - 1)
    bone = values[rows_sel[:, None], c] > threshold
    gap = ~bone
    first_gap = np.where(gap.any(axis=1), np.argmax(gap, axis=1), offs.size)
    return float(offs[0] + first_gap.max()) if first_gap.size else 0.0


def level_profile_reference(values, axis_columns, r0, r1, offsets):
    """:func:`~dxaspine.evidence._kernels.level_profile_kernel` as ``rotation._level_profile``
    computed it with scipy before the kernel."""
    rows = np.arange(r0, r1 + 1)
    cols = axis_columns[rows][:, None] + offsets[None, :]
    samples = ndimage.map_coordinates(
        values, [np.broadcast_to(rows[:, None], cols.shape), cols], order=1, mode="nearest"
    )
    return samples.mean(axis=0)
