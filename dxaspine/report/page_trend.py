"""The report page's trend chart: BMD of the same region over the patient's visits.

The page draws it only when follow-up points are given (:class:`Trend`); where they come from
is serial monitoring's business (``dxaspine/clinical/monitoring/``, ``dxaspine compare``):
:func:`trend_from_comparison` adapts its comparison, and any caller may build a
:class:`Trend` by hand.  ISCD monitoring rules shape what is drawn (docs/domain.md §2):

- **absolute BMD in g/cm²**, never T-scores;
- **the same levels** at every visit: a comparison's region (the levels evaluable at every
  visit) is drawn under its own name and the page says when it differs from this scan's
  reported region; points of another region are left out, and the chart says how many;
- a change **counts only if it is at least the LSC**: when the LSC is known, the band
  baseline ± LSC is shaded and each change is marked as beyond it or not.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Trend",
    "TrendPoint",
    "dated_points",
    "draw_trend_chart",
    "trend_from_comparison",
    "vendor_trend",
]


@dataclass(frozen=True)
class TrendPoint:
    """One visit: its date, the BMD of ``region`` in g/cm², and the region's name."""

    date: _dt.date
    bmd_g_cm2: float
    region: str


@dataclass(frozen=True)
class Trend:
    """Follow-up points for the page (any order; sorted by date when drawn)."""

    points: tuple[TrendPoint, ...]
    lsc_g_cm2: float | None = None  # least significant change of this region, if known
    source: str = ""  # where the points come from, printed under the chart
    region: str | None = None  # the compared levels (a comparison's); None: the reported region

    def for_region(self, region: str) -> tuple[list[TrendPoint], int]:
        """Points of ``region`` sorted by date, and how many points of other regions were left out."""
        same = sorted((p for p in self.points if p.region == region), key=lambda p: p.date)
        return same, len(self.points) - len(same)


def trend_from_comparison(comparison: Any) -> Trend | None:
    """A :class:`Trend` from a monitoring comparison (``dxaspine.clinical.monitoring.compare``).

    Reads only what the page needs, by name: ``comparison.comparable``, ``.region``,
    ``.visits`` (each with ``date`` and ``bmd_g_cm2``) and ``.lsc.g_cm2(baseline BMD)`` (the
    LSC in g/cm² at the baseline's BMD), so the page does not depend on the module's internals.
    None when the comparison is not comparable or has fewer than 2 dated visits.
    """
    if not getattr(comparison, "comparable", False):
        return None
    region = getattr(comparison, "region", None)
    visits = [v for v in getattr(comparison, "visits", ()) if getattr(v, "date", None)]
    if region is None or len(visits) < 2:
        return None
    points = tuple(TrendPoint(v.date, float(v.bmd_g_cm2), region) for v in visits)
    lsc = None
    lsc_object = getattr(comparison, "lsc", None)
    if lsc_object is not None and hasattr(lsc_object, "g_cm2"):
        lsc = float(lsc_object.g_cm2(points[0].bmd_g_cm2))
    return Trend(points, lsc_g_cm2=lsc, source="dxaspine compare", region=region)


def draw_trend_chart(
    ax, trend: Trend | None, region: str | None, this_date: _dt.date | None = None
) -> list[str]:
    """Draw BMD over time for ``region``; returns the sentences to print beside it.

    ``region`` is this scan's reported region; a trend that names its own (the levels a
    comparison found evaluable at every visit) is drawn on that one, and the note says so.
    """
    notes = []
    if trend is not None and trend.region is not None:
        if trend.region != region:
            notes.append(
                f"compared on {trend.region}, the levels evaluable at every visit "
                f"(this scan reports {region or 'no region'})"
            )
        region = trend.region
    ax.set_title(f"Trend: {region or 'no reported region'} BMD", fontsize=7.5, loc="left")
    ax.tick_params(labelsize=6)
    if trend is None or region is None:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(
            0.5, 0.5, "no follow-up scans given", transform=ax.transAxes,
            ha="center", va="center", fontsize=7, color="0.35",
        )  # fmt: skip
        return notes
    points, left_out = trend.for_region(region)
    if left_out:
        notes.append(
            f"{left_out} point(s) of other regions not drawn (ISCD: compare the same levels)"
        )
    if len(points) < 2:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, f"fewer than 2 visits of {region}", transform=ax.transAxes,
                ha="center", va="center", fontsize=7)  # fmt: skip
        return notes
    dates = [p.date for p in points]
    values = [p.bmd_g_cm2 for p in points]
    baseline = values[0]
    if trend.lsc_g_cm2:
        ax.axhspan(baseline - trend.lsc_g_cm2, baseline + trend.lsc_g_cm2,
                   color=(0.9, 0.9, 0.9), lw=0, zorder=0)  # fmt: skip
    ax.plot(dates, values, color=(0.0, 0.45, 0.70), marker="o", ms=3.5, lw=1.0, zorder=2)
    if this_date in dates:
        i = dates.index(this_date)
        ax.plot([dates[i]], [values[i]], marker="o", ms=6, mfc="none", mec="black", zorder=3)
    ax.set_ylabel("BMD (g/cm²)", fontsize=6.5)
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=2, maxticks=5)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    last = values[-1]
    change = last - baseline
    percent = 100.0 * change / baseline
    if trend.lsc_g_cm2:
        verdict = "beyond" if abs(change) >= trend.lsc_g_cm2 else "within"
        notes.append(
            f"{dates[-1].isoformat()} vs {dates[0].isoformat()}: {change:+.3f} g/cm² "
            f"({percent:+.1f} %), {verdict} the LSC {trend.lsc_g_cm2:.3f} g/cm² (shaded)"
        )
    else:
        notes.append(
            f"{dates[-1].isoformat()} vs {dates[0].isoformat()}: {change:+.3f} g/cm² "
            f"({percent:+.1f} %); LSC unknown, so significance is not judged"
        )
    if trend.source:
        notes.append(f"points: {trend.source}")
    return notes


def dated_points(points: Sequence[tuple[Any, float, str]]) -> Trend:
    """A :class:`Trend` from plain ``(date, bmd_g_cm2, region)`` tuples (dates as ``date`` or ISO)."""
    out = []
    for date, bmd, region in points:
        if not isinstance(date, _dt.date):
            date = _dt.date.fromisoformat(str(date))
        out.append(TrendPoint(date, float(bmd), str(region)))
    return Trend(tuple(out))


def vendor_trend(record: Any) -> Trend | None:
    """The vendor's own trend of the study (GE enCORE "Trend <region>" containers), if any.

    The points are the vendor's numbers as stored in its results object (one per earlier
    visit and region); the chart draws those of the reported region.  None without a vendor
    trend.
    """
    points = []
    kinds = []
    for block in (record or {}).get("vendor") or ():
        for p in block.get("trend") or ():
            if p.get("date") and p.get("bmd_g_cm2") is not None and p.get("region"):
                points.append((p["date"], p["bmd_g_cm2"], p["region"]))
        if block.get("trend"):
            kinds.append(block.get("kind", "vendor"))
    if len(points) < 2:
        return None
    trend = dated_points(points)
    return Trend(trend.points, source=f"vendor trend ({', '.join(sorted(set(kinds)))})")
