"""Pieces every vendor reader shares: numbers, values with units, dates, header fields, and
the :class:`Collector` that sorts what a reader finds into a :class:`VendorResults`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import replace

from pydicom.dataset import Dataset

from dxaspine.errors import VendorResultsError, describe
from dxaspine.io.vendor.names import parse_region, region_name
from dxaspine.io.vendor.results import (
    ItemNotUnderstood,
    TrendPoint,
    VendorRegion,
    VendorResults,
    VendorValue,
    sort_regions,
)
from dxaspine.io.vendor.units import convert

__all__ = [
    "Collector",
    "header_fields",
    "is_spine_body_part",
    "make_value",
    "parse_number",
    "parse_trend_date",
]

_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_SPINE = re.compile(r"SPINE|LUMBAR")
_NOT_AP_SPINE = re.compile(r"LATERAL|\bLAT\b|\bLVA\b|\bIVA\b|\bVFA\b|CERVICAL|THORACIC")


def parse_number(text: object, source: object, where: str) -> float:
    """A number as vendors print it: ``-1.2``, ``0.930``, ``1,023`` (decimal comma), ``+0.4``.

    A decimal comma is accepted only without a decimal point (the GE XML parser of
    docs/vendor_results.md §4 met ``1,023``); thousands separators are refused rather than
    guessed.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        t = str(text).strip().strip('"').replace("\u2212", "-")
        if not _NUMBER.match(t) or ("," in t and "." in t):
            raise VendorResultsError(
                describe(source, f"{where}: {t[:20]!r} is not a number", "re-export the results")
            )
        value = float(t.replace(",", "."))
    if not math.isfinite(value):
        raise VendorResultsError(describe(source, f"{where}: non-finite number", "re-export"))
    return value


def make_value(
    raw: object, unit_as_read: str | None, quantity: str, source: object, where: str
) -> VendorValue:
    """A :class:`VendorValue` from the raw number or text and its unit, converted and checked."""
    value = parse_number(raw, source, where)
    reading = convert(value, unit_as_read, quantity, source, where)
    return VendorValue(
        value=reading.value,
        unit=reading.unit,
        source=where,
        unit_as_read=unit_as_read or None,
        text_as_read=raw if isinstance(raw, str) else None,
        unit_note=reading.note,
    )


# Trend dates: "%d-%b-%Y" (GE SR, docs/domain.md §6b / ibh-daai), "%m/%d/%Y" (a second public GE
# parser, docs/vendor_results.md §3), DICOM DA and ISO.
_DATE_FORMATS = ("%d-%b-%Y", "%Y%m%d", "%Y-%m-%d", "%m/%d/%Y")


def parse_trend_date(text: str) -> tuple[dt.date | None, str | None]:
    """``(date, note)`` from a trend date as printed; ``(None, note)`` when unreadable."""
    t = str(text).strip()
    for fmt in _DATE_FORMATS:
        try:
            date = dt.datetime.strptime(t, fmt).date()
        except ValueError:
            continue
        note = None
        if fmt == "%m/%d/%Y" and date.day <= 12 and date.day != date.month:
            note = "trend dates NN/NN/YYYY read month/day (US order, as the public GE parser does)"
        return date, note
    return None, f"trend date {t!r} is not a date format dxaspine knows; kept as text"


def is_spine_body_part(text: str | None) -> bool:
    """True for an AP/PA lumbar spine scan name ("AP Spine", "Lumbar Spine", "L-Spine")."""
    t = re.sub(r"[^A-Z0-9]+", " ", str(text or "").upper())
    return bool(_SPINE.search(t)) and not _NOT_AP_SPINE.search(t)


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple) or hasattr(value, "__iter__") and not isinstance(value, str):
        return "\\".join(str(v) for v in value) or None
    return str(value).strip() or None


def _age_years(text: str | None) -> float | None:
    """DICOM AS (``061Y``, ``006M``) in years; None when absent or malformed."""
    m = re.match(r"^(\d{3})([DWMY])$", (text or "").strip().upper())
    if not m:
        return None
    per_year = {"D": 365.2425, "W": 52.1775, "M": 12.0, "Y": 1.0}[m.group(2)]
    return int(m.group(1)) / per_year


def header_fields(ds: Dataset) -> dict:
    """Identifiers, study date, device and the patient's sex and age from a DICOM header.

    Only what joins a vendor object to its image and its reference: UIDs, the study date,
    sex and age (for T/Z); no names, IDs or birth dates.
    """
    date = None
    study_date = _text(ds, "StudyDate") or _text(ds, "ContentDate")
    if study_date:
        try:
            date = dt.datetime.strptime(study_date[:8], "%Y%m%d").date()
        except ValueError:
            date = None
    sex = (_text(ds, "PatientSex") or "").upper()[:1]
    return {
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "sop_instance_uid": _text(ds, "SOPInstanceUID"),
        "series_instance_uid": _text(ds, "SeriesInstanceUID"),
        "study_instance_uid": _text(ds, "StudyInstanceUID"),
        "study_date": date,
        "manufacturer": _text(ds, "Manufacturer"),
        "model": _text(ds, "ManufacturerModelName"),
        "software_versions": _text(ds, "SoftwareVersions"),
        "patient_sex": sex if sex in ("F", "M") else None,
        "patient_age_years": _age_years(_text(ds, "PatientAge")),
    }


class Collector:
    """Sorts regions, trend points, unknown items and notes into a :class:`VendorResults`."""

    def __init__(self, kind: str, source: object):
        self.kind, self.source = kind, source
        self.levels: list[VendorRegion] = []
        self.regions: list[VendorRegion] = []
        self.other_sites: list[VendorRegion] = []
        self.unmapped: list[VendorRegion] = []
        self.trend: list[TrendPoint] = []
        self.items: list[ItemNotUnderstood] = []
        self.notes: list[str] = []
        self.scan_info: list[tuple[str, str]] = []
        self.exclusions: tuple[str, ...] | None = None  # derived by a reader (Hologic Total)
        self.reported_region: str | None = None

    def note(self, text: str | None) -> None:
        if text and text not in self.notes:
            self.notes.append(text)

    def add_region(
        self, name_as_read: str, body_part: str | None, spine: bool, levels=None, **fields
    ):
        """File a region under levels / regions / unmapped / other_sites; returns it.

        ``levels`` overrides the vertebrae the name maps to (Hologic ``Total``).
        """
        fields.setdefault("source", name_as_read)
        for key in ("bmd_g_cm2", "bmc_g", "area_cm2", "t_score", "z_score"):
            value = fields.get(key)
            if value is not None:
                self.note(value.unit_note)
        for _, value in fields.get("other", ()):
            self.note(value.unit_note)
        if levels is None:
            levels = parse_region(name_as_read) if spine else None
        if not spine:
            region = VendorRegion(
                name_as_read.strip(), name_as_read, (), body_part=body_part, **fields
            )
            self.other_sites.append(region)
        elif levels is None:
            region = VendorRegion(
                name_as_read.strip(), name_as_read, (), body_part=body_part, **fields
            )
            self.unmapped.append(region)
            self.note(f"spine region {name_as_read!r} is not a vertebra name; kept as unmapped")
        else:
            region = VendorRegion(
                region_name(levels), name_as_read, levels, body_part=body_part, **fields
            )
            target = self.levels if len(levels) == 1 else self.regions
            twin = next((r for r in target if r.name == region.name), None)
            if twin is not None:
                if _numbers(twin) != _numbers(region):
                    raise VendorResultsError(
                        describe(
                            self.source,
                            f"region {region.name} reported twice with different numbers "
                            f"({twin.source}; {fields['source']})",
                            "the object contradicts itself; re-export it",
                        )
                    )
                self.note(f"region {region.name} reported twice with the same numbers; kept once")
                return twin
            target.append(region)
        return region

    def add_item(self, source: str, value_type: str, text: str | None) -> None:
        self.items.append(ItemNotUnderstood(source, value_type, text))

    def build(self, header: dict, **extra) -> VendorResults:
        if self.exclusions is not None:
            excluded = set(self.exclusions)
            self.levels = [replace(lv, excluded=lv.name in excluded) for lv in self.levels]
        levels = sort_regions(self.levels)
        if not levels and not self.regions:
            self.note("no lumbar spine results in this object")
        stated = any(lv.excluded is not None for lv in levels)
        extra.setdefault("exclusions_stated", stated)
        extra.setdefault("reported_region", self.reported_region)
        return VendorResults(
            kind=self.kind,
            path=None if self.source in (None, "") else str(self.source),
            levels=levels,
            regions=sort_regions(self.regions),
            other_sites=tuple(self.other_sites),
            unmapped=tuple(self.unmapped),
            trend=tuple(self.trend),
            scan_info=tuple(self.scan_info),
            items_not_understood=tuple(self.items),
            notes=tuple(self.notes),
            **header,
            **extra,
        )


def _numbers(region: VendorRegion) -> tuple:
    keys = ("bmd_g_cm2", "bmc_g", "area_cm2", "t_score", "z_score")
    return tuple(region.number(k) for k in keys)


def first(items: Iterable, default=None):
    return next(iter(items), default)
