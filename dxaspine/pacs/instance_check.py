"""What a received instance must satisfy before the SCP answers success.

Checked on the decoded dataset's *raw* elements, so pydicom's value validation (which warns,
quoting the value) never runs on untrusted text:

- SOP Class UID and SOP Instance UID present, valid (:mod:`dxaspine.pacs.uids`) and equal
  to the C-STORE request's Affected SOP Class/Instance UID;
- Study Instance UID present and valid;
- for image SOP classes: Rows, Columns, BitsAllocated, SamplesPerPixel and Pixel Data
  present, and native (uncompressed) Pixel Data at least as long as those attributes
  require (``Rows x Columns x SamplesPerPixel x NumberOfFrames x BitsAllocated / 8``): a
  truncated transfer is the commonest damage, and pydicom reads a truncated stream without
  complaint;
- for encapsulated (compressed) Pixel Data: an undefined length and at least one fragment.

A failure is a :class:`Refusal` with the DIMSE status to answer (PS3.4 Annex B.2.3, copied in
docs/pacs.md "Status codes"): 0xA900 "data set does not match SOP class" for a missing,
invalid or inconsistent attribute (this includes path-like UIDs), 0xC210 "cannot
understand" when the stream cannot be decoded at all (pynetdicom's own code for that case).
Pixel values are not decoded here: that is the analysis's work, and a bad image found there
is recorded against that image while the rest of the study goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID

from dxaspine.pacs.uids import is_valid_uid

__all__ = [
    "STATUS_CANNOT_UNDERSTAND",
    "STATUS_DATASET_MISMATCH",
    "STATUS_OUT_OF_RESOURCES",
    "STATUS_SUCCESS",
    "CheckedInstance",
    "Refusal",
    "check_instance",
]

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_DATASET_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC210

_SOP_CLASS = 0x00080016
_SOP_INSTANCE = 0x00080018
_STUDY = 0x0020000D
_SERIES = 0x0020000E
_ROWS, _COLUMNS = 0x00280010, 0x00280011
_SAMPLES, _FRAMES, _BITS = 0x00280002, 0x00280008, 0x00280100
_PIXEL_DATA = 0x7FE00010
_ITEM_TAG = b"\xfe\xff\x00\xe0"  # (FFFE,E000) little endian


class Refusal(Exception):
    """The instance is refused: ``status`` to answer, ``reason`` to record (no values)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class CheckedInstance:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str | None


def _raw(ds: Dataset, tag: int):
    try:
        element = ds.get_item(tag)
    except Exception as exc:  # noqa: BLE001 - any decode failure of this element
        raise Refusal(STATUS_CANNOT_UNDERSTAND, f"element {tag:08X} cannot be decoded") from exc
    return None if element is None else element


def _text(ds: Dataset, tag: int) -> str | None:
    element = _raw(ds, tag)
    if element is None or element.value is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).rstrip("\0 ").lstrip(" ")


def _uint(ds: Dataset, tag: int, little_endian: bool) -> int | None:
    element = _raw(ds, tag)
    if element is None or element.value is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        if tag == _FRAMES:  # IS: text
            text = value.decode("ascii", "replace").strip("\0 ")
            return int(text) if text.isdigit() else None
        if len(value) != 2:
            return None
        return int.from_bytes(value, "little" if little_endian else "big")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _uid(ds: Dataset, tag: int, what: str) -> str:
    value = _text(ds, tag)
    if value is None or value == "":
        raise Refusal(STATUS_DATASET_MISMATCH, f"{what} is missing")
    if not is_valid_uid(value):
        raise Refusal(STATUS_DATASET_MISMATCH, f"{what} is not a valid UID (digits and dots)")
    return value


def _check_pixels(ds: Dataset, transfer_syntax: str, little_endian: bool) -> None:
    values = {}
    for tag, name in ((_ROWS, "Rows"), (_COLUMNS, "Columns"), (_BITS, "BitsAllocated")):
        values[name] = _uint(ds, tag, little_endian)
        if not values[name]:
            raise Refusal(STATUS_DATASET_MISMATCH, f"image without {name}")
    samples = _uint(ds, _SAMPLES, little_endian) or 1
    frames = _uint(ds, _FRAMES, little_endian) or 1
    pixel = _raw(ds, _PIXEL_DATA)
    if pixel is None or pixel.value is None:
        raise Refusal(STATUS_DATASET_MISMATCH, "image without Pixel Data")
    data = pixel.value
    if UID(transfer_syntax).is_encapsulated:
        if not data.startswith(_ITEM_TAG):
            raise Refusal(STATUS_DATASET_MISMATCH, "compressed Pixel Data not encapsulated")
        # The Basic Offset Table item, then at least one fragment item (PS3.5 A.4).
        if data.count(_ITEM_TAG) < 2:
            raise Refusal(STATUS_DATASET_MISMATCH, "encapsulated Pixel Data has no fragment")
        return
    bits = values["BitsAllocated"] * values["Rows"] * values["Columns"] * samples * frames
    expected = (bits + 7) // 8
    if len(data) < expected:
        raise Refusal(
            STATUS_DATASET_MISMATCH,
            f"Pixel Data is {len(data)} bytes, the image attributes need {expected} (truncated)",
        )


def check_instance(
    ds: Dataset,
    *,
    affected_sop_class: str,
    affected_sop_instance: str,
    transfer_syntax: str,
    is_image: bool,
) -> CheckedInstance:
    """Validate one received dataset; returns its UIDs or raises :class:`Refusal`."""
    sop_class = _uid(ds, _SOP_CLASS, "SOPClassUID")
    sop_instance = _uid(ds, _SOP_INSTANCE, "SOPInstanceUID")
    study = _uid(ds, _STUDY, "StudyInstanceUID")
    if not is_valid_uid(affected_sop_instance):
        raise Refusal(STATUS_DATASET_MISMATCH, "AffectedSOPInstanceUID is not a valid UID")
    if sop_class != str(affected_sop_class).rstrip("\0"):
        raise Refusal(STATUS_DATASET_MISMATCH, "SOPClassUID differs from the request's")
    if sop_instance != str(affected_sop_instance).rstrip("\0"):
        raise Refusal(STATUS_DATASET_MISMATCH, "SOPInstanceUID differs from the request's")
    series = _text(ds, _SERIES)
    if is_image:
        _check_pixels(ds, transfer_syntax, UID(transfer_syntax) != "1.2.840.10008.1.2.2")
    return CheckedInstance(sop_class, sop_instance, study, series if is_valid_uid(series) else None)
