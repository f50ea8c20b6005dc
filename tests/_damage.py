"""Damaged copies of the committed test images (test-only; used by the hardening tests and
the fuzz suite in tests/fuzz/).

Everything is derived from ``test_images/`` (phantoms with known truth): compressed copies are
made with pydicom's encoders (RLE Lossless, JPEG 2000 Lossless, JPEG-LS Lossless through the
``[jpeg]`` extra's plugins), and damage is applied to the bytes, the header or one
compressed fragment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import encapsulate, generate_fragments
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

REPO = Path(__file__).resolve().parents[1]
TEST_IMAGES = REPO / "test_images"

COMPRESSIONS = {"rle": RLELossless, "j2k": JPEG2000Lossless, "jls": JPEGLSLossless}

# Identifying values planted into the sources (none of them may ever appear in a message, a
# log line or an output file).  Distinctive tokens so that a substring search cannot miss.
PLANTED = {
    "PatientName": "ZZDOE^JANE^PHI12345",
    "PatientID": "PHI-ID-90210",
    "OtherPatientIDs": "PHI-OTHER-4711",
    "PatientBirthDate": "19230117",
    "InstitutionName": "ZZPLANT GENERAL HOSPITAL",
    "ReferringPhysicianName": "ZZWHO^DOCTOR",
    "AccessionNumber": "PHIACC8812",
    "StudyDescription": "ZZSTUDY of DOE JANE",
    "SeriesDescription": "AP Spine ZZSERIES DOE JANE",
    "ProtocolName": "AP Spine ZZPROTOCOL DOE JANE",
    "ImageComments": "ZZCOMMENT call Jane Doe 555-0199",
}
# What is searched for: the distinctive part of every planted value.
PLANTED_TOKENS = (
    "ZZDOE",
    "PHI12345",
    "PHI-ID-90210",
    "PHI-OTHER-4711",
    "19230117",
    "ZZPLANT",
    "ZZWHO",
    "PHIACC8812",
    "ZZSTUDY",
    "ZZSERIES",
    "ZZPROTOCOL",
    "ZZCOMMENT",
    "555-0199",
)


def plant_identifiers(ds: pydicom.Dataset) -> pydicom.Dataset:
    """Put :data:`PLANTED` into ``ds`` (in place) and return it."""
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)
    return ds


def leaked(text: str) -> list[str]:
    """The planted tokens found in ``text`` (case-insensitive)."""
    upper = text.upper()
    return [t for t in PLANTED_TOKENS if t.upper() in upper]


def compressed_copy(source: Path, target: Path, syntax: str, new_uid: bool = True) -> Path:
    """``source`` re-encoded in ``syntax`` (``rle``, ``j2k`` or ``jls``), optionally with a new
    SOP Instance UID (so a batch does not skip it as a duplicate)."""
    ds = pydicom.dcmread(source)
    ds.compress(COMPRESSIONS[syntax])
    if new_uid:
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(source), syntax])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def fragments(ds: pydicom.Dataset) -> list[bytes]:
    """The frames' fragments of an encapsulated dataset (one fragment per frame here)."""
    frags = list(generate_fragments(ds.PixelData))
    return (
        frags[1:] if frags and len(frags[0]) in (0, 4 * int(ds.get("NumberOfFrames", 1))) else frags
    )


def replace_fragment(ds: pydicom.Dataset, index: int, data: bytes) -> None:
    frags = fragments(ds)
    frags[index] = data
    ds.PixelData = encapsulate(frags)


def rle_panic_copy(source_rle: Path, target: Path, seed: int = 0) -> Path:
    """An RLE file whose first frame's segments are random bytes behind an intact header.

    pylibjpeg-rle 2.x panics (Rust index out of bounds) on such data and raises
    ``pyo3_runtime.PanicException``, a ``BaseException`` (issue 12, reproduced here with seed
    0 on ti_standard_prodigy.dual_energy).
    """
    ds = pydicom.dcmread(source_rle)
    frame = bytearray(fragments(ds)[0])
    rng = np.random.default_rng(seed)
    frame[64:] = rng.integers(0, 256, len(frame) - 64, dtype=np.uint8).tobytes()
    replace_fragment(ds, 0, bytes(frame))
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(source_rle), "panic", str(seed)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(target, enforce_file_format=True)
    return target
