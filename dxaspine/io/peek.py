"""Header-only classification for archive discovery: ``peek(path) -> PeekResult``.

``peek`` reads only the attributes classification needs and stops before the pixel data, so
it costs a small fraction of a full read (see ``benchmarks/bench_peek.py``).  It never
raises for a bad file: it returns ``kind=None`` with the reason ``load`` would give.
A file that ``peek`` accepts can still fail in ``load`` (damaged pixel data, missing
plugin, no spacing), because those checks need the pixels or the full header.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dxaspine.errors import DxaError, describe
from dxaspine.io import _header_values as header_values
from dxaspine.io.classify import all_header_tags, classify, energy_label, frame_count
from dxaspine.io.reading import file_boundary, read_header
from dxaspine.io.scan import ScanKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeekResult:
    """What a header says about a file.

    ``kind`` is None when the file is unusable; ``reason`` is then the one-line message and
    ``error_class`` the name of the DxaError subclass ``load`` would raise.  For one half of a
    dual-energy pair, ``kind`` is ``"dual_energy"`` and ``energy_label`` names the half.
    """

    path: str
    kind: ScanKind | None
    reason: str | None = None
    error_class: str | None = None
    recognised_by: str | None = None
    energy_label: str | None = None
    sop_instance_uid: str | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    sop_class_uid: str | None = None
    modality: str | None = None
    image_type: tuple[str, ...] = ()
    rows: int | None = None
    cols: int | None = None
    frames: int | None = None
    instance_number: int | None = None
    transfer_syntax_uid: str | None = None

    @property
    def is_pair_member(self) -> bool:
        return self.kind == "dual_energy" and self.energy_label is not None


def _str(ds: Dataset, keyword: str) -> str | None:
    try:
        return header_values.text(ds, tag_for_keyword(keyword)) or None
    except Exception:  # noqa: BLE001 - peek never raises for a bad header
        return None


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        return header_values.integer(ds, tag_for_keyword(keyword))
    except Exception:  # noqa: BLE001 - peek never raises for a bad header
        return None


def _describe_header(path: str, ds: Dataset | None) -> dict:
    if ds is None:
        return {"path": path}
    meta = getattr(ds, "file_meta", None)
    try:
        image_type = tuple(str(v) for v in header_values.values(ds, 0x00080008) or ())
        frames, label = frame_count(ds), energy_label(ds)
    except Exception:  # noqa: BLE001 - peek never raises for a bad header
        image_type, frames, label = (), None, None
    return {
        "path": path,
        "sop_instance_uid": _str(ds, "SOPInstanceUID"),
        "series_instance_uid": _str(ds, "SeriesInstanceUID"),
        "study_instance_uid": _str(ds, "StudyInstanceUID"),
        "sop_class_uid": _str(ds, "SOPClassUID"),
        "modality": _str(ds, "Modality"),
        "image_type": image_type,
        "rows": _int(ds, "Rows"),
        "cols": _int(ds, "Columns"),
        "frames": frames,
        "instance_number": _int(ds, "InstanceNumber"),
        "energy_label": label,
        "transfer_syntax_uid": _str(meta, "TransferSyntaxUID") if meta is not None else None,
    }


def peek(path: str | os.PathLike) -> PeekResult:
    """Classify a file from its header alone; never raises for a bad file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    PeekResult
    """
    name = os.fspath(path)
    ds = None
    try:
        with file_boundary(name):
            ds, pixel = read_header(name, all_header_tags())
            recognition = classify(ds, pixel, name)
    except DxaError as exc:
        fields = _describe_header(name, ds)
        fields.pop("energy_label", None)
        return PeekResult(kind=None, reason=str(exc), error_class=type(exc).__name__, **fields)
    except Exception as exc:  # noqa: BLE001 - discovery must go on; load will say more
        logger.debug("%s: unexpected error in peek", name, exc_info=True)
        reason = describe(name, f"unreadable header ({type(exc).__name__})", "try dxaspine.load")
        return PeekResult(kind=None, reason=reason, error_class=type(exc).__name__, path=name)
    fields = _describe_header(name, ds)
    fields["energy_label"] = recognition.energy_label
    return PeekResult(kind=recognition.kind, recognised_by=recognition.recognised_by, **fields)


def pair_dual_energy(
    results: Iterable[PeekResult],
) -> tuple[list[tuple[PeekResult, PeekResult]], list[PeekResult]]:
    """Pair single-energy files into (low, high) dual-energy inputs.

    Files pair when they share StudyInstanceUID, SeriesInstanceUID and size, and one is
    ``LOW_ENERGY`` and the other ``HIGH_ENERGY``.  A series with several files per energy
    pairs them in InstanceNumber order; anything left over is returned unpaired, as are
    results that are not pair members.

    Returns
    -------
    pairs : list of (low, high) PeekResult
    unpaired : list of PeekResult
    """
    groups: dict[tuple, dict[str, list[PeekResult]]] = defaultdict(lambda: defaultdict(list))
    unpaired: list[PeekResult] = []
    for result in results:
        if not result.is_pair_member or result.series_instance_uid is None:
            unpaired.append(result)
            continue
        key = (result.study_instance_uid, result.series_instance_uid, result.rows, result.cols)
        groups[key][result.energy_label].append(result)
    pairs: list[tuple[PeekResult, PeekResult]] = []
    for by_label in groups.values():
        order = lambda r: (r.instance_number is None, r.instance_number or 0, r.path)  # noqa: E731
        lows = sorted(by_label.get("LOW_ENERGY", []), key=order)
        highs = sorted(by_label.get("HIGH_ENERGY", []), key=order)
        pairs.extend(zip(lows, highs, strict=False))
        n = min(len(lows), len(highs))
        unpaired.extend(lows[n:] + highs[n:])
    return pairs, unpaired
