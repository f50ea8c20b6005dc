"""Archive discovery: list inputs, classify each file from its header, pair, de-duplicate,
and put each study's vendor results with its image.

Discovery reads headers only (``dxaspine.io.peek``), so a million-file archive is classified
without decoding a pixel.  It yields a stream of :class:`Work`, :class:`Skip` and
:class:`Failure` records; memory holds the de-duplication keys, the dual-energy halves still
waiting for their partner, and the vendor results objects by study.

**Studies, not files.**  A study's vendor results (GE/Hologic SR or XML, TID 1500) may sit in
any folder of the archive, before or after its image, so they are indexed first
(:func:`index_vendor_results`, one header read per file, the same walk that counts inputs for
the progress bar): every image's :class:`Work` then carries its study's results, and a study
with results but no image becomes one results-only :class:`Work` at the end.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from dxaspine.io.safe_values import uid_text

logger = logging.getLogger(__name__)

_LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class Work:
    """One analysis: a single file, or a (low, high) dual-energy pair, with the vendor results
    of its study; ``paths`` empty: a study with vendor results only."""

    key: str
    paths: tuple[str, ...]
    vendor_paths: tuple[str, ...] = ()


# The first pass keeps the header summaries of this many files for :func:`discover`, so that
# an archive of up to this size has each header read once, and a larger one has its first
# files read once (about 1 KiB each: the runner's memory stays bounded; issue 17).
KEEP_PEEKED = 4096


@dataclass
class VendorIndex:
    """The archive's vendor results objects by StudyInstanceUID (header-only first pass)."""

    by_study: dict[str, list[str]] = field(default_factory=dict)
    files: int = 0  # input files walked (the progress bar's total)
    # path -> what ``peek`` said in the first pass (at most KEEP_PEEKED), and that peek
    peeked: dict[str, object] = field(default_factory=dict, repr=False)
    peek: Callable | None = field(default=None, repr=False)

    def of(self, study_uid: str | None) -> tuple[str, ...]:
        return tuple(self.by_study.get(study_uid, ())) if study_uid else ()


def _is_results(info) -> bool:
    from dxaspine.io.kinds import get_kind

    try:
        return info.kind is not None and get_kind(info.kind).role == "results"
    except KeyError:
        return False


def index_vendor_results(
    paths: Iterable[str], peek: Callable | None = None, keep: int = KEEP_PEEKED
) -> VendorIndex:
    """The vendor results objects among ``paths``, by study, and how many files there are.

    Parameters
    ----------
    paths : iterable of str
    peek : callable, optional
        Header-only classification (default :func:`dxaspine.io.peek`).
    keep : int
        How many files' ``peek`` results to keep for :func:`discover` (the first ones), so
        that it does not read those headers again.

    Returns
    -------
    VendorIndex
    """
    if peek is None:
        from dxaspine.io import peek
    index = VendorIndex(peek=peek)
    seen: set[bytes] = set()
    for path in paths:
        index.files += 1
        info = peek(path)
        if len(index.peeked) < keep:
            index.peeked[path] = info
        if not (_is_results(info) and getattr(info, "study_instance_uid", None)):
            continue
        digest = _uid_digest(info.sop_instance_uid) if info.sop_instance_uid else None
        if digest is not None and digest in seen:
            continue  # a copy of a results object already indexed
        if digest is not None:
            seen.add(digest)
        index.by_study.setdefault(info.study_instance_uid, []).append(path)
    return index


@dataclass(frozen=True)
class Skip:
    key: str
    path: str
    reason: str
    error_class: str | None = None  # "NotDicomError" for a file that is not DICOM at all


@dataclass(frozen=True)
class Failure:
    key: str
    path: str
    stage: str
    error_class: str
    message: str


Record = Work | Skip | Failure


def path_key(path: str) -> str:
    return "path:" + os.path.abspath(path)


def _uid_digest(uid: str) -> bytes:
    # 8-byte digests keep the de-duplication set small on 10^6-file archives.
    return hashlib.blake2b(uid.encode(), digest_size=8).digest()


def iter_input_paths(source: str, pattern: str | None = None) -> Iterator[str]:
    """Files named by ``source``: a folder (recursive), a file list (one path a line) or a glob.

    ``pattern`` filters file names (e.g. ``"*.dcm"``) in folder mode.
    """
    if os.path.isdir(source):

        def unreadable(exc: OSError) -> None:  # os.walk would skip it in silence
            logger.warning(
                "%s: cannot list this folder (%s); its files are not analysed",
                exc.filename,
                exc.strerror,
            )

        for root, dirs, files in os.walk(source, onerror=unreadable):
            dirs.sort()
            for name in sorted(files):
                if name.startswith("."):
                    continue
                if pattern and not fnmatch.fnmatch(name, pattern):
                    continue
                yield os.path.join(root, name)
    elif os.path.isfile(source) and source.lower().endswith(_LIST_SUFFIXES):
        base = os.path.dirname(os.path.abspath(source))
        with open(source, encoding="utf-8") as handle:
            for line in handle:
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    yield entry if os.path.isabs(entry) else os.path.join(base, entry)
    elif os.path.isfile(source):
        yield source
    else:
        yield from sorted(glob.glob(source, recursive=True))


def discover(
    paths: Iterable[str],
    peek: Callable | None = None,
    seen_uids: set[bytes] | None = None,
    vendor: VendorIndex | None = None,
) -> Iterator[Record]:
    """Classify ``paths`` by header and yield work, skips and discovery failures in order.

    ``seen_uids`` carries SOP Instance UID digests across calls (and from a resumed run), so
    a duplicate anywhere in the archive is analysed once and skipped with a reason after.
    ``vendor`` (from :func:`index_vendor_results`) attaches each study's vendor results to its
    images; its results files are not work of their own, except for studies with no image.
    """
    if peek is None:
        from dxaspine.io import peek
    seen: set[bytes] = seen_uids if seen_uids is not None else set()
    first_path: dict[bytes, str] = {}
    waiting: dict[str, tuple[str, str, str]] = {}  # series UID -> (energy, path, sop uid)

    vendor = vendor or VendorIndex()
    # the first pass's header summaries, when it used the same peek (each is used once)
    peeked = vendor.peeked if vendor.peek is peek else {}
    studies_with_image: set[str] = set()
    for path in paths:
        info = peeked.pop(path, None) or peek(path)
        if info.kind is None:
            yield _unusable(path, info)
            continue
        if _is_results(info):
            if not getattr(
                info, "study_instance_uid", None
            ):  # no study to pair with: assessed on its own
                yield Work(f"uid:{info.sop_instance_uid}" if info.sop_instance_uid
                           else path_key(path), (), (path,))  # fmt: skip
            continue  # with its study's image, or at the end (below)
        study = getattr(info, "study_instance_uid", None)
        if study:
            studies_with_image.add(study)
        uid = info.sop_instance_uid or ""
        digest = _uid_digest(uid) if uid else None
        if digest is not None and digest in seen:
            original = first_path.get(digest, "an earlier file or run")
            yield Skip(path_key(path), path, f"duplicate SOPInstanceUID of {original}")
            continue
        if digest is not None:
            seen.add(digest)
            first_path[digest] = path
            if len(first_path) > 100_000:  # keep only the digests; paths are for messages
                first_path.clear()
        energy = getattr(info, "energy_label", None)
        if info.kind == "dual_energy" and energy in ("LOW_ENERGY", "HIGH_ENERGY"):
            series = info.series_instance_uid or ""
            partner = waiting.pop(series, None)
            if partner is None or partner[0] == energy:
                if partner is not None:  # two halves of one energy: keep the first, report it
                    yield Failure(
                        path_key(partner[1]),
                        partner[1],
                        "discover",
                        "CorruptDicomError",
                        f"{partner[1]}: second {energy} file in series {uid_text(series)}; "
                        "a dual-energy pair needs one LOW_ENERGY and one HIGH_ENERGY file",
                    )
                waiting[series] = (energy, path, uid)
                continue
            low, high = (
                (partner, (energy, path, uid))
                if partner[0] == "LOW_ENERGY"
                else ((energy, path, uid), partner)
            )
            yield Work(f"uid:{low[2]}+{high[2]}", (low[1], high[1]), vendor.of(study))
            continue
        yield Work(f"uid:{uid}" if uid else path_key(path), (path,), vendor.of(study))

    for study, files in vendor.by_study.items():
        if study not in studies_with_image:
            yield Work(f"study:{study}", (), tuple(files))

    for series, (energy, path, _uid) in sorted(waiting.items()):
        missing = "HIGH_ENERGY" if energy == "LOW_ENERGY" else "LOW_ENERGY"
        yield Failure(
            path_key(path),
            path,
            "discover",
            "CorruptDicomError",
            f"{path}: {energy} file of series {uid_text(series)} has no {missing} partner; "
            "add the missing file or export the interchange 2-frame form",
        )


def _unusable(path: str, info) -> Skip | Failure:
    """Non-DXA files are skips with a reason; damaged ones are discovery errors."""
    reason = getattr(info, "reason", None) or "not a DXA spine image"
    error_class = getattr(info, "error_class", None)
    if error_class in (None, "NotDxaError", "NotDicomError"):
        return Skip(path_key(path), path, reason, error_class)
    return Failure(path_key(path), path, "discover", error_class, reason)


def count_inputs(source: str, pattern: str | None = None) -> int:
    """Number of candidate files (a cheap directory walk, for the progress bar's ETA)."""
    return sum(1 for _ in iter_input_paths(source, pattern))


__all__ = [
    "VendorIndex",
    "Work",
    "index_vendor_results",
    "Skip",
    "Failure",
    "Record",
    "discover",
    "iter_input_paths",
    "count_inputs",
    "path_key",
]
