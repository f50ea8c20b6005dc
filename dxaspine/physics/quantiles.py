"""Exact, faster stand-ins for ``np.quantile`` and ``np.nanmedian(axis=1)``.

The baseline iteration (``soft_tissue``) takes several quantiles of tens of thousands of
values per iteration; numpy's general-purpose functions spend more time in per-call overhead
and masked arrays than in the selection itself.  These give the same numbers bit for bit
(tests/test_physics_kernels.py compares them with numpy).
"""

from __future__ import annotations

import math

import numpy as np


def linear_quantiles(values: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    """``np.quantile(values, quantiles)`` (default "linear" method), bit for bit, but faster.

    ``values`` must be a non-empty 1-D float array without NaN; it is partitioned in place.
    One ``partition`` call serves all the quantiles, which saves ``np.quantile``'s per-call
    overhead (most of its cost on the ~50 000 values of a Prodigy scan).  The interpolation
    repeats numpy's ``_lerp`` (``a + (b - a) t``, or ``b - (b - a)(1 - t)`` for ``t >= 0.5``)
    so the results are identical, not merely close.
    """
    n = values.size
    last = n - 1
    picks = []
    for q in quantiles:
        virtual = last * q
        lower = min(math.floor(virtual), last)
        picks.append((virtual, lower, min(lower + 1, last)))
    values.partition(sorted({k for _, lower, upper in picks for k in (lower, upper)}))
    out = []
    for virtual, lower, upper in picks:
        a, b = float(values[lower]), float(values[upper])
        if virtual >= last:
            out.append(float(values[last]))
            continue
        t = virtual - lower
        diff = b - a
        out.append(b - diff * (1.0 - t) if t >= 0.5 else a + diff * t)
    return out


def row_nanmedian(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=1)`` of a 2-D float array, NaN for all-NaN rows (silently).

    numpy's nanmedian goes through masked arrays for short rows; a row sort (NaN sorts last)
    and taking the middle of each row's finite run is ten times faster and gives the same
    numbers (the mean of the two middle values is ``(a + b) / 2`` in both).
    """
    rows, cols = values.shape
    if cols == 0:
        return np.full(rows, np.nan)
    ordered = np.sort(values, axis=1)
    count = np.count_nonzero(~np.isnan(values), axis=1)
    index = np.arange(rows)
    upper = ordered[index, np.minimum(count // 2, cols - 1)]
    lower = ordered[index, np.maximum(count - 1, 0) // 2]
    median = np.where(count % 2 == 1, upper, (lower + upper) / 2)
    return np.where(count > 0, median, np.nan)
