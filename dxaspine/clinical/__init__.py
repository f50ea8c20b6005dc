"""Clinical layer: reference tables, T/Z, WHO, ISCD exclusion (works on numbers, not pixels)."""

from dxaspine.clinical.assessment import AssessedLevel, Assessment, Region, assess
from dxaspine.clinical.flags import Flag
from dxaspine.clinical.reference import ReferenceTable, load_reference

__all__ = [
    "AssessedLevel",
    "Assessment",
    "Flag",
    "ReferenceTable",
    "Region",
    "assess",
    "load_reference",
]
