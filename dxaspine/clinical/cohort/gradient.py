"""The level gradient: each level's BMD as a ratio of the L1–L4 composite, with CIs.

Per scan, ratio_i = BMD_level_i / BMD_L1–L4 (L1–L4 = ΣBMC/ΣArea; the level BMD as the source
printed it, else its BMC/area).  Reported per level: mean ratio with its 95 % CI (weighted or
not), SD, and the same as a percent difference from L1–L4, next to the published figures:

- NHANES 2017–2020 (docs/domain.md §3): L1 0.941 ± 0.052, L2 0.993, L3 1.029, L4 1.026 ± 0.047
  (reproduced from the shared file by the unweighted mean over the 2,058 all-valid rows
  whose total is the sum of L1–L4; tests/test_cohort_nhanes.py);
- Manitoba registry (docs/domain.md §3; Leslie, J Clin Densitom 2023; 70,762 people): L1 alone
  7.6 % below L1–L4, L4 alone 3.6 % above (L2 and L3 not given there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dxaspine.clinical.cohort.survey import Estimate, mean_ci, weighted_sd
from dxaspine.clinical.cohort.table import CohortTable
from dxaspine.levels import CLINICAL_LEVELS

__all__ = ["DOMAIN_NHANES_RATIOS", "MANITOBA_PERCENT", "LevelRatio", "level_gradient"]

DOMAIN_NHANES_RATIOS = {"L1": 0.941, "L2": 0.993, "L3": 1.029, "L4": 1.026}  # docs/domain.md §3
MANITOBA_PERCENT = {"L1": -7.6, "L4": +3.6}  # docs/domain.md §3, Leslie 2023


@dataclass(frozen=True)
class LevelRatio:
    level: str
    n: int
    ratio: Estimate
    sd: float
    percent_vs_l1l4: float
    nhanes_domain: float | None
    manitoba_percent: float | None

    def row(self) -> dict:
        return {
            "level": self.level,
            "n": self.n,
            "weighted": self.ratio.weighted,
            "ratio": self.ratio.value,
            "ci_low": self.ratio.ci_low,
            "ci_high": self.ratio.ci_high,
            "sd": self.sd,
            "percent_vs_l1l4": self.percent_vs_l1l4,
            "nhanes_2017_2020_domain": self.nhanes_domain,
            "manitoba_percent_vs_l1l4": self.manitoba_percent,
        }


def level_bmd(cohort: CohortTable, level: str) -> np.ndarray:
    """The level's BMD as printed by the source, else BMC/area."""
    printed = cohort.bmd_g_cm2[level]
    return np.where(np.isfinite(printed), printed, cohort.region_bmd([level]))


def level_gradient(
    cohort: CohortTable, rows: np.ndarray, *, weighted: bool = True
) -> tuple[LevelRatio, ...]:
    """Mean level/L1–L4 BMD ratio per level over ``rows`` (module docstring).

    Parameters
    ----------
    cohort : CohortTable
    rows : bool (n,) array
        Scans to use; only those with all four levels usable count.
    weighted : bool
        Use the cohort's survey weights when it has them.

    Returns
    -------
    tuple of LevelRatio
        L1 to L4.

    Examples
    --------
    >>> g = level_gradient(nh, nh.populations["all_valid"].mask, weighted=False)  # doctest: +SKIP
    >>> [round(x.ratio.value, 3) for x in g]  # doctest: +SKIP
    [0.941, 0.993, 1.029, 1.026]
    """
    use = rows & cohort.all_usable(CLINICAL_LEVELS)
    total = cohort.region_bmd(CLINICAL_LEVELS)
    use &= np.isfinite(total) & (total > 0)
    w = cohort.weights[use] if weighted and cohort.weights is not None else None
    out = []
    for lv in CLINICAL_LEVELS:
        ratio = level_bmd(cohort, lv)[use] / total[use]
        est = mean_ci(ratio, w)
        out.append(
            LevelRatio(
                lv,
                int(use.sum()),
                est,
                weighted_sd(ratio, w),
                100 * (est.value - 1),
                DOMAIN_NHANES_RATIOS.get(lv),
                MANITOBA_PERCENT.get(lv),
            )
        )
    return tuple(out)
