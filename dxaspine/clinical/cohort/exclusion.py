"""The exclusion question: how does the osteoporosis rate change with the levels used?

docs/domain.md §3 (Tenne 2013, women aged 75): osteoporosis 37 % at L1–L4, 47 % after excluding
degenerate levels, 46 % with L1–L2 alone.  Each scenario below gives every scan the set of
levels it would be reported on (or none: not evaluable, fewer than 2 left):

- ``L1-L4``: all four, as measured (only scans where all four are usable in the source);
- ``source``: the levels the source kept (NHANES invalidity codes and the analyst's subset
  totals; a batch's own exclusions; a table's ``L1_invalid``);
- ``iscd``: the source's levels minus those the ISCD adjacent-T rule (> 1.0 T between
  neighbours, docs/domain.md §2) attributes, ``interlevel``: minus the inter-level deviation
  rule's, ``image``: minus image evidence (batch tables), ``automatic``: what ``assess``
  excludes with all of them -- each within the ISCD limits (at most 2 excluded, at least 2
  left; :mod:`dxaspine.clinical.flags`);
- ``L1-L2`` and ``L2-L4`` alone.

Each scan is assessed once by :func:`dxaspine.clinical.assess` (the per-scan tool's own
flags), so a cohort answer and a per-scan answer cannot disagree.  Rates are over scans
where T/WHO apply (age ≥ 50), with survey weights when present.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dxaspine.clinical.cohort.scores import t_applicable, t_scores
from dxaspine.clinical.cohort.survey import Estimate, proportion_ci
from dxaspine.clinical.cohort.table import CohortTable
from dxaspine.clinical.flags import EXCLUDING_IMAGE_CODES, MAX_EXCLUDED, MIN_EVALUABLE
from dxaspine.clinical.scores import WHO_OSTEOPOROSIS_MAX_T
from dxaspine.levels import CLINICAL_LEVELS
from dxaspine.measure.composites import region_levels, region_name

__all__ = [
    "SCENARIOS",
    "TENNE_2013",
    "ExclusionRate",
    "exclusion_rates",
    "iscd_rule_fires",
    "scenario_levels",
]

SCENARIOS = {
    "L1-L4": "L1-L4, all four levels as measured",
    "source": "levels the source kept (analyst / batch exclusions)",
    "iscd": "source levels minus the ISCD adjacent-T rule's (> 1.0 T)",
    "interlevel": "source levels minus the inter-level deviation rule's",
    "image": "source levels minus image evidence (batch tables)",
    "automatic": "dxaspine automatic exclusion (all rules, as assess)",
    "L1-L2": "L1-L2 alone",
    "L2-L4": "L2-L4 alone",
}
TENNE_2013 = {"L1-L4": 37.0, "automatic": 47.0, "L1-L2": 46.0}  # docs/domain.md §3, women aged 75
ISCD_RULE_RATE_NHANES = (
    0.06  # docs/domain.md §3: the rule fires on ~6 % of the 2,121 all-valid scans
)


@dataclass(frozen=True)
class ExclusionRate:
    scenario: str
    population: str
    group: str
    n_scans: int  # scans in the group
    n_evaluable: int  # with a reportable region under the scenario
    osteoporosis: Estimate  # share with T <= -2.5 among the evaluable
    mean_levels: float  # levels per evaluable scan

    def row(self) -> dict:
        e = self.osteoporosis
        return {
            "scenario": self.scenario,
            "description": SCENARIOS[self.scenario],
            "population": self.population,
            "group": self.group,
            "n_scans": self.n_scans,
            "n_evaluable": self.n_evaluable,
            "osteoporosis_percent": 100 * e.value,
            "ci_low": 100 * e.ci_low,
            "ci_high": 100 * e.ci_high,
            "weighted": e.weighted,
            "mean_levels": self.mean_levels,
        }


def _chosen(flags_by_level: dict, usable: list[str], kinds: set[str]) -> list[str]:
    """Levels one rule family excludes, strongest first, within the ISCD room."""
    strength: dict[str, tuple[int, float]] = {}
    for lv, flags in flags_by_level.items():
        for f in flags:
            if f.code == "adjacent_t_difference" and "iscd" in kinds:
                scores = f.evidence.get("deviation_scores")
                if scores and f.level == lv:  # attributed to this level (flags.py)
                    s = (1, abs(float(scores[lv])))
                    strength[lv] = max(strength.get(lv, s), s)
            elif f.code == "inter_level_deviation" and "interlevel" in kinds:
                s = (1, abs(float(f.evidence["deviation_score"])))
                strength[lv] = max(strength.get(lv, s), s)
            elif f.code in EXCLUDING_IMAGE_CODES and "image" in kinds:
                strength[lv] = (2, 0.0)
    ranked = sorted(
        (lv for lv in strength if lv in usable), key=lambda lv: strength[lv], reverse=True
    )
    room = max(
        0, min(MAX_EXCLUDED - (len(CLINICAL_LEVELS) - len(usable)), len(usable) - MIN_EVALUABLE)
    )
    return ranked[:room]


def scenario_levels(cohort: CohortTable, rows: np.ndarray, reference=None) -> dict[str, np.ndarray]:
    """Per scenario, per row: the region name reported (None: not evaluable or not in rows).

    Parameters
    ----------
    cohort : CohortTable
    rows : bool (n,) array
        Scans to assess (each once, with :func:`dxaspine.clinical.assess`).
    reference : reference table for the T-scores (default ``dxaspine-default``)

    Returns
    -------
    dict
        ``{scenario: object (n,) array of region names or None}``; keys are
        :data:`SCENARIOS`.

    Examples
    --------
    >>> levels = scenario_levels(nh, nh.populations["all_valid"].mask)  # doctest: +SKIP
    >>> levels["iscd"][:3]  # doctest: +SKIP
    array(['L1-L4', None, 'L1-L4'], dtype=object)
    """
    from dataclasses import replace

    from dxaspine.clinical.assessment import assess
    from dxaspine.clinical.reference import load_reference

    table = load_reference(reference)
    # The rules use T-scores and BMD only; a T-only copy of the table spares assess the
    # Z-row search for every scan (about 5x faster on NHANES), with identical flags.
    t_only = replace(table, rows=tuple(r for r in table.rows if r.score == "T"))
    usable_by_level = {lv: cohort.usable(lv) for lv in CLINICAL_LEVELS}
    out = {name: np.full(cohort.n, None, dtype=object) for name in SCENARIOS}
    for i in np.nonzero(rows)[0]:
        usable = [lv for lv in CLINICAL_LEVELS if usable_by_level[lv][i]]
        if len(usable) == len(CLINICAL_LEVELS):
            out["L1-L4"][i] = "L1-L4"
            out["L2-L4"][i] = "L2-L4"
        elif all(lv in usable for lv in ("L2", "L3", "L4")):
            out["L2-L4"][i] = "L2-L4"
        if "L1" in usable and "L2" in usable:
            out["L1-L2"][i] = "L1-L2"
        if len(usable) < MIN_EVALUABLE:
            continue
        out["source"][i] = region_name(usable)
        levels = [
            {
                "label": lv,
                "bmc_g": cohort.bmc_g[lv][i],
                "area_cm2": cohort.area_cm2[lv][i],
                "bmd_g_cm2": cohort.bmd_g_cm2[lv][i],
            }
            for lv in usable
        ]
        image = [
            {"code": c, "level": lv}
            for lv in usable
            for c in (cohort.image_flags[lv][i] if cohort.image_flags else ())
        ]
        patient = {
            "sex": cohort.sex[i],
            "age_years": None if not np.isfinite(cohort.age_years[i]) else cohort.age_years[i],
        }
        a = assess(levels, patient, reference=t_only, image_flags=image)
        flags = {lv.label: lv.flags for lv in a.levels}
        rules = [("iscd", {"iscd"}), ("interlevel", {"interlevel"})]
        if cohort.image_flags:  # only batch tables carry image evidence
            rules.append(("image", {"image"}))
        for name, kinds in rules:
            drop = _chosen(flags, usable, kinds)
            out[name][i] = region_name([lv for lv in usable if lv not in drop])
        out["automatic"][i] = a.reported_region
    return out


def _region_bmd_per_row(cohort: CohortTable, regions: np.ndarray) -> np.ndarray:
    out = np.full(cohort.n, np.nan)
    for name in {r for r in regions if r is not None}:
        sel = regions == name
        out[sel] = cohort.region_bmd(name)[sel]
    return out


def exclusion_rates(
    cohort: CohortTable,
    levels_by_scenario: dict[str, np.ndarray],
    population: str,
    groups: dict[str, np.ndarray],
    *,
    weighted: bool = True,
    reference=None,
) -> list[ExclusionRate]:
    """Osteoporosis rate per scenario and group (module docstring).

    Parameters
    ----------
    cohort : CohortTable
    levels_by_scenario : output of :func:`scenario_levels`
    population : str
        Label (the rows are those with a region in ``levels_by_scenario``).
    groups : mapping label -> bool (n,) array
        E.g. ``{"women 70-80": ...}``; intersected with the T-applicable rows.
    weighted : bool
    reference : reference table (default ``dxaspine-default``)

    Returns
    -------
    list of ExclusionRate

    Examples
    --------
    >>> levels = scenario_levels(nh, nh.populations["scanned"].mask)  # doctest: +SKIP
    >>> rates = exclusion_rates(nh, levels, "scanned", {"women": nh.sex == "F"})  # doctest: +SKIP
    >>> {r.scenario: round(100 * r.osteoporosis.value, 1) for r in rates}  # doctest: +SKIP
    """
    applicable = t_applicable(cohort)
    w = cohort.weights if weighted and cohort.weights is not None else None
    out = []
    for name, regions in levels_by_scenario.items():
        evaluable = np.array([r is not None for r in regions])
        if not evaluable.any():
            continue
        t = t_scores(cohort, regions, _region_bmd_per_row(cohort, regions), reference)
        n_levels = np.array([0 if r is None else len(region_levels(r)) for r in regions])
        for label, mask in groups.items():
            sel = mask & applicable & evaluable & np.isfinite(t)
            out.append(
                ExclusionRate(
                    name,
                    population,
                    label,
                    int((mask & applicable).sum()),
                    int(sel.sum()),
                    proportion_ci(
                        t[sel] <= WHO_OSTEOPOROSIS_MAX_T, w[sel] if w is not None else None
                    ),
                    float(n_levels[sel].mean()) if sel.any() else float("nan"),
                )
            )
    return out


def iscd_rule_fires(cohort: CohortTable, rows: np.ndarray, reference=None) -> np.ndarray:
    """Per row: does any adjacent L1–L4 pair differ by more than 1.0 T (docs/domain.md §2)?

    The rule on the measured levels alone (the source's exclusions ignored), as docs/domain.md §3
    reports its rate: rows need all four levels measured; others are False.

    Examples
    --------
    >>> valid = nh.populations["source_valid"].mask  # doctest: +SKIP
    >>> round(iscd_rule_fires(nh, valid)[valid].mean(), 3)  # about 6 %, docs/domain.md §3  # doctest: +SKIP
    0.062
    """
    from dxaspine.clinical.cohort.gradient import level_bmd
    from dxaspine.clinical.flags import ISCD_T_DIFFERENCE

    measured = rows.copy()
    for lv in CLINICAL_LEVELS:
        measured &= cohort.measured(lv)
    t = np.stack(
        [
            t_scores(cohort, lv, np.where(measured, level_bmd(cohort, lv), np.nan), reference)
            for lv in CLINICAL_LEVELS
        ],
        1,
    )
    with np.errstate(invalid="ignore"):
        return measured & (np.abs(np.diff(t, axis=1)) > ISCD_T_DIFFERENCE).any(1)
