"""The interchange profile's private block: creator ``DXASPINE 1`` in group 0x0071.

docs/architecture.md, Contract 1.  Elements are found through the private creator, never by fixed
element numbers, because another writer may reserve a different block (0x10..0xFF).
In Implicit VR files the VR of an unknown private element is not stored, so pydicom hands
us raw bytes (VR ``UN``); those are decoded here by the profile's VRs (FD, CS and LO).

Elements 0x05-0x0C (optional) carry a thickness-dependent beam-hardening calibration table
(:class:`CalibrationTable`; docs/interchange.md defines VRs, units and layout).  Files without
them stay valid.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from dxaspine.errors import CorruptDicomError, describe
from dxaspine.io import _header_values as header_values

PRIVATE_GROUP = 0x0071
PRIVATE_CREATOR = "DXASPINE 1"
_ENERGIES, _I0, _CONTENT, _BONE_MU = 0x01, 0x02, 0x03, 0x04
# Calibration table (docs/interchange.md): identifier, fat-fraction grid, soft-tissue grid and
# its log attenuations, bone grid, bone-basis coefficients low / high.
CALIBRATION_ELEMENTS = {
    "identifier": 0x05,
    "fat_fraction": 0x06,
    "soft_tissue_g_cm2": 0x07,
    "soft_log_low": 0x08,
    "soft_log_high": 0x09,
    "bone_g_cm2": 0x0A,
    "bone_mu_low_cm2_g": 0x0B,
    "bone_mu_high_cm2_g": 0x0C,
}

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
class CalibrationTable:
    """Thickness- and composition-dependent calibration of a polyenergetic beam.

    Reference soft tissues are lean/fat mixtures with adipose mass fraction ``fat_fraction[i]``
    (F >= 1 of them) at areal masses ``soft_tissue_g_cm2[j]``; the beam's log attenuations
    through them are ``soft_log_low[i, j]`` and ``soft_log_high[i, j]`` (their ratio is R_st).
    Adding ``bone_g_cm2[k]`` of hydroxyapatite raises them by
    ``bone_mu_*_cm2_g[i, j, k] * bone_g_cm2[k]``: secant bone-basis coefficients in cm2/g (the
    tangent at ``bone_g_cm2[0] == 0``).  The decomposition indexes the table by the soft
    tissue's high-energy attenuation and R_st, and by the bone areal density
    (:mod:`dxaspine.physics.calibration`; docs/interchange.md gives VRs and layout).
    """

    identifier: str
    fat_fraction: np.ndarray  # (F,) strictly increasing in [0, 1]
    soft_tissue_g_cm2: np.ndarray  # (J,) strictly increasing
    soft_log_low: np.ndarray  # (F, J)
    soft_log_high: np.ndarray  # (F, J) strictly increasing along j
    bone_g_cm2: np.ndarray  # (K,) strictly increasing from 0
    bone_mu_low_cm2_g: np.ndarray  # (F, J, K)
    bone_mu_high_cm2_g: np.ndarray  # (F, J, K)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.fat_fraction), len(self.soft_tissue_g_cm2), len(self.bone_g_cm2)

    def problems(self) -> list[str]:
        """What makes the table unusable (empty when it is valid)."""
        f, j, k = self.shape
        if f < 1 or j < 2 or k < 2:
            return [f"calibration grids need >= 1 fat, >= 2 soft-tissue and >= 2 bone points "
                    f"(got {f}, {j}, {k})"]  # fmt: skip
        out = []
        for name, shape in (("soft_log_low", (f, j)), ("soft_log_high", (f, j)),
                            ("bone_mu_low_cm2_g", (f, j, k)), ("bone_mu_high_cm2_g", (f, j, k))):  # fmt: skip
            if np.shape(getattr(self, name)) != shape:
                size = np.size(getattr(self, name))
                out.append(f"{name} has {size} values, need {' x '.join(map(str, shape))}")
        if out:
            return out
        arrays = [np.asarray(getattr(self, n)) for n in CALIBRATION_ELEMENTS if n != "identifier"]
        if not all(np.isfinite(a).all() for a in arrays):
            return ["calibration table holds non-finite values"]
        fat = np.asarray(self.fat_fraction)
        if fat.min() < 0 or fat.max() > 1 or not (np.diff(fat) > 0).all():
            out.append("fat fractions must increase strictly within [0, 1]")
        if not (np.diff(self.soft_tissue_g_cm2) > 0).all():
            out.append("soft-tissue grid must increase strictly")
        if not (np.diff(self.soft_log_high, axis=1) > 0).all():
            out.append("soft-tissue high-energy attenuation must increase with thickness")
        if self.bone_g_cm2[0] != 0 or not (np.diff(self.bone_g_cm2) > 0).all():
            out.append("bone grid must start at 0 and increase strictly")
        # mu falls with energy below the Ca/P K-edges, so low > high > 0 for any DXA pair
        low, high = self.bone_mu_low_cm2_g, self.bone_mu_high_cm2_g
        if not ((low > high) & (high > 0)).all():
            out.append("bone-basis coefficients need low > high > 0 cm2/g everywhere")
        return out


@dataclass(frozen=True)
class PrivateBlock:
    """Decoded profile values; ``None`` where the element is absent."""

    content: str | None
    energies_kev: tuple[float, ...] | None
    i0_counts: tuple[float, ...] | None
    bone_mu_cm2_g: tuple[float, ...] | None
    # raw calibration elements by CalibrationTable field name (absent ones omitted)
    calibration_values: dict | None = None


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
    return tuple(map(float, value))  # map: the table's ~12 000 values, 3x faster than a genexpr


# One load asks for a file's block up to four times (classification, the content check, the
# kind's recognition and its build); within ``parsed_once`` it is parsed once per dataset.
_PARSED: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "dxaspine_private_blocks", default=None
)


@contextlib.contextmanager
def parsed_once() -> Iterator[None]:
    """Within this block, :func:`read_private_block` parses each dataset's block only once.

    For one load (``dxaspine.io.load``): the dataset is not changed while it runs, so the
    block read by the classifier is the block the kind builds from.  Outside it every call
    parses afresh (a caller may change a dataset between calls).
    """
    token = _PARSED.set({})
    try:
        yield
    finally:
        _PARSED.reset(token)


def read_private_block(ds: Dataset) -> PrivateBlock | None:
    """Return the profile's private values, or None when the file has no such block.

    Raises
    ------
    ValueError
        When an element has the wrong encoding (mapped to CorruptDicomError by the caller).
    """
    parsed = _PARSED.get()
    if parsed is None:
        return _parse_private_block(ds)
    hit = parsed.get(id(ds))
    if hit is not None and hit[0] is ds:  # the same object, not a reused id
        return hit[1]
    block = _parse_private_block(ds)
    parsed[id(ds)] = (ds, block)
    return block


def _parse_private_block(ds: Dataset) -> PrivateBlock | None:
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
    calibration = {}
    for name, no in CALIBRATION_ELEMENTS.items():
        elem = get(no)
        if elem is None or elem.value in (None, b"", ""):
            continue
        if name == "identifier":
            calibration[name] = header_values.text(ds, (PRIVATE_GROUP << 16) | base | no)
        else:
            calibration[name] = _floats(elem, little)
    return PrivateBlock(content=content or None, calibration_values=calibration or None, **values)


def calibration_table(block: PrivateBlock | None, source: object = None) -> CalibrationTable | None:
    """The block's calibration table, or None when the file carries none.

    Raises
    ------
    CorruptDicomError
        When only some of the table's elements are present, or the table is inconsistent
        (grid sizes, monotony, non-physical coefficients).
    """
    raw = block.calibration_values if block is not None else None
    if not raw:
        return None
    needed = [n for n in CALIBRATION_ELEMENTS if n != "identifier"]
    missing = [f"(0071,xx{CALIBRATION_ELEMENTS[n]:02X})" for n in needed if n not in raw]
    fix = "write all of (0071,xx06)-(0071,xx0C) or none of them (docs/interchange.md)"
    if missing:
        raise CorruptDicomError(
            describe(source, f"DXASPINE calibration table lacks {', '.join(missing)}", fix)
        )
    grids = {n: np.asarray(raw[n], dtype=np.float64) for n in needed}
    f, j, k = (grids[n].size for n in ("fat_fraction", "soft_tissue_g_cm2", "bone_g_cm2"))
    for name, shape in (("soft_log_low", (f, j)), ("soft_log_high", (f, j)),
                        ("bone_mu_low_cm2_g", (f, j, k)), ("bone_mu_high_cm2_g", (f, j, k))):  # fmt: skip
        if grids[name].size == math.prod(shape):  # else problems() names the size mismatch
            grids[name] = grids[name].reshape(shape)
    table = CalibrationTable(identifier=str(raw.get("identifier") or "unnamed"), **grids)
    problems = table.problems()
    if problems:
        raise CorruptDicomError(describe(source, f"DXASPINE calibration table: {problems[0]}", fix))
    return table
