"""The one vertebra vocabulary: names, their cranial-to-caudal order, and the clinical sets.

Every module that names a vertebra takes it from here, so that a level is spelled one way
and ordered one way everywhere (segmentation labels, measurement, the clinical rules, the
phantoms, the outputs).

- ``SEQUENCE``: the standard numbering from T8 to S1, used to count levels from a landmark
  (docs/domain.md §4: number from the bottom up, the iliac crests at L4/L5, T12 the lowest
  rib-bearing vertebra).
- ``LEVEL_ORDER``: the names a segmentation may report, T11 to S1.  ``L6`` exists only in
  transitional anatomy (six lumbar vertebrae); it sorts between L5 and S1.
- ``LUMBAR``: the lumbar levels including a transitional L6.
- ``CLINICAL_LEVELS``: L1-L4, the standard PA site (docs/domain.md §1; ISCD).
"""

from __future__ import annotations

__all__ = [
    "SEQUENCE",
    "LEVEL_ORDER",
    "LUMBAR",
    "CLINICAL_LEVELS",
    "is_level",
    "level_index",
    "sort_levels",
    "next_level",
    "previous_level",
    "disc_name",
]

SEQUENCE: tuple[str, ...] = (
    "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1",
)  # fmt: skip
LEVEL_ORDER: tuple[str, ...] = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "L6", "S1")
LUMBAR: tuple[str, ...] = ("L1", "L2", "L3", "L4", "L5", "L6")
CLINICAL_LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4")

# Sort key over every name any module uses (T8 ... L5, L6, S1).
_RANK = {name: i for i, name in enumerate(("T8", "T9", "T10", *LEVEL_ORDER))}


def is_level(name: str) -> bool:
    """True for a name a segmentation may report (:data:`LEVEL_ORDER`)."""
    return name in LEVEL_ORDER


def level_index(name: str) -> int:
    """Cranial-to-caudal rank of ``name`` (T8 = 0 ... S1); ``ValueError`` for an unknown name."""
    try:
        return _RANK[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a vertebra name ({', '.join(_RANK)})") from None


def sort_levels(names) -> list[str]:
    """``names`` in cranial-to-caudal order."""
    return sorted(names, key=level_index)


def next_level(name: str) -> str:
    """The vertebra below ``name`` in the standard numbering, ``"?"`` past S1 or if unknown."""
    if name in SEQUENCE[:-1]:
        return SEQUENCE[SEQUENCE.index(name) + 1]
    return "?"


def previous_level(name: str) -> str:
    """The vertebra above ``name`` in the standard numbering, ``"?"`` above T8 or if unknown."""
    if name in SEQUENCE[1:]:
        return SEQUENCE[SEQUENCE.index(name) - 1]
    return "?"


def disc_name(upper: str | None, lower: str | None) -> str:
    """``"L1/L2"`` for the disc between two levels; one side may be inferred from the other."""
    if upper and lower:
        return f"{upper}/{lower}"
    if lower:
        return f"{previous_level(lower)}/{lower}"
    if upper:
        return f"{upper}/{next_level(upper)}"
    return ""
