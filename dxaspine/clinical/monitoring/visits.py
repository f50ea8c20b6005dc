"""``Visit``: one scan of one patient at one date, as serial monitoring needs it.

Any source becomes a :class:`Visit`: a dxaspine result (Contract 2 JSON, or the image
analysed now), a row of a batch table (the Contract 2 flat columns), and -- in one small
adapter to be written beside the vendor readers -- a vendor's own report (GE/Hologic SR or
XML).  Monitoring (:mod:`dxaspine.clinical.monitoring`) sees only visits, so it cannot tell
and need not care where the numbers came from; what it must know travels with them: the
date, who the patient is (a hash of the PatientID, never the ID), the scanner and its
software, the input kind, per-level BMC/area/BMD with exclusions and their reasons, the
composites as reported, and the analysis conventions (``result["analysis"]`` when present:
``physics_model``, ``edge``, ``box``, ``segmenter`` in schema 1.1 …).

A vendor adapter fills the same fields: ``date`` = study date, ``levels`` from the vendor's
per-level BMC/area/BMD (``excluded`` from the vendor's exclusions), ``region_bmd_g_cm2`` from
its composites (needed when BMC/area are absent, e.g. GE SR before enCORE 10.2),
``manufacturer``/``model``/``software`` from the header, ``kind`` = the vendor kind name, and
``trend`` from the vendor's trend containers (:class:`TrendPoint`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from dxaspine.clinical.table_files import cell_number
from dxaspine.errors import InputError, describe
from dxaspine.levels import CLINICAL_LEVELS

__all__ = [
    "TrendPoint",
    "Visit",
    "VisitLevel",
    "exclude_levels",
    "hash_patient_id",
    "parse_date",
    "visit_from_result",
    "visit_from_row",
]

# Conventions compared between visits when the result records them (other keys are
# compared too; these are the ones named in the result contract's "analysis" block).
ANALYSIS_KEYS = ("physics_model", "edge", "box", "segmenter")


@dataclass(frozen=True)
class VisitLevel:
    """One vertebra at one visit (g, cm², g/cm²); ``reason`` says why it is excluded."""

    label: str
    bmc_g: float | None = None
    area_cm2: float | None = None
    bmd_g_cm2: float | None = None
    excluded: bool = False
    reason: str | None = None

    @property
    def has_mass(self) -> bool:
        """BMC and a positive area: composites can be recomputed from it."""
        return self.bmc_g is not None and self.area_cm2 is not None and self.area_cm2 > 0

    @property
    def evaluable(self) -> bool:
        return not self.excluded and (self.has_mass or self.bmd_g_cm2 is not None)


@dataclass(frozen=True)
class TrendPoint:
    """One point of a vendor's own trend table (GE SR "Trend <region>" containers)."""

    date: dt.date
    region: str
    bmd_g_cm2: float
    source: str = "vendor trend"


@dataclass(frozen=True)
class Visit:
    """One scan of one patient, from any source (module docstring)."""

    source: str  # file (and row) it came from: used in messages, never patient data
    date: dt.date | None
    levels: tuple[VisitLevel, ...]
    patient_id_hash: str | None = None
    sex: str | None = None
    age_years: float | None = None
    manufacturer: str | None = None
    model: str | None = None
    software: str | None = None  # the scanner's software version
    kind: str | None = None  # dual_energy | bmd_map | display | a vendor kind
    reported_region: str | None = None
    region_bmd_g_cm2: Mapping[str, float] = field(default_factory=dict)
    analysis: Mapping[str, object] = field(default_factory=dict)
    trend: tuple[TrendPoint, ...] = ()

    def level(self, label: str) -> VisitLevel | None:
        return next((lv for lv in self.levels if lv.label == label), None)


def exclude_levels(visit: Visit, levels) -> Visit:
    """``visit`` with ``levels`` excluded by the user (the reason says so).

    Raises
    ------
    InputError
        A name that is not one of L1-L4.

    Examples
    --------
    >>> v = exclude_levels(Visit("a", None, (VisitLevel("L4", 13.4, 13.97),)), ["L4"])
    >>> v.level("L4").excluded, v.level("L4").reason
    (True, 'excluded by the user')
    """
    levels = set(levels)
    unknown = sorted(levels - set(CLINICAL_LEVELS))
    if unknown:
        raise InputError(
            describe(
                visit.source,
                f"cannot exclude {unknown[0]!r}",
                f"name levels among {', '.join(CLINICAL_LEVELS)}",
            )
        )
    new = tuple(
        replace(lv, excluded=True, reason="excluded by the user") if lv.label in levels else lv
        for lv in visit.levels
    )
    return replace(visit, levels=new)


def hash_patient_id(patient_id: object, issuer: object = None) -> str | None:
    """A one-way digest of PatientID (and its issuer) for "same patient?" checks.

    The digest is compared between visits and never printed or written: an ID space can be
    small enough to reverse a hash by trial, so it is treated as identifying too.

    Examples
    --------
    >>> hash_patient_id("12345") == hash_patient_id(" 12345 ")
    True
    >>> hash_patient_id("") is None
    True
    """
    text = str(patient_id or "").strip()
    if not text:
        return None
    key = f"dxaspine-visit\x00{str(issuer or '').strip()}\x00{text}".encode()
    return hashlib.sha256(key).hexdigest()


def parse_date(value: object, where: str = "date") -> dt.date | None:
    """``YYYYMMDD`` (DICOM DA), ``YYYY-MM-DD`` or a ``date``; ``None`` when empty.

    Examples
    --------
    >>> parse_date("20240312"), parse_date("2024-03-12")
    (datetime.date(2024, 3, 12), datetime.date(2024, 3, 12))
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt, part in (("%Y-%m-%d", text[:10]), ("%Y%m%d", text[:8])):
        try:
            return dt.datetime.strptime(part, fmt).date()
        except ValueError:
            continue
    # the value is not quoted: a date is identifying
    raise InputError(
        describe(
            where,
            "study date is not YYYYMMDD or YYYY-MM-DD",
            "fix the date or give it with --dates",
        )
    )


def _num(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _first(*values: object) -> object:
    return next((v for v in values if v not in (None, "")), None)


def _level_reason(level: Mapping, mode: str | None) -> str | None:
    if not level.get("excluded"):
        return None
    codes = [f.get("code") for f in level.get("flags") or [] if isinstance(f, Mapping)]
    if mode == "user":
        return "excluded by the user" + (f" (flags: {', '.join(codes)})" if codes else "")
    return ", ".join(dict.fromkeys(c for c in codes if c)) or "excluded"


def visit_from_result(
    result: Mapping, source: str, date: dt.date | None = None, patient_id_hash: str | None = None
) -> Visit:
    """A :class:`Visit` from a Contract 2 result dict.

    Parameters
    ----------
    result : mapping
        A dxaspine result (``dxaspine analyze --json``; ``dxaspine/io/result.schema.json``).
        Optional keys read when present: ``input.study_date`` (or ``study.date``,
        ``study_date``), ``patient.id_hash``, ``input.software_version``, ``analysis``.
    source : str
        Where it came from (file name, JSON Lines line), for messages.
    date, patient_id_hash : optional
        Override or supply what the result does not carry.

    Returns
    -------
    Visit

    Raises
    ------
    InputError
        The object has no ``levels`` list (not a dxaspine result).

    Examples
    --------
    >>> r = {"levels": [{"label": "L1", "bmc_g": 11.58, "area_cm2": 13.26,
    ...                  "bmd_g_cm2": 0.873, "excluded": False, "flags": []}],
    ...      "input": {"study_date": "20240312", "kind": "dual_energy"}}
    >>> v = visit_from_result(r, "a.json")
    >>> v.date, v.level("L1").bmc_g, v.kind
    (datetime.date(2024, 3, 12), 11.58, 'dual_energy')
    """
    levels = result.get("levels")
    if not isinstance(levels, list):
        raise InputError(
            describe(
                source,
                "not a dxaspine result (no 'levels' list)",
                "give the output of dxaspine analyze --json",
            )
        )
    inp = result.get("input") or {}
    study = result.get("study") or {}
    patient = result.get("patient") or {}
    mode = (result.get("exclusion") or {}).get("mode")
    out_levels = []
    for item in levels:
        if not isinstance(item, Mapping) or item.get("label") not in CLINICAL_LEVELS:
            continue
        out_levels.append(
            VisitLevel(
                label=item["label"],
                bmc_g=_num(item.get("bmc_g")),
                area_cm2=_num(item.get("area_cm2")),
                bmd_g_cm2=_num(item.get("bmd_g_cm2")),
                excluded=bool(item.get("excluded")),
                reason=_level_reason(item, mode),
            )
        )
    regions = {
        r["name"]: bmd
        for r in result.get("regions") or []
        if isinstance(r, Mapping) and "name" in r and (bmd := _num(r.get("bmd_g_cm2"))) is not None
    }
    analysis = dict(result.get("analysis") or {})
    software = result.get("software") or {}
    if software.get("name"):
        analysis.setdefault(
            "analysis_software", f"{software['name']} {software.get('version', '')}".strip()
        )
    return Visit(
        source=source,
        date=date
        or parse_date(
            _first(inp.get("study_date"), study.get("date"), result.get("study_date")), source
        ),
        levels=tuple(out_levels),
        patient_id_hash=patient_id_hash
        or _first(patient.get("id_hash"), inp.get("patient_id_hash")),
        sex=patient.get("sex") if patient.get("sex") in ("F", "M") else None,
        age_years=_num(patient.get("age_years")),
        manufacturer=_first(inp.get("manufacturer")),
        model=_first(inp.get("model")),
        software=_first(inp.get("software_version"), inp.get("device_software")),
        kind=_first(inp.get("kind")),
        reported_region=result.get("reported_region"),
        region_bmd_g_cm2=regions,
        analysis=analysis,
    )


_TRUE = {"true", "1", "yes", "y", "t"}


def visit_from_row(row: Mapping[str, str], source: str) -> Visit:
    """A :class:`Visit` from one row of a batch table (Contract 2 flat columns).

    Parameters
    ----------
    row : mapping column -> text
        ``L1_bmc_g``, ``L1_area_cm2``, ``L1_bmd_g_cm2``, ``L1_excluded``, ``L1_flags`` …,
        ``<region>_bmd_g_cm2``, ``reported_region``, ``patient_sex``, ``patient_age_years``,
        ``kind``; and, when present, ``study_date``, ``patient_id_hash``, ``manufacturer``
        (or ``device_manufacturer``), ``model`` (``device_model``), ``software_version``,
        and analysis-convention columns (``physics_model``, ``edge``, ``box``, ``segmenter``,
        also spelled ``analysis_edge`` …).
    source : str
        ``file row N``, for messages.

    Returns
    -------
    Visit

    Raises
    ------
    InputError
        No per-level columns, or a non-numeric number cell.

    Examples
    --------
    >>> row = {"L1_bmc_g": "11.58", "L1_area_cm2": "13.26", "L1_excluded": "False",
    ...        "L2_bmc_g": "12.94", "L2_area_cm2": "13.72", "L2_excluded": "True",
    ...        "L2_flags": "osteophyte_suspected", "study_date": "2021-05-04"}
    >>> v = visit_from_row(row, "results.csv row 1")
    >>> v.date, v.level("L2").excluded, v.level("L2").reason
    (datetime.date(2021, 5, 4), True, 'osteophyte_suspected')
    """
    if not any(f"{lv}_bmd_g_cm2" in row or f"{lv}_bmc_g" in row for lv in CLINICAL_LEVELS):
        raise InputError(
            describe(
                source,
                "no per-level columns (L1_bmc_g, L1_bmd_g_cm2 ...)",
                "give a dxaspine batch/assess results table",
            )
        )
    levels = []
    for lv in CLINICAL_LEVELS:
        values = {
            k: cell_number(row.get(f"{lv}_{k}", ""), source, f"{lv}_{k}")
            for k in ("bmc_g", "area_cm2", "bmd_g_cm2")
        }
        if all(v is None for v in values.values()):
            continue
        excluded = str(row.get(f"{lv}_excluded", "")).strip().lower() in _TRUE
        flags = str(row.get(f"{lv}_flags", "") or "").replace(";", ", ").strip()
        levels.append(
            VisitLevel(
                lv, **values, excluded=excluded, reason=(flags or "excluded") if excluded else None
            )
        )
    regions = {}
    for column, text in row.items():
        if column.endswith("_bmd_g_cm2") and column[: -len("_bmd_g_cm2")] not in CLINICAL_LEVELS:
            name = column[: -len("_bmd_g_cm2")]
            if name.startswith("L") and (value := cell_number(text, source, column)) is not None:
                regions[name] = value
    pid = _first(row.get("patient_id_hash"))
    if pid is None and row.get("patient_id"):
        pid = hash_patient_id(row.get("patient_id"))
    sex = str(row.get("patient_sex", "") or "").strip().upper()
    return Visit(
        source=source,
        date=parse_date(_first(row.get("study_date"), row.get("date")), source),
        levels=tuple(levels),
        patient_id_hash=pid,
        sex=sex if sex in ("F", "M") else None,
        age_years=cell_number(row.get("patient_age_years", ""), source, "patient_age_years"),
        manufacturer=_first(row.get("manufacturer"), row.get("device_manufacturer")),
        model=_first(row.get("model"), row.get("device_model")),
        software=_first(row.get("software_version"), row.get("device_software")),
        kind=_first(row.get("kind")),
        reported_region=_first(row.get("reported_region")),
        region_bmd_g_cm2=regions,
        analysis={
            k: row.get(k) or row.get(f"analysis_{k}")
            for k in ANALYSIS_KEYS
            if row.get(k) or row.get(f"analysis_{k}")
        },
    )
