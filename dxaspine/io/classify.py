"""Which kind of DXA input a DICOM header describes (shared by ``peek`` and ``load``).

:func:`classify` asks every registered kind (:mod:`dxaspine.io.kinds`) in turn; this module
holds what they share: the :class:`Recognition` they return, the header-only checks of an image
(:func:`check_pixels`), and the header tags a header-only read must include
(:data:`HEADER_TAGS`), so ``peek`` can classify without reading pixel data.  It raises the
``DxaError`` that ``load`` would raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dxaspine.errors import CorruptDicomError, NotDxaError, describe
from dxaspine.io import _header_values as header_values
from dxaspine.io.plausibility import check_profile_content, missing_pixel_data
from dxaspine.io.private_block import PRIVATE_TAGS, read_private_block
from dxaspine.io.reading import PIXEL_TAGS, PixelElement
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

# DXA images are at most a few thousand pixels a side (iDXA AP spine 780 x 716, docs/domain.md §6).
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


_HEADER_TAGS_OF: tuple[tuple[int, ...], list[int]] | None = None  # (kind ids, tags)


def all_header_tags() -> list[int]:
    """:data:`HEADER_TAGS` plus the tags every registered kind asks for.

    Computed once per set of registered kinds (``peek`` calls it for every file; the vendor
    results kinds each list all ~540 header tags, so a list-membership test per tag cost
    16 ms a file, issue 17).

    Returns
    -------
    list of int
        A new list each call (callers may keep or change it).
    """
    global _HEADER_TAGS_OF
    from dxaspine.io.kinds import registered

    kinds = registered()
    ids = tuple(id(kind) for kind in kinds)
    if _HEADER_TAGS_OF is None or _HEADER_TAGS_OF[0] != ids:
        known = set(HEADER_TAGS)
        extra = {t for kind in kinds for t in kind.header_tags} - known
        _HEADER_TAGS_OF = (ids, HEADER_TAGS + sorted(extra))
    return list(_HEADER_TAGS_OF[1])


@dataclass(frozen=True)
class Recognition:
    """The outcome of classifying a usable header."""

    kind: ScanKind
    recognised_by: str
    energy_label: str | None = None  # "LOW_ENERGY"/"HIGH_ENERGY" for one half of a pair
    frames: int = 1


def header_text(ds: Dataset, keyword: str) -> str:
    """The stripped text of a header attribute ('' when absent), read without conversion."""
    return header_values.text(ds, tag_for_keyword(keyword))


_text = header_text


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int | None:
    value = header_values.integer(ds, tag_for_keyword(keyword))
    return default if value is None else value


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
        raise NotDxaError(describe(source, "no pixel data (not an image)", "pass a DXA image file"))
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
    from dxaspine.io.kinds import registered

    kinds = registered()
    for kind in kinds:  # results kinds need no pixel data: asked first
        if kind.role == "results":
            recognition = kind.recognise(ds, pixel, source)
            if recognition is not None:
                return recognition
    if pixel.tag is None:
        raise missing_pixel_data(ds, source)
    check_profile_content(ds, source)  # content type against bit depth and modality
    for kind in kinds:
        if kind.role != "image":
            continue
        recognition = kind.recognise(ds, pixel, source)
        if recognition is not None:
            return recognition
    block = read_private_block(ds)
    content = block.content if block is not None else None
    raise NotDxaError(
        describe(
            source,
            "unknown DXASPINE content type (0071,xx03)" if content else "not a DXA image kind",
            "expected DE_COUNTS or AREAL_BMD_MAP (docs/architecture.md, Contract 1)",
        )
    )
