"""Atomic file writes: a killed run never leaves half a file (temp file, fsync, rename).

Every output dxaspine writes goes through :func:`atomic_open`, which is therefore also the one
place where a failing write (read-only mount, full disk, missing permission) becomes a
one-line :class:`~dxaspine.errors.OutputError` naming the output file and the reason
(docs/hardening.md §3).  Temporary files are named ``.<target>.<random>.tmp`` beside the
target; :func:`remove_stale_temp_files` clears the ones a killed run left behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dxaspine.errors import OutputError, describe

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "output_error",
    "remove_stale_temp_files",
    "TEMP_SUFFIX",
]

TEMP_SUFFIX = ".tmp"

_FIXES = {
    errno.ENOSPC: "free disk space, then run again (dxaspine batch: add --resume)",
    errno.EDQUOT: "free space within your disk quota, then run again",
    errno.EROFS: "choose an output folder on a writable file system",
    errno.EACCES: "choose an output folder you may write to",
    errno.EPERM: "choose an output folder you may write to",
    errno.ENOENT: "create the output folder first, or check the path",
    errno.ENOTDIR: "a part of the output path is a file, not a folder",
    errno.EEXIST: "a part of the output path is a file, not a folder",
    errno.EISDIR: "the output path is a folder; give a file name",
}


def output_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The one-line OutputError for ``exc`` raised while writing ``path``."""
    reason = exc.strerror or type(exc).__name__
    fix = _FIXES.get(exc.errno or -1, "check that the output folder exists and is writable")
    error = OutputError(describe(os.fspath(path), f"cannot write this output ({reason})", fix))
    error.errno = exc.errno  # strerror stays unset: str() is the message (OSError.__str__)
    return error


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success it replaces ``path`` in one rename.

    Raises
    ------
    OutputError
        The folder cannot be created or written, the disk is full, or the rename fails.
        The temp file is removed; ``path`` keeps its previous content (if any).
    """
    if not any(m in mode for m in ("w", "x")):
        raise ValueError(f"atomic_open writes only; got mode {mode!r}")
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as exc:
        raise output_error(target, exc) from exc
    # mkstemp creates 0600; outputs are shared (PACS, research groups), so honour the umask.
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode.replace("x", "w"), **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise output_error(target, exc) from exc
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (OutputError on failure)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (OutputError on failure)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def remove_stale_temp_files(folder: str | os.PathLike, suffixes: tuple[str, ...] = ()) -> int:
    """Delete the temp files a killed :func:`atomic_open` left in ``folder``; return how many.

    Only names of the form ``.<name>.<random>.tmp`` (and ``.<name>.tmp``) are touched, and with
    ``suffixes`` only those whose ``<name>`` ends in one of them (for folders the user shares
    with other programs).  Call it when no other dxaspine process writes to ``folder``.
    """
    removed = 0
    base = Path(folder)
    if not base.is_dir():
        return 0
    for entry in base.iterdir():
        name = entry.name
        if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)) or not entry.is_file():
            continue
        inner = name[1 : -len(TEMP_SUFFIX)]
        target = inner.rsplit(".", 1)[0] if inner.count(".") >= 1 else inner
        if suffixes and not (inner.endswith(suffixes) or target.endswith(suffixes)):
            continue
        try:
            entry.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise output_error(entry, exc) from exc
    if removed:
        logger.info("%s: removed %d stale temporary file(s) of an interrupted run", base, removed)
    return removed
