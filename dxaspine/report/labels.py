"""The level label export: the segmentation as files anyone can compute metrics on.

``dxaspine analyze --labels OUT.png`` (and ``dxaspine batch --labels-dir DIR``) writes, for one
scan (docs/benchmark.md, "Label export"):

- ``OUT.png``: a 16-bit greyscale PNG of the **stored** image's shape (the file's own pixel
  grid: the head-up segmentation is flipped back with the scan's ``orientation_flips``, as the
  line coordinates of Contract 2 are mapped back with ``Scan.to_stored_xy``).  A pixel holds
  ``k`` when it belongs to level ``k`` of the level list (1-based, top to bottom), 0 outside
  every level.  Levels are the analysis-box regions between two intervertebral lines, bone or
  not (``Segmentation.label_image``); intersect with the bone mask for the DXA bone area.  The
  PNG carries the level list in a text chunk ``dxaspine:levels`` (JSON ``{"1": "T12", ...}``),
  so the picture alone says which value is which level.
- ``OUT.json``: the sidecar with the same level list (``label_codes``), the pixel spacing
  (row, column) in mm, the flips, the intervertebral lines in stored ``[column, row]``
  coordinates and the label confidences.  It is a valid benchmark truth file
  (:mod:`dxaspine.bench.truth`, format 1.0): rename it ``<case>.truth.json`` after correcting
  it by hand and a segmentation becomes an annotation.
- ``OUT.bone.png``: the bone mask (8-bit, 255 bone, 0 not) on the same grid.
- ``OUT.nii.gz`` when nibabel is installed: the label image as a NIfTI-1 volume of shape
  (columns, rows, 1) with the pixel spacing in ``pixdim`` and an affine that puts the
  projection plane in RAS+ world space (docs/benchmark.md, "Label export": columns of the
  head-up image run to the patient's left, -x; rows to the feet, -z; the projection axis is
  +y with a nominal 1 mm).  Without nibabel it is left out with one log line.

This module reads only the ``ScanResult``; it imports nothing of :mod:`dxaspine.io`
(reading and writing stay apart, docs/architecture.md).
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dxaspine.atomic import atomic_write_bytes, atomic_write_text

__all__ = [
    "LEVELS_TEXT_KEY",
    "LabelExport",
    "label_export",
    "label_png_bytes",
    "nifti_affine",
    "read_label_png",
    "write_labels",
]

logger = logging.getLogger(__name__)

LEVELS_TEXT_KEY = "dxaspine:levels"  # PNG tEXt keyword holding {"1": "T12", ...}
TRUTH_FORMAT_VERSION = "1.0"  # dxaspine.bench.truth reads the sidecar as this format
_NIFTI_PROJECTION_MM = 1.0  # the projection axis has no thickness; a nominal 1 mm voxel


@dataclass(frozen=True)
class LabelExport:
    """One scan's segmentation on the stored pixel grid."""

    label_image: np.ndarray  # uint16 (rows, cols): k for level k (1-based), 0 elsewhere
    bone_mask: np.ndarray  # bool (rows, cols)
    label_codes: dict[int, str]  # k -> level name, top to bottom
    pixel_spacing_mm: tuple[float, float]  # (row, column)
    flips: tuple[str, ...]  # flips applied on load; the export undoes them
    lines: tuple[dict, ...]  # {"name", "left", "right"} in stored [column, row]
    label_confidence: dict[str, float]


def _to_stored(array: np.ndarray, flips: tuple[str, ...]) -> np.ndarray:
    # A flip is its own inverse: the same flips that made the image head-up restore it.
    out = array
    if "rows" in flips:
        out = out[::-1, :]
    if "columns" in flips:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def label_export(scan, seg) -> LabelExport:
    """The label export of one segmented scan (``Scan``, ``Segmentation``) on the stored grid."""
    flips = tuple(scan.orientation_flips)
    labels = np.asarray(seg.label_image)
    if labels.size and (labels.min() < 0 or labels.max() > len(seg.labels)):
        raise ValueError(
            f"label image values {labels.min()}..{labels.max()} do not index the "
            f"{len(seg.labels)} levels"
        )
    lines = []
    for line in seg.lines:
        a = [float(v) for v in scan.to_stored_xy(*line.left)]
        b = [float(v) for v in scan.to_stored_xy(*line.right)]
        left, right = (a, b) if a[0] <= b[0] else (b, a)  # left = smaller stored column
        lines.append({"name": line.name, "left": left, "right": right})
    return LabelExport(
        label_image=_to_stored(labels.astype(np.uint16), flips),
        bone_mask=_to_stored(np.asarray(seg.bone_mask, dtype=bool), flips),
        label_codes={i + 1: name for i, name in enumerate(seg.labels)},
        pixel_spacing_mm=(float(scan.pixel_spacing_mm[0]), float(scan.pixel_spacing_mm[1])),
        flips=flips,
        lines=tuple(lines),
        label_confidence={
            name: float(c) for name, c in zip(seg.labels, seg.label_confidence, strict=False)
        },
    )


def label_png_bytes(label_image: np.ndarray, label_codes: dict[int, str]) -> bytes:
    """16-bit PNG of ``label_image`` with the level list in the ``dxaspine:levels`` chunk."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(LEVELS_TEXT_KEY, json.dumps({str(k): v for k, v in label_codes.items()}))
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(label_image, dtype=np.uint16)).save(
        buffer, format="PNG", pnginfo=info
    )
    return buffer.getvalue()


def read_label_png(path: str | Path) -> tuple[np.ndarray, dict[int, str] | None]:
    """The label image (int32) and the level list of its text chunk (None when absent)."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        text = dict(getattr(image, "text", {}) or {})
        array = np.asarray(image).astype(np.int32)
    codes = None
    if LEVELS_TEXT_KEY in text:
        codes = {int(k): str(v) for k, v in json.loads(text[LEVELS_TEXT_KEY]).items()}
    return array, codes


def nifti_affine(export: LabelExport) -> np.ndarray:
    """Voxel (column, row, 0) of the stored image -> RAS+ mm (see the module docstring)."""
    spacing_r, spacing_c = export.pixel_spacing_mm
    # head-up, patient's left on the right: columns run to the patient's left (-x in RAS+),
    # rows to the feet (-z); a stored flip reverses that axis.
    column_sign = 1.0 if "columns" in export.flips else -1.0
    row_sign = 1.0 if "rows" in export.flips else -1.0
    affine = np.zeros((4, 4))
    affine[0, 0] = column_sign * spacing_c
    affine[2, 1] = row_sign * spacing_r
    affine[1, 2] = _NIFTI_PROJECTION_MM
    affine[3, 3] = 1.0
    return affine


def _gzipped(image) -> bytes:
    import gzip

    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


def sidecar(export: LabelExport, png_name: str, bone_name: str, source: str | None) -> dict:
    """The sidecar JSON object (a truth-format 1.0 record, docs/benchmark.md)."""
    return {
        "truth_format": TRUTH_FORMAT_VERSION,
        "description": "dxaspine level label export: value k = level label_codes[k], 0 = none",
        "source": source,
        "label_image": png_name,
        "bone_mask": bone_name,
        "level_masks": "regions",
        "orientation": "stored",
        "flips": list(export.flips),
        "shape": [int(export.label_image.shape[0]), int(export.label_image.shape[1])],
        "pixel_spacing_mm": list(export.pixel_spacing_mm),
        "label_codes": {str(k): v for k, v in export.label_codes.items()},
        "levels": [
            {"label": name, "label_confidence": export.label_confidence.get(name)}
            for name in export.label_codes.values()
        ],
        "lines": list(export.lines),
    }


def _companion(destination: Path, suffix: str) -> Path:
    name = destination.name
    stem = name[: -len(".png")] if name.lower().endswith(".png") else name
    return destination.with_name(stem + suffix)


def write_labels(output, destination: Path) -> None:
    """The ``labels`` writer: PNG, sidecar JSON, bone PNG and (with nibabel) NIfTI."""
    from PIL import Image

    export = output.cache.get("labels")
    if export is None:
        export = output.cache["labels"] = label_export(
            output.result.scan, output.result.segmentation
        )
    destination = Path(destination)
    bone_path = _companion(destination, ".bone.png")
    buffer = io.BytesIO()
    Image.fromarray(export.bone_mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    atomic_write_bytes(bone_path, buffer.getvalue())
    atomic_write_bytes(destination, label_png_bytes(export.label_image, export.label_codes))
    record = sidecar(export, destination.name, bone_path.name, output.source_path)
    atomic_write_text(
        _companion(destination, ".json"), json.dumps(record, indent=1, allow_nan=False) + "\n"
    )
    if importlib.util.find_spec("nibabel") is None:
        logger.info(
            "nibabel not installed: no NIfTI beside %s (pip install 'dxaspine[bench]')", destination
        )
        return
    atomic_write_bytes(_companion(destination, ".nii.gz"), _gzipped_nifti(export))


def _gzipped_nifti(export: LabelExport) -> bytes:
    import nibabel

    data = np.asarray(export.label_image, dtype=np.int16).T[:, :, None]  # (cols, rows, 1)
    affine = nifti_affine(export)
    image = nibabel.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm")
    image.header.set_qform(affine, code=1)  # scanner-anatomical
    image.header.set_sform(affine, code=1)
    return _gzipped(image)
