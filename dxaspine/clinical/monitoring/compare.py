"""Serial monitoring: compare follow-up visits with the baseline the way ISCD requires.

Rules (docs/domain.md §2, docs/monitoring.md "Compare"):

- **Same levels.**  The comparison uses the L1–L4 levels evaluable at *every* visit.  When a
  visit reported another region, every visit is recomputed on the common set as ΣBMC/ΣArea
  (docs/domain.md §1; never a mean of level BMDs) and the output names the dropped levels and
  why.  Fewer than 2 common levels: not comparable (ISCD: never a single vertebra).
- **Absolute BMD only.**  Changes are in g/cm² and %, per year, against the baseline and the
  previous visit.  T-scores are never compared.
- **Significant only when |Δ| ≥ LSC** in g/cm² (:mod:`dxaspine.clinical.monitoring.lsc`).
- **Warnings** when visits differ in scanner, software, analysis conventions or input kind: a
  change may then not be biological.  Across scanner makes the raw change is not judged and
  sBMD (Hui 1997) is offered with its 3.5 % individual error (:mod:`dxaspine.clinical.monitoring.sbmd`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dxaspine.clinical.monitoring.checks import check_dates, check_patient, differences
from dxaspine.clinical.monitoring.comparison import Change, Comparison, DroppedLevel, VisitValue
from dxaspine.clinical.monitoring.lsc import (
    LeastSignificantChange,
    given_lsc,
    lsc_from_precision,
    maximal_acceptable_lsc,
)
from dxaspine.clinical.monitoring.sbmd import (
    SBMD_INDIVIDUAL_ERROR_PERCENT,
    scanner_make,
    standardized_bmd,
)
from dxaspine.clinical.monitoring.visits import Visit
from dxaspine.clinical.precision import PrecisionStudy
from dxaspine.errors import InputError, describe
from dxaspine.levels import CLINICAL_LEVELS
from dxaspine.measure.composites import region_name

__all__ = ["compare"]

MIN_COMMON_LEVELS = 2  # ISCD: never a single vertebra, for diagnosis or monitoring
DAYS_PER_YEAR = 365.25
# |delta| >= LSC is tested with this slack so that a change equal to the LSC on paper is not
# lost to binary floating point; it is far below the 0.001 g/cm2 print precision of BMD.
_FLOAT_SLACK_G_CM2 = 1e-9


def _why_not_evaluable(level) -> str:
    if level is None:
        return "not measured"
    if level.excluded:
        return f"excluded, {level.reason}"
    if level.area_cm2:  # geometry without BMD: a display image (Contract 1)
        return "no BMD (geometry only, e.g. a display image)"
    return "not measured"


def _common_levels(visits: Sequence[Visit]) -> tuple[list[str], list[DroppedLevel]]:
    common, dropped = [], []
    for lv in CLINICAL_LEVELS:
        where, why = [], []
        for i, v in enumerate(visits):
            level = v.level(lv)
            if level is None or not level.evaluable:
                where.append(i)
                why.append(
                    f"{'baseline' if i == 0 else f'visit {i + 1}'} ({v.source}): "
                    + _why_not_evaluable(level)
                )
        if where:
            dropped.append(DroppedLevel(lv, tuple(where), tuple(why)))
        else:
            common.append(lv)
    return common, dropped


def _region_value(
    visit: Visit, levels: list[str]
) -> tuple[float, float | None, float | None] | str:
    """ΣBMC/ΣArea over ``levels``; the reported composite when BMC/area are absent; or why not."""
    chosen = [visit.level(lv) for lv in levels]
    if all(lv.has_mass for lv in chosen):
        bmc = sum(lv.bmc_g for lv in chosen)
        area = sum(lv.area_cm2 for lv in chosen)
        return bmc / area, bmc, area
    name = region_name(levels)
    if name in visit.region_bmd_g_cm2:
        return visit.region_bmd_g_cm2[name], None, None
    return (
        f"{visit.source} has no BMC/area for every level of {name} and does not report "
        f"{name}: the common region cannot be formed"
    )


def _resolve_lsc(lsc, precision, region: str) -> LeastSignificantChange:
    if isinstance(lsc, LeastSignificantChange):
        return lsc
    if lsc is not None:
        return given_lsc(float(lsc))
    if isinstance(precision, PrecisionStudy | str | os.PathLike):
        return lsc_from_precision(precision, region)
    return maximal_acceptable_lsc()


def _verdict(delta: float, lsc: float, significant: bool | None) -> str:
    if significant is None:
        return "not judged: different scanner makes (see sBMD)"
    if not significant:
        return f"no significant change (|change| < LSC {lsc:.3f} g/cm2)"
    return f"significant {'loss' if delta < 0 else 'gain'} (|change| >= LSC {lsc:.3f} g/cm2)"


def _change(values, visits, i, j, reference, lsc: LeastSignificantChange) -> Change:
    a, b = values[j], values[i]
    delta = b.bmd_g_cm2 - a.bmd_g_cm2
    years = None
    if a.date and b.date and b.date > a.date:
        years = (b.date - a.date).days / DAYS_PER_YEAR
    limit = lsc.g_cm2(a.bmd_g_cm2)
    same_make = scanner_make(visits[i].manufacturer) == scanner_make(visits[j].manufacturer)
    significant = (abs(delta) >= limit - _FLOAT_SLACK_G_CM2) if same_make else None
    sbmd = None
    if a.sbmd_g_cm2 is not None and b.sbmd_g_cm2 is not None:
        sbmd = b.sbmd_g_cm2 - a.sbmd_g_cm2
    pct = 100.0 * delta / a.bmd_g_cm2
    return Change(
        i,
        j,
        reference,
        years,
        delta,
        pct,
        delta / years if years else None,
        pct / years if years else None,
        limit,
        significant,
        _verdict(delta, limit, significant),
        sbmd,
    )


def compare(
    visits: Sequence[Visit],
    lsc: float | LeastSignificantChange | None = None,
    precision: PrecisionStudy | str | os.PathLike | None = None,
    *,
    force: bool = False,
) -> Comparison:
    """Compare follow-up visits with the baseline (the first) on the same levels.

    Parameters
    ----------
    visits : sequence of Visit
        Baseline first, then follow-ups, oldest first.
    lsc : float (g/cm²) or LeastSignificantChange, optional
        The site's LSC.  Default: from ``precision`` if given, else the ISCD maximal
        acceptable 5.3 %, labelled as such.
    precision : PrecisionStudy or path to ``dxaspine precision --json`` output, optional
        The site's precision study; its LSC for the compared region is used.
    force : bool
        Compare even when the visits cannot be confirmed to be one patient.

    Returns
    -------
    Comparison
        ``comparable`` is False (with ``reason``) when fewer than 2 levels are evaluable at
        every visit or the common region cannot be formed.

    Raises
    ------
    InputError
        Fewer than two visits, visits of different patients (or unverifiable, without
        ``force``), study dates that go backwards.

    References
    ----------
    ISCD Official Positions 2019/2023 (docs/domain.md §2); Hui SL et al. JBMR 1997 (sBMD, §7).

    Examples
    --------
    >>> from dxaspine.clinical.monitoring.visits import Visit, VisitLevel
    >>> def visit(date, scale, excluded=()):
    ...     lv = [VisitLevel(n, 12.0 * scale, 14.0, excluded=n in excluded, reason="user")
    ...           for n in ("L1", "L2", "L3", "L4")]
    ...     return Visit("v.json", date, tuple(lv), patient_id_hash="p")
    >>> import datetime as dt
    >>> c = compare([visit(dt.date(2020, 1, 1), 1.0), visit(dt.date(2022, 1, 1), 0.95, ["L4"])],
    ...             lsc=0.03)
    >>> c.region, round(c.changes[0].delta_g_cm2, 4), c.changes[0].significant
    ('L1-L3', -0.0429, True)
    """
    visits = list(visits)
    if len(visits) < 2:
        raise InputError(
            describe(
                visits[0].source if visits else "compare",
                "needs a baseline and at least one follow-up",
                "give two or more visits",
            )
        )
    warnings = check_patient(visits, force) + check_dates(visits) + differences(visits)
    common, dropped = _common_levels(visits)
    notes = [f"{d.level} not used: " + "; ".join(d.reasons) for d in dropped]
    region = region_name(common) if common else None

    def not_comparable(reason: str) -> Comparison:
        return Comparison(
            False,
            reason,
            region,
            tuple(common),
            tuple(dropped),
            (),
            (),
            _resolve_lsc(lsc, precision, region or "L1-L4"),
            tuple(warnings),
            tuple(notes),
        )

    if len(common) < MIN_COMMON_LEVELS:
        return not_comparable(
            f"only {len(common)} level(s) evaluable at every visit "
            f"({', '.join(common) or 'none'}); ISCD: at least 2, never a "
            "single vertebra"
        )
    values = []
    makes = {scanner_make(v.manufacturer) for v in visits}
    for i, v in enumerate(visits):
        got = _region_value(v, common)
        if isinstance(got, str):
            return not_comparable(got)
        bmd, bmc, area = got
        if not 0.1 <= bmd <= 3.0:  # not a spine BMD in g/cm2: an error, never a silent result
            raise InputError(
                describe(
                    v.source,
                    f"{region} BMD {bmd:.3f} is not a spine BMD in g/cm2",
                    "check the input's units",
                )
            )
        sbmd = standardized_bmd(bmd, v.manufacturer) if len(makes) > 1 else None
        values.append(
            VisitValue(
                i,
                v.source,
                v.date,
                bmd,
                bmc,
                area,
                v.reported_region,
                v.reported_region != region,
                sbmd,
            )
        )
    recomputed = [x for x in values if x.recomputed]
    if recomputed:
        reported = ", ".join(f"{x.source}: {x.reported_region or 'none'}" for x in values)
        notes.insert(
            0,
            f"reported regions differ from the common set ({reported}); every "
            f"visit compared on {region} = sum BMC / sum area",
        )
    if len(makes) > 1:
        if None in makes:
            warnings.append(
                "sBMD (Hui 1997) not available: a scanner make is not Hologic, Lunar or Norland"
            )
        else:
            warnings.append(
                f"different scanner makes: raw changes not judged; sBMD (Hui 1997) "
                f"offered, average individual error {SBMD_INDIVIDUAL_ERROR_PERCENT} "
                "% (for pooling cohorts, not for one patient's change)"
            )
    the_lsc = _resolve_lsc(lsc, precision, region)
    changes = []
    for i in range(1, len(values)):
        changes.append(_change(values, visits, i, 0, "baseline", the_lsc))
        if i > 1:
            changes.append(_change(values, visits, i, i - 1, "previous", the_lsc))
    trend = tuple(p for v in visits for p in v.trend if p.region == region)
    return Comparison(
        True,
        f"compared on {region}",
        region,
        tuple(common),
        tuple(dropped),
        tuple(values),
        tuple(changes),
        the_lsc,
        tuple(warnings),
        tuple(notes),
        trend,
    )
