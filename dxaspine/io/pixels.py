"""Pixel decoding: transfer-syntax plugins, the Modality LUT, MONOCHROME1.

Compressed transfer syntaxes are decoded by pydicom's pixel plugins (docs/domain.md §6).  When no
installed plugin can decode a file, :class:`UnsupportedPixelDataError` names the package(s)
to install, as pydicom's own decoders do (as pydicom's own decoders do).
"""

from __future__ import annotations

import logging

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_modality_lut
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID

from dxaspine.errors import (
    CorruptDicomError,
    ImplausibleValueError,
    UnsupportedPixelDataError,
    describe,
)
from dxaspine.io.safe_values import uid_text

logger = logging.getLogger(__name__)

# pydicom's decoder plugins, each of which publishes what it needs per transfer syntax
# (``DECODER_DEPENDENCIES``); the hint of a missing-plugin error is built from those, so it stays
# right as pydicom adds plugins.  The ``[jpeg]`` extra brings the ones dxaspine tests with.
_DECODER_PLUGIN_MODULES = ("pylibjpeg", "pyjpegls", "pillow", "gdcm")
_EXTRA_HINT = "pip install 'dxaspine[jpeg]'"


def plugin_hint(tsyntax: str) -> str:
    """What to install to decode ``tsyntax``: each plugin pydicom has for it, with its needs."""
    import importlib

    options = []
    for name in _DECODER_PLUGIN_MODULES:
        try:
            module = importlib.import_module(f"pydicom.pixels.decoders.{name}")
        except ImportError:
            continue
        needs = getattr(module, "DECODER_DEPENDENCIES", {}).get(UID(tsyntax))
        if needs:
            packages = [n.split(">")[0].split("=")[0] for n in needs if n != "numpy"]
            packages = ["python-gdcm" if p == "gdcm" else p for p in packages]
            options.append(" + ".join(packages))
    if not options:
        return "a pydicom pixel plugin for this transfer syntax"
    return f"{' or '.join(dict.fromkeys(options))} ({_EXTRA_HINT} brings the tested ones)"


def transfer_syntax(ds: Dataset) -> UID:
    """The dataset's transfer syntax (the reader guarantees it exists for files)."""
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if not tsyntax:
        raise CorruptDicomError(
            describe(
                getattr(ds, "filename", None),
                "no Transfer Syntax UID in the File Meta Information",
                "re-export as a DICOM Part 10 file (or set ds.file_meta.TransferSyntaxUID)",
            )
        )
    return UID(str(tsyntax))


def check_decodable(ds: Dataset, source: object) -> None:
    """Raise UnsupportedPixelDataError when no installed plugin can decode the pixel data."""
    tsyntax = transfer_syntax(ds)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise UnsupportedPixelDataError(
            describe(
                source,
                f"transfer syntax {uid_text(tsyntax)} cannot be decoded by pydicom",
                "convert the file to an uncompressed or JPEG/JPEG 2000/JPEG-LS/RLE syntax",
            )
        ) from exc
    if not decoder.is_available:
        packages = plugin_hint(str(tsyntax))
        raise UnsupportedPixelDataError(
            describe(
                source,
                f"no installed plugin can decode {uid_text(tsyntax)} pixel data",
                f"install {packages}",
            )
        )


def _check_native_length(ds: Dataset, frames: int, source: object) -> None:
    """Uncompressed pixel data must hold every pixel; pydicom only warns on truncation."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    bits = int(ds.BitsAllocated)
    expected = rows * cols * frames * bits // 8
    got = len(ds.PixelData)
    if got < expected:
        raise CorruptDicomError(
            describe(
                source,
                f"truncated pixel data ({got} of {expected} bytes)",
                "re-export or re-transfer the file",
            )
        )


def _pixel_array(ds: Dataset, source: object) -> np.ndarray:
    """``ds.pixel_array``, telling a plugin's missing capability from damaged data."""
    try:
        return ds.pixel_array
    except RuntimeError as exc:
        message = " ".join(str(exc).split())
        if "not support" not in message:
            raise  # damaged data: mapped to CorruptDicomError by the file boundary
        # e.g. Pillow and 12-bit JPEG Extended: installed, but not capable.  The plugin's
        # text is not quoted (it may quote header values; docs/hardening.md §4).
        tsyntax = transfer_syntax(ds)
        packages = plugin_hint(str(tsyntax))
        raise UnsupportedPixelDataError(
            describe(
                source,
                f"the installed plugins do not support this {uid_text(tsyntax)} pixel data "
                "(bit depth or encoding option)",
                f"install {packages}",
            )
        ) from exc


# Codestream markers (ISO/IEC 10918-1, 14495-1, 15444-1): every JPEG-family frame starts with
# SOI (FFD8) or, for JPEG 2000, SOC+SIZ (FF4F FF51) or a JP2 signature box, and ends with
# EOI/EOC (FFD9).  A frame cut short or zero-filled at its end has lost its end marker, which
# the decoders do not always notice: they return a degraded picture (docs/hardening.md §2.4).
_JPEG_FAMILY = "1.2.840.10008.1.2.4."
_STARTS = (b"\xff\xd8", b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  ")
_END = b"\xff\xd9"


def _check_codestreams(ds: Dataset, frames: int, source: object) -> None:
    """Each compressed JPEG-family frame must carry its start and end markers."""
    if not str(transfer_syntax(ds)).startswith(_JPEG_FAMILY):
        return
    for number, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=frames), 1):
        # Fragments are padded to even length (00H; some writers add an FFH fill byte).
        body = bytes(frame).rstrip(b"\x00")
        problem = None
        if not body.startswith(_STARTS):
            problem = "does not start with a JPEG start marker"
        elif _END not in body[-4:]:
            problem = "lacks its end-of-codestream marker (cut short or overwritten)"
        if problem:
            raise CorruptDicomError(
                describe(
                    source,
                    f"compressed frame {number} of {frames} {problem}",
                    "re-export or re-transfer the file",
                )
            )


def decode_frames(ds: Dataset, frames: int, source: object) -> np.ndarray:
    """Decoded pixels after the Modality LUT, float64 of shape (frames, rows, cols).

    Call inside :func:`dxaspine.io.reading.file_boundary` (decoder errors are mapped there).
    """
    check_decodable(ds, source)
    if not transfer_syntax(ds).is_compressed:
        _check_native_length(ds, frames, source)
    else:
        _check_codestreams(ds, frames, source)
    stored = _pixel_array(ds, source)
    values = _modality_lut(stored, ds, source).reshape(frames, int(ds.Rows), int(ds.Columns))
    if not np.all(np.isfinite(values)):
        raise CorruptDicomError(
            describe(
                source, "non-finite values after the Modality LUT", "check RescaleSlope/Intercept"
            )
        )
    return values


def rescale(ds: Dataset, source: object = None) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept); identity (1, 0) for what is absent.

    Absent means identity (PS3.3 C.11.1; PS3.4 grayscale pipeline), which is right for
    display images.  Whether a quantitative kind may omit them is decided by
    :func:`dxaspine.io.plausibility.check_modality_lut`, before decoding.  A slope that
    is present but zero or non-finite, or a non-finite intercept, maps every pixel to one
    value or to nothing: never "1" (the old ``float(... or 1)`` read a zero slope as 1).

    Raises
    ------
    ImplausibleValueError
        A zero, negative-zero or non-finite slope, or a non-finite intercept.
    """
    slope_value, intercept_value = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    slope = 1.0 if slope_value is None or slope_value == "" else float(slope_value)
    intercept = 0.0 if intercept_value is None or intercept_value == "" else float(intercept_value)
    if not np.isfinite(slope) or slope == 0.0:
        raise ImplausibleValueError(
            describe(
                source,
                "RescaleSlope is zero or not finite, so the Modality LUT maps every pixel to "
                "one value",
                "re-export the image with its true RescaleSlope",
            )
        )
    if not np.isfinite(intercept):
        raise ImplausibleValueError(
            describe(source, "RescaleIntercept is not finite", "re-export the image")
        )
    return slope, intercept


def _modality_lut(stored: np.ndarray, ds: Dataset, source: object = None) -> np.ndarray:
    """Modality LUT as float64.  Plain rescale (every DXA profile) is done in place: pydicom's
    general routine costs ~3 ms per iDXA scan, most of a header+pixel load."""
    if "ModalityLUTSequence" in ds:
        return np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    slope, intercept = rescale(ds, source)
    values = stored.astype(np.float64)
    if slope != 1.0:
        values *= slope
    if intercept != 0.0:
        values += intercept
    return values


def stored_value_range(ds: Dataset) -> tuple[float, float]:
    """(min, max) a stored pixel can take, after the Modality LUT."""
    bits = int(ds.get("BitsStored") or ds.BitsAllocated)
    if int(ds.get("PixelRepresentation") or 0):
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    mapped = _modality_lut(np.array([lo, hi]), ds, getattr(ds, "filename", None))
    return float(mapped.min()), float(mapped.max())


def to_bone_bright(image: np.ndarray, ds: Dataset) -> tuple[np.ndarray, bool]:
    """Invert MONOCHROME1 display images so that bone (high attenuation) is bright.

    MONOCHROME1 means the minimum value is displayed white; reflecting within the stored
    range keeps values in that range.  Counts and BMD maps are never inverted: their values
    are physical whatever the display convention says.
    """
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() != "MONOCHROME1":
        return image, False
    lo, hi = stored_value_range(ds)
    return (lo + hi) - image, True
