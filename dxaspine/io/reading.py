"""Safe DICOM reading: the one place where pydicom and numpy exceptions become ``DxaError``.

Everything that touches a file's bytes runs inside :func:`file_boundary`, which

- turns every exception a damaged file can provoke in pydicom or numpy into a
  :class:`~dxaspine.errors.DxaError` subclass with a one-line message (docs/architecture.md, Errors),
- records the warnings pydicom emits about the file and logs them instead, so that a
  caller with ``-W error`` (our pytest config) does not crash on a slightly odd header.

Files without the DICOM Part 10 header (no preamble, no File Meta Information) are rejected
rather than read by guessing: the transfer syntax, and with it the byte order of the
pixels, would be a guess (a file without a transfer syntax cannot be read safely).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import stat
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial

from dxaspine.errors import CorruptDicomError, DxaError, InputError, NotDicomError, describe

logger = logging.getLogger(__name__)

# Pixel data tags, in file order: reading a header stops at the first of them.
PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)

# Exceptions that pydicom, numpy and the pixel plugins raise on damaged input.  Programming
# errors (NameError, AssertionError, ...) are deliberately not in this list: they are bugs
# in dxaspine and must surface as such.
_FILE_PROBLEMS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    LookupError,
    EOFError,
    OSError,
    struct.error,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    MemoryError,
)

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _redact(message: str) -> str:
    # pydicom quotes offending element values in its warnings; a value may be a patient
    # name, and logs must carry no patient identifiers (docs/architecture.md, Errors).
    return _QUOTED.sub("'…'", message)[:300]


@contextlib.contextmanager
def file_boundary(source: object) -> Iterator[None]:
    """Map file problems raised inside the block to ``DxaError`` and log file warnings.

    Parameters
    ----------
    source : path-like, str or None
        Names the file in messages.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except DxaError:
            raise
        except InvalidDicomError as exc:
            raise NotDicomError(
                describe(source, "not a DICOM file", "pass a DICOM Part 10 file")
            ) from exc
        except (PermissionError, FileNotFoundError, IsADirectoryError) as exc:
            raise InputError(
                describe(
                    source,
                    f"cannot read the file ({exc.strerror or type(exc).__name__})",
                    "check the path and its permissions",
                )
            ) from exc
        except _FILE_PROBLEMS as exc:
            logger.debug("%s: file problem", source, exc_info=True)
            # Redacted like the logs: messages end up in ledgers and reports.
            problem = _redact(" ".join(str(exc).split()))[:200] or type(exc).__name__
            raise CorruptDicomError(
                describe(
                    source,
                    f"damaged or inconsistent DICOM ({type(exc).__name__}: {problem})",
                    "re-export the image from the scanner or PACS",
                )
            ) from exc
        finally:
            for w in caught:
                logger.info("%s: pydicom: %s", source, _redact(str(w.message)))


def check_path(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path if it names a non-empty regular file, else raise InputError."""
    p = Path(path)
    try:
        info = p.stat()  # one system call: peek runs this on every file of an archive
    except FileNotFoundError:
        raise InputError(describe(p, "no such file", "check the path")) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(
            describe(p, "is a directory", "pass a DICOM file, or use `dxaspine batch`")
        )
    if info.st_size == 0:
        raise NotDicomError(describe(p, "empty file (0 bytes)", "pass a DICOM Part 10 file"))
    return p


def _require_part10(ds: Dataset, source: object) -> None:
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if not tsyntax:
        raise CorruptDicomError(
            describe(
                source,
                "no Transfer Syntax UID in the File Meta Information",
                "re-export as a DICOM Part 10 file with file meta",
            )
        )


# A raw dataset (no preamble) starts with a tag of group 0x0002 or 0x0008 in either byte
# order; anything else is not DICOM.  This cheap test keeps peek fast on archives full of
# non-DICOM files, and the forced parse below only ever sees the first 64 KiB.
_RAW_FIRST_GROUPS = {0x0002, 0x0008}
_RAW_PROBE_BYTES = 65536


def _reject_non_part10(path: Path, exc: InvalidDicomError) -> None:
    """A file without preamble/'DICM': raw dataset (no file meta) or not DICOM at all."""
    with open(path, "rb") as fp:
        head = fp.read(_RAW_PROBE_BYTES)
    groups = {int.from_bytes(head[:2], "little"), int.from_bytes(head[:2], "big")}
    plausible = False
    if len(head) >= 8 and groups & _RAW_FIRST_GROUPS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(
                    io.BytesIO(head),
                    force=True,
                    stop_before_pixels=True,
                    specific_tags=[0x00080016, 0x00080060, 0x00280010],
                )
            plausible = any(k in ds for k in ("SOPClassUID", "Modality", "Rows"))
        except Exception:  # noqa: BLE001 - any failure here only means "not DICOM"
            plausible = False
    if plausible:
        raise CorruptDicomError(
            describe(
                path,
                "DICOM dataset without the Part 10 header (no preamble or File Meta "
                "Information), so its transfer syntax is unknown",
                "re-export as a DICOM Part 10 file",
            )
        ) from exc
    raise NotDicomError(describe(path, "not a DICOM file", "pass a DICOM Part 10 file")) from exc


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read a whole DICOM Part 10 file (call inside :func:`file_boundary`).

    Raises
    ------
    InputError, NotDicomError, CorruptDicomError
    """
    p = check_path(path)
    try:
        ds = pydicom.dcmread(p)
    except InvalidDicomError as exc:
        _reject_non_part10(p, exc)
        raise  # unreachable: _reject_non_part10 always raises
    _require_part10(ds, p)
    return ds


@dataclass(frozen=True)
class PixelElement:
    """Where the header read stopped: which pixel element follows, and its length."""

    tag: int | None  # None: the file has no pixel data element
    length: int | None  # 0xFFFFFFFF for encapsulated (compressed) data
    # Bytes left in the file from the element's start: a native value longer than this means a
    # truncated file, which peek can then report without reading a pixel (None: unknown).
    available: int | None = None


def read_header(path: str | os.PathLike, tags: list[int]) -> tuple[Dataset, PixelElement]:
    """Read only ``tags`` from the header, stopping before the pixel data (no pixel bytes read).

    Unlike ``dcmread(stop_before_pixels=True)`` this also reports whether, and how much,
    pixel data follows, which :func:`dxaspine.io.peek` needs to classify a file.
    """
    p = check_path(path)
    seen: list[tuple[int, int]] = []

    def at_pixels(tag: int, vr: str | None, length: int) -> bool:
        if tag in PIXEL_TAGS:
            seen.append((int(tag), int(length)))
            return True
        return False

    with open(p, "rb") as fp:
        try:
            ds = read_partial(fp, stop_when=at_pixels, specific_tags=tags)
        except InvalidDicomError as exc:
            _reject_non_part10(p, exc)
            raise
        available = os.fstat(fp.fileno()).st_size - fp.tell()
    _require_part10(ds, p)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax == "1.2.840.10008.1.2.1.99":  # Deflated: file offsets are not dataset offsets
        available = None
    tag, length = seen[0] if seen else (None, None)
    return ds, PixelElement(tag, length, available if tag is not None else None)
