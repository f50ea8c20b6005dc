"""Cohort statistics: L1–L4 against L2–L4, the level gradient and the exclusion question.

>>> from dxaspine.clinical.cohort import analyze_cohort, read_cohort, write_report
>>> result = analyze_cohort(read_cohort("P_DXXSPN_with_demo.csv"))  # doctest: +SKIP
>>> paths = write_report(result, "report/")  # doctest: +SKIP

Modules, one concept each: ``table`` (the arrays), ``readers`` (NHANES, batch, tabular),
``survey`` (weighted means, proportions, CIs), ``scores`` (T/WHO), ``paired`` (paired
differences, Bland–Altman), ``reclassification`` (WHO cross-table), ``gradient`` (level
ratios), ``exclusion`` (scenarios of levels used), ``analysis`` (all of them),
``plots``/``render``/``report`` (the report).
"""

from dxaspine.clinical.cohort.analysis import CohortResult, analyze_cohort
from dxaspine.clinical.cohort.exclusion import exclusion_rates, iscd_rule_fires, scenario_levels
from dxaspine.clinical.cohort.gradient import level_gradient
from dxaspine.clinical.cohort.paired import paired_differences
from dxaspine.clinical.cohort.readers import read_cohort
from dxaspine.clinical.cohort.reclassification import reclassification
from dxaspine.clinical.cohort.table import CohortTable, Population

__all__ = [
    "CohortResult",
    "CohortTable",
    "Population",
    "analyze_cohort",
    "exclusion_rates",
    "iscd_rule_fires",
    "level_gradient",
    "paired_differences",
    "read_cohort",
    "reclassification",
    "scenario_levels",
    "write_report",
]


def __getattr__(name: str):
    # the report pulls in matplotlib lazily; keep `import dxaspine.clinical.cohort` light
    if name == "write_report":
        from dxaspine.clinical.cohort.report import write_report

        return write_report
    raise AttributeError(f"module 'dxaspine.clinical.cohort' has no attribute {name!r}")
