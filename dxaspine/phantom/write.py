"""``write_case``: the files of one case, atomically and byte-for-byte deterministically.

Files: ``<case>.dual_energy.dcm``, ``<case>.low.dcm`` + ``<case>.high.dcm`` (the pair),
``<case>.bmd_map.dcm``, ``<case>.display.dcm``, ``<case>.truth.json`` and
``<case>.labels.png`` (16-bit PNG of the label image as stored).  With ``flip`` the stored
pixels, PatientOrientation, the label image and the truth's pixel coordinates are all flipped
together.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from dxaspine.phantom.case import PhantomCase
from dxaspine.phantom.dicom_writer import (
    bmd_map_dataset,
    dual_energy_dataset,
    flip_array,
    pair_datasets,
)
from dxaspine.phantom.display import display_dataset
from dxaspine.phantom.truth import flip_truth

KINDS = ("dual_energy", "bmd_map", "display", "dual_energy_pair")
FLIPS = ("rows", "columns")


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same directory, then os.replace (a killed run leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are shareable data files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def truth_bytes(truth: dict) -> bytes:
    return (json.dumps(truth, sort_keys=True, indent=1, allow_nan=False) + "\n").encode()


def label_png_bytes(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(labels.astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_case(
    case: PhantomCase,
    outdir: str | os.PathLike,
    kinds: Iterable[str] = KINDS,
    flip: Iterable[str] = (),
) -> dict:
    """Write ``case`` into ``outdir``; returns ``{kind: Path, "truth": Path, "labels": Path}``.

    ``dual_energy_pair`` maps to ``(low_path, high_path)``.  ``flip`` is a subset of
    ("rows", "columns").

    Raises
    ------
    ValueError
        For an unknown kind or flip axis.
    """
    kinds = tuple(kinds)
    flip = tuple(a for a in FLIPS if a in tuple(flip))
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}: use {KINDS}")
    out = Path(outdir)
    name = case.name
    paths: dict = {}
    if "dual_energy" in kinds:
        paths["dual_energy"] = out / f"{name}.dual_energy.dcm"
        atomic_write(paths["dual_energy"], dicom_bytes(dual_energy_dataset(case, flip)))
    if "dual_energy_pair" in kinds:
        low, high = pair_datasets(case, flip)
        pair = (out / f"{name}.low.dcm", out / f"{name}.high.dcm")
        atomic_write(pair[0], dicom_bytes(low))
        atomic_write(pair[1], dicom_bytes(high))
        paths["dual_energy_pair"] = pair
    if "bmd_map" in kinds:
        paths["bmd_map"] = out / f"{name}.bmd_map.dcm"
        atomic_write(paths["bmd_map"], dicom_bytes(bmd_map_dataset(case, flip)))
    if "display" in kinds:
        paths["display"] = out / f"{name}.display.dcm"
        atomic_write(paths["display"], dicom_bytes(display_dataset(case, flip)))
    truth = flip_truth(case.truth, flip) if flip else case.truth
    paths["truth"] = out / f"{name}.truth.json"
    atomic_write(paths["truth"], truth_bytes(truth))
    paths["labels"] = out / f"{name}.labels.png"
    atomic_write(paths["labels"], label_png_bytes(flip_array(case.label_image, flip)))
    return paths
