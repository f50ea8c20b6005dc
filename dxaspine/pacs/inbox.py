"""The inbox: every received instance as ``<inbox>/<StudyInstanceUID>/<SOPInstanceUID>.dcm``.

- **Only validated UIDs reach a path** (:mod:`dxaspine.pacs.uids`): folder and file names are
  digits and dots, and the resolved path is checked to lie inside the inbox as well, so no
  peer can write anywhere else.
- **Atomic**: the bytes go to a temp file in the study folder, are fsynced and renamed
  (:mod:`dxaspine.atomic`); a kill leaves either the whole instance or nothing (a stray
  ``.tmp`` file, ignored and cleaned up on the next start).
- **Idempotent duplicates**: the same SOP Instance UID with the same bytes is ``duplicate``
  and changes nothing.  The same UID with different bytes (a corrected re-send) replaces the
  file and counts as new (``replaced``), so the study is analysed again.
- **Rejected instances** (damaged, inconsistent) are recorded under ``<inbox>/_rejected/``:
  the bytes as received and a JSON record (reason, status, tags).  A rejected instance is
  never part of a study's analysis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from dxaspine.atomic import atomic_write_bytes, atomic_write_text
from dxaspine.pacs.logs import uid_tag
from dxaspine.pacs.uids import is_valid_uid, validate_uid

logger = logging.getLogger(__name__)

__all__ = ["Inbox", "StoreOutcome"]

_SUFFIX = ".dcm"
REJECTED = "_rejected"  # cannot collide with a study folder: UIDs have no underscore


@dataclass(frozen=True)
class StoreOutcome:
    """What :meth:`Inbox.store` did: ``stored``, ``duplicate`` or ``replaced``."""

    action: str
    path: Path


class Inbox:
    """Instances on disk by study; see the module docstring for the guarantees."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def study_dir(self, study_uid: str) -> Path:
        study_uid = validate_uid(study_uid, "StudyInstanceUID")
        path = (self.root / study_uid).resolve()
        # Belt and braces: a valid UID cannot escape, but the check costs nothing.
        if path.parent != self.root:
            raise ValueError("study folder outside the inbox")
        return path

    def instance_path(self, study_uid: str, sop_uid: str) -> Path:
        sop_uid = validate_uid(sop_uid, "SOPInstanceUID")
        path = self.study_dir(study_uid) / f"{sop_uid}{_SUFFIX}"
        if path.parent.parent != self.root:
            raise ValueError("instance path outside the inbox")
        return path

    def store(self, study_uid: str, sop_uid: str, data: bytes) -> StoreOutcome:
        """Write one instance atomically (raises InvalidUidError or OSError, writes nothing)."""
        path = self.instance_path(study_uid, sop_uid)
        action = "stored"
        if path.exists():
            if _same_bytes(path, data):
                return StoreOutcome("duplicate", path)
            action = "replaced"
        atomic_write_bytes(path, data)
        logger.debug(
            "%s instance %s of study %s (%d bytes)",
            action,
            uid_tag(sop_uid),
            uid_tag(study_uid),
            len(data),
        )
        return StoreOutcome(action, path)

    def studies(self) -> list[str]:
        """Study UIDs with a folder in the inbox (stray names are ignored)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_valid_uid(p.name))

    def instances(self, study_uid: str) -> dict[str, Path]:
        """``{SOPInstanceUID: path}`` of a study's complete instances (temp files skipped)."""
        folder = self.study_dir(study_uid)
        if not folder.is_dir():
            return {}
        out = {}
        for path in folder.iterdir():
            sop = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else None
            if sop and is_valid_uid(sop) and path.is_file():
                out[sop] = path
        return dict(sorted(out.items()))

    def clean_temp_files(self) -> int:
        """Remove temp files left by a killed write (``.<name>.*.tmp``); returns the count."""
        removed = 0
        for folder in [self.root, *(self.root / s for s in self.studies())]:
            for path in folder.glob(".*.tmp"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def record_rejected(
        self, data: bytes | None, *, reason: str, status: int, study_uid=None, sop_uid=None
    ) -> Path:
        """Keep a refused instance for inspection; the record holds tags, never UIDs' text."""
        folder = self.root / REJECTED
        digest = hashlib.sha256(data or b"").hexdigest()[:16]
        stem = f"{time.strftime('%Y%m%dT%H%M%S')}_{digest}"
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": f"0x{status:04X}",
            "reason": reason,
            "study": uid_tag(study_uid) if study_uid else None,
            "instance": uid_tag(sop_uid) if sop_uid else None,
            "bytes": len(data or b""),
            "sha256_16": digest,
        }
        if data:
            atomic_write_bytes(folder / f"{stem}.dcm", data)
        path = folder / f"{stem}.json"
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        return path

    def rejected(self) -> list[dict]:
        """The JSON records of refused instances, oldest first."""
        folder = self.root / REJECTED
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False
