"""Mutations of the fuzz suite (docs/hardening.md §6): bounded, seeded damage to DICOM bytes.

Each operator takes the file's bytes and a ``numpy.random.Generator`` and returns the damaged
bytes with a short note of what it did (the note is in the outcome table).  The families and
their bounds are described in :mod:`fuzzer`.
"""

from __future__ import annotations

import io
import warnings

import _damage
import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.uid import generate_uid

PIXEL_TAG = b"\xe0\x7f\x10\x00"


def dataset_bytes(ds: pydicom.Dataset) -> bytes:
    """``ds`` written as it was read (Part 10 when it has file meta), warnings silenced."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


# --- mutations ----------------------------------------------------------------------------

# Values a header mutation may write.  Text values carry a planted name: a message that
# quotes the field would leak it.
_NAME = _damage.PLANTED["PatientName"]
_NUMERIC_VALUES = ["0", "-1", "65535", "4294967296", "1e308", "nan", "inf", "-0", "3.5", "", _NAME]
_TEXT_VALUES = ["", _NAME, f"L\\{_NAME}", "\\", "X" * 70, "\x00\x01\x02", "LOW_ENERGY"]

# (keyword, VR, candidate values); a few numeric ones are written raw (binary VRs).
_HEADER_TARGETS = [
    ("Rows", "US", [0, 1, 7, 8193, 65535, "+7", "*2"]),
    ("Columns", "US", [0, 1, 9, 8193, 65535, "+3", "*2"]),
    ("BitsAllocated", "US", [0, 1, 8, 12, 16, 32, 64]),
    ("BitsStored", "US", [0, 1, 8, 12, 17, 64]),
    ("HighBit", "US", [0, 31, 64]),
    ("PixelRepresentation", "US", [1, 2]),
    ("SamplesPerPixel", "US", [0, 3]),
    ("NumberOfFrames", "IS", ["0", "1", "2", "3", "1000", "-1", _NAME]),
    ("RescaleSlope", "DS", _NUMERIC_VALUES + ["0.5", "2", "100"]),
    ("RescaleIntercept", "DS", _NUMERIC_VALUES + ["-1000", "1000"]),
    ("PixelSpacing", "DS", [*_NUMERIC_VALUES, "0\\0", "1\\1\\1", "1e-9\\1e-9", f"{_NAME}\\1"]),
    ("ImagerPixelSpacing", "DS", ["0.25\\0.25", "0\\1", _NAME]),
    ("ExposedArea", "DS", ["180\\197", "0\\0", _NAME, "1e30\\1e30"]),
    ("PatientOrientation", "CS", _TEXT_VALUES + ["F\\L", "A\\F", "L\\L", "R\\H"]),
    (
        "FrameLabelVector",
        "CS",
        _TEXT_VALUES + ["HIGH_ENERGY\\LOW_ENERGY", "LOW_ENERGY\\LOW_ENERGY"],
    ),
    ("PhotometricInterpretation", "CS", _TEXT_VALUES + ["MONOCHROME1", "RGB", "YBR_FULL"]),
    ("Modality", "CS", _TEXT_VALUES + ["CT", "MR", "BMD", "CR"]),
    (
        "SOPClassUID",
        "UI",
        ["", _NAME, "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.88.22"],
    ),
    ("ImageType", "CS", _TEXT_VALUES + ["ORIGINAL\\PRIMARY\\LOW_ENERGY"]),
    ("ProtocolName", "LO", ["", f"Left Femur {_NAME}", f"Knee {_NAME}", f"LVA {_NAME}"]),
    ("BodyPartExamined", "CS", ["", "HIP", "LSPINE", _NAME]),
    ("PatientAge", "AS", ["", "999Y", _NAME, "000D"]),
    ("PatientSex", "CS", ["", "X", _NAME]),
    ("PatientSize", "DS", ["", "180", _NAME, "-1"]),
]
_PRIVATE_ELEMENTS = {"energies": 0x01, "i0": 0x02, "content": 0x03, "bone_mu": 0x04}
_SYNTAXES = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.100",
    _NAME,
]


def _read(data: bytes) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data))


def _raw(ds: pydicom.Dataset, keyword_or_tag, vr: str, value: bytes) -> None:
    tag = (
        pydicom.datadict.tag_for_keyword(keyword_or_tag)
        if isinstance(keyword_or_tag, str)
        else keyword_or_tag
    )
    if len(value) % 2:
        value += b" " if vr not in ("UI", "OB", "UN") else b"\x00"
    ds[tag] = RawDataElement(pydicom.tag.Tag(tag), vr, len(value), value, 0, False, True)


def mutate_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    out = bytearray(data)
    pixel = data.find(PIXEL_TAG)
    region = rng.choice(["anywhere", "header", "pixels"])
    lo, hi = 0, len(out)
    if region == "header":
        lo, hi = 128, max(129, pixel if pixel > 0 else min(len(out), 2048))
    elif region == "pixels" and pixel > 0:
        lo = pixel + 12
    n = int(rng.integers(1, 17))
    flips = rng.random() < 0.5
    for _ in range(n):
        at = int(rng.integers(lo, max(lo + 1, hi)))
        if at >= len(out):
            continue
        out[at] = out[at] ^ (1 << int(rng.integers(0, 8))) if flips else int(rng.integers(0, 256))
    return bytes(out), f"bytes:{region}:{'flip' if flips else 'set'}x{n}"


def _truncate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    pixel = data.find(PIXEL_TAG)
    if rng.random() < 0.4 and pixel > 0:
        at = int(np.clip(pixel + rng.integers(-400, 400), 1, len(data) - 1))
        return data[:at], f"truncate:near-pixels:{at}"
    if rng.random() < 0.2:
        at = int(rng.integers(1, min(len(data), 400)))
        return data[:at], f"truncate:header:{at}"
    at = int(rng.integers(1, len(data)))
    return data[:at], f"truncate:{at}"


def _mutate_header(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    ds = _read(data)
    choice = rng.random()
    if choice < 0.22 and ds.get((0x0071, 0x0010)) is not None:
        return _mutate_private(ds, rng)
    if choice < 0.30:
        syntax = str(rng.choice(_SYNTAXES))
        ds.file_meta.TransferSyntaxUID = syntax if syntax != _NAME else "1.2.3"
        if syntax == _NAME:
            _raw(ds.file_meta, 0x00020010, "UI", _NAME.encode())
        return dataset_bytes(ds), f"header:TransferSyntaxUID={syntax[:24]}"
    if choice < 0.34:
        data = _group_length(data, rng)
        return data, "header:group-length"
    if choice < 0.40:
        keys = [e.keyword for e in ds if e.keyword and e.tag.group != 0x7FE0]
        keyword = str(rng.choice(keys))
        del ds[keyword]
        return dataset_bytes(ds), f"header:delete:{keyword}"
    keyword, vr, values = _HEADER_TARGETS[int(rng.integers(0, len(_HEADER_TARGETS)))]
    value = values[int(rng.integers(0, len(values)))]
    if isinstance(value, str) and value[:1] in "+*" and vr == "US":
        base = int(ds.get(keyword) or 1)
        value = base + int(value[1:]) if value[0] == "+" else base * int(value[1:])
    if vr == "US":
        _raw(
            ds,
            keyword,
            "US",
            int(value).to_bytes(4, "little")[:2] if int(value) < 65536 else b"\xff\xff",
        )
    else:
        _raw(ds, keyword, vr, str(value).encode("latin-1", "replace"))
    return dataset_bytes(ds), f"header:{keyword}={str(value)[:24]!s}"


def _group_length(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    at = out.find(b"\x02\x00\x00\x00UL")
    if at < 0:
        return data[: int(rng.integers(128, 200))]
    if rng.random() < 0.5:
        return bytes(out[: at + int(rng.integers(6, 12))])  # `head -c` inside the element
    value = _NAME.encode()[:18].ljust(18, b"^")
    out[at + 6 : at + 12] = len(value).to_bytes(2, "little") + value[:4]
    out[at + 12 : at + 12] = value[4:]
    return bytes(out)


def _mutate_private(ds: pydicom.Dataset, rng: np.random.Generator) -> tuple[bytes, str]:
    block = ds.private_block(0x0071, "DXASPINE 1")
    name = str(rng.choice(list(_PRIVATE_ELEMENTS)))
    element = _PRIVATE_ELEMENTS[name]
    tag = block.get_tag(element)
    if name == "content":
        value = str(rng.choice(["DE_COUNTS", "AREAL_BMD_MAP", "", _NAME, "OTHER"]))
        if tag in ds:
            del ds[tag]
        if value:
            block.add_new(element, "CS", value)
        return dataset_bytes(ds), f"private:content={value[:16]}"
    how = str(rng.choice(["scale", "absolute", "delete", "swap", "one", "text"]))
    current = list(ds[tag].value) if tag in ds and ds[tag].value else [1.0, 1.0]
    if how == "delete":
        if tag in ds:
            del ds[tag]
        return dataset_bytes(ds), f"private:{name}:delete"
    if how == "text":
        _raw(ds, tag, "UN", _NAME.encode())
        return dataset_bytes(ds), f"private:{name}:text"
    if how == "scale":
        factor = float(rng.choice([0.25, 0.5, 0.9, 1.1, 2.0, 4.0, -1.0, 0.0]))
        new = [v * factor for v in current]
    elif how == "absolute":
        new = [float(rng.choice([1e12, 1e308, 1e-300, 50.0, 1.0]))] * 2
    elif how == "swap":
        new = current[::-1]
    else:
        new = current[:1] + [float("nan")] if rng.random() < 0.5 else current[:1]
    if tag in ds:
        del ds[tag]
    block.add_new(element, "FD", new)
    return dataset_bytes(ds), f"private:{name}:{how}"


def mutate_fragment(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    ds = _read(data)
    frags = _damage.fragments(ds)
    index = int(rng.integers(0, len(frags)))
    frame = bytearray(frags[index])
    how = str(rng.choice(["burst", "zero-tail", "truncate", "random", "empty", "swap", "flip"]))
    if how == "burst" and len(frame) > 64:
        at = int(rng.integers(0, len(frame) - 1))
        n = int(rng.integers(1, min(2048, len(frame) - at) + 1))
        frame[at : at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif how == "zero-tail":
        at = int(rng.integers(0, len(frame)))
        frame[at:] = bytes(len(frame) - at)
    elif how == "truncate":
        frame = frame[: int(rng.integers(0, len(frame)))]
    elif how == "random":
        frame = bytearray(rng.integers(0, 256, len(frame), dtype=np.uint8).tobytes())
    elif how == "empty":
        frame = bytearray()
    elif how == "swap" and len(frags) > 1:
        frame = bytearray(frags[1 - index])
    else:
        for _ in range(int(rng.integers(1, 9))):
            at = int(rng.integers(0, len(frame)))
            frame[at] ^= 1 << int(rng.integers(0, 8))
    if len(frame) % 2:
        frame.append(0)
    frags[index] = bytes(frame)
    ds.PixelData = pydicom.encaps.encapsulate(frags)
    return dataset_bytes(ds), f"fragment:{index}:{how}"


def mismatch_pair(files: list[bytes], rng: np.random.Generator) -> tuple[list[bytes], str]:
    which = int(rng.integers(0, 2))
    ds = _read(files[which])
    how = str(rng.choice(["series", "label", "shape", "spacing"]))
    if how == "series":
        ds.SeriesInstanceUID = generate_uid()
    elif how == "label":
        ds.ImageType = list(_read(files[1 - which]).ImageType)
    elif how == "shape":
        ds.Rows = int(ds.Rows) - 1
    else:
        ds.PixelSpacing = [float(v) * 1.5 for v in ds.PixelSpacing]
    files = list(files)
    files[which] = dataset_bytes(ds)
    return files, f"pair:{which}:{how}"


SINGLE_OPS = {"bytes": mutate_bytes, "truncate": _truncate, "header": _mutate_header}
