"""``assess``: composites, T/Z, WHO and ISCD exclusions from per-level numbers.

Works the same on the image pipeline's :class:`~dxaspine.measure.LevelMeasurement` objects
and on numbers from a table (docs/architecture.md: the clinical layer works on numbers, not pixels).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dxaspine.clinical.flags import (
    MAX_EXCLUDED,
    MIN_EVALUABLE,
    Flag,
    adjacent_t_flags,
    attribute_pair_flags,
    deviation_flags,
    rank_suspects,
)
from dxaspine.clinical.interlevel import (
    deviation_scores,
    load_interlevel_model,
    one_pass_scores,
)
from dxaspine.clinical.plausibility import mark_implausible_level
from dxaspine.clinical.reference import ReferenceTable, load_reference
from dxaspine.clinical.scores import applicability, score, who_category
from dxaspine.errors import InputError, describe
from dxaspine.levels import LEVEL_ORDER
from dxaspine.measure.composites import (
    CLINICAL_LEVELS,
    composite,
    region_name,
    standard_region_sets,
)

__all__ = ["AssessedLevel", "Assessment", "Region", "assess"]

NOT_EVALUABLE = "spine not evaluable; use the hip"
GEOMETRY_ONLY = "no BMD in the input (geometry only): no scores, composites or WHO category"


@dataclass(frozen=True)
class AssessedLevel:
    label: str
    bmc_g: float | None
    area_cm2: float | None
    bmd_g_cm2: float | None
    t_score: float | None
    z_score: float | None
    excluded: bool
    flags: tuple[Flag, ...] = ()
    measurement: object | None = None  # the LevelMeasurement it came from, if any


@dataclass(frozen=True)
class Region:
    name: str
    levels: tuple[str, ...]
    bmc_g: float | None
    area_cm2: float | None
    bmd_g_cm2: float | None
    t_score: float | None
    z_score: float | None
    who_category: str | None


@dataclass(frozen=True)
class Assessment:
    patient: Mapping[str, object]
    levels: tuple[AssessedLevel, ...]
    regions: tuple[Region, ...]
    reported_region: str | None
    interpretation: Mapping[str, object]  # score used, WHO category, Z below range, reason
    flags: tuple[Flag, ...]
    excluded: tuple[str, ...]
    proposed_exclusions: tuple[str, ...]
    exclusion_mode: str  # "automatic" | "user" | "none"
    l1l4_vs_l2l4: Mapping[str, object] | None
    reference: ReferenceTable
    notes: tuple[str, ...] = field(default_factory=tuple)

    def region(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name == name), None)


def _get(obj: object, key: str):
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _normalise_patient(patient: object) -> dict:
    sex = _get(patient, "sex") if patient is not None else None
    sex = {"f": "F", "female": "F", "m": "M", "male": "M"}.get(str(sex).strip().lower())
    age = _number(_get(patient, "age_years")) if patient is not None else None
    eth = _get(patient, "ethnicity") if patient is not None else None
    return {"sex": sex, "age_years": age, "ethnicity": eth or None}


def _normalise_level(item: object) -> dict:
    label = _get(item, "label")
    if label not in LEVEL_ORDER:
        raise InputError(describe("assess", f"level label {label!r}", f"use {LEVEL_ORDER}"))
    bmc, area, bmd = (_number(_get(item, k)) for k in ("bmc_g", "area_cm2", "bmd_g_cm2"))
    if bmd is None and bmc is not None and area:
        bmd = bmc / area
    return {
        "label": label,
        "bmc_g": bmc,
        "area_cm2": area,
        "bmd_g_cm2": bmd,
        "invalid_reason": _get(item, "invalid_reason") if isinstance(item, Mapping) else None,
        "measurement": None if isinstance(item, Mapping) else item,
    }


def _image_flags(image_flags: Iterable[object]) -> list[Flag]:
    out = []
    for f in image_flags:
        code = _get(f, "code")
        out.append(
            Flag(
                code=str(code),
                detail=str(_get(f, "detail") or "image evidence"),
                level=_get(f, "level"),
                evidence=dict(_get(f, "evidence") or {}),
                rule=str(_get(f, "rule") or "image QC"),
            )
        )
    return out


def assess(
    levels: Iterable[object],
    patient: object = None,
    reference: str | ReferenceTable | None = None,
    exclude: Iterable[str] | None = None,
    image_flags: Iterable[object] = (),
    *,
    auto_exclude: bool = True,
    extra_regions: Iterable[Iterable[str]] = (),
) -> Assessment:
    """Clinical assessment of one scan.

    Parameters
    ----------
    levels : iterable of LevelMeasurement or mappings
        Mappings need ``label`` and either ``bmc_g`` + ``area_cm2`` or ``bmd_g_cm2``; an
        ``invalid_reason`` key marks a level unusable (e.g. NHANES invalidity code).
    patient : Patient or mapping with ``sex`` (F/M), ``age_years``, ``ethnicity``; or None
    reference : name, CSV path or ReferenceTable; default ``dxaspine-default``
    exclude : levels to exclude; given (even empty) it replaces the automatic choice
    image_flags : QC flags (``code``, ``level``, ``detail``) from the image pipeline
    auto_exclude : False keeps every usable level (flags are still reported)
    extra_regions : further level sets to report as composites

    Returns
    -------
    Assessment
    """
    table = load_reference(reference)
    model = load_interlevel_model()
    pat = _normalise_patient(patient)
    items = sorted(
        (_normalise_level(x) for x in levels), key=lambda d: LEVEL_ORDER.index(d["label"])
    )
    for d in items:  # out-of-range BMD: flagged and unusable (docs/hardening.md §2.5)
        mark_implausible_level(d)
    by_label = {d["label"]: d for d in items}
    notes: list[str] = []
    app = applicability(pat["sex"], pat["age_years"])

    def t_of(region: str, bmd: float | None) -> float | None:
        row, why = table.t_reference(region, pat["sex"])
        if row is None:
            notes.append(f"T {region}: {why}")
            return None
        return score(bmd, row.mean_g_cm2, row.sd_g_cm2)

    def z_of(region: str, bmd: float | None) -> float | None:
        row, why = table.z_reference(region, pat["sex"], pat["age_years"], pat["ethnicity"])
        if row is None:
            notes.append(f"Z {region}: {why}")
            return None
        return score(bmd, row.mean_g_cm2, row.sd_g_cm2)

    usable = [
        lv
        for lv in CLINICAL_LEVELS
        if lv in by_label
        and by_label[lv]["bmd_g_cm2"] is not None
        and not by_label[lv]["invalid_reason"]
    ]
    t_level = {
        d["label"]: t_of(d["label"], d["bmd_g_cm2"]) for d in items if d["bmd_g_cm2"] is not None
    }
    usable_bmd = {lv: by_label[lv]["bmd_g_cm2"] for lv in usable}
    scores = deviation_scores(usable_bmd, model)
    pair = attribute_pair_flags(
        adjacent_t_flags({lv: t_level.get(lv) for lv in usable}, usable),
        scores,
        one_pass_scores(usable_bmd, model),
    )
    dev = deviation_flags(scores, model.threshold)
    img = _image_flags(image_flags)
    suspects = rank_suspects(pair, dev, img, scores)
    suspects = [s for s in suspects if s in usable]
    # Geometry-only input (a display export: no level has a BMD; docs/architecture.md, Contract 1): levels
    # are not "excluded", there are no composites, and no scores -- the result says why.
    geometry_only = not any(d["bmd_g_cm2"] is not None for d in items) and any(
        d["area_cm2"] for d in items
    )
    unusable = [] if geometry_only else [lv for lv in CLINICAL_LEVELS if lv not in usable]
    room = max(0, min(MAX_EXCLUDED - len(unusable), len(usable) - MIN_EVALUABLE))
    proposed = tuple(sorted(suspects[:room], key=CLINICAL_LEVELS.index))
    # scan-level list: one entry per ISCD pair (the per-scan rate of docs/domain.md §3)
    scan_flags: list[Flag] = list({tuple(f.evidence["pair"]): f for f in pair}.values())
    scan_flags += [f for f in img if not f.level]  # scan-wide image/physics findings
    if len(suspects) > room:
        left = suspects[room:]
        scan_flags.append(
            Flag(
                "suspect_levels_kept",
                f"suspect levels kept (at most 2 excluded): {', '.join(left)}",
                evidence={"levels": left},
                rule="ISCD 2019/2023: at most 2 excluded",
            )  # fmt: skip
        )
    if exclude is not None:
        mode, chosen = "user", tuple(lv for lv in CLINICAL_LEVELS if lv in set(exclude))
    elif auto_exclude:
        mode, chosen = "automatic", proposed
    else:
        mode, chosen = "none", ()
    remaining = [lv for lv in usable if lv not in chosen]
    excluded = tuple(lv for lv in CLINICAL_LEVELS if lv in chosen or lv in unusable)

    values = {
        lv: (d["bmc_g"], d["area_cm2"])
        for lv, d in by_label.items()
        if d["bmc_g"] is not None and d["area_cm2"] and not d["invalid_reason"]
    }
    sets = list(standard_region_sets())
    for extra in extra_regions:
        extra = tuple(sorted(set(extra), key=LEVEL_ORDER.index))
        if extra not in sets:
            sets.append(extra)
    if len(remaining) >= MIN_EVALUABLE and tuple(remaining) not in sets:
        sets.append(tuple(remaining))
    regions = []
    for members in sets:
        if all(m in values for m in members):
            c = composite(values, members)
            name, bmc, area, bmd = c.name, c.bmc_g, c.area_cm2, c.bmd_g_cm2
        else:
            # A composite needs BMC and area of every member: never a mean of level BMDs
            # (docs/domain.md §1), so BMD-only or missing levels leave it empty.
            name, bmc, area, bmd = region_name(members), None, None, None
        if bmd is None:
            regions.append(Region(name, members, None, None, None, None, None, None))
            continue
        t = t_of(name, bmd)
        regions.append(
            Region(
                name,
                members,
                bmc,
                area,
                bmd,
                t,
                z_of(name, bmd),
                who_category(t) if app.score == "T" else None,
            )  # fmt: skip
        )
    reported = region_name(remaining) if len(remaining) >= MIN_EVALUABLE else None
    if geometry_only:
        regions, reported = [], None
    elif reported is None:
        scan_flags.append(Flag("spine_not_evaluable", NOT_EVALUABLE, rule="ISCD 2019/2023"))
    rep = next((r for r in regions if r.name == reported), None)
    interpretation = {
        "score": app.score,
        "reason": app.reason,
        "who_category": rep.who_category if rep and app.score == "T" else None,
        "z_below_expected_range": (
            rep.z_score <= -2.0 if rep and app.score == "Z" and rep.z_score is not None else None
        ),  # ISCD: Z <= -2.0 is "below the expected range for age" (docs/domain.md §2)
    }
    if geometry_only:
        interpretation.update(score=None, reason=GEOMETRY_ONLY)
    elif reported is None:
        interpretation["reason"] = NOT_EVALUABLE
    level_flags: dict[str, list[Flag]] = {}
    for f in dev + img + pair:
        if f.level:
            level_flags.setdefault(f.level, []).append(f)
    for d in items:
        if d["invalid_reason"]:
            reason = d["invalid_reason"]
            level_flags.setdefault(d["label"], []).append(
                reason
                if isinstance(reason, Flag)
                else Flag("invalid_in_source", str(reason), level=d["label"])
            )
    out_levels = tuple(
        AssessedLevel(
            label=d["label"],
            bmc_g=d["bmc_g"],
            area_cm2=d["area_cm2"],
            bmd_g_cm2=d["bmd_g_cm2"],
            t_score=t_level.get(d["label"]),
            z_score=z_of(d["label"], d["bmd_g_cm2"]) if d["bmd_g_cm2"] is not None else None,
            excluded=d["label"] in excluded,
            flags=tuple(level_flags.get(d["label"], ())),
            measurement=d["measurement"],
        )
        for d in items
    )
    return Assessment(
        patient=pat,
        levels=out_levels,
        regions=tuple(regions),
        reported_region=reported,
        interpretation=interpretation,
        flags=tuple(scan_flags),
        excluded=excluded,
        proposed_exclusions=proposed,
        exclusion_mode=mode,
        l1l4_vs_l2l4=_l1l4_vs_l2l4(regions, app.score),
        reference=table,
        notes=tuple(dict.fromkeys(notes)),
    )


def _l1l4_vs_l2l4(regions: list[Region], score_used: str | None) -> dict | None:
    """How much dropping L1 changes the answer (L2–L4 minus L1–L4)."""
    a = next((r for r in regions if r.name == "L1-L4"), None)
    b = next((r for r in regions if r.name == "L2-L4"), None)
    if a is None or b is None or a.bmd_g_cm2 is None or b.bmd_g_cm2 is None:
        return None
    t_diff = None if a.t_score is None or b.t_score is None else b.t_score - a.t_score
    who_a, who_b = who_category(a.t_score), who_category(b.t_score)
    return {
        "difference_g_cm2": b.bmd_g_cm2 - a.bmd_g_cm2,
        "difference_percent": 100.0 * (b.bmd_g_cm2 - a.bmd_g_cm2) / a.bmd_g_cm2,
        "difference_t": t_diff,
        "who_l1_l4": who_a if score_used == "T" else None,
        "who_l2_l4": who_b if score_used == "T" else None,
        "who_changes": (who_a != who_b) if score_used == "T" and t_diff is not None else None,
    }
