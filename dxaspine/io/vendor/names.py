"""Vendor region names -> the Contract 2 vocabulary (``L1``, ``L1-L4``, ``L1,L3``).

Vendors print ``L1`` … ``L4``, ``L1-L4`` (GE enCORE containers and ROI names; the ibh-daai and
GE XML parsers of docs/vendor_results.md §3-4), sometimes with spaces or typographic dashes
(``L1 - L4``, ``L1–L4``), shortened runs (``L1-4``) and comma lists (``L1,L3``).  Hologic
tables also print ``Total`` for the composite of the levels they list (§5); that one is
resolved by the Hologic reader, which knows the listed levels.  Anything else (``Neck``,
``Radius 33%``, a misspelt level) is returned as None, so that the reader keeps it as an
unmapped region and says so: a region is never dropped or guessed.

The naming itself is Contract 2's (runs joined by ``-``, runs separated by ``,``), the same as
:func:`dxaspine.measure.composites.region_name`; it is re-implemented here on
:mod:`dxaspine.levels` alone so that header-only recognition stays free of the numba
imports of the measure stage (a test asserts the two agree).
"""

from __future__ import annotations

import re

from dxaspine.levels import SEQUENCE, level_index, sort_levels

__all__ = ["normalise_name", "parse_region", "region_name"]

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212"  # hyphen, non-breaking, figure, en, em, minus
_LEVEL = re.compile(r"^(T(?:8|9|10|11|12)|L[1-6]|S1)$")
_SHORT_RUN = re.compile(r"^([TLS])(\d{1,2})-(\d{1,2})$")  # "L1-4"
# Every vertebra name in cranio-caudal order, with the transitional L6 between L5 and S1.
_ORDER = sorted({*SEQUENCE, "L6"}, key=level_index)


def normalise_name(text: str) -> str:
    """Upper case, one ASCII hyphen for any dash, no spaces around ``-`` and ``,``."""
    t = str(text).strip().upper()
    for dash in _DASHES:
        t = t.replace(dash, "-")
    t = re.sub(r"\s*([-,])\s*", r"\1", t)
    return re.sub(r"\s+", " ", t)


def _run(part: str) -> list[str] | None:
    short = _SHORT_RUN.match(part)
    if short:
        part = f"{short.group(1)}{short.group(2)}-{short.group(1)}{short.group(3)}"
    first, _, last = part.partition("-")
    if not _LEVEL.match(first) or (last and not _LEVEL.match(last)):
        return None
    order = _ORDER
    lo, hi = order.index(first), order.index(last or first)
    if hi < lo:
        return None
    return order[lo : hi + 1]


def parse_region(text: str) -> tuple[str, ...] | None:
    """The vertebrae a vendor region name covers, cranial to caudal; None if not a spine region.

    >>> parse_region("L1 - L4")
    ('L1', 'L2', 'L3', 'L4')
    >>> parse_region("L1,L3-4")
    ('L1', 'L3', 'L4')
    >>> parse_region("Neck") is None
    True
    """
    t = normalise_name(text)
    if not t:
        return None
    levels: list[str] = []
    for part in t.split(","):
        run = _run(part)
        if run is None:
            return None
        levels.extend(run)
    return tuple(sort_levels(set(levels)))


def region_name(levels) -> str:
    """Contract 2 name of a set of vertebrae (``L1-L4``, ``L1,L3``, ``L1-L2,L4``)."""
    ordered = sort_levels(set(levels))
    runs: list[list[str]] = []
    for name in ordered:
        if runs and level_index(name) == level_index(runs[-1][-1]) + 1:
            runs[-1].append(name)
        else:
            runs.append([name])
    return ",".join(r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
