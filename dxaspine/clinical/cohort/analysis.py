"""``analyze_cohort``: every cohort table of the report, from one :class:`CohortTable`.

Population of the paired, reclassification and gradient analyses: the cleanest set with all
four levels usable (NHANES: ``reference``, 2,056 scans; other tables: ``all_valid``).  The
exclusion question runs on two populations: ``all_valid`` (the same scans under every
scenario, so scenarios are paired) and ``scanned`` (every scan, each on what it has; the
analysts' own exclusions count here).  Groups: everyone, women, men, and age bands (both
sexes, and women alone as in Tenne 2013).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dxaspine.clinical.cohort.exclusion import (
    ExclusionRate,
    exclusion_rates,
    iscd_rule_fires,
    scenario_levels,
)
from dxaspine.clinical.cohort.gradient import LevelRatio, level_gradient
from dxaspine.clinical.cohort.paired import PairedComparison, paired_differences
from dxaspine.clinical.cohort.reclassification import Reclassification, reclassification
from dxaspine.clinical.cohort.survey import Estimate, proportion_ci
from dxaspine.clinical.cohort.table import CohortTable, Population
from dxaspine.clinical.reference import load_reference
from dxaspine.errors import InputError, describe
from dxaspine.measure.composites import region_levels, region_name

__all__ = ["CohortResult", "analyze_cohort"]

DEFAULT_AGE_BANDS = (50, 60, 70, 81)  # NHANES 2017-2020 covers 50-80 (docs/domain.md §8)


@dataclass(frozen=True)
class CohortResult:
    cohort: CohortTable
    a: str
    b: str
    reference: str
    weighted: bool
    population: Population
    paired: tuple[PairedComparison, ...]
    reclassification: tuple[Reclassification, ...]
    gradient: tuple[LevelRatio, ...]
    gradient_unweighted: tuple[LevelRatio, ...]
    exclusion: tuple[ExclusionRate, ...]
    invalid_by_age: tuple[tuple[str, Estimate], ...]  # >= 1 level invalid in the source
    iscd_rule: tuple[tuple[str, Estimate], ...]  # population -> share where the rule fires
    notes: tuple[str, ...] = field(default_factory=tuple)


def _groups(cohort: CohortTable, bands: tuple[float, ...], women_bands: bool) -> dict:
    band = cohort.age_band(bands)
    groups = {"all": np.ones(cohort.n, bool), "women": cohort.sex == "F", "men": cohort.sex == "M"}
    labels = [lb for lb in dict.fromkeys(band) if lb]
    labels.sort()
    for label in labels:
        groups[f"age {label}"] = band == label
    if women_bands:
        for label in labels:
            groups[f"women {label}"] = (band == label) & (cohort.sex == "F")
    return groups


def _region(name: str) -> str:
    levels = region_levels(name)
    if len(levels) < 2:
        raise InputError(
            describe(
                name,
                "a region needs at least 2 levels",
                "ISCD: never a single vertebra (e.g. L1-L4, L2-L4, L1-L2)",
            )
        )
    return region_name(levels)


def analyze_cohort(
    cohort: CohortTable,
    a: str = "L1-L4",
    b: str = "L2-L4",
    *,
    reference=None,
    age_bands: tuple[float, ...] = DEFAULT_AGE_BANDS,
    weighted: bool = True,
) -> CohortResult:
    """Run every analysis of the cohort report.

    Parameters
    ----------
    cohort : CohortTable
        From :func:`dxaspine.clinical.cohort.read_cohort`.
    a, b : str
        The two regions compared (default L1-L4 against L2-L4).
    reference : str, path or ReferenceTable, optional
        T-score reference (default ``dxaspine-default``).
    age_bands : tuple of float
        Band edges, half-open ``[b_i, b_i+1)``.
    weighted : bool
        Use survey weights when the cohort has them (NHANES ``WTMECPRP``).

    Returns
    -------
    CohortResult

    Raises
    ------
    InputError
        A region with fewer than 2 levels or outside L1-L4; no scan usable for the regions.

    Examples
    --------
    >>> from dxaspine.clinical.cohort import analyze_cohort, read_cohort
    >>> result = analyze_cohort(read_cohort("P_DXXSPN_with_demo.csv"))  # doctest: +SKIP
    >>> result.reclassification[0].counts  # doctest: +SKIP
    """
    a, b = _region(a), _region(b)
    table = load_reference(reference)
    pops = cohort.populations
    main = pops["reference"] if "reference" in pops else pops["all_valid"]
    if main.n == 0:
        raise InputError(
            describe(
                cohort.source,
                "no scan has all four levels usable",
                "give scans with BMC and area at L1-L4",
            )
        )
    weighted = weighted and cohort.weights is not None
    groups = _groups(cohort, tuple(age_bands), women_bands=False)
    paired, reclass = [], []
    for label, mask in groups.items():
        rows = main.mask & mask
        if not rows.any():
            continue
        paired.append(
            paired_differences(cohort, rows, a, b, weighted=weighted, reference=table, group=label)
        )
        reclass.append(
            reclassification(cohort, rows, a, b, weighted=weighted, reference=table, group=label)
        )
    if weighted:  # the unweighted sample figures beside the population estimate
        paired.insert(
            1,
            paired_differences(
                cohort, main.mask, a, b, weighted=False, reference=table, group="all (unweighted)"
            ),
        )
        reclass.insert(
            1,
            reclassification(
                cohort, main.mask, a, b, weighted=False, reference=table, group="all (unweighted)"
            ),
        )
    scanned = pops["scanned"].mask
    levels = scenario_levels(cohort, scanned, table)
    excl_groups = _groups(cohort, tuple(age_bands), women_bands=True)
    exclusion = []
    for name in ("all_valid", "scanned"):
        rows = pops[name].mask
        subset = {k: np.where(rows, v, None) for k, v in levels.items()}
        exclusion += exclusion_rates(
            cohort, subset, name, excl_groups, weighted=weighted, reference=table
        )
    w = cohort.weights if weighted else None
    band = cohort.age_band(tuple(age_bands))
    invalid = []
    for label in sorted(x for x in set(band[scanned]) if x):
        sel = scanned & (band == label)
        invalid.append(
            (label, proportion_ci(~pops["source_valid"].mask[sel], None if w is None else w[sel]))
        )
    rule = []
    for name in ("source_valid", "all_valid", "reference"):
        if name in pops and pops[name].n:
            rows = pops[name].mask
            fires = iscd_rule_fires(cohort, rows, table)
            rule.append((name, proportion_ci(fires[rows])))  # unweighted, as docs/domain.md §3
    return CohortResult(
        cohort=cohort,
        a=a,
        b=b,
        reference=table.name,
        weighted=weighted,
        population=main,
        paired=tuple(paired),
        reclassification=tuple(reclass),
        gradient=level_gradient(cohort, main.mask, weighted=weighted),
        gradient_unweighted=level_gradient(cohort, main.mask, weighted=False),
        exclusion=tuple(exclusion),
        invalid_by_age=tuple(invalid),
        iscd_rule=tuple(rule),
    )
