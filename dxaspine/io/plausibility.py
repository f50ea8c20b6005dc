"""Header plausibility: what a header must say before its pixels may be read as numbers.

Each check cites its source in docs/hardening.md §2 and raises a ``DxaError`` subclass with a
one-line message that quotes no free-text header value (:mod:`dxaspine.io.safe_values`):

- :func:`check_modality_lut`: a quantitative kind (dual-energy counts, areal BMD map) needs
  a defined, positive Modality LUT.  A missing RescaleSlope is *not* 1 there: the SC
  Multi-frame Image Module (PS3.3 C.8.6.3) requires Rescale Intercept/Slope for
  MONOCHROME2 images with BitsStored > 1, and the Modality LUT Module (PS3.3 C.11.1)
  requires the slope whenever the intercept is present.  Guessing 1 turned one BMD map into
  9,226 g/cm2 (issue 12).  Display images may omit it (identity, PS3.3 C.11.1).
- :func:`check_profile_content`: the private content type (DE_COUNTS, AREAL_BMD_MAP) must
  agree with the bit depth and the modality: the interchange profile is 16-bit unsigned
  Modality BMD (docs/architecture.md, Contract 1).  An 8-bit display export carrying a block that says
  AREAL_BMD_MAP was read as ~114 g/cm2 (issue 12).
- :func:`missing_pixel_data`: an image SOP class without Pixel Data is a damaged (usually
  truncated) file, not "not an image": Pixel Data is Type 1 in the Image Pixel Module
  (PS3.3 C.7.6.3).
"""

from __future__ import annotations

import math

from pydicom.dataset import Dataset
from pydicom.uid import UID

from dxaspine.errors import (
    CorruptDicomError,
    DxaError,
    ImplausibleValueError,
    NotDxaError,
    describe,
)
from dxaspine.io import _header_values as header_values
from dxaspine.io.private_block import CONTENT_BMD_MAP, CONTENT_DE_COUNTS, read_private_block
from dxaspine.io.safe_values import shown, uid_text

__all__ = ["check_modality_lut", "check_profile_content", "missing_pixel_data"]

# docs/architecture.md, Contract 1: Multi-frame Grayscale Word SC, Modality BMD, 16-bit unsigned.  OT
# ("other") is accepted as well: Secondary Capture writers often default to it, and it says
# nothing that contradicts the profile.  CR, DX and the rest are display or other modalities.
PROFILE_MODALITIES = frozenset({"BMD", "OT"})
PROFILE_BITS_ALLOCATED = 16


def _number(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return float(value)  # DS: pydicom has parsed it; ValueError is mapped by the boundary


def check_modality_lut(ds: Dataset, quantitative: bool, source: object = None) -> None:
    """Refuse a quantitative image whose Modality LUT is missing, zero or negative.

    Parameters
    ----------
    ds : pydicom.Dataset
        The header.
    quantitative : bool
        Whether the kind's values are physical (``Kind.quantitative``: counts or g/cm2).
    source : path-like, optional
        Names the file in messages.

    Raises
    ------
    ImplausibleValueError
        For a quantitative kind: no ModalityLUTSequence and RescaleSlope or RescaleIntercept
        absent, or a slope that is not a positive finite number.
    """
    if not quantitative or "ModalityLUTSequence" in ds:
        return
    what = "physical values (counts or g/cm2)"
    slope, intercept = _number(ds, "RescaleSlope"), _number(ds, "RescaleIntercept")
    missing = [
        k for k, v in (("RescaleSlope", slope), ("RescaleIntercept", intercept)) if v is None
    ]
    if missing:
        raise ImplausibleValueError(
            describe(
                source,
                f"{' and '.join(missing)} missing: the {what} of this quantitative image "
                "are undefined without the Modality LUT (PS3.3 C.8.6.3, C.11.1)",
                "re-export the image with its RescaleSlope and RescaleIntercept",
            )
        )
    if not (math.isfinite(slope) and slope > 0):
        raise ImplausibleValueError(
            describe(
                source,
                f"RescaleSlope {slope:g} is not a positive number: {what} cannot be derived",
                "re-export the image with its true RescaleSlope",
            )
        )


def check_profile_content(ds: Dataset, source: object = None) -> None:
    """The DXASPINE content type, if any, must agree with the bit depth and the modality.

    Raises
    ------
    ImplausibleValueError
        Content DE_COUNTS or AREAL_BMD_MAP in an image that is not 16-bit unsigned, or whose
        Modality is not BMD (or OT).
    """
    block = read_private_block(ds)
    content = block.content if block is not None else None
    if content not in (CONTENT_DE_COUNTS, CONTENT_BMD_MAP):
        return  # no block, or an unknown content type (refused by classification)
    # Raw header access, as classification does (peek runs this on every file of an archive).
    bits = header_values.integer(ds, 0x00280100)  # BitsAllocated
    signed = header_values.integer(ds, 0x00280103)  # PixelRepresentation
    modality = header_values.text(ds, 0x00080060).upper()  # Modality
    problem = None
    if bits is not None and bits != PROFILE_BITS_ALLOCATED:
        problem = (
            f"{shown('BitsAllocated', bits)} image labelled {content}; the interchange profile "
            "is 16-bit, and an 8-bit image is a display export that carries no quantity"
        )
    elif signed is not None and signed != 0:
        problem = f"signed pixels labelled {content}; the interchange profile is unsigned"
    elif modality not in PROFILE_MODALITIES:
        problem = (
            f"Modality is not BMD but the file is labelled {content}; the interchange profile "
            "is Modality BMD"
        )
    if problem:
        raise ImplausibleValueError(
            describe(
                source,
                problem,
                "remove the DXASPINE block from display exports, or write the profile as "
                "docs/architecture.md, Contract 1 defines it",
            )
        )


def missing_pixel_data(ds: Dataset, source: object = None) -> DxaError:
    """The error for a header without Pixel Data (the caller raises it).

    An image SOP class (from the dataset, else the File Meta Information) promises Pixel
    Data (Type 1, PS3.3 C.7.6.3): its absence means the file was cut short or damaged.  A
    non-image object (an SR, a PDF) simply is not a DXA image.
    """
    sop_class = str(ds.get("SOPClassUID") or "").strip()
    meta = getattr(ds, "file_meta", None)
    if not sop_class and meta is not None:
        sop_class = str(meta.get("MediaStorageSOPClassUID") or "").strip()
    is_image = bool(sop_class) and "Image Storage" in UID(sop_class).name
    if is_image and uid_text(sop_class) != "(malformed UID)":
        return CorruptDicomError(
            describe(
                source,
                f"{UID(sop_class).name} without Pixel Data: the file ends before its pixels "
                "(truncated or damaged)",
                "re-export or re-transfer the file",
            )
        )
    what = uid_text(sop_class) if sop_class else "no SOP class"
    return NotDxaError(
        describe(source, f"no pixel data ({what}): not an image", "pass a DXA image file")
    )
