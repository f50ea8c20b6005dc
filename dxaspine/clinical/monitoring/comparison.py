"""What :func:`dxaspine.clinical.monitoring.compare` returns: visits on the common levels,
the changes between them with their verdicts, and everything the reader must be warned about.

``Comparison.to_dict()`` is the JSON of ``dxaspine compare --json``; ``trend_rows()`` is its
CSV (one row per visit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dxaspine.clinical.monitoring.lsc import LeastSignificantChange

__all__ = ["Change", "Comparison", "DroppedLevel", "VisitValue"]


@dataclass(frozen=True)
class DroppedLevel:
    level: str
    visits: tuple[int, ...]  # 0 = baseline
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class VisitValue:
    index: int
    source: str
    date: object  # datetime.date | None
    bmd_g_cm2: float
    bmc_g: float | None
    area_cm2: float | None
    reported_region: str | None
    recomputed: bool  # the value is not the visit's own reported region
    sbmd_g_cm2: float | None = None


@dataclass(frozen=True)
class Change:
    visit: int
    against: int
    reference: str  # "baseline" | "previous"
    years: float | None
    delta_g_cm2: float
    delta_percent: float
    per_year_g_cm2: float | None
    per_year_percent: float | None
    lsc_g_cm2: float
    significant: bool | None  # None: not judged (different scanner makes)
    verdict: str
    sbmd_delta_g_cm2: float | None = None


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`compare`; ``comparable`` False carries the ``reason``."""

    comparable: bool
    reason: str
    region: str | None
    levels: tuple[str, ...]
    dropped: tuple[DroppedLevel, ...]
    visits: tuple[VisitValue, ...]
    changes: tuple[Change, ...]
    lsc: LeastSignificantChange
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    trend: tuple = ()  # vendor TrendPoints of the compared region, if any

    def to_dict(self) -> dict:
        """Plain-JSON form (dates ISO); what ``dxaspine compare --json`` writes."""
        out = asdict(self)
        out["lsc"] = self.lsc.to_dict()
        for v in out["visits"]:
            v["date"] = v["date"].isoformat() if v["date"] else None
        out["trend"] = [
            {
                "date": p.date.isoformat(),
                "region": p.region,
                "bmd_g_cm2": p.bmd_g_cm2,
                "source": p.source,
            }
            for p in self.trend
        ]
        out["t_scores_compared"] = False  # ISCD: compare g/cm2, never T-scores
        return out

    def trend_rows(self) -> list[dict]:
        """One row per visit (the trend as a table; what ``--csv`` writes)."""
        rows = []
        for v in self.visits:
            row = {
                "visit": v.index + 1,
                "source": v.source,
                "date": v.date.isoformat() if v.date else "",
                "region": self.region,
                "bmd_g_cm2": v.bmd_g_cm2,
                "bmc_g": v.bmc_g,
                "area_cm2": v.area_cm2,
                "reported_region": v.reported_region,
                "recomputed": v.recomputed,
                "sbmd_g_cm2": v.sbmd_g_cm2,
            }
            for ref in ("baseline", "previous"):
                c = next(
                    (c for c in self.changes if c.visit == v.index and c.reference == ref), None
                )
                for key in (
                    "delta_g_cm2",
                    "delta_percent",
                    "per_year_g_cm2",
                    "per_year_percent",
                    "lsc_g_cm2",
                    "significant",
                ):
                    row[f"{key}_vs_{ref}"] = getattr(c, key) if c else None
            rows.append(row)
        return rows
