"""One exception tree for everything dxaspine rejects (docs/architecture.md, Errors).

A batch runner catches ``DxaError`` to mean "this file is bad, go on with the next";
anything else escaping is a bug in dxaspine.  Messages are one line: the file, what is
wrong, and what would fix it.  Use :func:`describe` to build them consistently.
"""

from __future__ import annotations

import os

__all__ = [
    "DxaError",
    "InputError",
    "NotDicomError",
    "NotDxaError",
    "UnsupportedPixelDataError",
    "MissingSpacingError",
    "CorruptDicomError",
    "VendorResultsError",
    "SegmentationError",
    "ReferenceDataError",
    "OutputError",
    "ImplausibleValueError",
    "MissingExtraError",
    "describe",
]


def describe(source: object, problem: str, fix: str | None = None) -> str:
    """Build the one-line message ``"<file>: <problem>; <fix>"``."""
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    name = str(source) if source not in (None, "") else "<dataset>"
    msg = f"{name}: {problem}"
    if fix:
        msg += f"; {fix}"
    return " ".join(msg.split())  # one line, always


class DxaError(Exception):
    """Base of every error dxaspine raises on purpose."""


class InputError(DxaError):
    """The input file cannot be used."""


class NotDicomError(InputError):
    """The file is not DICOM at all."""


class NotDxaError(InputError):
    """DICOM, but not a DXA lumbar spine image dxaspine can analyse."""


class UnsupportedPixelDataError(InputError):
    """Pixel data in a transfer syntax no installed plugin can decode."""


class MissingSpacingError(InputError):
    """No pixel spacing could be established from the header or the model table."""


class CorruptDicomError(InputError):
    """DICOM whose header or pixel data is damaged or inconsistent."""


class VendorResultsError(InputError):
    """A vendor results object (SR or XML) that cannot be read or is unsafe to parse."""


class SegmentationError(DxaError):
    """The spine could not be found or too few levels are visible."""


class ReferenceDataError(DxaError):
    """A reference table is missing or malformed."""


class ImplausibleValueError(CorruptDicomError):
    """A header or pixel value is readable but physically impossible (docs/hardening.md).

    A subclass of :class:`CorruptDicomError`: the file is internally inconsistent, and the
    number it would give cannot be right, so dxaspine refuses it instead of reporting it.
    """


class OutputError(DxaError, OSError):
    """An output could not be written (folder missing or read-only, disk full ...).

    Not a problem of the input: a batch runner records it as an infrastructure failure, and
    ``--resume`` retries the item once the output can be written again.  It is an ``OSError``
    too, so code that guards its writes with ``except OSError`` keeps working; ``errno`` is
    the original one (``str()`` is the one-line message).
    """


class MissingExtraError(DxaError):
    """An output or command needs an optional dependency (a pip extra) that is not installed."""
