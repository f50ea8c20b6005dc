"""What a vendor results object says, as frozen dataclasses: ``VendorResults``.

Every number is a :class:`VendorValue`: the value in the canonical unit
(:mod:`dxaspine.io.vendor.units`), the unit and the text exactly as read, and the *source*
(the SR content path or the XML element), so that any number in a table can be traced back
to the element it came from.  Regions keep the vendor's own name beside the Contract 2 name.

Nothing is dropped silently: spine regions whose names cannot be mapped go to ``unmapped``,
other body parts (hip, forearm) to ``other_sites``, content items no reader understands to
``items_not_understood`` (by path; values of possibly identifying items are not kept), and
every assumption a reader made (a unit inferred, a date order assumed) to ``notes``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from dxaspine.levels import CLINICAL_LEVELS, level_index

__all__ = [
    "KINDS",
    "ItemNotUnderstood",
    "TrendPoint",
    "VendorRegion",
    "VendorResults",
    "VendorValue",
]

# Input kinds of the kinds registry (docs/vendor_results.md §1).
KINDS = ("ge_sr", "ge_xml", "hologic_xml", "tid1500_sr")


@dataclass(frozen=True)
class VendorValue:
    """One number as the vendor wrote it.

    ``value`` is in ``unit`` (canonical: g/cm2, g, cm2, 1, %, a, mm); ``unit_as_read`` is the
    unit as written (None when the object gave none: ``unit_note`` then says what was
    assumed); ``text_as_read`` is the number as written, so its decimals give the rounding.
    """

    value: float
    unit: str
    source: str
    unit_as_read: str | None = None
    text_as_read: str | None = None
    unit_note: str | None = None

    @property
    def decimals(self) -> int | None:
        """Decimal places printed (None when the value was not read from text)."""
        text = (self.text_as_read or "").strip().replace(",", ".")
        if not text:
            return None
        mantissa = text.lower().split("e")[0]
        return len(mantissa.split(".")[1]) if "." in mantissa else 0


@dataclass(frozen=True)
class VendorRegion:
    """A level or region the vendor reports.

    ``name`` is the Contract 2 name (``L1``, ``L1-L4``, ``L1,L3``) when the vendor's name maps
    onto vertebrae, else the name as read; ``levels`` are the member vertebrae (empty when
    unmapped).  ``excluded`` is the vendor's own statement (None: the object says nothing).
    """

    name: str
    name_as_read: str
    levels: tuple[str, ...]
    source: str
    body_part: str | None = None
    bmd_g_cm2: VendorValue | None = None
    bmc_g: VendorValue | None = None
    area_cm2: VendorValue | None = None
    t_score: VendorValue | None = None
    z_score: VendorValue | None = None
    other: tuple[tuple[str, VendorValue], ...] = ()
    excluded: bool | None = None

    @property
    def kind(self) -> str:
        """``level`` | ``composite`` | ``unmapped``."""
        if not self.levels:
            return "unmapped"
        return "level" if len(self.levels) == 1 else "composite"

    def number(self, key: str) -> float | None:
        """The canonical value of ``bmd_g_cm2``/``bmc_g``/``area_cm2``/``t_score``/``z_score``."""
        v = getattr(self, key)
        return None if v is None else v.value


@dataclass(frozen=True)
class TrendPoint:
    """One exam of the vendor's trend (serial) table for one region.

    Changes are as the vendor printed them: ``change_vs_*_g_cm2`` absolute, ``pchange_vs_*``
    in percent.  ``date`` is None when ``date_text`` could not be read as a date (the text is
    kept, and a note says why).
    """

    region: str
    region_as_read: str
    date: dt.date | None
    date_text: str
    source: str
    body_part: str | None = None
    age_years: VendorValue | None = None
    bmd_g_cm2: VendorValue | None = None
    t_score: VendorValue | None = None
    z_score: VendorValue | None = None
    change_vs_previous_g_cm2: VendorValue | None = None
    pchange_vs_previous_percent: VendorValue | None = None
    change_vs_baseline_g_cm2: VendorValue | None = None
    pchange_vs_baseline_percent: VendorValue | None = None


@dataclass(frozen=True)
class ItemNotUnderstood:
    """A content item no reader interprets, kept so that a user can see what was skipped."""

    source: str
    value_type: str
    text: str | None = None  # None where the value may identify the patient


@dataclass(frozen=True)
class VendorResults:
    """Everything read from one vendor results object (one SR, one XML-bearing file)."""

    kind: str
    path: str | None
    levels: tuple[VendorRegion, ...] = ()
    regions: tuple[VendorRegion, ...] = ()
    other_sites: tuple[VendorRegion, ...] = ()
    unmapped: tuple[VendorRegion, ...] = ()
    trend: tuple[TrendPoint, ...] = ()
    exclusions_stated: bool = False
    reported_region: str | None = None
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    study_date: dt.date | None = None
    manufacturer: str | None = None
    model: str | None = None
    software_versions: str | None = None
    patient_sex: str | None = None
    patient_age_years: float | None = None
    scan_info: tuple[tuple[str, str], ...] = ()
    items_not_understood: tuple[ItemNotUnderstood, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def level(self, label: str) -> VendorRegion | None:
        return next((lv for lv in self.levels if lv.name == label), None)

    def region(self, name: str) -> VendorRegion | None:
        return next((r for r in self.regions if r.name == name), None)

    @property
    def excluded_levels(self) -> tuple[str, ...]:
        """Levels the vendor states it excluded, cranial to caudal."""
        return tuple(lv.name for lv in self.levels if lv.excluded)

    @property
    def clinical_levels(self) -> tuple[VendorRegion, ...]:
        """The vendor's L1-L4 levels (the standard site, docs/domain.md §1)."""
        return tuple(lv for lv in self.levels if lv.name in CLINICAL_LEVELS)


def sort_regions(regions) -> tuple[VendorRegion, ...]:
    """Levels cranial to caudal; composites by first level, then by size (largest first)."""
    return tuple(sorted(regions, key=lambda r: (level_index(r.levels[0]), -len(r.levels), r.name)))
