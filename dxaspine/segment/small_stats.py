"""``np.median`` and ``np.percentile`` of the short 1-D arrays the segmentation and evidence
stages take them of (per level, per disc, per profile: tens to a few hundred values), bit
for bit and with a fraction of numpy's per-call overhead.

``np.median`` and ``np.percentile`` spend 10-30 us per call in argument handling, NaN checks
and ``partition`` set-up; a scan makes ~150 such calls, on arrays where a sort costs 1-2 us.
Both functions here sort (NaN sorts last, so a NaN anywhere gives NaN, as numpy's do) and
take the same order statistics; the even-count median is ``(a + b) / 2`` and the percentile
interpolation repeats numpy's ``_lerp`` (``a + (b - a) t``, or ``b - (b - a)(1 - t)`` for
``t >= 0.5``), so the results are identical, not merely close (tests/test_segment_small_stats.py).
Longer arrays go to the histogram-selection kernel of :mod:`dxaspine.physics.quantiles`
(also numpy's numbers bit for bit; NaN checked first, as it needs none), which beats a sort
there.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine.physics import quantiles

__all__ = ["median", "percentile"]

# Above this many values the selection kernel is faster than a sort (measured: a sort of 400
# values 3.4 us, of 1,000 12 us; the kernel 5.5 and 7 us; np.median 11-13 us).
SORT_MAX = 512


def median(values) -> float:
    """``float(np.median(values))`` of a 1-D array or sequence of real numbers, bit for bit.

    Parameters
    ----------
    values : array_like
        1-D, non-empty (numpy's empty median is NaN with a warning; this raises).

    Returns
    -------
    float
        The median; NaN when any value is NaN.
    """
    a = np.asarray(values, dtype=np.float64)
    n = a.size
    if n > SORT_MAX:
        return math.nan if np.isnan(a).any() else quantiles.median(a)
    if n == 0:
        raise ValueError("median of an empty array")
    s = np.sort(a)
    if s[n - 1] != s[n - 1]:  # NaN sorts last
        return math.nan
    if n % 2:
        return float(s[n // 2])
    return float((s[n // 2 - 1] + s[n // 2]) / 2.0)


def percentile(values, q: float) -> float:
    """``float(np.percentile(values, q))`` (the default "linear" method), bit for bit.

    Parameters
    ----------
    values : array_like
        Real numbers, any shape (flattened, as numpy does without ``axis``), non-empty.
    q : float
        Percentile in [0, 100].

    Returns
    -------
    float
        NaN when any value is NaN.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    n = a.size
    if not 0.0 <= q <= 100.0:
        raise ValueError("percentile must be in [0, 100]")
    if n > SORT_MAX:
        if np.isnan(a).any():
            return math.nan
        return quantiles.linear_quantiles(a, (q / 100.0,), may_reorder=False)[0]
    if n == 0:
        raise ValueError("percentile of an empty array")
    s = np.sort(a)
    if s[n - 1] != s[n - 1]:
        return math.nan
    last = n - 1
    virtual = last * (q / 100.0)  # numpy: (n - 1) * true_divide(q, 100)
    if virtual >= last:
        return float(s[last])
    lower = math.floor(virtual)
    a_low, b_up = float(s[lower]), float(s[lower + 1])
    t = virtual - lower
    diff = b_up - a_low
    return b_up - diff * (1.0 - t) if t >= 0.5 else a_low + diff * t
