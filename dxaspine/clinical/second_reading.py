"""Second reading of a vendor's report, as numbers: is each number possible, is each level
on the right vertebra, and do the vendor's exclusions follow the ISCD rules?

Checks on the vendor's numbers alone (each a :class:`~dxaspine.clinical.flags.Flag`):

- ``vendor_bmd_inconsistent``: a level's BMD is not its BMC / area within print rounding;
- ``vendor_composite_inconsistent``: a composite is not ΣBMC / ΣArea of the vendor's own levels
  (docs/domain.md §1), or its BMC / area is not the sum, within print rounding;
- ``vendor_exclusions_break_iscd``: more than two vertebrae excluded, fewer than two left, or a
  single vertebra reported (ISCD 2019/2023, docs/domain.md §2);
- ``vendor_adjacent_t_kept``: two adjacent levels the vendor kept differ by more than 1.0
  T-score (ISCD, docs/domain.md §2);
- ``vendor_unit_missing``: an SR or Hologic number without its unit (read by magnitude, §2);
- ``vendor_objects_disagree`` (:func:`cross_check`): two results objects of one study give
  different numbers for the same region.

Checks against dxaspine's own measurement of the image (display exports give areas in cm²
through ExposedArea, so both areas are in cm²):

- ``vendor_labels_shifted``: the vendor's area sequence fits ours shifted by one level better
  than unshifted (the vendor's L1 on our T12 or L2; docs/domain.md §3), with the posterior
  probability of each offset as evidence (:mod:`dxaspine.clinical.area_sequence`);
- ``vendor_area_disagrees``: a level whose areas differ by more than ``AreaModel.tolerance``
  once the matched offset and the calibrated bias are applied;
- ``vendor_areas_unmatched``: the vendor's areas fit our levels at no offset (wrong image
  paired, or a different analysis field).

Tolerances and their derivation: docs/vendor_results.md §8.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dxaspine.clinical.area_sequence import AreaModel, match_offsets
from dxaspine.clinical.flags import ISCD_T_DIFFERENCE, MAX_EXCLUDED, MIN_EVALUABLE, Flag
from dxaspine.io.vendor.results import VendorRegion, VendorResults, VendorValue
from dxaspine.levels import CLINICAL_LEVELS

__all__ = [
    "OurLevel",
    "assess_inputs",
    "assess_vendor",
    "consistency_flags",
    "cross_check",
    "iscd_flags",
    "our_levels",
    "second_reading",
]

RULE_COMPOSITE = "docs/domain.md §1: a composite is total BMC over total area"
RULE_BMD = "BMD = BMC / area (docs/domain.md §1)"
RULE_EXCLUSION = "ISCD 2019/2023: at most 2 excluded, at least 2 evaluable, never one vertebra (docs/domain.md §2)"
RULE_T = "ISCD 2019/2023: exclude a vertebra > 1.0 T-score from its neighbour (docs/domain.md §2)"
RULE_AREA = "second reading: vendor area vs dxaspine area (docs/vendor_results.md §8)"
# Print precision vendors use when the text of a number is not available (docs/domain.md §1
# reports: BMD 3 decimals, BMC and area 2).
_DEFAULT_DECIMALS = {"bmd_g_cm2": 3, "bmc_g": 2, "area_cm2": 2}


@dataclass(frozen=True)
class OurLevel:
    """dxaspine's measurement of one level, as the second reading needs it."""

    label: str
    area_cm2: float
    bmc_g: float | None = None
    bmd_g_cm2: float | None = None
    label_confidence: float | None = None


def our_levels(levels: Iterable[object]) -> list[OurLevel]:
    """``OurLevel`` from LevelMeasurement objects or mappings (label, area_cm2, …)."""

    def get(item, k):
        return item.get(k) if isinstance(item, Mapping) else getattr(item, k, None)

    out = []
    for item in levels:
        area = get(item, "area_cm2")
        if area is None or not math.isfinite(float(area)) or float(area) <= 0:
            continue
        out.append(OurLevel(str(get(item, "label")), float(area), get(item, "bmc_g"),
                            get(item, "bmd_g_cm2"), get(item, "label_confidence")))  # fmt: skip
    return out


def _half(value: VendorValue | None, key: str) -> float:
    """Half a unit of the last printed digit: the rounding of a printed number."""
    d = value.decimals if value is not None and value.decimals is not None else None
    return 0.5 * 10.0 ** -(_DEFAULT_DECIMALS[key] if d is None else d)


def _bmd_flag(lv: VendorRegion) -> Flag | None:
    bmd, bmc, area = lv.bmd_g_cm2, lv.bmc_g, lv.area_cm2
    if bmd is None or bmc is None or area is None or area.value <= 0:
        return None
    ratio = bmc.value / area.value
    # first-order propagation of the three roundings, plus float noise
    tol = _half(bmd, "bmd_g_cm2") + ratio * (
        _half(bmc, "bmc_g") / bmc.value + _half(area, "area_cm2") / area.value
    )
    if abs(bmd.value - ratio) <= tol + 1e-9:
        return None
    composite = lv.kind == "composite"  # its BMC and area are the sums: docs/domain.md §1 again
    return Flag("vendor_composite_inconsistent" if composite else "vendor_bmd_inconsistent",
                f"{lv.name}: vendor BMD {bmd.value:.3f} but its BMC/area = {ratio:.4f} "
                f"(differs by {bmd.value - ratio:+.4f}, rounding allows {tol:.4f})",
                level=None if composite else lv.name,
                evidence={"region": lv.name, "bmd_g_cm2": bmd.value, "bmc_over_area_g_cm2": ratio,
                          "tolerance_g_cm2": tol, "sources": [bmd.source, bmc.source, area.source]},
                rule=RULE_COMPOSITE if composite else RULE_BMD)  # fmt: skip


def _composite_flags(vendor: VendorResults) -> tuple[list[Flag], list[str]]:
    flags, notes = [], []
    by_name = {lv.name: lv for lv in vendor.levels}
    for region in vendor.regions:
        members = [by_name.get(n) for n in region.levels]
        if any(m is None or m.bmc_g is None or m.area_cm2 is None for m in members):
            notes.append(f"{region.name}: vendor levels lack BMC or area; composite not checked")
            continue
        sum_bmc = sum(m.bmc_g.value for m in members)
        sum_area = sum(m.area_cm2.value for m in members)
        h_bmc = sum(_half(m.bmc_g, "bmc_g") for m in members)
        h_area = sum(_half(m.area_cm2, "area_cm2") for m in members)
        expected = sum_bmc / sum_area
        problems = {}
        if region.bmd_g_cm2 is not None:
            tol = _half(region.bmd_g_cm2, "bmd_g_cm2") + expected * (
                h_bmc / sum_bmc + h_area / sum_area
            )
            if abs(region.bmd_g_cm2.value - expected) > tol + 1e-9:
                problems["bmd_g_cm2"] = (region.bmd_g_cm2.value, expected, tol)
        for key, total, h in (("bmc_g", sum_bmc, h_bmc), ("area_cm2", sum_area, h_area)):
            value = getattr(region, key)
            if value is not None and abs(value.value - total) > h + _half(value, key) + 1e-9:
                problems[key] = (value.value, total, h + _half(value, key))
        if problems:
            text = "; ".join(
                f"{k} {v:.4g} vs sum {e:.4g} (rounding allows {t:.2g})"
                for k, (v, e, t) in problems.items()
            )
            flags.append(Flag("vendor_composite_inconsistent",
                              f"{region.name} is not the sum of the vendor's levels: {text}",
                              evidence={"region": region.name, "levels": list(region.levels),
                                        "problems": {k: {"vendor": v, "from_levels": e, "tolerance": t}
                                                     for k, (v, e, t) in problems.items()},
                                        "source": region.source},
                              rule=RULE_COMPOSITE))  # fmt: skip
    return flags, notes


# Kinds whose numbers carry units: a missing one there is a defect (GE XML never has units).
_UNITS_EXPECTED = ("ge_sr", "hologic_xml", "tid1500_sr")


def _unit_flag(vendor: VendorResults) -> Flag | None:
    assumed = [
        value
        for r in (*vendor.levels, *vendor.regions)
        for value in (r.bmd_g_cm2, r.bmc_g, r.area_cm2)
        if value is not None and value.unit_note
    ]
    if vendor.kind not in _UNITS_EXPECTED or not assumed:
        return None
    return Flag("vendor_unit_missing",
                f"{len(assumed)} number(s) without a unit; {assumed[0].unit_note} "
                f"(first at {assumed[0].source})",
                evidence={"count": len(assumed), "sources": [v.source for v in assumed]},
                rule="docs/vendor_results.md §2: a missing unit is inferred only where unambiguous")  # fmt: skip


def cross_check(a: VendorResults, b: VendorResults) -> list[Flag]:
    """Two results objects of one study (e.g. GE SR and XML) that disagree on a number.

    Values are compared per level/region and quantity within the coarser print rounding of the
    two; one flag per disagreeing number.
    """
    flags = []
    pairs = [(x, b.level(x.name)) for x in a.levels] + [(x, b.region(x.name)) for x in a.regions]
    for x, y in pairs:
        if y is None:
            continue
        for key in ("bmd_g_cm2", "bmc_g", "area_cm2", "t_score", "z_score"):
            u, v = getattr(x, key), getattr(y, key)
            if u is None or v is None:
                continue
            decimals = {"t_score": 1, "z_score": 1}.get(key)
            tol = max(
                _half(u, key) if decimals is None else 0.05,
                _half(v, key) if decimals is None else 0.05,
            )
            if abs(u.value - v.value) > tol + 1e-9:
                flags.append(Flag("vendor_objects_disagree",
                                  f"{x.name} {key}: {u.value:g} in {a.kind} vs {v.value:g} in {b.kind}",
                                  level=x.name if x.kind == "level" else None,
                                  evidence={"quantity": key, "values": [u.value, v.value],
                                            "sources": [u.source, v.source], "tolerance": tol},
                                  rule="one study, one set of numbers"))  # fmt: skip
    return flags


def consistency_flags(vendor: VendorResults) -> tuple[list[Flag], list[str]]:
    """BMD ≠ BMC/area and composites ≠ ΣBMC/ΣArea (within print rounding); flags and notes."""
    more, notes = _composite_flags(vendor)
    checked = {f.evidence["region"] for f in more}
    # a composite's own BMD/BMC/area test is the composite check's; levels are tested here
    own = [r for r in (*vendor.levels, *vendor.regions) if r.name not in checked]
    flags = [f for f in (_bmd_flag(r) for r in own) if f]
    unit = _unit_flag(vendor)
    return flags + more + ([unit] if unit else []), notes


def iscd_flags(vendor: VendorResults) -> list[Flag]:
    """The vendor's exclusions and kept levels against the ISCD rules (docs/domain.md §2)."""
    flags = []
    present = [lv for lv in vendor.clinical_levels if lv.bmd_g_cm2 is not None]
    excluded = [lv.name for lv in present if lv.excluded]
    kept = [lv.name for lv in present if not lv.excluded]
    reported_levels = None
    if vendor.reported_region is not None:
        from dxaspine.io.vendor.names import parse_region

        reported_levels = parse_region(vendor.reported_region)
    if vendor.exclusions_stated:
        problems = []
        if len(excluded) > MAX_EXCLUDED:
            problems.append(
                f"{len(excluded)} vertebrae excluded ({', '.join(excluded)}; at most {MAX_EXCLUDED})"
            )
        if len(kept) < MIN_EVALUABLE:
            problems.append(f"{len(kept)} evaluable vertebra(e) left (at least {MIN_EVALUABLE})")
        if problems:
            flags.append(Flag("vendor_exclusions_break_iscd", "; ".join(problems),
                              evidence={"excluded": excluded, "kept": kept}, rule=RULE_EXCLUSION))  # fmt: skip
    if reported_levels is not None and len(reported_levels) == 1:
        flags.append(Flag("vendor_exclusions_break_iscd",
                          f"the vendor reports a single vertebra ({vendor.reported_region})",
                          evidence={"reported_region": vendor.reported_region}, rule=RULE_EXCLUSION))  # fmt: skip
    in_report = set(reported_levels) if reported_levels else set(kept)
    scored = [
        lv for lv in present if lv.t_score is not None and lv.name in in_report and not lv.excluded
    ]
    for upper, lower in zip(scored, scored[1:], strict=False):
        if CLINICAL_LEVELS.index(lower.name) != CLINICAL_LEVELS.index(upper.name) + 1:
            continue
        diff = lower.t_score.value - upper.t_score.value
        if abs(diff) > ISCD_T_DIFFERENCE:
            flags.append(Flag("vendor_adjacent_t_kept",
                              f"{upper.name}/{lower.name} vendor T-scores differ by {diff:+.1f} "
                              f"(> {ISCD_T_DIFFERENCE}) and both are kept",
                              evidence={"pair": [upper.name, lower.name], "t_difference": diff,
                                        "sources": [upper.t_score.source, lower.t_score.source]},
                              rule=RULE_T))  # fmt: skip
    return flags


def _area_flags(
    vendor: VendorResults, ours: list[OurLevel], model: AreaModel
) -> tuple[list[Flag], dict]:
    v_areas = {lv.name: lv.area_cm2.value for lv in vendor.levels if lv.area_cm2 is not None}
    o_areas = {lv.label: lv.area_cm2 for lv in ours}
    match = match_offsets(v_areas, o_areas, model)
    evidence = match.evidence()
    if match.best is None:
        return [], {"area_comparison": evidence}
    conf = {lv.label: lv.label_confidence for lv in ours if lv.label_confidence is not None}
    flags = []
    if match.shifted:
        pairs = match.pairs[match.best]
        low_conf = min((conf[o] for _, o in pairs if o in conf), default=None)
        first = pairs[0]
        detail = (f"vendor levels sit one level {'higher' if match.best < 0 else 'lower'} than ours: "
                  f"the vendor's {first[0]} matches our {first[1]} "
                  f"(P = {match.posterior[match.best]:.2f}; unshifted P = {match.posterior.get(0, 0):.2f})")  # fmt: skip
        if low_conf is not None and low_conf < 0.9:
            detail += f"; our own label confidence is only {low_conf:.2f}"
        flags.append(Flag("vendor_labels_shifted", detail,
                          evidence={**evidence, "confidence": match.posterior[match.best],
                                    "our_label_confidence": low_conf},
                          rule="docs/domain.md §3: mislabelling by one level; area sequence match"))  # fmt: skip
    if not match.fits:
        flags.append(Flag("vendor_areas_unmatched",
                          f"the vendor's areas fit our levels at no offset (best RMS "
                          f"{100 * match.rms[match.best]:.1f} % > {100 * model.tolerance:.0f} %)",
                          evidence=evidence, rule=RULE_AREA))  # fmt: skip
        return flags, {"area_comparison": evidence}
    for v_label, o_label in match.pairs[match.best]:
        r = math.log(v_areas[v_label] / o_areas[o_label]) - model.ln_bias
        if abs(r) > model.tolerance:
            flags.append(Flag("vendor_area_disagrees",
                              f"{v_label}: vendor area {v_areas[v_label]:.2f} cm2 vs our {o_label} "
                              f"{o_areas[o_label]:.2f} cm2 ({100 * (math.exp(r) - 1):+.1f} % after bias; "
                              f"tolerance {100 * model.tolerance:.0f} %)",
                              level=v_label,
                              evidence={"vendor_area_cm2": v_areas[v_label], "our_level": o_label,
                                        "our_area_cm2": o_areas[o_label], "ln_ratio_minus_bias": r,
                                        "tolerance": model.tolerance, "offset": match.best},
                              rule=RULE_AREA))  # fmt: skip
    return flags, {"area_comparison": evidence}


def second_reading(
    vendor: VendorResults, ours: Iterable[object] = (), model: AreaModel | None = None
) -> tuple[list[Flag], dict]:
    """All second-reading flags of one vendor report, and a summary for the result.

    Parameters
    ----------
    vendor : VendorResults
    ours : iterable of LevelMeasurement or mappings
        dxaspine's measurement of the same study's image (``label``, ``area_cm2``; optional
        ``bmc_g``, ``bmd_g_cm2``, ``label_confidence``).  Empty: only the number checks run.
    model : AreaModel, optional
        Area-comparison model; pass one with a calibrated bias (``estimate_area_bias``) for
        archives.  Default: uncalibrated (bias 0 with a wide prior).

    Returns
    -------
    flags : list of Flag
    summary : dict
        ``notes`` and, with ``ours``, ``area_comparison`` (offsets, posteriors, residuals).
    """
    flags, notes = consistency_flags(vendor)
    flags += iscd_flags(vendor)
    summary: dict = {"notes": notes}
    ours = our_levels(ours)
    if ours:
        more, extra = _area_flags(vendor, ours, model or AreaModel())
        flags += more
        summary.update(extra)
    return flags, summary


def assess_inputs(vendor: VendorResults, patient: Mapping | None = None,
                  use_vendor_exclusions: bool = False) -> dict:  # fmt: skip
    """Keyword arguments for :func:`dxaspine.assess` from the vendor's per-level numbers.

    ``levels`` are mappings with ``label``, ``bmc_g``, ``area_cm2`` and ``bmd_g_cm2`` (the
    vendor's values, canonical units).  ``patient`` defaults to the vendor object's sex and
    age.  With ``use_vendor_exclusions`` the vendor's stated exclusions are passed as
    ``exclude``; otherwise dxaspine's own ISCD rules choose (the default: the rules applied
    the same way everywhere).
    """
    levels = [
        {"label": lv.name, "bmc_g": lv.number("bmc_g"), "area_cm2": lv.number("area_cm2"),
         "bmd_g_cm2": lv.number("bmd_g_cm2")}
        for lv in vendor.levels
        if lv.bmd_g_cm2 is not None or (lv.bmc_g is not None and lv.area_cm2 is not None)
    ]  # fmt: skip
    out = {"levels": levels,
           "patient": patient or {"sex": vendor.patient_sex, "age_years": vendor.patient_age_years}}  # fmt: skip
    if use_vendor_exclusions and vendor.exclusions_stated:
        out["exclude"] = vendor.excluded_levels
    return out


def assess_vendor(vendor: VendorResults, image_flags: Iterable[object] = (), patient=None,
                  reference=None, use_vendor_exclusions: bool = False):  # fmt: skip
    """:func:`dxaspine.assess` on the vendor's numbers with dxaspine's image evidence."""
    from dxaspine.clinical.assessment import assess

    kwargs = assess_inputs(vendor, patient, use_vendor_exclusions)
    return assess(kwargs.pop("levels"), kwargs.pop("patient"), reference=reference,
                  image_flags=image_flags, **kwargs)  # fmt: skip
