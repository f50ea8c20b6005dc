"""T-scores and WHO categories for whole cohorts, with the per-scan tool's reference and rules.

T uses the same reference table as ``assess`` (:func:`dxaspine.clinical.reference.load_reference`;
default ``dxaspine-default``: the White-female young-adult mean × the region's NHANES ratio,
SD 0.122, for all sexes — ISCD, docs/domain.md §2 and §8), the WHO categories and the ISCD
applicability (T/WHO for women and men aged 50 and over) from :mod:`dxaspine.clinical.scores`.
"""

from __future__ import annotations

import numpy as np

from dxaspine.clinical.cohort.table import CohortTable
from dxaspine.clinical.reference import ReferenceTable, load_reference
from dxaspine.clinical.scores import WHO_NORMAL_MIN_T, WHO_OSTEOPOROSIS_MAX_T, applicability
from dxaspine.errors import ReferenceDataError, describe

__all__ = ["CATEGORIES", "t_applicable", "t_scores", "who_categories"]

CATEGORIES = ("normal", "low_bone_mass", "osteoporosis")


def _t_row(table: ReferenceTable, region: str, sex: str | None):
    row, why = table.t_reference(region, sex)
    return row


def t_scores(
    cohort: CohortTable,
    regions: str | np.ndarray,
    bmd_g_cm2: np.ndarray,
    reference: str | ReferenceTable | None = None,
) -> np.ndarray:
    """T-score per row for ``bmd_g_cm2`` of ``regions`` (one name, or one per row).

    Raises
    ------
    ReferenceDataError
        The reference has no T row for a region that is needed.
    """
    table = load_reference(reference)
    per_row = np.full(cohort.n, regions, dtype=object) if isinstance(regions, str) else regions
    out = np.full(cohort.n, np.nan)
    cache: dict = {}
    for i in np.nonzero(np.isfinite(bmd_g_cm2))[0]:
        key = (per_row[i], cohort.sex[i])
        if key[0] is None:
            continue
        if key not in cache:
            cache[key] = _t_row(table, *key)
            if cache[key] is None:
                raise ReferenceDataError(
                    describe(
                        table.name,
                        f"no T reference for {key[0]}",
                        "use a reference table with that region",
                    )
                )
        row = cache[key]
        out[i] = (bmd_g_cm2[i] - row.mean_g_cm2) / row.sd_g_cm2
    return out


def who_categories(t: np.ndarray) -> np.ndarray:
    """``normal`` | ``low_bone_mass`` | ``osteoporosis`` per T (None for NaN; docs/domain.md §2)."""
    out = np.full(t.shape, None, dtype=object)
    finite = np.isfinite(t)
    out[finite & (t >= WHO_NORMAL_MIN_T)] = "normal"
    out[finite & (t < WHO_NORMAL_MIN_T) & (t > WHO_OSTEOPOROSIS_MAX_T)] = "low_bone_mass"
    out[finite & (t <= WHO_OSTEOPOROSIS_MAX_T)] = "osteoporosis"
    return out


def t_applicable(cohort: CohortTable) -> np.ndarray:
    """Rows where ISCD says to read T with WHO (sex known, age ≥ 50; docs/domain.md §2)."""
    return np.array(
        [
            applicability(s, None if not np.isfinite(a) else float(a)).score == "T"
            for s, a in zip(cohort.sex, cohort.age_years, strict=True)
        ]
    )
