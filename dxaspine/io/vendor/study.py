"""Studies, not files: group inputs by StudyInstanceUID, vendor results beside images.

:func:`group_by_study` reads headers only (the tags of :data:`HEADER_TAGS` plus the study
UID) and sorts each file into a :class:`StudyFiles`: ``vendor`` (recognised results objects,
with their kind) and ``others`` (everything else: images for the image kinds to classify, or
files that are neither).  Files whose header cannot be read are listed in ``unreadable`` with
the reason, never dropped.  This is the entry point ``analyze``/``batch`` use to pair a study's
image with its vendor numbers (docs/vendor_results.md §9); it does not decide image kinds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from dxaspine.errors import DxaError
from dxaspine.io.reading import file_boundary, read_header
from dxaspine.io.vendor.detect import HEADER_TAGS, recognise_with_reason

__all__ = ["StudyFiles", "group_by_study"]

_STUDY_UID = 0x0020000D


@dataclass
class StudyFiles:
    """The files of one study (``study_instance_uid`` None: files without one)."""

    study_instance_uid: str | None
    vendor: list[tuple[str, str]] = field(default_factory=list)  # (path, kind)
    others: list[str] = field(default_factory=list)


def group_by_study(
    paths: Iterable[str | os.PathLike],
) -> tuple[dict[str | None, StudyFiles], list[tuple[str, str]]]:
    """Group files by StudyInstanceUID from their headers.

    Returns
    -------
    studies : dict
        StudyInstanceUID -> StudyFiles, in the order studies were first seen.
    unreadable : list of (path, reason)
    """
    studies: dict[str | None, StudyFiles] = {}
    unreadable: list[tuple[str, str]] = []
    for path in paths:
        name = os.fspath(path)
        try:
            with file_boundary(name):
                ds, _ = read_header(name, [*HEADER_TAGS, _STUDY_UID])
        except DxaError as exc:
            unreadable.append((name, str(exc)))
            continue
        uid = str(ds.get("StudyInstanceUID") or "").strip() or None
        study = studies.setdefault(uid, StudyFiles(uid))
        kind, _ = recognise_with_reason(ds)
        if kind is None:
            study.others.append(name)
        else:
            study.vendor.append((name, kind))
    return studies, unreadable
