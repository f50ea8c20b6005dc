"""``load``: DICOM file(s) or a Dataset -> :class:`~dxaspine.io.scan.Scan` (the first stage).

The steps, each in its own module: read safely (:mod:`.reading`), classify the kind
(:mod:`.classify`, asking the kinds registry :mod:`.kinds`), establish the spacing
(:mod:`.spacing`) and orientation (:mod:`.orientation`) from the header, then let the kind
decode and prepare its frames (:attr:`dxaspine.io.kinds.Kind.build`) and orient them head-up /
patient-left-on-the-right.  Cheap header checks come first, so a bad file fails before its
pixels are decoded.

Every problem with the input ends as a ``DxaError`` subclass with a one-line message.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset

from dxaspine.errors import InputError, describe
from dxaspine.io.classify import Recognition, classify
from dxaspine.io.demographics import parse_date, read_patient
from dxaspine.io.kinds import dual_energy, get_kind
from dxaspine.io.orientation import apply_flips, orientation_flips
from dxaspine.io.pixels import decode_frames
from dxaspine.io.plausibility import check_modality_lut
from dxaspine.io.private_block import parsed_once, read_private_block
from dxaspine.io.reading import PIXEL_TAGS, PixelElement, file_boundary, read_dataset
from dxaspine.io.scan import Device, Scan
from dxaspine.io.spacing import resolve_spacing

logger = logging.getLogger(__name__)

Source = str | os.PathLike | Dataset


@dataclasses.dataclass
class _Input:
    """One file's header, recognition and header-derived geometry, before decoding."""

    ds: Dataset
    name: str | None
    owned: bool  # we read it, so we may strip its pixel data for Scan.header
    recognition: Recognition
    spacing: tuple[float, float]
    spacing_source: str
    flips: tuple[str, ...]


def _read(source: Source) -> tuple[Dataset, str | None, bool]:
    if isinstance(source, Dataset):
        filename = getattr(source, "filename", None)
        name = filename if isinstance(filename, str) else None
        return source, name, False
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        with file_boundary(name):
            return read_dataset(name), name, True
    raise TypeError(
        f"load() takes a path, a pydicom Dataset or a list of them, not {type(source)!r}"
    )


def _prepare(source: Source) -> _Input:
    ds, name, owned = _read(source)
    with file_boundary(name):
        pixel_tag = next((t for t in PIXEL_TAGS if t in ds), None)
        recognition = classify(ds, PixelElement(pixel_tag, None), name)
        kind = get_kind(recognition.kind)
        if kind.role != "image":  # a vendor's results: nothing to load as an image
            kind.build(ds, recognition, name)
        spacing, spacing_source, _ = resolve_spacing(ds, name)
        flips = orientation_flips(ds, name)
    return _Input(ds, name, owned, recognition, spacing, spacing_source, flips)


def _header(item: _Input) -> Dataset:
    """The dataset without pixel data (for derived DICOM objects later)."""
    if item.owned:
        header = item.ds
    else:
        header = Dataset()
        header.update({tag: copy.deepcopy(elem) for tag, elem in item.ds.items()})
        if hasattr(item.ds, "file_meta"):
            header.file_meta = copy.deepcopy(item.ds.file_meta)
    for tag in PIXEL_TAGS:
        if tag in header:
            del header[tag]
    return header


def _common_fields(item: _Input) -> dict:
    ds, name = item.ds, item.name
    software = ds.get("SoftwareVersions")
    if software is not None and not isinstance(software, str):
        software = "\\".join(str(v) for v in software)

    def text(keyword: str) -> str | None:
        value = ds.get(keyword)
        return str(value).strip() or None if value is not None else None

    return {
        "pixel_spacing_mm": item.spacing,
        "pixel_spacing_source": item.spacing_source,
        "patient": read_patient(ds, name),
        "device": Device(
            manufacturer=text("Manufacturer"),
            model=text("ManufacturerModelName"),
            software=str(software).strip() or None if software is not None else None,
        ),
        "study_instance_uid": text("StudyInstanceUID"),
        "series_instance_uid": text("SeriesInstanceUID"),
        "sop_instance_uid": text("SOPInstanceUID"),
        "study_date": parse_date(ds.get("StudyDate")),
        "body_part": text("BodyPartExamined"),
        "protocol": text("ProtocolName"),
        "recognised_by": item.recognition.recognised_by,
        "orientation_flips": item.flips,
        "stored_shape": (int(ds.Rows), int(ds.Columns)),
        "path": name,
    }


def _load_one(source: Source) -> Scan:
    item = _prepare(source)
    with file_boundary(item.name):
        kind = get_kind(item.recognition.kind)
        check_modality_lut(item.ds, kind.quantitative, item.name)  # before decoding
        built = kind.build(item.ds, item.recognition, item.name)
        recognised_by = built.pop("recognised_by", None)
        if recognised_by:
            item.recognition = dataclasses.replace(item.recognition, recognised_by=recognised_by)
        frames = {k: apply_flips(v, item.flips) for k, v in built.pop("frames").items()}
        field_mask = apply_flips(built.pop("field_mask"), item.flips)
        return Scan(
            kind=kind.name,
            frames=frames,
            field_mask=field_mask,
            header=_header(item),
            **built,
            **_common_fields(item),
        )


def _check_pair(a: _Input, b: _Input) -> None:
    names = f"{a.name} + {b.name}"
    labels = {a.recognition.energy_label, b.recognition.energy_label}
    problem = None
    if None in labels:
        problem = "not both single-energy files (ImageType value 3 LOW_ENERGY / HIGH_ENERGY)"
    elif labels != {"LOW_ENERGY", "HIGH_ENERGY"}:
        problem = f"both files are {labels.pop()}"
    elif a.ds.get("SOPInstanceUID") and a.ds.get("SOPInstanceUID") == b.ds.get("SOPInstanceUID"):
        problem = "the same instance twice"
    elif (a.ds.get("StudyInstanceUID"), a.ds.get("SeriesInstanceUID")) != (
        b.ds.get("StudyInstanceUID"),
        b.ds.get("SeriesInstanceUID"),
    ):
        problem = "files from different series"
    elif (a.ds.Rows, a.ds.Columns) != (b.ds.Rows, b.ds.Columns):
        problem = f"different shapes ({a.ds.Rows}x{a.ds.Columns} vs {b.ds.Rows}x{b.ds.Columns})"
    elif a.flips != b.flips:
        problem = "different orientations"
    elif not np.allclose(a.spacing, b.spacing, rtol=1e-6):
        problem = f"different pixel spacing ({a.spacing} vs {b.spacing} mm)"
    if problem:
        raise InputError(
            describe(
                names,
                f"not a dual-energy pair: {problem}",
                "pass the LOW_ENERGY and HIGH_ENERGY files of one acquisition",
            )
        )


def _load_pair(first: Source, second: Source) -> Scan:
    a, b = _prepare(first), _prepare(second)
    with file_boundary(f"{a.name} + {b.name}"):
        _check_pair(a, b)
    low, high = (a, b) if a.recognition.energy_label == "LOW_ENERGY" else (b, a)
    physics: dict = {}
    for item in (high, low):  # the low file's values are kept; both are validated
        with file_boundary(item.name):
            physics = dual_energy.physics_fields(read_private_block(item.ds), item.name)
    frames = {}
    for key, item in (("low", low), ("high", high)):
        with file_boundary(item.name):
            check_modality_lut(item.ds, True, item.name)
            frames[key] = apply_flips(decode_frames(item.ds, 1, item.name)[0], item.flips)
    low.recognition = Recognition(
        dual_energy.NAME,
        f"dual-energy pair: {low.recognition.recognised_by} + {high.recognition.recognised_by}",
    )
    with file_boundary(low.name):
        return Scan(
            kind=dual_energy.NAME,
            frames=frames,
            field_mask=np.ones(frames["low"].shape, dtype=bool),
            header=_header(low),
            **physics,
            **_common_fields(low),
        )


def load(source: Source | Sequence[Source]) -> Scan:
    """Load a DXA image (or a dual-energy pair) as a :class:`Scan`.

    Parameters
    ----------
    source : path-like, pydicom.Dataset, or a list of one or two of them
        A 2-frame interchange file, an AREAL_BMD_MAP, a display export, or the two
        single-energy files of a pair (in either order).

    Returns
    -------
    Scan
        Oriented head-up with the patient's left on the image's right.

    Raises
    ------
    NotDicomError, NotDxaError, CorruptDicomError, UnsupportedPixelDataError,
    MissingSpacingError, InputError
        A one-line message naming the file, the problem and the fix.

    Notes
    -----
    - For a pair, ``path``, the UIDs and ``header`` are those of the LOW_ENERGY file.
    - Display values are the stored grey levels after the Modality LUT (MONOCHROME1
      inverted); the VOI LUT / window is display styling and is not applied.
    - Transposed orientations (rows running head-foot) are rejected, not transposed
      (see :mod:`dxaspine.io.orientation`).
    - pydicom's warnings about the file are logged, not raised.  The interception uses
      ``warnings.catch_warnings``, which is process-global: load files in parallel with
      processes (as ``dxaspine batch`` does), not threads, if warnings must stay quiet.

    Examples
    --------
    >>> scan = dxaspine.load("spine.dcm")  # doctest: +SKIP
    >>> scan.kind, scan.pixel_spacing_mm, scan.pixel_spacing_source  # doctest: +SKIP
    ('display', (0.2526, 0.2514), 'ExposedArea')
    """
    with parsed_once():
        return _load(source)


def _load(source: Source | Sequence[Source]) -> Scan:
    if isinstance(source, list | tuple):
        if len(source) == 1:
            return _load_one(source[0])
        if len(source) == 2:
            return _load_pair(source[0], source[1])
        raise InputError(
            describe(
                ", ".join(map(str, source)) or "[]",
                f"{len(source)} files given",
                "pass one file, or the two files of a pair",
            )
        )
    return _load_one(source)
