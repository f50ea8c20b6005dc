"""Paired differences between two regions of the same scans (e.g. L2–L4 minus L1–L4).

For each scan with both regions evaluable: d = BMD_b − BMD_a (g/cm²), also in % of BMD_a
and in T-score units.  Reported: mean d with its 95 % CI, SD of d, the paired t-test and
(unweighted) the Wilcoxon signed-rank test, and the Bland–Altman limits of agreement
``mean d ± 1.96 SD`` (Bland & Altman, Lancet 1986).  Weighted estimates use the survey weights
(:mod:`.survey`); the tests are on the same estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dxaspine.clinical.cohort.scores import t_scores
from dxaspine.clinical.cohort.survey import Z95, Estimate, mean_ci, t_test, weighted_sd
from dxaspine.clinical.cohort.table import CohortTable
from dxaspine.measure.composites import region_levels

__all__ = ["PairedComparison", "paired_differences"]


@dataclass(frozen=True)
class PairedComparison:
    """b − a over one group of scans."""

    a: str
    b: str
    group: str
    n: int
    weighted: bool
    mean_a_g_cm2: Estimate
    mean_b_g_cm2: Estimate
    difference_g_cm2: Estimate
    difference_percent: Estimate
    difference_t: Estimate
    sd_difference_g_cm2: float
    limits_of_agreement_g_cm2: tuple[float, float]
    t_statistic: float
    p_value: float
    wilcoxon_p: float | None
    correlation: float
    pairs_g_cm2: np.ndarray  # (n, 2): BMD_a, BMD_b (for the Bland-Altman plot)

    def row(self) -> dict:
        """Flat CSV row (no arrays)."""
        out = {
            "a": self.a,
            "b": self.b,
            "group": self.group,
            "n": self.n,
            "weighted": self.weighted,
        }
        for name in (
            "mean_a_g_cm2",
            "mean_b_g_cm2",
            "difference_g_cm2",
            "difference_percent",
            "difference_t",
        ):
            e = getattr(self, name)
            out |= {name: e.value, f"{name}_ci_low": e.ci_low, f"{name}_ci_high": e.ci_high}
        lo, hi = self.limits_of_agreement_g_cm2
        out |= {
            "sd_difference_g_cm2": self.sd_difference_g_cm2,
            "loa_low_g_cm2": lo,
            "loa_high_g_cm2": hi,
            "t_statistic": self.t_statistic,
            "p_value": self.p_value,
            "wilcoxon_p": self.wilcoxon_p,
            "correlation": self.correlation,
        }
        return out


def paired_differences(
    cohort: CohortTable,
    rows: np.ndarray,
    a: str = "L1-L4",
    b: str = "L2-L4",
    *,
    weighted: bool = True,
    reference=None,
    group: str = "all",
) -> PairedComparison:
    """Paired comparison of regions ``a`` and ``b`` over ``rows``.

    Parameters
    ----------
    cohort : CohortTable
    rows : bool (n,) array
        The scans to use; those without both regions usable are left out.
    a, b : str
        Region names (Contract 2, e.g. ``L1-L4``, ``L2-L4``, ``L1-L2``).
    weighted : bool
        Use the cohort's survey weights when it has them.
    reference : reference table for the T-score difference (default ``dxaspine-default``)
    group : str
        Label carried in the result.

    Returns
    -------
    PairedComparison

    Examples
    --------
    >>> from dxaspine.clinical.cohort import read_cohort  # doctest: +SKIP
    >>> nh = read_cohort("P_DXXSPN_with_demo.csv")  # doctest: +SKIP
    >>> p = paired_differences(nh, nh.populations["reference"].mask)  # doctest: +SKIP
    >>> round(p.difference_g_cm2.value, 3)  # doctest: +SKIP
    0.021
    """
    both = rows & cohort.all_usable(set(region_levels(a)) | set(region_levels(b)))
    bmd_a, bmd_b = cohort.region_bmd(a), cohort.region_bmd(b)
    both &= np.isfinite(bmd_a) & np.isfinite(bmd_b)
    w = cohort.weights[both] if weighted and cohort.weights is not None else None
    xa, xb = bmd_a[both], bmd_b[both]
    d = xb - xa
    ta = t_scores(cohort, a, np.where(both, bmd_a, np.nan), reference)[both]
    tb = t_scores(cohort, b, np.where(both, bmd_b, np.nan), reference)[both]
    mean_d = mean_ci(d, w)
    sd = weighted_sd(d, w)
    stat, p = t_test(d, w)
    wil = None
    if w is None and d.size >= 10 and np.any(d != 0):
        from scipy.stats import wilcoxon

        wil = float(wilcoxon(d).pvalue)
    r = float(np.corrcoef(xa, xb)[0, 1]) if d.size > 2 else float("nan")
    return PairedComparison(
        a=a,
        b=b,
        group=group,
        n=int(both.sum()),
        weighted=w is not None,
        mean_a_g_cm2=mean_ci(xa, w),
        mean_b_g_cm2=mean_ci(xb, w),
        difference_g_cm2=mean_d,
        difference_percent=mean_ci(100.0 * d / xa, w),
        difference_t=mean_ci(tb - ta, w),
        sd_difference_g_cm2=sd,
        limits_of_agreement_g_cm2=(mean_d.value - Z95 * sd, mean_d.value + Z95 * sd),
        t_statistic=stat,
        p_value=p,
        wilcoxon_p=wil,
        correlation=r,
        pairs_g_cm2=np.column_stack([xa, xb]),
    )
