"""Every coded concept dxaspine writes (SNOMED CT, LOINC, DCM, UCUM), in one place.

Plain data, no highdicom: the SR writer turns them into ``CodedConcept`` objects, and a reader of
our SR (or a vendor adapter) can match on the same values.  Sources: docs/domain.md §6 (SNOMED CT
vertebrae and lumbar spine, LOINC 24966-4 / 38267-1 / 85394-5 with their UCUM example units),
DICOM PS3.16 (DCM codes).  Concepts for which no standard code was found (BMC, exclusion, QC
flag, reported region) use the one private scheme :data:`PRIVATE_SCHEME`, declared in the SR's
CodingSchemeIdentificationSequence.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "Code",
    "PRIVATE_SCHEME",
    "VERTEBRA",
    "LUMBAR_SPINE",
    "WHO_CATEGORY",
    "MEASUREMENT",
    "UNIT",
    "private",
]

PRIVATE_SCHEME = "99DXASPINE"


class Code(NamedTuple):
    """A coded concept: (CodeValue, CodingSchemeDesignator, CodeMeaning)."""

    value: str
    scheme: str
    meaning: str


def private(value: str, meaning: str) -> Code:
    """A code of the private scheme; CodeMeaning is LO (at most 64 characters)."""
    return Code(value, PRIVATE_SCHEME, _lo(meaning))


def _lo(text: str) -> str:
    """Shorten to a DICOM LO (64 characters) at a word boundary, never mid-word.

    The default character repertoire is ASCII (PS3.5 6.1), so the ellipsis is three dots.
    """
    text = " ".join(str(text).split())
    if len(text) <= 64:
        return text
    cut = text[:62].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "..."


# SNOMED CT vertebrae (docs/domain.md §6; T11/T12 and L5 for the levels a scan can show).
VERTEBRA: dict[str, Code] = {
    "T11": Code("12989004", "SCT", "T11 vertebra"),
    "T12": Code("23215003", "SCT", "T12 vertebra"),
    "L1": Code("66794005", "SCT", "L1 vertebra"),
    "L2": Code("14293000", "SCT", "L2 vertebra"),
    "L3": Code("36470004", "SCT", "L3 vertebra"),
    "L4": Code("11994002", "SCT", "L4 vertebra"),
    "L5": Code("49668003", "SCT", "L5 vertebra"),
}
LUMBAR_SPINE = Code("122496007", "SCT", "Lumbar spine")
BONE = Code("272673000", "SCT", "Bone")
YES = Code("373066001", "SCT", "Yes")
DXA_PROCEDURE = Code("241686001", "SCT", "Dual energy X-ray absorptiometry")
FINDING = Code("121071", "DCM", "Finding")
DEVICE = Code("121007", "DCM", "Device")

# The WHO category is a DCM "Finding" whose value is the SNOMED CT disorder.
WHO_CATEGORY: dict[str, Code] = {
    "normal": Code("17621005", "SCT", "Normal"),
    "low_bone_mass": Code("312894000", "SCT", "Osteopenia"),
    "osteoporosis": Code("64859006", "SCT", "Osteoporosis"),
}

UNIT: dict[str, Code] = {
    "g/cm2": Code("g/cm2", "UCUM", "gram per square centimeter"),
    "g": Code("g", "UCUM", "gram"),
    "cm2": Code("cm2", "UCUM", "square centimeter"),
    "mm": Code("mm", "UCUM", "millimeter"),
    "{T-score}": Code("{T-score}", "UCUM", "T-score"),
    "{Z-score}": Code("{Z-score}", "UCUM", "Z-score"),
}

# Result-record key -> (concept, unit).  LOINC for the DXA lumbar spine observables.
MEASUREMENT: dict[str, tuple[Code, Code]] = {
    "bmd_g_cm2": (
        Code("24966-4", "LN", "DXA Lumbar spine [Mass/Area] Bone density"),
        UNIT["g/cm2"],
    ),
    "bmc_g": (private("BMC", "Bone mineral content"), UNIT["g"]),
    "area_cm2": (Code("42798000", "SCT", "Area"), UNIT["cm2"]),
    "t_score": (
        Code("38267-1", "LN", "DXA Lumbar spine [T-score] Bone density"),
        UNIT["{T-score}"],
    ),
    "z_score": (
        Code("85394-5", "LN", "DXA Lumbar spine [Z-score] Bone density"),
        UNIT["{Z-score}"],
    ),
    "height_mm": (Code("121207", "DCM", "Height"), UNIT["mm"]),
    "width_mm": (Code("103355008", "SCT", "Width"), UNIT["mm"]),
}

EXCLUDED = private("EXCLUDED", "Excluded from composite regions")
QC_FLAG = private("QCFLAG", "Quality control flag")
REPORTED = private("REPORTED", "Reported region")
SOURCE = private("SOURCE", "Source of the numbers")
