"""Minimal synthetic DICOM datasets of each input kind, for the loader tests (test-only).

No physics and no anatomy (that is the phantom's job, :mod:`dxaspine.phantom`): the pixel
values are simple known patterns, so a loader test can compare what comes back with exactly
what went in.  The interchange profile itself (private block, pixel module, file meta) is
written by the phantom's one writer, :mod:`dxaspine.phantom.dicom_writer`; this module only
chooses header values and pixel patterns.  Every builder returns a complete Part 10 dataset with
pixels stored head-up / patient-left-on-the-right unless ``flip`` says otherwise.
"""

from __future__ import annotations

import os

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dxaspine.io.classify import CR_IMAGE, MF_GRAYSCALE_WORD_SC
from dxaspine.phantom.dicom_writer import set_stored_pixels, write_private_block

_ORIENT = {(): "L\\F", ("columns",): "R\\F", ("rows",): "L\\H", ("rows", "columns"): "R\\H"}


def head_up_pattern(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A pattern with no symmetry (so any flip changes it), values in [0, 1)."""
    r = np.arange(rows)[:, None] / rows
    c = np.arange(cols)[None, :] / cols
    noise = np.random.default_rng(seed).random((rows, cols))
    return 0.5 * r + 0.3 * c**2 + 0.2 * noise * (r < 0.5)


def _flip(image: np.ndarray, flip: tuple[str, ...]) -> np.ndarray:
    if "rows" in flip:
        image = image[..., ::-1, :]
    if "columns" in flip:
        image = image[..., :, ::-1]
    return np.ascontiguousarray(image)


def _base(sop_class: str, modality: str, flip: tuple[str, ...], series_uid: str | None) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    ds.PatientName = "Synthetic^Case"
    ds.PatientID = "SYN001"
    ds.PatientSex = "F"
    ds.PatientAge = "061Y"
    ds.StudyDate = "20240102"
    ds.Manufacturer = "dxaspine"
    ds.ManufacturerModelName = "synthetic"
    ds.PatientOrientation = _ORIENT[tuple(sorted(flip, reverse=True))]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    return ds


_set_pixels = set_stored_pixels
_private = write_private_block


def dual_energy_dataset(
    rows: int = 96,
    cols: int = 64,
    *,
    frame_labels: tuple[str, str] | None = ("LOW_ENERGY", "HIGH_ENERGY"),
    energies_kev: tuple[float, float] = (40.0, 70.0),
    i0_counts: tuple[float, float] = (50000.0, 60000.0),
    bone_mu_cm2_g: tuple[float, float] | None = None,
    pixel_spacing_mm: tuple[float, float] = (1.05, 0.6),
    flip: tuple[str, ...] = (),
) -> tuple[Dataset, dict[str, np.ndarray]]:
    """A 2-frame interchange file and its head-up counts ``{"low": ..., "high": ...}``."""
    low = np.round(20000 + 20000 * head_up_pattern(rows, cols, 1))
    high = np.round(30000 + 20000 * head_up_pattern(rows, cols, 2))
    ds = _base(MF_GRAYSCALE_WORD_SC, "BMD", flip, None)
    order = frame_labels or ("LOW_ENERGY", "HIGH_ENERGY")
    stack = np.stack([low if lab == "LOW_ENERGY" else high for lab in order]).astype(np.uint16)
    _set_pixels(ds, _flip(stack, flip))
    ds.FrameIncrementPointer = 0x00182002
    if frame_labels is not None:
        ds.FrameLabelVector = list(frame_labels)
    ds.PixelSpacing = list(pixel_spacing_mm)
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    _private(ds, "DE_COUNTS", energies_kev, i0_counts, bone_mu_cm2_g)
    return ds, {"low": low, "high": high}


def pair_datasets(
    rows: int = 96, cols: int = 64, *, flip: tuple[str, ...] = (), private: bool = True
) -> tuple[Dataset, Dataset, dict[str, np.ndarray]]:
    """Two single-frame files (LOW_ENERGY, HIGH_ENERGY) of one series, and the head-up counts."""
    single, truth = dual_energy_dataset(rows, cols, flip=flip)
    series = generate_uid()
    out = []
    for label in ("LOW_ENERGY", "HIGH_ENERGY"):
        ds = _base(MF_GRAYSCALE_WORD_SC, "BMD", flip, series)
        ds.ImageType = ["ORIGINAL", "PRIMARY", label]
        key = "low" if label == "LOW_ENERGY" else "high"
        _set_pixels(ds, _flip(truth[key].astype(np.uint16), flip))
        ds.NumberOfFrames = 1
        ds.PixelSpacing = list(single.PixelSpacing)
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0  # required for counts (io/plausibility)
        if private:
            _private(ds, "DE_COUNTS", (40.0, 70.0), (50000.0, 60000.0))
        out.append(ds)
    return out[0], out[1], truth


def bmd_map_dataset(
    rows: int = 96, cols: int = 64, *, flip: tuple[str, ...] = (), slope: float = 1e-4
) -> tuple[Dataset, np.ndarray]:
    """An AREAL_BMD_MAP and its head-up values in g/cm2 (exactly representable by slope)."""
    stored = np.round(1.4 * head_up_pattern(rows, cols, 3) / slope).astype(np.uint16)
    ds = _base(MF_GRAYSCALE_WORD_SC, "BMD", flip, None)
    _set_pixels(ds, _flip(stored[None], flip))
    ds.PixelSpacing = [0.5, 0.5]
    ds.RescaleSlope, ds.RescaleIntercept = slope, 0
    _private(ds, "AREAL_BMD_MAP")
    return ds, stored.astype(np.float64) * slope


def display_dataset(
    rows: int = 120,
    cols: int = 100,
    *,
    protocol: str = "AP Spine",
    body_part: str = "",
    modality: str = "CR",
    sop_class: str = CR_IMAGE,
    photometric: str = "MONOCHROME2",
    exposed_area_mm: tuple[int, int] | None = (25, 30),  # [width, length]: 0.25 mm/px
    strip_width: tuple[int, int] = (10, 8),
    flip: tuple[str, ...] = (),
    seed: int = 0,
) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """An 8-bit display export, its head-up bone-bright image and its true field mask.

    Saturated (255) strips at the left and right have a ragged inner edge (width varies by
    up to 3 px from row to row); a saturated blob inside the field stays in the field.
    """
    rng = np.random.default_rng(seed)
    image = np.round(40 + 150 * head_up_pattern(rows, cols, seed))
    image[rows // 3 : rows // 3 + 5, cols // 2 - 4 : cols // 2 + 4] = 255  # metal-like, inside
    field = np.ones((rows, cols), dtype=bool)
    for r in range(rows):
        left = strip_width[0] + int(rng.integers(-3, 4)) if strip_width[0] else 0
        right = strip_width[1] + int(rng.integers(-3, 4)) if strip_width[1] else 0
        image[r, :left] = 255
        field[r, :left] = False
        if right:
            image[r, cols - right :] = 255
            field[r, cols - right :] = False
    stored = image.astype(np.uint8)
    if photometric == "MONOCHROME1":
        stored = 255 - stored
    ds = _base(sop_class, modality, flip, None)
    ds.PhotometricInterpretation = photometric
    _set_pixels(ds, _flip(stored, flip))
    ds.ProtocolName = protocol
    ds.BodyPartExamined = body_part
    if exposed_area_mm is not None:
        ds.ExposedArea = list(exposed_area_mm)
    return ds, image, field


def save(ds: Dataset, path: str | os.PathLike) -> str:
    """Write ``ds`` as a Part 10 file and return the path as str."""
    ds.save_as(path, enforce_file_format=True)
    return os.fspath(path)
