"""Means, proportions and their 95 % CIs, unweighted or with survey weights.

- **Unweighted mean**: t interval, ``mean ± t₀.₉₇₅(n−1)·SD/√n``.
- **Weighted mean** (e.g. NHANES ``WTMECPRP``): ``Σwx/Σw`` with the linearisation
  (with-replacement) variance ``n/(n−1)·Σw²(x−m)²/(Σw)²``.  The NHANES strata and PSUs
  (SDMVSTRA, SDMVPSU) are not in the shared file, so the clustered design cannot be taken into
  account: these CIs ignore the design effect and are too narrow by it (docs/monitoring.md).
- **Proportions**: Wilson score interval on ``n`` (unweighted) or on Kish's effective sample
  size ``(Σw)²/Σw²`` (weighted), which keeps the interval inside [0, 1] for rare events.
- **Paired test**: the paired t statistic ``mean/SE`` with ``n−1`` degrees of freedom (for
  weights, the same Wald form with the linearised SE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "kish_n", "mean_ci", "proportion_ci", "t_test", "weighted_sd"]

Z95 = 1.959963984540054  # standard normal 0.975 quantile


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95 % CI; ``n`` rows used (``n_eff`` for weighted)."""

    value: float
    ci_low: float
    ci_high: float
    se: float
    n: int
    n_eff: float
    weighted: bool

    def fmt(self, digits: int = 3, scale: float = 1.0) -> str:
        v, lo, hi = (scale * x for x in (self.value, self.ci_low, self.ci_high))
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _clean(x: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(x, dtype=float)
    keep = np.isfinite(x)
    if w is not None:
        w = np.asarray(w, dtype=float)
        keep &= np.isfinite(w) & (w > 0)
        return x[keep], w[keep]
    return x[keep], None


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def kish_n(w: np.ndarray) -> float:
    """Kish's effective sample size ``(Σw)²/Σw²``."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2)) if w.size else 0.0


def weighted_sd(x: np.ndarray, w: np.ndarray | None = None) -> float:
    """SD (``ddof = 1`` form; weighted: ``Σw(x−m)²/Σw · n/(n−1)``); NaN for fewer than 2."""
    x, w = _clean(x, w)
    if x.size < 2:
        return float("nan")
    if w is None:
        return float(np.std(x, ddof=1))
    m = np.sum(w * x) / np.sum(w)
    return math.sqrt(float(np.sum(w * (x - m) ** 2) / np.sum(w)) * x.size / (x.size - 1))


def mean_ci(x: np.ndarray, w: np.ndarray | None = None) -> Estimate:
    """Mean with 95 % CI (module docstring); NaN estimate for fewer than 2 values.

    Examples
    --------
    >>> e = mean_ci(np.array([1.0, 2.0, 3.0]))
    >>> round(e.value, 3), round(e.ci_low, 3), round(e.ci_high, 3)   # 2 ± 4.303 x 1/sqrt(3)
    (2.0, -0.484, 4.484)
    """
    x, w = _clean(x, w)
    n = x.size
    if n < 2:
        nan = float("nan")
        return Estimate(float(x.mean()) if n else nan, nan, nan, nan, n, n, w is not None)
    if w is None:
        m, se, n_eff = float(x.mean()), float(np.std(x, ddof=1) / math.sqrt(n)), float(n)
    else:
        total = np.sum(w)
        m = float(np.sum(w * x) / total)
        se = math.sqrt(n / (n - 1) * float(np.sum(w**2 * (x - m) ** 2)) / total**2)
        n_eff = kish_n(w)
    t = _t975(n - 1)
    return Estimate(m, m - t * se, m + t * se, se, n, n_eff, w is not None)


def proportion_ci(indicator: np.ndarray, w: np.ndarray | None = None) -> Estimate:
    """Proportion of True with a Wilson 95 % CI (Kish effective n when weighted).

    Examples
    --------
    >>> e = proportion_ci(np.array([True] * 37 + [False] * 63))
    >>> round(e.value, 2), round(e.ci_low, 3), round(e.ci_high, 3)
    (0.37, 0.282, 0.468)
    """
    ind = np.asarray(indicator, dtype=float)
    x, w = _clean(ind, w)
    n = x.size
    if n == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, nan, 0, 0.0, w is not None)
    if w is None:
        p, n_eff = float(x.mean()), float(n)
    else:
        p, n_eff = float(np.sum(w * x) / np.sum(w)), kish_n(w)
    z2 = Z95**2
    centre = (p + z2 / (2 * n_eff)) / (1 + z2 / n_eff)
    half = Z95 * math.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2)) / (1 + z2 / n_eff)
    se = math.sqrt(p * (1 - p) / n_eff)
    return Estimate(
        p, max(0.0, centre - half), min(1.0, centre + half), se, n, n_eff, w is not None
    )


def t_test(d: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Paired t statistic and two-sided p-value of ``mean(d) = 0`` (module docstring)."""
    from scipy.stats import t as t_dist

    e = mean_ci(d, w)
    if not (e.se > 0):
        return float("nan"), float("nan")
    stat = e.value / e.se
    return float(stat), float(2 * t_dist.sf(abs(stat), e.n - 1))
