"""Plain numpy/scipy references of :mod:`dxaspine.evidence._kernels` (parity tests)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def sample_lines_reference(values, row0, slope, col0, cols, offsets, order):
    line_rows = row0 + slope * (cols - col0)
    rr = line_rows[None, :] + offsets[:, None]
    cc = np.broadcast_to(cols[None, :], rr.shape)
    return ndimage.map_coordinates(values, [rr, cc], order=order, mode="constant", cval=0.0)
