"""Patient demographics from the header: sex, age, ethnicity, height, weight.

``None`` means unknown and is never guessed (the clinical layer then cannot give a Z-score,
which is better than a wrong one).  Values that are present but unusable are logged,
without the value itself: logs carry no patient identifiers (docs/architecture.md, Errors).
"""

from __future__ import annotations

import datetime as _dt
import logging
import re

from pydicom.dataset import Dataset

from dxaspine.io.scan import Patient

logger = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$")
_DAYS_PER_YEAR = 365.2425  # Gregorian mean year
_UNIT_YEARS = {"D": 1 / _DAYS_PER_YEAR, "W": 7 / _DAYS_PER_YEAR, "M": 1 / 12, "Y": 1.0}
# Plausible adult/child ranges; outside them the value is an encoding error (e.g. a height
# in cm written where DICOM wants metres) and is dropped rather than converted by guessing.
_HEIGHT_M = (0.4, 2.5)
_WEIGHT_KG = (2.0, 400.0)
_AGE_YEARS = (0.0, 120.0)


def parse_date(value: object) -> _dt.date | None:
    """A DICOM DA value (``YYYYMMDD``) as a date, or None."""
    if value is None:
        return None
    if isinstance(value, _dt.date):
        return value
    text = str(value).strip()
    try:
        return _dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _float(ds: Dataset, keyword: str, bounds: tuple[float, float], source: object) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        logger.warning("%s: %s is not numeric; treated as unknown", source, keyword)
        return None
    if not bounds[0] < number < bounds[1]:
        logger.warning("%s: %s out of range %s; treated as unknown", source, keyword, bounds)
        return None
    return number


def age_years(ds: Dataset, source: object = None) -> tuple[float | None, str | None]:
    """Age in years at the scan and where it came from (``PatientAge`` or ``PatientBirthDate``).

    PatientAge (``nnnD/W/M/Y``) is preferred because exports often blank the birth date;
    otherwise the exact age from PatientBirthDate to StudyDate (or AcquisitionDate,
    SeriesDate, ContentDate).
    """
    raw = ds.get("PatientAge")
    if raw:
        match = _AGE.match(str(raw))
        if match:
            years = int(match.group(1)) * _UNIT_YEARS[match.group(2)]
            if _AGE_YEARS[0] <= years <= _AGE_YEARS[1]:
                return years, "PatientAge"
        logger.warning("%s: PatientAge is malformed; trying PatientBirthDate", source)
    birth = parse_date(ds.get("PatientBirthDate"))
    if birth is None:
        return None, None
    for keyword in ("StudyDate", "AcquisitionDate", "SeriesDate", "ContentDate"):
        scan_date = parse_date(ds.get(keyword))
        if scan_date is not None:
            years = (scan_date - birth).days / _DAYS_PER_YEAR
            if _AGE_YEARS[0] <= years <= _AGE_YEARS[1]:
                return years, "PatientBirthDate"
            logger.warning("%s: PatientBirthDate and %s give an impossible age", source, keyword)
            return None, None
    return None, None


def read_patient(ds: Dataset, source: object = None) -> Patient:
    """The :class:`Patient` record of a header."""
    sex = str(ds.get("PatientSex") or "").strip().upper()
    age, age_source = age_years(ds, source)
    ethnicity = str(ds.get("EthnicGroup") or "").strip() or None
    return Patient(
        sex=sex if sex in ("F", "M") else None,  # "O" and blanks are unknown for reference tables
        age_years=age,
        age_source=age_source,
        ethnicity=ethnicity,
        height_m=_float(ds, "PatientSize", _HEIGHT_M, source),
        weight_kg=_float(ds, "PatientWeight", _WEIGHT_KG, source),
    )
