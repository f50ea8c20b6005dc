"""Units of vendor numbers: recognise the spellings vendors use, check, convert.

Every number a reader keeps is converted to one canonical unit per quantity:

- ``bmd`` -> ``g/cm2``: g/cm2, mg/cm2 (÷ 1000); "g/cm²", "gm/cm^2" …
- ``bmd_change`` -> ``g/cm2``: as ``bmd`` (a difference of two BMDs, either sign)
- ``bmc`` -> ``g``: g, mg (÷ 1000), kg (× 1000); "grams", "gm"
- ``area`` -> ``cm2``: cm2, mm2 (÷ 100); "cm²", "sq cm", "cm^2"
- ``score`` -> ``1``: no unit, ``1``, ``{T-score}``, ``{Z-score}``, "SD"
- ``percent`` -> ``%``: %, "percent"
- ``age`` -> ``a``: a, y, yr, years (UCUM ``a`` is the year)
- ``length`` -> ``mm``: mm, cm (× 10)

Spellings are compared after :func:`normalise_unit`.  UCUM spellings are those the LOINC DXA
observables use (``g/cm2``; docs/domain.md §6).  The other spellings are what report tables print (the Hologic table header ``BMD[g/cm&sup2;]`` seen in
the public hologic-dxa-maps parser; docs/vendor_results.md §5).  A unit of the wrong
dimension (``g`` for a BMD) or an unknown spelling is an error, never a guess.  A *missing*
unit is inferred from the value's magnitude only where the two candidates are three orders
of magnitude apart (g/cm² against mg/cm²: a lumbar BMD is 0.3–2 g/cm², docs/domain.md §4), and the
inference is recorded with the value (docs/vendor_results.md §2).
"""

from __future__ import annotations

import html
import re
from typing import NamedTuple

from dxaspine.errors import VendorResultsError, describe

__all__ = [
    "CANONICAL",
    "UnitReading",
    "convert",
    "known_unit",
    "normalise_unit",
    "unit_factor",
]

CANONICAL = {
    "bmd": "g/cm2",
    "bmd_change": "g/cm2",  # a difference of two BMDs: same units, either sign
    "bmc": "g",
    "area": "cm2",
    "score": "1",
    "percent": "%",
    "age": "a",
    "length": "mm",
}

# normalised spelling -> (quantity, factor to the canonical unit)
_UNITS: dict[str, tuple[str, float]] = {
    "g/cm2": ("bmd", 1.0),
    "mg/cm2": ("bmd", 1e-3),
    "g": ("bmc", 1.0),
    "mg": ("bmc", 1e-3),
    "kg": ("bmc", 1e3),
    "cm2": ("area", 1.0),
    "mm2": ("area", 1e-2),
    "1": ("score", 1.0),
    "{t-score}": ("score", 1.0),
    "{z-score}": ("score", 1.0),
    "{score}": ("score", 1.0),
    "sd": ("score", 1.0),
    "%": ("percent", 1.0),
    "a": ("age", 1.0),
    "mm": ("length", 1.0),
    "cm": ("length", 10.0),
}
_ALIASES = {
    "gm/cm2": "g/cm2",
    "grams/cm2": "g/cm2",
    "gram/cm2": "g/cm2",
    "g/sqcm": "g/cm2",
    "mg/sqcm": "mg/cm2",
    "grams": "g",
    "gram": "g",
    "gm": "g",
    "gr": "g",
    "sqcm": "cm2",
    "squarecentimeter": "cm2",
    "sqmm": "mm2",
    "percent": "%",
    "y": "a",
    "yr": "a",
    "yrs": "a",
    "year": "a",
    "years": "a",
    "t-score": "{t-score}",
    "z-score": "{z-score}",
    "tscore": "{t-score}",
    "zscore": "{z-score}",
    "no units": "1",
    "nounits": "1",
    "unity": "1",
}

_DIMENSION = {"bmd_change": "bmd"}

# A missing unit: the canonical unit is assumed only when the value lies in its plausible
# range, and the alternative a vendor could have meant lies three decades away.
_MISSING_RANGES = {
    "bmd": (0.05, 5.0),  # g/cm2; mg/cm2 would read 50-5000
    "bmd_change": (-3.0, 3.0),  # g/cm2; a change of more than the whole BMD is impossible
    "bmc": (0.1, 500.0),  # g (a lumbar level ~10-20 g; whole-body tables ~2-3 kg)
    "area": (0.5, 3000.0),  # cm2 (a level ~10-20 cm2; whole-body ~2000 cm2)
    "score": (-10.0, 10.0),
    "percent": (-1000.0, 1000.0),
    "age": (0.0, 130.0),
    "length": (1.0, 1000.0),
}
_MG_CM2_RANGE = (50.0, 5000.0)


def normalise_unit(text: str | None) -> str:
    """Lower-case, HTML entities decoded, ``²``/``^2`` -> ``2``, spaces and brackets dropped."""
    if text is None:
        return ""
    t = html.unescape(str(text)).strip().lower()
    t = t.replace("²", "2").replace("^2", "2").replace("**2", "2")
    t = t.strip("[]() ")
    t = re.sub(r"\s+", "", t)
    return _ALIASES.get(t, t)


def unit_factor(text: str | None, quantity: str) -> float | None:
    """Factor from ``text`` to the canonical unit of ``quantity``; None if it is not one."""
    key = normalise_unit(text)
    entry = _UNITS.get(key)
    if entry is None or entry[0] != _DIMENSION.get(quantity, quantity):
        return None
    return entry[1]


def known_unit(text: str | None) -> str | None:
    """The quantity ``text`` is a unit of (``bmd``, ``bmc`` …), or None if unknown."""
    entry = _UNITS.get(normalise_unit(text))
    return None if entry is None else entry[0]


class UnitReading(NamedTuple):
    """A converted value, its canonical unit, and how the unit was decided (None: as stated)."""

    value: float
    unit: str
    note: str | None = None


def convert(
    value: float, unit_as_read: str | None, quantity: str, source: object, where: str
) -> UnitReading:
    """Convert ``value`` given in ``unit_as_read`` to the canonical unit of ``quantity``.

    Parameters
    ----------
    value : float
        The number as read.
    unit_as_read : str or None
        The unit as written in the object (None or "" when absent).
    quantity : str
        One of :data:`CANONICAL`.
    source, where : object, str
        The file and the element, for error messages.

    Returns
    -------
    UnitReading

    Raises
    ------
    VendorResultsError
        An unknown spelling, a unit of another quantity, or a missing unit whose value is
        not unambiguous.
    """
    canonical = CANONICAL[quantity]
    if unit_as_read is not None and normalise_unit(unit_as_read) != "":
        factor = unit_factor(unit_as_read, quantity)
        if factor is None:
            known = normalise_unit(unit_as_read) in _UNITS
            problem = (
                f"unit {unit_as_read!r} at {where} is not a unit of {quantity}"
                if known
                else f"unknown unit {unit_as_read!r} at {where}"
            )
            raise VendorResultsError(
                describe(source, problem, f"expected {canonical} or an equivalent spelling")
            )
        return UnitReading(value * factor, canonical)
    lo, hi = _MISSING_RANGES[quantity]
    if lo <= value <= hi:
        # Scores, percentages and ages are printed without units by every format seen.
        dimensional = quantity in ("bmd", "bmd_change", "bmc", "area", "length")
        note = f"no unit stated; {canonical} assumed from the magnitude" if dimensional else None
        return UnitReading(value, canonical, note)
    if quantity == "bmd" and _MG_CM2_RANGE[0] <= value <= _MG_CM2_RANGE[1]:
        return UnitReading(
            value * 1e-3, canonical, "no unit stated; mg/cm2 assumed from the magnitude"
        )
    raise VendorResultsError(
        describe(
            source,
            f"{quantity} {value:g} at {where} has no unit and is outside the plausible range",
            f"the object must state the unit ({canonical})",
        )
    )
