"""Composite regions: ΣBMC / ΣArea over a set of levels, and their names.

docs/domain.md §1: a composite is the total BMC over the total area of its levels, never the mean
of the level BMDs (on a Hologic APEX report the mean misses L1–L4 by 0.001).  Hologic
prints all 11 sets of two or more of L1–L4, contiguous or not.  Names follow docs/architecture.md, Contract 2: ``L1-L4`` (ASCII hyphen) for a contiguous run, commas between runs
(``L1,L3``, ``L1-L2,L4``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

from dxaspine.errors import InputError, describe
from dxaspine.levels import LEVEL_ORDER

__all__ = [
    "CLINICAL_LEVELS",
    "Composite",
    "composite",
    "region_levels",
    "region_name",
    "standard_region_sets",
]

CLINICAL_LEVELS = ("L1", "L2", "L3", "L4")  # the standard PA site (docs/domain.md §1)


@dataclass(frozen=True)
class Composite:
    name: str
    levels: tuple[str, ...]
    bmc_g: float
    area_cm2: float
    bmd_g_cm2: float


def _order(label: str) -> int:
    if label not in LEVEL_ORDER:
        raise InputError(
            describe("region", f"unknown level {label!r}", f"use one of {', '.join(LEVEL_ORDER)}")
        )
    return LEVEL_ORDER.index(label)


def region_name(labels: Iterable[str]) -> str:
    """Contract 2 name of a set of levels: ``L1-L4``, ``L1,L3``, ``L1-L2,L4``.

    >>> region_name(["L4", "L1", "L2"])
    'L1-L2,L4'
    """
    ordered = sorted(set(labels), key=_order)
    if not ordered:
        raise InputError(describe("region", "empty set of levels", "name at least one level"))
    runs: list[list[str]] = [[ordered[0]]]
    for label in ordered[1:]:
        if _order(label) == _order(runs[-1][-1]) + 1:
            runs[-1].append(label)
        else:
            runs.append([label])
    return ",".join(r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def region_levels(name: str) -> tuple[str, ...]:
    """Inverse of :func:`region_name`: ``"L1-L2,L4"`` -> ``("L1", "L2", "L4")``."""
    out: list[str] = []
    for part in name.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        lo, hi = _order(first), _order(last or first)
        if hi < lo:
            raise InputError(describe("region", f"reversed run {part!r}", "write runs top first"))
        out.extend(LEVEL_ORDER[lo : hi + 1])
    return tuple(sorted(set(out), key=_order))


def standard_region_sets(levels: Iterable[str] = CLINICAL_LEVELS) -> tuple[tuple[str, ...], ...]:
    """Every set of two or more of ``levels`` (11 for L1–L4), largest first."""
    levels = tuple(sorted(levels, key=_order))
    sets = []
    for size in range(len(levels), 1, -1):
        sets.extend(combinations(levels, size))
    return tuple(sets)


def composite(values: Mapping[str, tuple[float, float]], members: Iterable[str]) -> Composite:
    """ΣBMC / ΣArea over ``members``.

    Parameters
    ----------
    values : mapping label -> (bmc_g, area_cm2)
    members : iterable of level labels

    Raises
    ------
    InputError
        A member is missing from ``values`` or the total area is not positive.
    """
    members = tuple(sorted(set(members), key=_order))
    name = region_name(members)
    missing = [m for m in members if m not in values]
    if missing:
        raise InputError(
            describe(name, f"no BMC/area for {', '.join(missing)}", "measure those levels first")
        )
    bmc_g = sum(values[m][0] for m in members)
    area_cm2 = sum(values[m][1] for m in members)
    if not area_cm2 > 0:
        raise InputError(describe(name, f"total area {area_cm2} cm2", "areas must be positive"))
    return Composite(name, members, float(bmc_g), float(area_cm2), float(bmc_g / area_cm2))
