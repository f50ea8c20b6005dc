"""Fast access to the few header values classification needs, without pydicom's conversion.

pydicom converts a raw element to a value on first access through a general hook chain,
which costs tens of microseconds per element; classification reads about fifteen elements
per file, which would double ``peek``'s time.  Here the raw bytes of the simple VRs that
classification uses (text VRs, US/SS/UL, IS) are decoded directly.  Elements that are
already converted (a Dataset built in memory, or touched before) are read normally.

Text is decoded as Latin-1: classification only matches ASCII keywords and UIDs, so a
non-Latin character set cannot change its outcome (the full ``load`` decodes properly).
"""

from __future__ import annotations

import struct

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

_BINARY = {"US": "H", "SS": "h", "UL": "I", "SL": "i"}


def _vr(raw: RawDataElement) -> str:
    if raw.VR:
        return str(raw.VR)
    try:
        return dictionary_VR(raw.tag)
    except KeyError:  # private or unknown tag in an implicit VR file
        return "UN"


def values(ds: Dataset, tag: int) -> list[str] | list[int] | None:
    """The element's values as a list (strings or ints); None when absent."""
    elem = ds.get_item(tag)
    if elem is None:
        return None
    if isinstance(elem, RawDataElement):
        data = elem.value
        if not data:
            return []
        vr = _vr(elem)
        code = _BINARY.get(vr.split(" ")[0])
        if code is not None:
            n = len(data) // struct.calcsize(code)
            fmt = ("<" if elem.is_little_endian else ">") + code * n
            return list(struct.unpack(fmt, data[: n * struct.calcsize(code)]))
        text = data.decode("latin-1").strip(" \x00")
        return [part.strip(" \x00") for part in text.split("\\")] if text else []
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes | int | float):
        return [value.decode("latin-1") if isinstance(value, bytes) else value]
    return list(value)


def text(ds: Dataset, tag: int) -> str:
    """All values joined by backslash, stripped; "" when absent."""
    found = values(ds, tag)
    return "\\".join(str(v).strip() for v in found) if found else ""


def integer(ds: Dataset, tag: int) -> int | None:
    """The first value as int; None when absent or empty.

    Raises
    ------
    ValueError
        A value that is not an integer (mapped to CorruptDicomError by the caller).
    """
    found = values(ds, tag)
    if not found:
        return None
    first = found[0]
    return int(first) if not isinstance(first, str) else int(first.strip())
