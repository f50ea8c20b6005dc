"""``load``: DICOM file(s) or a Dataset -> :class:`~dxaspine.io.scan.Scan` (the first stage).

The steps, each in its own module: read safely (:mod:`.reading`), classify the kind
(:mod:`.classify`), establish the spacing (:mod:`.spacing`) and orientation
(:mod:`.orientation`) from the header, then decode the pixels (:mod:`.pixels`), orient them
head-up / patient-left-on-the-right, and for display images mask the saturated strips
outside the field (:mod:`.display_field`) and inpaint burned-in vendor graphics
(:mod:`.annotations`).  Cheap header checks come first, so a bad file
fails before its pixels are decoded.

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

from dxaspine.errors import CorruptDicomError, InputError, describe
from dxaspine.io.annotations import remove_burned_in_graphics
from dxaspine.io.classify import Recognition, classify
from dxaspine.io.demographics import parse_date, read_patient
from dxaspine.io.display_field import display_field_mask
from dxaspine.io.orientation import apply_flips, orientation_flips
from dxaspine.io.pixels import decode_frames, stored_value_range, to_bone_bright
from dxaspine.io.plausibility import check_modality_lut
from dxaspine.io.private_block import PrivateBlock, read_private_block
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


def _pair_values(
    values: tuple[float, ...] | None, what: str, name: str | None
) -> tuple[float, float] | None:
    if values is None:
        return None
    if len(values) != 2 or not all(np.isfinite(v) and v > 0 for v in values):
        raise CorruptDicomError(
            describe(
                name,
                f"DXASPINE {what} {list(values)} must be two positive numbers [low, high]",
                "fix the private block (DESIGN.md Contract 1)",
            )
        )
    return float(values[0]), float(values[1])


def _physics(block: PrivateBlock | None, name: str | None) -> dict:
    if block is None:
        logger.warning("%s: no DXASPINE private block; energies and I0 unknown", name)
        return {"energies_kev": None, "i0_counts": None, "bone_mu_cm2_g": None}
    energies = _pair_values(block.energies_kev, "energies_kev", name)
    if energies is not None and not energies[0] < energies[1]:
        raise CorruptDicomError(
            describe(
                name,
                f"DXASPINE energies {list(energies)} keV are not [low, high]",
                "write the low energy first (DESIGN.md Contract 1)",
            )
        )
    return {
        "energies_kev": energies,
        "i0_counts": _pair_values(block.i0_counts, "I0", name),
        "bone_mu_cm2_g": _pair_values(block.bone_mu_cm2_g, "bone coefficients", name),
    }


def _frame_order(ds: Dataset, name: str | None) -> tuple[int, int]:
    """(index of the low frame, index of the high frame) from FrameLabelVector."""
    labels = ds.get("FrameLabelVector")
    if labels is None or labels == "":
        return 0, 1  # profile default: low, high
    values = [labels] if isinstance(labels, str) else [str(v) for v in labels]
    values = [v.strip().upper() for v in values]
    if sorted(values) != ["HIGH_ENERGY", "LOW_ENERGY"]:
        raise CorruptDicomError(
            describe(
                name,
                "FrameLabelVector must be LOW_ENERGY and HIGH_ENERGY",
                "set FrameLabelVector to LOW_ENERGY\\HIGH_ENERGY (DESIGN.md Contract 1)",
            )
        )
    return values.index("LOW_ENERGY"), values.index("HIGH_ENERGY")


def _load_one(source: Source) -> Scan:
    item = _prepare(source)
    ds, name, kind = item.ds, item.name, item.recognition.kind
    with file_boundary(name):
        if item.recognition.energy_label is not None:
            raise InputError(
                describe(
                    name,
                    f"one half ({item.recognition.energy_label}) of a dual-energy pair",
                    "pass both files together: dxaspine.load([low_path, high_path])",
                )
            )
        # Header checks first, so that a bad profile fails before decoding.
        extra: dict = {}
        check_modality_lut(ds, kind, name)
        if kind == "dual_energy":
            low, high = _frame_order(ds, name)
            extra = _physics(read_private_block(ds), name)
        decoded = decode_frames(ds, item.recognition.frames, name)
        mask = np.ones(decoded.shape[1:], dtype=bool)  # DE and BMD maps: the whole matrix
        if kind == "dual_energy":
            frames = {"low": decoded[low], "high": decoded[high]}
        elif kind == "bmd_map":
            frames = {"bmd": decoded[0]}
        else:
            image, inverted = to_bone_bright(decoded[0], ds)
            if inverted:
                item.recognition = Recognition(
                    kind, item.recognition.recognised_by + "; MONOCHROME1 inverted to bone-bright"
                )
            white = stored_value_range(ds)[1]
            mask = display_field_mask(image, white)
            image, mask = _remove_graphics(image, mask, white, item)
            frames = {"display": image}
        frames = {k: apply_flips(v, item.flips) for k, v in frames.items()}
        return Scan(
            kind=kind,
            frames=frames,
            field_mask=apply_flips(mask, item.flips),
            header=_header(item),
            **extra,
            **_common_fields(item),
        )


def _remove_graphics(
    image: np.ndarray, mask: np.ndarray, white: float, item: _Input
) -> tuple[np.ndarray, np.ndarray]:
    """Inpaint burned-in vendor graphics (display kind only; :mod:`.annotations`)."""
    removal = remove_burned_in_graphics(image, mask, white)
    if removal.removed_px == 0:
        return image, mask
    share = removal.removed_px / max(int(mask.sum()), 1)
    note = f"burned-in graphics removed: {removal.removed_px} px ({share:.2%} of the field)"
    if removal.untrusted_px:
        note += f", {removal.untrusted_px} px of them outside the field (too wide to inpaint)"
    logger.info("%s: %s", item.name, note)
    item.recognition = dataclasses.replace(
        item.recognition, recognised_by=f"{item.recognition.recognised_by}; {note}"
    )
    return removal.image, removal.field_mask


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
            physics = _physics(read_private_block(item.ds), item.name)
    frames = {}
    for key, item in (("low", low), ("high", high)):
        with file_boundary(item.name):
            check_modality_lut(item.ds, "dual_energy", item.name)
            frames[key] = apply_flips(decode_frames(item.ds, 1, item.name)[0], item.flips)
    low.recognition = Recognition(
        "dual_energy",
        f"dual-energy pair: {low.recognition.recognised_by} + {high.recognition.recognised_by}",
    )
    with file_boundary(low.name):
        return Scan(
            kind="dual_energy",
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
