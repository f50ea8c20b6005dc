"""Safe DICOM reading: the one place where pydicom and numpy exceptions become ``DxaError``.

Everything that touches a file's bytes runs inside :func:`file_boundary`, which

- turns every exception a damaged file can provoke in pydicom, numpy or a pixel plugin
  (``BaseException`` subclasses included) into a :class:`~dxaspine.errors.DxaError`
  subclass with a one-line message (docs/architecture.md, Errors) that quotes no header value,
- records the warnings pydicom emits about the file and logs them instead, so that a
  caller with ``-W error`` (our pytest config) does not crash on a slightly odd header.

Files without the DICOM Part 10 header (no preamble, no File Meta Information) are rejected
rather than read by guessing: the transfer syntax, and with it the byte order of the
pixels, would be a guess (a file without a transfer syntax cannot be read safely).
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial

from dxaspine.errors import CorruptDicomError, DxaError, InputError, NotDicomError, describe
from dxaspine.io.safe_values import exception_summary, redact

logger = logging.getLogger(__name__)

# Pixel data tags, in file order: reading a header stops at the first of them.
PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)

# Exceptions that must never be converted: the user or the interpreter is stopping us.
_NEVER_CONVERTED = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _conversion(exc: BaseException, source: object) -> DxaError:
    """The DxaError for an exception raised while reading or decoding ``source``.

    Every exception counts: a damaged file can make pydicom, numpy or a pixel plugin raise
    anything, including ``BaseException`` subclasses such as pylibjpeg-rle's
    ``pyo3_runtime.PanicException`` (a Rust panic on damaged RLE segments).  The message
    names the exception class only: library texts quote the bytes they choke on, which
    may be a patient name (docs/hardening.md §4).  The full text goes to the debug log.
    """
    if isinstance(exc, InvalidDicomError):
        return NotDicomError(describe(source, "not a DICOM file", "pass a DICOM Part 10 file"))
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno == errno.ELOOP:
            problem = "the path is a loop of symbolic links"
        else:
            problem = f"cannot read the file ({exc.strerror or type(exc).__name__})"
        return InputError(describe(source, problem, "check the path, its permissions and the disk"))
    return CorruptDicomError(
        describe(
            source,
            f"damaged or inconsistent DICOM ({exception_summary(exc)})",
            "re-export the image from the scanner or PACS",
        )
    )


@contextlib.contextmanager
def file_boundary(source: object) -> Iterator[None]:
    """Map every exception raised inside the block to ``DxaError``; log file warnings.

    Parameters
    ----------
    source : path-like, str or None
        Names the file in messages.

    Notes
    -----
    Only ``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` pass through unchanged
    (and ``DxaError``, which is already the answer).  Programming errors inside the block
    are converted too: at the file boundary a decoder's ``IndexError`` and a bug cannot be
    told apart, and either way this file, not the run, is what failed.  The traceback is
    logged at DEBUG level (it reaches only a ``--log-file``; see ``dxaspine.cli``).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except DxaError:
            raise
        except _NEVER_CONVERTED:
            raise
        except BaseException as exc:  # noqa: BLE001 - the boundary: see the docstring
            logger.debug("%s: converted %s", source, type(exc).__name__, exc_info=True)
            raise _conversion(exc, source) from exc
        finally:
            for w in caught:
                logger.info("%s: pydicom: %s", source, redact(str(w.message)))


def check_path(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path if it names a non-empty regular file, else raise InputError."""
    p = Path(path)
    try:
        info = p.stat()  # one system call: peek runs this on every file of an archive
    except FileNotFoundError:
        if p.is_symlink():
            raise InputError(
                describe(p, "a symbolic link to a missing file", "fix or remove the link")
            ) from None
        raise InputError(describe(p, "no such file", "check the path")) from None
    except OSError as exc:  # a symlink loop (ELOOP), a name too long, an I/O error
        raise _conversion(exc, p) from None
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
