"""Standardized spine BMD (sBMD) across scanner makes (Hui 1997; docs/domain.md §7).

    Hologic  sBMD = 1.0550 (BMD - 0.972) + 1.0436
    Lunar    sBMD = 0.9683 (BMD - 1.100) + 1.0436
    Norland  sBMD = 0.9743 (BMD - 0.969) + 1.0436      (g/cm²)

The average individual error is 3.5 %: sBMD is good for pooling cohorts, not for judging one
patient's change between makes (docs/domain.md §7).  Monitoring therefore *offers* sBMD when
visits come from different makes and says so; it never calls an sBMD change significant.
"""

from __future__ import annotations

__all__ = ["SBMD_INDIVIDUAL_ERROR_PERCENT", "scanner_make", "standardized_bmd"]

# docs/domain.md §7 (Hui 1997): slope, make-specific centre, common centre (g/cm2).
_HUI_1997 = {
    "Hologic": (1.0550, 0.972),
    "Lunar": (0.9683, 1.100),
    "Norland": (0.9743, 0.969),
}
_SBMD_CENTRE_G_CM2 = 1.0436
SBMD_INDIVIDUAL_ERROR_PERCENT = 3.5  # docs/domain.md §7


def scanner_make(manufacturer: str | None) -> str | None:
    """``Hologic`` | ``Lunar`` | ``Norland`` from a DICOM Manufacturer, else ``None``.

    GE bought Lunar; GE Lunar scanners write "GE Healthcare", "GE MEDICAL SYSTEMS" or "LUNAR".

    Examples
    --------
    >>> scanner_make("HOLOGIC"), scanner_make("GE Healthcare"), scanner_make("dxaspine phantom")
    ('Hologic', 'Lunar', None)
    """
    text = (manufacturer or "").upper()
    if "HOLOGIC" in text:
        return "Hologic"
    if "LUNAR" in text or text.startswith("GE ") or text == "GE" or "GENERAL ELECTRIC" in text:
        return "Lunar"
    if "NORLAND" in text:
        return "Norland"
    return None


def standardized_bmd(bmd_g_cm2: float, manufacturer: str | None) -> float | None:
    """sBMD in g/cm² for a spine BMD from ``manufacturer`` (None for an unknown make).

    Examples
    --------
    >>> round(standardized_bmd(0.972, "Hologic"), 4)
    1.0436
    >>> round(standardized_bmd(1.2, "GE Healthcare"), 4)
    1.1404
    """
    make = scanner_make(manufacturer)
    if make is None:
        return None
    slope, centre = _HUI_1997[make]
    return slope * (bmd_g_cm2 - centre) + _SBMD_CENTRE_G_CM2
