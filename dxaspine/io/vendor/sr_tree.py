"""Walking a DICOM SR content tree with pydicom: concepts, values, units, readable paths.

Shared by the GE Enhanced SR and TID 1500 readers.  pydicom rather than highdicom's SR
classes: highdicom validates templates on reading and refuses trees that deviate from them,
while a reader of other vendors' reports must be tolerant and must also say *where* each
number came from.  The path of an item is the chain of concept meanings from the root with
the item's position among its siblings, e.g. ``DXA Report > AP Spine[2] > L1[0] > BMD[1]``
(``>`` rather than ``/``: concept meanings such as "[Mass/Area]" contain slashes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from pydicom.dataset import Dataset

SEPARATOR = " > "

__all__ = [
    "SEPARATOR",
    "Code",
    "NumValue",
    "children",
    "code_value",
    "concept",
    "key",
    "num_value",
    "text_value",
    "value_type",
]


class Code(NamedTuple):
    value: str
    scheme: str
    meaning: str


class NumValue(NamedTuple):
    text: str | None  # NumericValue as stored (DS text)
    unit: Code | None


def _code(seq) -> Code | None:
    if not seq:
        return None
    item = seq[0]
    value = str(
        item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") or ""
    )
    return Code(value.strip(), str(item.get("CodingSchemeDesignator") or "").strip(),
                str(item.get("CodeMeaning") or "").strip())  # fmt: skip


def concept(item: Dataset) -> Code | None:
    """The item's concept name (ConceptNameCodeSequence)."""
    return _code(item.get("ConceptNameCodeSequence"))


def key(text: str | None) -> str:
    """A concept meaning for matching: upper case, runs of spaces/dashes/underscores -> ``_``."""
    return re.sub(r"[\s_\-]+", "_", (text or "").strip().upper())


def value_type(item: Dataset) -> str:
    return str(item.get("ValueType") or "").strip().upper()


def children(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence") or [])


def num_value(item: Dataset) -> NumValue:
    """NumericValue (as text) and its unit code of a NUM item; (None, None) when empty."""
    seq = item.get("MeasuredValueSequence")
    if not seq:
        return NumValue(None, None)
    mv = seq[0]
    raw = mv.get("NumericValue")
    text = None
    if raw is not None and str(raw).strip() != "":
        # DS keeps the original string; that is the number "as printed"
        text = str(getattr(raw, "original_string", None) or raw).strip()
    return NumValue(text, _code(mv.get("MeasurementUnitsCodeSequence")))


def text_value(item: Dataset) -> str | None:
    value = item.get("TextValue")
    return None if value is None else str(value).strip()


def code_value(item: Dataset) -> Code | None:
    """The coded value of a CODE item (ConceptCodeSequence)."""
    return _code(item.get("ConceptCodeSequence"))


def walk(item: Dataset, path: str = "") -> Iterator[tuple[str, Dataset]]:
    """Every descendant with its path, depth first."""
    for i, child in enumerate(children(item)):
        here = child_path(path, i, child)
        yield here, child
        yield from walk(child, here)


def child_path(path: str, index: int, item: Dataset) -> str:
    c = concept(item)
    here = f"{c.meaning if c else '?'}[{index}]"
    return f"{path}{SEPARATOR}{here}" if path else here
