"""Serial monitoring: visits of one patient compared the way ISCD requires (docs/monitoring.md).

>>> import dxaspine
>>> visits = dxaspine.monitoring.read_visits("results.csv#1,3")  # doctest: +SKIP
>>> c = dxaspine.monitoring.compare(visits, lsc=0.03)  # doctest: +SKIP
>>> c.region, [ch.verdict for ch in c.changes]  # doctest: +SKIP

Modules, one concept each: ``visits`` (the :class:`Visit` every source becomes), ``sources``
(result JSON, batch rows), ``checks`` (one patient, dates, scanner and conventions), ``lsc``
(the change a visit must exceed), ``sbmd`` (Hui 1997 across makes), ``compare`` (same levels,
changes, verdicts), ``comparison`` (the result), ``trend_plot`` (the picture).  Images become
visits in :mod:`dxaspine.report.visit` (this layer works on numbers).
"""

from dxaspine.clinical.monitoring.compare import compare
from dxaspine.clinical.monitoring.comparison import Change, Comparison, DroppedLevel, VisitValue
from dxaspine.clinical.monitoring.lsc import LeastSignificantChange, lsc_from_precision
from dxaspine.clinical.monitoring.sources import read_visits
from dxaspine.clinical.monitoring.visits import (
    TrendPoint,
    Visit,
    VisitLevel,
    exclude_levels,
    visit_from_result,
    visit_from_row,
)

__all__ = [
    "Change",
    "Comparison",
    "DroppedLevel",
    "LeastSignificantChange",
    "TrendPoint",
    "Visit",
    "VisitLevel",
    "VisitValue",
    "compare",
    "exclude_levels",
    "lsc_from_precision",
    "read_visits",
    "trend_png",
    "visit_from_result",
    "visit_from_row",
]


def trend_png(comparison: Comparison) -> bytes:
    """The trend picture as PNG (:func:`.trend_plot.trend_png`; needs the ``report`` extra).

    Examples
    --------
    >>> png = trend_png(compare(visits, lsc=0.03))  # doctest: +SKIP
    """
    from dxaspine.clinical.monitoring.trend_plot import trend_png as draw

    return draw(comparison)
