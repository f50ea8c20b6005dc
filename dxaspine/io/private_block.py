"""The interchange profile's private block: creator ``DXASPINE 1`` in group 0x0071.

docs/architecture.md, Contract 1.  Elements are found through the private creator, never by fixed
element numbers, because another writer may reserve a different block (0x10..0xFF).
In Implicit VR files the VR of an unknown private element is not stored, so pydicom hands
us raw bytes (VR ``UN``); those are decoded here by the profile's VRs (FD and CS).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dxaspine.io import _header_values as header_values

PRIVATE_GROUP = 0x0071
PRIVATE_CREATOR = "DXASPINE 1"
_ENERGIES, _I0, _CONTENT, _BONE_MU = 0x01, 0x02, 0x03, 0x04

CONTENT_DE_COUNTS = "DE_COUNTS"
CONTENT_BMD_MAP = "AREAL_BMD_MAP"

# Tags a header-only read must include to classify: every possible creator slot and the
# content element of every possible block (block numbers 0x10..0xFF).  The other profile
# values are read by ``load`` from the full header.
PRIVATE_TAGS: tuple[int, ...] = tuple(
    [(PRIVATE_GROUP << 16) | slot for slot in range(0x10, 0x100)]
    + [(PRIVATE_GROUP << 16) | (slot << 8) | _CONTENT for slot in range(0x10, 0x100)]
)


@dataclass(frozen=True)
class PrivateBlock:
    """Decoded profile values; ``None`` where the element is absent."""

    content: str | None
    energies_kev: tuple[float, ...] | None
    i0_counts: tuple[float, ...] | None
    bone_mu_cm2_g: tuple[float, ...] | None


def _block_base(ds: Dataset) -> int | None:
    """Element base (slot << 8) of the DXASPINE 1 block, or None when absent."""
    # Walk the tags present rather than probing all 240 slots (peek's hot path).
    creators = [
        int(tag)
        for tag in ds.keys()
        if tag >> 16 == PRIVATE_GROUP and 0x10 <= (tag & 0xFFFF) <= 0xFF
    ]
    for tag in creators:
        if header_values.text(ds, tag) == PRIVATE_CREATOR:
            return (tag & 0xFF) << 8
    return None


def _floats(elem, little_endian: bool) -> tuple[float, ...]:
    value = elem.value
    if isinstance(value, bytes):  # VR UN (implicit VR file): the profile says FD
        if len(value) % 8:
            raise ValueError(f"private element {elem.tag} is not a list of FD values")
        fmt = ("<" if little_endian else ">") + f"{len(value) // 8}d"
        return tuple(struct.unpack(fmt, value))
    if isinstance(value, int | float):
        return (float(value),)
    return tuple(float(v) for v in value)


def read_private_block(ds: Dataset) -> PrivateBlock | None:
    """Return the profile's private values, or None when the file has no such block.

    Raises
    ------
    ValueError
        When an element has the wrong encoding (mapped to CorruptDicomError by the caller).
    """
    base = _block_base(ds)
    if base is None:
        return None
    little = getattr(ds, "original_encoding", (None, True))[1]
    little = True if little is None else bool(little)

    def get(elem_no: int):
        return ds.get((PRIVATE_GROUP << 16) | base | elem_no)

    content = header_values.text(ds, (PRIVATE_GROUP << 16) | base | _CONTENT).upper()
    values = {}
    for name, no in (("energies_kev", _ENERGIES), ("i0_counts", _I0), ("bone_mu_cm2_g", _BONE_MU)):
        elem = get(no)
        values[name] = _floats(elem, little) if elem is not None and elem.value else None
    return PrivateBlock(content=content or None, **values)
