"""Bad input: a DxaError subclass with a one-line "file: problem; fix" message, and nothing else."""

from __future__ import annotations

import warnings

import _synthetic as syn
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import dxaspine
from dxaspine.errors import (
    CorruptDicomError,
    DxaError,
    InputError,
    NotDicomError,
    NotDxaError,
)


def _raises(path_or_list, error: type[DxaError], match: str | None = None) -> str:
    with pytest.raises(error, match=match) as info:
        dxaspine.load(path_or_list)
    msg = str(info.value)
    assert "\n" not in msg and "; " in msg  # one line, with a fix after the problem
    first = path_or_list[0] if isinstance(path_or_list, list) else path_or_list
    if isinstance(first, str):
        assert msg.startswith(first)  # names the file
    return msg


def test_text_file_is_not_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, not an image\n" * 20)
    _raises(str(path), NotDicomError, "not a DICOM file")


def test_empty_file_missing_file_directory(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    _raises(str(empty), NotDicomError, "empty")
    _raises(str(tmp_path / "missing.dcm"), InputError, "no such file")
    _raises(str(tmp_path), InputError, "directory")


def test_dicom_without_pixels(tmp_path):
    # An image SOP class promises Pixel Data (Type 1, PS3.3 C.7.6.3): without it the file is
    # damaged or cut short (issue 12: it was "not an image" and landed in skipped.csv).
    ds, _, _ = syn.display_dataset()
    del ds.PixelData
    _raises(syn.save(ds, tmp_path / "d.dcm"), CorruptDicomError, "without Pixel Data")


def test_truncated_pixel_data_element(tmp_path):
    ds, _, _ = syn.display_dataset()
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    _raises(syn.save(ds, tmp_path / "d.dcm"), CorruptDicomError, "truncated pixel data")


def test_truncated_file(tmp_path):
    ds, _, _ = syn.display_dataset()
    path = tmp_path / "d.dcm"
    syn.save(ds, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])  # cut inside the pixel data
    _raises(str(path), CorruptDicomError)


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small.dcm", "examples_ybr_color.dcm", "test-SR.dcm", "rtdose.dcm"]
)
def test_other_modalities_are_not_dxa(name):
    _raises(get_testdata_file(name), NotDxaError)


def test_encapsulated_pdf_is_not_dxa(tmp_path):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"  # Encapsulated PDF Storage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DOC"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4 minimal\n%%EOF\n"
    _raises(syn.save(ds, tmp_path / "report.dcm"), NotDxaError, "no pixel data")


def test_colour_image_is_rejected(tmp_path):
    ds, image, _ = syn.display_dataset()
    rgb = np.repeat(image.astype(np.uint8)[..., None], 3, axis=2)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = rgb.tobytes()
    _raises(syn.save(ds, tmp_path / "c.dcm"), NotDxaError, "colour")


@pytest.mark.parametrize(
    ("protocol", "body_part"),
    [
        ("DualFemur", ""),
        ("Left Femur", ""),
        ("", "HIP"),
        ("Total Body", ""),
        ("Whole Body", ""),
        ("Forearm", ""),
        ("", "WRIST"),
        ("Lateral Spine", ""),
        ("AP Spine", "HIP"),  # contradictory: never guess a spine
        ("Chest PA", ""),
    ],
)
def test_other_dxa_sites_are_rejected(tmp_path, protocol, body_part):
    ds, _, _ = syn.display_dataset(protocol=protocol, body_part=body_part)
    msg = _raises(syn.save(ds, tmp_path / "d.dcm"), NotDxaError)
    assert "lumbar spine" in msg


def test_unrelated_protocol_text_is_rejected(tmp_path):
    ds, _, _ = syn.display_dataset(protocol="Routine")
    _raises(syn.save(ds, tmp_path / "d.dcm"), NotDxaError, "does not name a lumbar spine")


@pytest.mark.parametrize(
    ("rows", "cols", "error"),
    [(0, 100, CorruptDicomError), (8, 8, NotDxaError), (40000, 100, NotDxaError)],
)
def test_zero_tiny_or_absurd_dimensions(tmp_path, rows, cols, error):
    ds, _, _ = syn.display_dataset()
    ds.Rows, ds.Columns = rows, cols  # the header lies; must fail before decoding
    _raises(syn.save(ds, tmp_path / "d.dcm"), error)


def test_no_file_meta_is_rejected(tmp_path):
    ds, _, _ = syn.display_dataset()
    path = tmp_path / "raw.dcm"
    del ds.file_meta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about writing without file meta
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    _raises(str(path), CorruptDicomError, "transfer syntax is unknown")


def test_file_meta_without_transfer_syntax():
    _raises(get_testdata_file("meta_missing_tsyntax.dcm"), CorruptDicomError, "Transfer Syntax")


@pytest.mark.parametrize(
    ("keyword", "value"), [("PixelSpacing", [-0.5, 0.5]), ("PixelSpacing", [0, 0])]
)
def test_bad_spacing_in_a_file(tmp_path, keyword, value):
    ds, _, _ = syn.display_dataset()
    setattr(ds, keyword, value)
    _raises(syn.save(ds, tmp_path / "d.dcm"), CorruptDicomError, "PixelSpacing")


def test_non_numeric_spacing_in_a_file(tmp_path):
    ds, _, _ = syn.display_dataset()
    path = tmp_path / "d.dcm"
    syn.save(ds, path)
    # Patch the bytes: an ExposedArea-free file with PixelSpacing "ab\cd" written raw.
    ds = dcmread(path)
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds[0x00280030] = RawDataElement(Tag(0x00280030), "DS", 6, b"ab\\cd ", 0, False, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path)
    _raises(str(path), CorruptDicomError, "not numeric")


@pytest.mark.parametrize(
    ("orientation", "error", "match"),
    [
        (["F", "L"], NotDxaError, "transposed"),
        (["H", "R"], NotDxaError, "transposed"),
        (["A", "F"], NotDxaError, "lateral"),
        (["L", "R"], CorruptDicomError, "one axis twice"),
        (["X", "F"], CorruptDicomError, "PatientOrientation"),
    ],
)
def test_unusable_orientation(tmp_path, orientation, error, match):
    ds, _, _ = syn.display_dataset()
    ds.PatientOrientation = orientation
    _raises(syn.save(ds, tmp_path / "d.dcm"), error, match)


def test_profile_violations(tmp_path):
    ds, _ = syn.dual_energy_dataset()
    ds.FrameLabelVector = ["LOW_ENERGY", "LOW_ENERGY"]
    _raises(syn.save(ds, tmp_path / "a.dcm"), CorruptDicomError, "FrameLabelVector")
    ds, _ = syn.dual_energy_dataset(energies_kev=(70.0, 40.0))
    _raises(syn.save(ds, tmp_path / "b.dcm"), CorruptDicomError, "low, high")
    ds, _ = syn.dual_energy_dataset()
    ds.NumberOfFrames = 3
    _raises(syn.save(ds, tmp_path / "c.dcm"), CorruptDicomError, "3 frame")
    ds, _ = syn.dual_energy_dataset()
    ds.private_block(0x0071, "DXASPINE 1")[0x03].value = "SOMETHING"
    _raises(syn.save(ds, tmp_path / "d.dcm"), NotDxaError, "unknown DXASPINE content")


def _pair(tmp_path, low, high):
    return [syn.save(low, tmp_path / "lo.dcm"), syn.save(high, tmp_path / "hi.dcm")]


def test_pair_from_different_series(tmp_path):
    low, high, _ = syn.pair_datasets()
    high.SeriesInstanceUID = generate_uid()
    _raises(_pair(tmp_path, low, high), InputError, "different series")


def test_pair_with_different_shapes(tmp_path):
    low, _, _ = syn.pair_datasets(96, 64)
    _, high, _ = syn.pair_datasets(80, 64)
    high.SeriesInstanceUID = low.SeriesInstanceUID
    _raises(_pair(tmp_path, low, high), InputError, "different shapes")


def test_pair_of_two_lows_and_same_file_twice(tmp_path):
    low, high, _ = syn.pair_datasets()
    paths = _pair(tmp_path, low, high)
    _raises([paths[0], paths[0]], InputError, "LOW_ENERGY")
    ds, _, _ = syn.display_dataset()
    other = syn.save(ds, tmp_path / "disp.dcm")
    _raises([paths[0], other], InputError, "not both single-energy")


def test_three_files(tmp_path):
    low, high, _ = syn.pair_datasets()
    paths = _pair(tmp_path, low, high)
    _raises(paths + paths[:1], InputError, "3 files")


def test_corrupted_bytes_never_escape_as_other_exceptions(tmp_path):
    """Truncate and damage a valid file many ways: only DxaError (or success) may come out."""
    ds, _, _ = syn.display_dataset()
    path = tmp_path / "d.dcm"
    syn.save(ds, path)
    good = path.read_bytes()
    rng = np.random.default_rng(7)
    variants = [good[:n] for n in range(1, len(good), max(1, len(good) // 40))]
    for _ in range(60):
        damaged = bytearray(good)
        for pos in rng.integers(128, 1200, size=int(rng.integers(1, 6))):  # the header region
            damaged[pos] = int(rng.integers(0, 256))
        variants.append(bytes(damaged))
    outcomes = set()
    for i, data in enumerate(variants):
        case = tmp_path / f"v{i}.dcm"
        case.write_bytes(data)
        assert dxaspine.peek(case) is not None  # peek never raises
        try:
            dxaspine.load(str(case))
            outcomes.add("loaded")
        except DxaError as exc:
            assert "\n" not in str(exc)
            outcomes.add(type(exc).__name__)
    assert "CorruptDicomError" in outcomes or "NotDicomError" in outcomes


def test_unreadable_file(tmp_path, monkeypatch):
    # Tests run as root here, where chmod 0 does not stop reads: simulate the OS refusal.
    import dxaspine.io.reading as reading

    ds, _, _ = syn.display_dataset()
    path = syn.save(ds, tmp_path / "d.dcm")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reading.pydicom, "dcmread", refuse)
    _raises(path, InputError, "cannot read the file \\(Permission denied\\)")


def test_mammography_dx_class_is_not_a_spine_export(tmp_path):
    ds, _, _ = syn.display_dataset(modality="DX", sop_class="1.2.840.10008.5.1.4.1.1.1.2")
    _raises(syn.save(ds, tmp_path / "m.dcm"), NotDxaError, "Mammography")
