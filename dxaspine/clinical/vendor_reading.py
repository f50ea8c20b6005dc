"""A vendor's report read beside dxaspine's analysis of the same study.

:func:`read_vendor` bundles, for one vendor results object: the second-reading flags (are the
numbers consistent, do the vendor's levels sit on the vertebrae dxaspine found, do its
exclusions follow ISCD; :mod:`dxaspine.clinical.second_reading`) and the ISCD rules applied to
the **vendor's numbers together with dxaspine's image evidence** (docs/architecture.md: the
clinical layer works on numbers from anywhere).  A study with an image gets both readings; a
study with results only gets the rules and the number checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dxaspine.clinical.area_sequence import AreaModel
from dxaspine.clinical.assessment import Assessment
from dxaspine.clinical.flags import Flag
from dxaspine.clinical.second_reading import assess_vendor, cross_check, second_reading

__all__ = ["VendorReading", "read_vendor", "read_vendors"]


@dataclass(frozen=True)
class VendorReading:
    """One vendor results object, checked and assessed."""

    results: object  # dxaspine.io.vendor.VendorResults
    flags: tuple[Flag, ...]  # second reading
    summary: Mapping = field(default_factory=dict)  # notes, area comparison evidence
    assessment: Assessment | None = None  # ISCD rules on the vendor's numbers + our evidence


def read_vendor(
    results,
    levels: Iterable[object] = (),
    image_flags: Iterable[object] = (),
    *,
    patient: Mapping | None = None,
    reference=None,
    model: AreaModel | None = None,
) -> VendorReading:
    """Second reading and assessment of one vendor report.

    Parameters
    ----------
    results : VendorResults
    levels : iterable of LevelMeasurement or mappings
        dxaspine's measurement of the study's image (empty for a results-only study).
    image_flags : iterable of QcFlag
        dxaspine's image evidence (segmenter and evidence stage), which joins the vendor's
        numbers in the ISCD exclusion.
    patient : mapping, optional
        Sex and age for T/Z; default the vendor object's own.
    reference : reference table, optional
    model : AreaModel, optional
        Area-comparison model; calibrated per device in batch runs.

    Returns
    -------
    VendorReading
    """
    levels = list(levels)
    flags, summary = second_reading(results, levels, model)
    assessment = None
    if any(lv.bmd_g_cm2 is not None or lv.bmc_g is not None for lv in results.levels):
        assessment = assess_vendor(results, image_flags=image_flags, patient=patient,
                                   reference=reference)  # fmt: skip
    return VendorReading(results, tuple(flags), summary, assessment)


def read_vendors(
    results_list: Iterable[object],
    levels: Iterable[object] = (),
    image_flags: Iterable[object] = (),
    **kwargs,
) -> tuple[VendorReading, ...]:
    """:func:`read_vendor` for each object; objects of one study that disagree are flagged."""
    results_list = list(results_list)
    levels, image_flags = list(levels), list(image_flags)
    readings = [read_vendor(r, levels, image_flags, **kwargs) for r in results_list]
    out = []
    for i, reading in enumerate(readings):
        extra = [f for other in results_list[:i] for f in cross_check(other, reading.results)]
        if extra:
            reading = VendorReading(reading.results, reading.flags + tuple(extra),
                                    reading.summary, reading.assessment)  # fmt: skip
        out.append(reading)
    return tuple(out)
