"""WHO reclassification between two regions: how many people change category.

For scans where ISCD says to read T with WHO (age ≥ 50, sex known; docs/domain.md §2) and both
regions are usable: the 3 × 3 table of WHO categories (rows: region a, columns: region b),
counted and (when the cohort has survey weights) as weighted percentages; the share that
changes category, moves to a worse or a better one, the osteoporosis rate under each region,
Cohen's κ, and McNemar's exact test on osteoporosis yes/no (unweighted counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dxaspine.clinical.cohort.scores import CATEGORIES, t_applicable, t_scores, who_categories
from dxaspine.clinical.cohort.survey import Estimate, proportion_ci
from dxaspine.clinical.cohort.table import CohortTable
from dxaspine.measure.composites import region_levels

__all__ = ["Reclassification", "reclassification"]


@dataclass(frozen=True)
class Reclassification:
    a: str
    b: str
    group: str
    n: int
    weighted: bool
    counts: np.ndarray  # (3, 3) int: rows = category under a, columns = under b
    percent: np.ndarray  # (3, 3) float: % of the group (weighted when ``weighted``)
    changed: Estimate  # proportion changing category
    worse: Estimate  # category under b more severe than under a
    better: Estimate
    osteoporosis_a: Estimate
    osteoporosis_b: Estimate
    kappa: float
    mcnemar_p: float

    def row(self) -> dict:
        out = {
            "a": self.a,
            "b": self.b,
            "group": self.group,
            "n": self.n,
            "weighted": self.weighted,
        }
        for name in ("changed", "worse", "better", "osteoporosis_a", "osteoporosis_b"):
            e = getattr(self, name)
            out |= {
                f"{name}_percent": 100 * e.value,
                f"{name}_ci_low": 100 * e.ci_low,
                f"{name}_ci_high": 100 * e.ci_high,
            }
        out |= {"kappa": self.kappa, "mcnemar_p": self.mcnemar_p}
        for i, ca in enumerate(CATEGORIES):
            for j, cb in enumerate(CATEGORIES):
                out[f"n_{ca}_to_{cb}"] = int(self.counts[i, j])
        return out


def _kappa(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return float("nan")
    observed = np.trace(counts) / total
    expected = float(np.sum(counts.sum(0) * counts.sum(1))) / total**2
    return float((observed - expected) / (1 - expected)) if expected < 1 else float("nan")


def _mcnemar(yes_a: np.ndarray, yes_b: np.ndarray) -> float:
    from scipy.stats import binomtest

    only_a, only_b = int(np.sum(yes_a & ~yes_b)), int(np.sum(~yes_a & yes_b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def reclassification(
    cohort: CohortTable,
    rows: np.ndarray,
    a: str = "L1-L4",
    b: str = "L2-L4",
    *,
    weighted: bool = True,
    reference=None,
    group: str = "all",
) -> Reclassification:
    """WHO categories under region ``a`` against region ``b`` over ``rows``.

    Parameters
    ----------
    cohort : CohortTable
    rows : bool (n,) array
    a, b : str
        Region names.
    weighted : bool
        Percentages and rates with the cohort's survey weights when it has them.
    reference : reference table (default ``dxaspine-default``)
    group : str
        Label carried in the result.

    Returns
    -------
    Reclassification

    Examples
    --------
    >>> r = reclassification(nh, nh.populations["reference"].mask)  # doctest: +SKIP
    >>> r.counts  # doctest: +SKIP
    """
    use = (
        rows
        & t_applicable(cohort)
        & cohort.all_usable(set(region_levels(a)) | set(region_levels(b)))
    )
    bmd_a = np.where(use, cohort.region_bmd(a), np.nan)
    bmd_b = np.where(use, cohort.region_bmd(b), np.nan)
    cat_a = who_categories(t_scores(cohort, a, bmd_a, reference))
    cat_b = who_categories(t_scores(cohort, b, bmd_b, reference))
    use &= np.array([x is not None for x in cat_a]) & np.array([x is not None for x in cat_b])
    w = cohort.weights if weighted and cohort.weights is not None else None
    wu = w[use] if w is not None else np.ones(int(use.sum()))
    idx_a = np.array([CATEGORIES.index(c) for c in cat_a[use]], dtype=int)
    idx_b = np.array([CATEGORIES.index(c) for c in cat_b[use]], dtype=int)
    counts = np.zeros((3, 3), int)
    weights = np.zeros((3, 3))
    np.add.at(counts, (idx_a, idx_b), 1)
    np.add.at(weights, (idx_a, idx_b), wu)
    percent = 100 * weights / weights.sum() if weights.sum() > 0 else weights
    wsel = w[use] if w is not None else None
    return Reclassification(
        a=a,
        b=b,
        group=group,
        n=int(use.sum()),
        weighted=w is not None,
        counts=counts,
        percent=percent,
        changed=proportion_ci(idx_a != idx_b, wsel),
        worse=proportion_ci(idx_b > idx_a, wsel),
        better=proportion_ci(idx_b < idx_a, wsel),
        osteoporosis_a=proportion_ci(idx_a == 2, wsel),
        osteoporosis_b=proportion_ci(idx_b == 2, wsel),
        kappa=_kappa(counts),
        mcnemar_p=_mcnemar(idx_a == 2, idx_b == 2),
    )
