"""Vertebra label-map layouts (TotalSegmentator, VerSe, CTSpine1K) and their auto-detection.

A label map is an integer NIfTI on the CT's grid.  Each public dataset numbers the vertebrae
its own way; the tables here are copied from the projects' own sources (docs/ct_phantom.md,
"Label layouts", gives each source with its commit):

- ``totalseg_v2``: TotalSegmentator v2 task ``total`` (``totalsegmentator/map_to_binary.py``,
  ``class_map["total"]``): 25 sacrum, 26 S1, 27 L5, 28 L4, 29 L3, 30 L2, 31 L1, 32 T12,
  33 T11 ... 50 C1; plus organs, vessels and the other bones (ribs 92-115, hips 77/78,
  femurs 75/76, sternum 116).  The shared example CT uses it.
- ``totalseg_v1``: the older ``class_map["total_v1"]``: 18 L5 ... 24 T11 ... 41 C1,
  92 sacrum.  Not auto-detected: a v1 map of T2-T9 has the same values *and* the same
  cranio-caudal order as a v2 map of T11-S1, so only the user can tell them apart.
- ``verse``: VerSe 2019/2020 (``anjany/verse`` README): 1-7 C1-C7, 8-19 T1-T12, 20-25
  L1-L6, 26 sacrum, 27 coccyx, 28 T13.
- ``ctspine1k``: CTSpine1K (MIRACLE-Center/CTSpine1K) scores labels 1-25 with VerSe's
  numbering (C1-C7, T1-T12, L1-L5, 25 = L6 in its lumbarised cases); no sacrum.

Auto-detection keeps the layouts whose known values cover every value present and whose
vertebrae are ordered head-to-feet along the CT's superior axis, and returns the first that
remains; layouts that agree on every value present are equivalent (VerSe and CTSpine1K on
1-25).  Anything else is a :class:`~dxaspine.errors.InputError` asking for
``--label-layout``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dxaspine.errors import InputError, describe

# Cranio-caudal order of every vertebra name a layout may use (T13 sits between T12 and L1,
# L6 between L5 and S1).  "S1" is the top of the sacrum: a layout without an S1 class uses
# its sacrum class for it (only the S1 superior endplate is needed, for the L5/S1 disc).
ANATOMICAL_ORDER: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    "T13",
    *(f"L{i}" for i in range(1, 7)),
    "S1",
)
_RANK = {name: i for i, name in enumerate(ANATOMICAL_ORDER)}


@dataclass(frozen=True)
class LabelLayout:
    """How one dataset numbers its label map.

    ``vertebrae`` maps a label value to a vertebra name of :data:`ANATOMICAL_ORDER`;
    ``sacrum`` is the value of a whole-sacrum class (used as S1 when no S1 class is present);
    ``bone`` are other bone classes (ribs, hips, femurs, ...); ``contrast`` are soft-tissue
    classes that may hold iodinated contrast (kidneys, vessels, bladder, ...);
    ``other`` are the remaining known classes (organs, muscles).
    """

    name: str
    vertebrae: Mapping[int, str]
    source: str
    sacrum: int | None = None
    bone: frozenset[int] = field(default_factory=frozenset)
    contrast: frozenset[int] = field(default_factory=frozenset)
    other: frozenset[int] = field(default_factory=frozenset)

    @property
    def known_values(self) -> frozenset[int]:
        extra = {self.sacrum} if self.sacrum is not None else set()
        return frozenset(self.vertebrae) | self.bone | self.contrast | self.other | extra

    def vertebra_values(self, present: set[int]) -> dict[str, int]:
        """``{vertebra name: label value}`` for the vertebrae present (S1 falls back to sacrum)."""
        out = {self.vertebrae[v]: v for v in sorted(present) if v in self.vertebrae}
        if "S1" not in out and self.sacrum is not None and self.sacrum in present:
            out["S1"] = self.sacrum
        return out

    def to_json(self) -> dict:
        return {"name": self.name, "source": self.source}


def _range_names(first: int, prefix: str, numbers) -> dict[int, str]:
    return {first + i: f"{prefix}{n}" for i, n in enumerate(numbers)}


def _totalseg_v2() -> LabelLayout:
    # class_map["total"]: 26 S1, 27 L5 ... 31 L1, 32 T12 ... 43 T1, 44 C7 ... 50 C1
    vertebrae = {26: "S1"}
    vertebrae.update(_range_names(27, "L", range(5, 0, -1)))
    vertebrae.update(_range_names(32, "T", range(12, 0, -1)))
    vertebrae.update(_range_names(44, "C", range(7, 0, -1)))
    bone = {69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 91, 116, *range(92, 116)}
    # spleen, kidneys, gallbladder, liver, pancreas, adrenals, bladder, kidney cysts, heart,
    # aorta and the great vessels, portal/splenic and iliac vessels
    contrast = {1, 2, 3, 4, 5, 7, 8, 9, 21, 23, 24, 51, *range(52, 69)}
    every = set(range(1, 118))
    other = every - set(vertebrae) - bone - contrast - {25}
    return LabelLayout(
        name="totalseg_v2",
        vertebrae=vertebrae,
        source="TotalSegmentator v2, totalsegmentator/map_to_binary.py class_map['total']",
        sacrum=25,
        bone=frozenset(bone),
        contrast=frozenset(contrast),
        other=frozenset(other),
    )


def _totalseg_v1() -> LabelLayout:
    # class_map["total_v1"]: 18 L5 ... 22 L1, 23 T12 ... 34 T1, 35 C7 ... 41 C1, 92 sacrum
    vertebrae = _range_names(18, "L", range(5, 0, -1))
    vertebrae.update(_range_names(23, "T", range(12, 0, -1)))
    vertebrae.update(_range_names(35, "C", range(7, 0, -1)))
    bone = {*range(58, 82), 82, 83, 84, 85, 86, 87, 88, 89, 90, 91}
    contrast = {1, 2, 3, 4, 5, 7, 8, 9, 10, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 104}
    every = set(range(1, 105))
    other = every - set(vertebrae) - bone - contrast - {92}
    return LabelLayout(
        name="totalseg_v1",
        vertebrae=vertebrae,
        source="TotalSegmentator v1, totalsegmentator/map_to_binary.py class_map['total_v1']",
        sacrum=92,
        bone=frozenset(bone),
        contrast=frozenset(contrast),
        other=frozenset(other),
    )


def _verse() -> LabelLayout:
    vertebrae = _range_names(1, "C", range(1, 8))
    vertebrae.update(_range_names(8, "T", range(1, 13)))
    vertebrae.update(_range_names(20, "L", range(1, 7)))
    vertebrae[28] = "T13"
    return LabelLayout(
        name="verse",
        vertebrae=vertebrae,
        source="VerSe (anjany/verse README): 1-7 C1-C7, 8-19 T1-T12, 20-25 L1-L6, "
        "26 sacrum, 27 coccyx, 28 T13",
        sacrum=26,
        other=frozenset({27}),
    )


def _ctspine1k() -> LabelLayout:
    vertebrae = _range_names(1, "C", range(1, 8))
    vertebrae.update(_range_names(8, "T", range(1, 13)))
    vertebrae.update(_range_names(20, "L", range(1, 7)))
    return LabelLayout(
        name="ctspine1k",
        vertebrae=vertebrae,
        source="CTSpine1K (MIRACLE-Center/CTSpine1K): labels 1-25 in VerSe numbering, "
        "25 = L6; no sacrum class",
    )


LAYOUTS: dict[str, LabelLayout] = {
    layout.name: layout for layout in (_totalseg_v2(), _verse(), _ctspine1k(), _totalseg_v1())
}
# Tried in this order; totalseg_v1 is explicit-only (see the module docstring).
AUTO_LAYOUTS: tuple[str, ...] = ("totalseg_v2", "verse", "ctspine1k")
MIN_VERTEBRAE = 2  # fewer cannot show an order, so cannot confirm a layout


def custom_layout(mapping: Mapping, name: str = "custom") -> LabelLayout:
    """A layout from ``{value: vertebra name}`` (names of :data:`ANATOMICAL_ORDER`).

    Raises
    ------
    InputError
        For a value that is not an integer or a name that is not a vertebra.
    """
    vertebrae: dict[int, str] = {}
    for key, value in mapping.items():
        try:
            code = int(key)
        except (TypeError, ValueError):
            raise InputError(
                describe(name, f"label value {key!r} is not an integer", "use {value: name}")
            ) from None
        if value not in _RANK:
            raise InputError(
                describe(
                    name,
                    f"label {code} names {value!r}, not a vertebra",
                    f"use one of {', '.join(ANATOMICAL_ORDER)}",
                )
            )
        vertebrae[code] = str(value)
    return LabelLayout(name=name, vertebrae=vertebrae, source=f"user mapping {name}")


def layout_from_option(option: str | None) -> LabelLayout | None:
    """``--label-layout``: a layout name, a JSON file ``{value: name}``, or None (auto)."""
    if option is None or option == "auto":
        return None
    if option in LAYOUTS:
        return LAYOUTS[option]
    path = Path(option)
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            mapping = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(describe(path, f"not a readable JSON mapping ({exc})")) from None
        if not isinstance(mapping, dict):
            raise InputError(describe(path, "not a JSON object", "write {value: vertebra name}"))
        return custom_layout(mapping, name=path.name)
    raise InputError(
        describe(
            option,
            "unknown label layout",
            f"use one of {', '.join(LAYOUTS)}, auto, or a JSON file {{value: vertebra name}}",
        )
    )


def _ordered(layout: LabelLayout, superior_mm: Mapping[int, float], present: set[int]) -> bool:
    """True if the vertebrae present run head-to-feet along the superior axis."""
    names = layout.vertebra_values(present)
    pairs = sorted((_RANK[n], superior_mm[v]) for n, v in names.items())
    heights = [h for _, h in pairs]
    return all(a > b for a, b in zip(heights, heights[1:], strict=False))


def detect_layout(
    present: set[int], superior_mm: Mapping[int, float], source: object = None
) -> LabelLayout:
    """The layout of a label map from its values and each value's centroid height.

    Parameters
    ----------
    present : set of int
        The nonzero values in the map.
    superior_mm : mapping
        Each value's centroid along the patient's superior axis (mm, world coordinates).
    source : path, optional
        Named in the error message.

    Raises
    ------
    InputError
        When no layout, or more than one that disagree, explains the values.
    """
    fits = []
    for name in AUTO_LAYOUTS:
        layout = LAYOUTS[name]
        if not present <= layout.known_values:
            continue
        if len(layout.vertebra_values(present)) < MIN_VERTEBRAE:
            continue
        if _ordered(layout, superior_mm, present):
            fits.append(layout)
    values = ", ".join(str(v) for v in sorted(present)) or "none"
    if not fits:
        raise InputError(
            describe(
                source,
                f"label values {{{values}}} match no known vertebra layout "
                f"({', '.join(AUTO_LAYOUTS)}) in head-to-feet order",
                "give --label-layout NAME or a JSON file {value: vertebra name}",
            )
        )
    first = fits[0]
    for other in fits[1:]:
        if first.vertebra_values(present) != other.vertebra_values(present):
            raise InputError(
                describe(
                    source,
                    f"label values {{{values}}} fit both the {first.name} and the "
                    f"{other.name} layouts",
                    "give --label-layout to choose",
                )
            )
    return first
