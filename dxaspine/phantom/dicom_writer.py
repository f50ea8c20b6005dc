"""DICOM datasets of a phantom case in the interchange profile (docs/architecture.md, Contract 1).

- ``dual_energy``: Multi-frame Grayscale Word SC, Modality BMD, 2 frames LOW_ENERGY\\HIGH_ENERGY,
  value after the Modality LUT = detected counts;
- ``dual_energy_pair``: the same counts as two single-frame files of one series, ImageType
  value 3 ``LOW_ENERGY`` / ``HIGH_ENERGY``;
- ``bmd_map``: one frame, value after the Modality LUT = HA areal density (g/cm2).
All carry the private block ``DXASPINE 1`` in group 0x0071 (energies, I0, content, bone-basis
coefficients).  Everything is deterministic: UIDs are hashed from the case name and kind,
dates are fixed, nothing reads the clock.

Quantisation: counts are stored as round(counts / RescaleSlope) with a power-of-two slope
(physics.rescale_slope); the rounding variance slope^2/12 is < 0.5 % of the Poisson variance
for counts above ~30 x slope, i.e. everywhere except behind metal.  The BMD map uses a slope
of 1e-4 g/cm2 (rounding SD 3e-5 g/cm2), coarser only if metal would overflow 16 bits.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dxaspine import __version__
from dxaspine.io.classify import MF_GRAYSCALE_WORD_SC
from dxaspine.io.private_block import (
    CONTENT_BMD_MAP,
    CONTENT_DE_COUNTS,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
)
from dxaspine.phantom.case import STUDY_DATE, PhantomCase, patient_dates
from dxaspine.phantom.params import SCANNERS

IMPLEMENTATION_CLASS_UID = generate_uid(entropy_srcs=["dxaspine phantom implementation"])
_SERIES_NUMBER = {"dual_energy": 1, "dual_energy_pair": 2, "bmd_map": 3, "display": 4}
_BMD_SLOPES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3)
_SOURCE_NOTE = {"ct": " (projected CT)"}  # drawn cases keep their bytes


def uid(case: PhantomCase, *parts: str) -> str:
    return generate_uid(entropy_srcs=["dxaspine phantom", case.name, *parts])


def orientation(flip: tuple[str, ...]) -> list[str]:
    """PatientOrientation of the stored image: L\\F head-up, flipped axes reverse a value."""
    return ["R" if "columns" in flip else "L", "H" if "rows" in flip else "F"]


def flip_array(array: np.ndarray, flip: tuple[str, ...]) -> np.ndarray:
    if "rows" in flip:
        array = array[::-1, :]
    if "columns" in flip:
        array = array[:, ::-1]
    return np.ascontiguousarray(array)


def base_dataset(case: PhantomCase, kind: str, sop_class: str, instance: str, flip) -> Dataset:
    """Patient, study, series, equipment and general image modules shared by every kind."""
    p = case.params
    flip_key = "+".join(flip) or "noflip"
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid(case, kind, instance, flip_key)
    ds.StudyInstanceUID = uid(case, "study")
    ds.SeriesInstanceUID = uid(case, kind, "series", flip_key)
    date = STUDY_DATE.strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = "093000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.StudyDescription = "Phantom AP lumbar spine DXA" + _SOURCE_NOTE.get(case.source, "")
    ds.SeriesNumber = _SERIES_NUMBER[kind]
    ds.InstanceNumber = 2 if instance == "high" else 1
    ds.Modality = "BMD"
    ds.ConversionType = "SYN"  # SC equipment: synthetic image
    ds.Manufacturer = "dxaspine phantom"
    ds.ManufacturerModelName = SCANNERS[p.scanner]["model"]
    ds.SoftwareVersions = __version__
    ds.BodyPartExamined = "LSPINE"
    ds.ProtocolName = "AP Spine"
    birth, years = patient_dates(p.age_years)
    ds.PatientName = f"PHANTOM^{case.name.upper()}"
    ds.PatientID = case.name
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    ds.PatientSex = p.sex
    ds.PatientAge = f"{years:03d}Y"
    ds.EthnicGroup = p.ethnicity[:16]
    ds.PatientSize = f"{p.height_m:.2f}"
    ds.PatientWeight = f"{p.weight_kg:.1f}"
    ds.PatientOrientation = orientation(flip)
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    return ds


def write_private_block(
    ds: Dataset,
    content: str,
    energies_kev=None,
    i0_counts=None,
    bone_mu_cm2_g=None,
) -> None:
    """The interchange profile's ``DXASPINE 1`` block (Contract 1); absent values are omitted."""
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    if energies_kev is not None:
        block.add_new(0x01, "FD", [float(e) for e in energies_kev])
    if i0_counts is not None:
        block.add_new(0x02, "FD", [float(v) for v in i0_counts])
    block.add_new(0x03, "CS", content)
    if bone_mu_cm2_g is not None:
        block.add_new(0x04, "FD", [float(v) for v in bone_mu_cm2_g])


def _private_block(ds: Dataset, case: PhantomCase, content: str) -> None:
    t = case.truth
    write_private_block(ds, content, t["energies_kev"], t["i0_counts"], t["bone_mu_cm2_g"])


def set_stored_pixels(ds: Dataset, stored: np.ndarray) -> None:
    """Image pixel module of stored values: (rows, cols) or (frames, rows, cols), 8 or 16 bit."""
    stored = np.ascontiguousarray(stored)
    bits = stored.dtype.itemsize * 8
    ds.SamplesPerPixel = 1
    if "PhotometricInterpretation" not in ds:
        ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if stored.ndim == 3:
        ds.NumberOfFrames = stored.shape[0]
    ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()


def word_pixels(
    ds: Dataset, frames: list[np.ndarray], slope: float, labels: list[str] | None
) -> None:
    """16-bit frames stored as round(value / slope), with the Modality LUT and frame labels."""
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = f"{slope:.10g}"
    ds.RescaleType = "US"
    ds.FrameIncrementPointer = Tag(0x0018, 0x2002)
    if labels is not None:
        ds.FrameLabelVector = labels
    stored = np.stack([np.clip(np.rint(f / slope), 0, 65535).astype("<u2") for f in frames])
    set_stored_pixels(ds, stored)
    ds.NumberOfFrames = len(frames)


def _spacing(ds: Dataset, case: PhantomCase) -> None:
    ds.PixelSpacing = [f"{s:.10g}" for s in case.pixel_spacing_mm]


def file_meta(ds: Dataset) -> None:
    """File Meta Information for a Part 10 file (explicit VR little endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = "DXASPINE_PHANTOM"
    ds.file_meta = meta


def dual_energy_dataset(case: PhantomCase, flip=()) -> Dataset:
    ds = base_dataset(case, "dual_energy", MF_GRAYSCALE_WORD_SC, "frames", flip)
    ds.ImageType = ["DERIVED", "PRIMARY", "DUAL_ENERGY"]
    ds.SeriesDescription = "Dual-energy counts (interchange profile)"
    _spacing(ds, case)
    frames = [flip_array(case.counts_low, flip), flip_array(case.counts_high, flip)]
    word_pixels(ds, frames, case.rescale_slope, ["LOW_ENERGY", "HIGH_ENERGY"])
    _private_block(ds, case, CONTENT_DE_COUNTS)
    file_meta(ds)
    return ds


def pair_datasets(case: PhantomCase, flip=()) -> tuple[Dataset, Dataset]:
    out = []
    for name, counts in (("low", case.counts_low), ("high", case.counts_high)):
        label = f"{name.upper()}_ENERGY"
        ds = base_dataset(case, "dual_energy_pair", MF_GRAYSCALE_WORD_SC, name, flip)
        ds.ImageType = ["DERIVED", "PRIMARY", label]
        ds.SeriesDescription = "Dual-energy counts, one file per energy"
        _spacing(ds, case)
        word_pixels(ds, [flip_array(counts, flip)], case.rescale_slope, [label])
        _private_block(ds, case, CONTENT_DE_COUNTS)
        file_meta(ds)
        out.append(ds)
    return out[0], out[1]


def bmd_map_slope(max_g_cm2: float) -> float:
    for slope in _BMD_SLOPES:
        if max_g_cm2 / slope <= 65535:
            return slope
    return _BMD_SLOPES[-1]


def bmd_map_dataset(case: PhantomCase, flip=()) -> Dataset:
    ds = base_dataset(case, "bmd_map", MF_GRAYSCALE_WORD_SC, "bmd", flip)
    ds.ImageType = ["DERIVED", "SECONDARY", "AREAL_BMD_MAP"]
    ds.SeriesDescription = "Areal BMD map (g/cm2)"
    _spacing(ds, case)
    bone = flip_array(case.bone_density_g_cm2, flip)
    word_pixels(ds, [bone], bmd_map_slope(float(bone.max())), ["AREAL_BMD_MAP"])
    _private_block(ds, case, CONTENT_BMD_MAP)
    file_meta(ds)
    return ds
