"""Which kind of DXA input a DICOM header describes (shared by ``peek`` and ``load``).

Kinds (DESIGN.md Contract 1, DOMAIN.md §6):

- ``dual_energy``: the interchange profile (private content ``DE_COUNTS``, 2 frames), or one
  half of a pair of single-frame files whose ImageType value 3 is ``LOW_ENERGY`` or
  ``HIGH_ENERGY``;
- ``bmd_map``: private content ``AREAL_BMD_MAP``, 1 frame;
- ``display``: a grayscale CR, DX or Secondary Capture image with Modality BMD, CR, DX or OT
  that plausibly is a PA lumbar spine (vendor 8-bit exports).

Classification needs only header attributes (:data:`HEADER_TAGS`), so ``peek`` can run it
without reading pixel data.  It raises the ``DxaError`` that ``load`` would raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dxaspine.errors import CorruptDicomError, NotDxaError, describe
from dxaspine.io import _header_values as header_values
from dxaspine.io.plausibility import check_profile_content, missing_pixel_data
from dxaspine.io.private_block import (
    CONTENT_BMD_MAP,
    CONTENT_DE_COUNTS,
    PRIVATE_TAGS,
    read_private_block,
)
from dxaspine.io.reading import PIXEL_TAGS, PixelElement
from dxaspine.io.safe_values import modality_term, uid_text
from dxaspine.io.scan import ScanKind

CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MF_GRAYSCALE_BYTE_SC = "1.2.840.10008.5.1.4.1.1.7.2"
MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"
DISPLAY_SOP_CLASSES = {
    CR_IMAGE: "CR",
    DX_FOR_PRESENTATION: "DX",
    DX_FOR_PROCESSING: "DX",
    SECONDARY_CAPTURE: "SC",
    MF_GRAYSCALE_BYTE_SC: "SC",
    MF_GRAYSCALE_WORD_SC: "SC",
}
DISPLAY_MODALITIES = {"BMD", "CR", "DX", "OT"}
ENERGY_LABELS = ("LOW_ENERGY", "HIGH_ENERGY")
_GRAYSCALE = {"MONOCHROME1", "MONOCHROME2"}
_COLOUR_PHOTOMETRIC = {
    "PALETTE COLOR",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_PARTIAL_422",
    "YBR_PARTIAL_420",
    "YBR_ICT",
    "YBR_RCT",
    "HSV",
    "ARGB",
    "CMYK",
}

# DXA images are at most a few thousand pixels a side (iDXA AP spine 780 x 716, DOMAIN.md §6).
# Below MIN_SIDE there is no spine to find; above MAX_SIDE the header is not a DXA scan and
# decoding it could exhaust memory.
MIN_SIDE_PX = 32
MAX_SIDE_PX = 8192

HEADER_TAGS: list[int] = [
    0x00020010,  # TransferSyntaxUID (file meta; read anyway)
    0x00080005,  # SpecificCharacterSet
    0x00080008,  # ImageType
    0x00080016,  # SOPClassUID
    0x00080018,  # SOPInstanceUID
    0x00080060,  # Modality
    0x00080070,  # Manufacturer
    0x0008103E,  # SeriesDescription
    0x00081090,  # ManufacturerModelName
    0x00180015,  # BodyPartExamined
    0x00181030,  # ProtocolName
    0x0020000D,  # StudyInstanceUID
    0x0020000E,  # SeriesInstanceUID
    0x00200013,  # InstanceNumber
    0x00280002,  # SamplesPerPixel
    0x00280004,  # PhotometricInterpretation
    0x00280008,  # NumberOfFrames
    0x00280010,  # Rows
    0x00280011,  # Columns
    0x00280100,  # BitsAllocated
    0x00280101,  # BitsStored
    0x00280103,  # PixelRepresentation
    *PRIVATE_TAGS,
]

# Body-part vocabulary.  Text is upper-cased and reduced to letters/digits/spaces first.
_NOT_LUMBAR = [
    (re.compile(r"\bHIPS?\b|FEMUR|FEMORAL|NECK OF FEM|TROCHANTER"), "hip/femur"),
    (re.compile(r"FOREARM|RADIUS|ULNA|WRIST|\bARM\b"), "forearm"),
    (re.compile(r"WHOLE ?BODY|TOTAL ?BODY|\bTBODY\b|\bWB\b|TOTALBODY"), "whole body"),
    (
        re.compile(r"LATERAL|\bLAT\b|\bLVA\b|\bIVA\b|\bVFA\b"),
        "lateral spine / vertebral fracture assessment",
    ),
    (re.compile(r"\bC ?SPINE\b|CERVICAL|\bT ?SPINE\b|THORACIC\b"), "cervical or thoracic spine"),
    (
        re.compile(
            r"\b(KNEE|HANDS?|FOOT|FEET|HEEL|CALCANEUS|SKULL|HEAD|CHEST|BREAST|ABDOMEN|PELVIS)\b"
        ),
        "another body part",
    ),
]
_LUMBAR = re.compile(
    r"\bL ?SPINE\b|LSPINE|LSSPINE|TLSPINE|LUMBAR|\bSPINE\b|\bL1 ?L4\b|\bAP ?SPINE|\bPA ?SPINE"
)


@dataclass(frozen=True)
class Recognition:
    """The outcome of classifying a usable header."""

    kind: ScanKind
    recognised_by: str
    energy_label: str | None = None  # "LOW_ENERGY"/"HIGH_ENERGY" for one half of a pair
    frames: int = 1


def _text(ds: Dataset, keyword: str) -> str:
    return header_values.text(ds, tag_for_keyword(keyword))


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int | None:
    value = header_values.integer(ds, tag_for_keyword(keyword))
    return default if value is None else value


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", text.upper()).split())


def frame_count(ds: Dataset) -> int:
    """NumberOfFrames (1 when absent)."""
    return _int(ds, "NumberOfFrames", 1) or 1


def energy_label(ds: Dataset) -> str | None:
    """ImageType value 3 when it names an energy (``LOW_ENERGY``/``HIGH_ENERGY``)."""
    image_type = header_values.values(ds, 0x00080008) or []
    if len(image_type) >= 3 and str(image_type[2]).strip().upper() in ENERGY_LABELS:
        return str(image_type[2]).strip().upper()
    return None


def check_pixels(ds: Dataset, pixel: PixelElement, source: object) -> None:
    """Grayscale, one sample, sane dimensions, pixel data present."""
    if pixel.tag is None:
        raise missing_pixel_data(ds, source)
    if pixel.tag != PIXEL_TAGS[-1]:
        raise NotDxaError(
            describe(
                source,
                "floating-point pixel data is not a DXA image format",
                "pass a DXA image file",
            )
        )
    if (
        pixel.length is not None
        and pixel.length != 0xFFFFFFFF
        and pixel.available is not None
        and pixel.available < pixel.length + 8  # + the smallest element header (implicit VR)
    ):
        raise CorruptDicomError(
            describe(
                source,
                f"truncated pixel data (file ends {pixel.length + 8 - pixel.available} bytes "
                "short of the declared length)",
                "re-export or re-transfer the file",
            )
        )
    samples = _int(ds, "SamplesPerPixel", 1)
    photometric = _text(ds, "PhotometricInterpretation").upper()
    if samples == 1 and photometric not in _COLOUR_PHOTOMETRIC | _GRAYSCALE:
        raise CorruptDicomError(
            describe(
                source,
                "PhotometricInterpretation is missing or not a defined term",
                "set it to MONOCHROME2 (or MONOCHROME1) and re-export",
            )
        )
    if samples != 1 or photometric not in _GRAYSCALE:
        raise NotDxaError(
            describe(
                source,
                f"colour image ({photometric or 'no PhotometricInterpretation'}, "
                f"{samples} samples per pixel); DXA images are grayscale",
                "export the scan image itself, not a report page or screenshot",
            )
        )
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not cols:
        raise CorruptDicomError(
            describe(
                source, f"image has zero or missing size ({rows} x {cols})", "re-export the image"
            )
        )
    if min(rows, cols) < MIN_SIDE_PX or max(rows, cols) > MAX_SIDE_PX:
        raise NotDxaError(
            describe(
                source,
                f"{rows} x {cols} pixels is not a plausible DXA scan size "
                f"({MIN_SIDE_PX}..{MAX_SIDE_PX} per side)",
                "pass a DXA spine image",
            )
        )
    bits = _int(ds, "BitsAllocated")
    if bits not in (8, 16):
        raise NotDxaError(
            describe(
                source, f"{bits}-bit pixels; DXA images are 8- or 16-bit", "pass a DXA spine image"
            )
        )


def _profile_kind(ds: Dataset, content: str, label: str | None, source: object) -> Recognition:
    frames = frame_count(ds)
    if content == CONTENT_BMD_MAP:
        if frames != 1:
            raise CorruptDicomError(
                describe(
                    source, f"AREAL_BMD_MAP with {frames} frames (profile: 1)", "re-export the map"
                )
            )
        return Recognition("bmd_map", "private content AREAL_BMD_MAP", frames=1)
    if content == CONTENT_DE_COUNTS:
        if frames == 2:
            return Recognition("dual_energy", "private content DE_COUNTS, 2 frames", frames=2)
        if frames == 1 and label is not None:
            return Recognition(
                "dual_energy", f"private content DE_COUNTS, ImageType {label}", label, frames=1
            )
        raise CorruptDicomError(
            describe(
                source,
                f"DE_COUNTS with {frames} frame(s) and no LOW_ENERGY/HIGH_ENERGY ImageType",
                "write 2 frames, or one file per energy with ImageType value 3 set",
            )
        )
    raise NotDxaError(
        describe(
            source,
            "unknown DXASPINE content type (0071,xx03)",
            "expected DE_COUNTS or AREAL_BMD_MAP (DESIGN.md Contract 1)",
        )
    )


def _body_part(ds: Dataset, source: object) -> str:
    """How a display image was recognised as a lumbar spine, or NotDxaError."""
    fields = [(k, _text(ds, k)) for k in ("ProtocolName", "BodyPartExamined")]
    named = [(k, v) for k, v in fields if v]
    if not named:
        # Blank: SeriesDescription may still exclude or name the site.
        desc = _text(ds, "SeriesDescription")
        named = [("SeriesDescription", desc)] if desc else []
        if not named:
            return "display: ProtocolName and BodyPartExamined blank; content confirmation pending"
    for keyword, value in named:
        norm = _normalise(value)
        for pattern, what in _NOT_LUMBAR:
            if pattern.search(norm):
                raise NotDxaError(
                    describe(
                        source,
                        f"{keyword} names a {what} scan, not a PA lumbar spine",
                        "dxaspine analyses PA lumbar spine DXA only",
                    )
                )
    for keyword, value in named:
        if _LUMBAR.search(_normalise(value)):
            return f"display: {keyword} names a lumbar spine"
    if named[0][0] == "SeriesDescription":
        return "display: ProtocolName and BodyPartExamined blank; content confirmation pending"
    shown = " and ".join(k for k, _ in named)  # the values may hold names: not quoted
    raise NotDxaError(
        describe(
            source,
            f"{shown} {'do' if len(named) > 1 else 'does'} not name a lumbar spine",
            "pass a PA lumbar spine image (or blank these fields to let content decide)",
        )
    )


def classify(ds: Dataset, pixel: PixelElement, source: object = None) -> Recognition:
    """Decide the input kind from header attributes alone.

    Parameters
    ----------
    ds : pydicom.Dataset
        Header, holding at least :data:`HEADER_TAGS`.
    pixel : PixelElement
        Whether (and which) pixel data element follows.
    source : path-like, optional
        Names the file in error messages.

    Returns
    -------
    Recognition

    Raises
    ------
    NotDxaError, CorruptDicomError
        With the one-line message ``load`` shows.
    """
    modality = _text(ds, "Modality").upper()
    sop_class = _text(ds, "SOPClassUID")
    if pixel.tag is None:
        raise missing_pixel_data(ds, source)
    block = read_private_block(ds)
    label = energy_label(ds)
    if block is not None and block.content:
        check_pixels(ds, pixel, source)
        check_profile_content(ds, block.content, source)
        return _profile_kind(ds, block.content, label, source)
    if label is not None and modality in DISPLAY_MODALITIES | {""}:
        check_pixels(ds, pixel, source)
        if frame_count(ds) != 1:
            raise CorruptDicomError(
                describe(source, f"{label} file with several frames", "one file per energy")
            )
        return Recognition("dual_energy", f"ImageType {label} (no DXASPINE block)", label)
    if modality not in DISPLAY_MODALITIES:
        raise NotDxaError(
            describe(
                source,
                f"Modality {modality_term(modality)} is not DXA",
                "pass a DXA image (Modality BMD, CR, DX or OT)",
            )
        )
    family = DISPLAY_SOP_CLASSES.get(sop_class)
    if family is None:
        raise NotDxaError(
            describe(
                source,
                f"SOP class {uid_text(sop_class)} is not a "
                "general CR, DX or Secondary Capture image",
                "export the DXA scan as a CR, DX or Secondary Capture image",
            )
        )
    check_pixels(ds, pixel, source)
    if frame_count(ds) != 1:
        raise NotDxaError(
            describe(
                source,
                f"display image with {frame_count(ds)} frames",
                "export a single-frame image",
            )
        )
    how = _body_part(ds, source)
    return Recognition("display", f"{how} ({family}, Modality {modality})")
