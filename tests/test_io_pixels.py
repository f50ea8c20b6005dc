"""Compressed transfer syntaxes through pydicom's plugins, and the missing-plugin error."""

from __future__ import annotations

import _synthetic as syn
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

import dxaspine
from dxaspine.errors import UnsupportedPixelDataError
from dxaspine.io.classify import SECONDARY_CAPTURE

LOSSLESS = [RLELossless, JPEG2000Lossless, JPEGLSLossless]


@pytest.mark.parametrize("syntax", LOSSLESS, ids=lambda u: u.name)
def test_compressed_dual_energy_is_lossless(tmp_path, syntax):
    ds, truth = syn.dual_energy_dataset(flip=("columns",))
    ds.compress(syntax)  # encoders: pydicom RLE, pylibjpeg-openjpeg, pyjpegls
    path = syn.save(ds, tmp_path / "de.dcm")
    assert dcmread(path).file_meta.TransferSyntaxUID == syntax
    scan = dxaspine.load(path)
    assert_array_equal(scan.frames["low"], truth["low"])
    assert_array_equal(scan.frames["high"], truth["high"])


@pytest.mark.parametrize("syntax", LOSSLESS, ids=lambda u: u.name)
def test_compressed_display_is_lossless(tmp_path, syntax):
    ds, image, field = syn.display_dataset()
    ds.compress(syntax)
    scan = dxaspine.load(syn.save(ds, tmp_path / "d.dcm"))
    assert_array_equal(scan.frames["display"], image)
    assert_array_equal(scan.field_mask, field)


def _as_spine_display(name: str):
    """A pydicom test file relabelled as a spine secondary capture (pixels untouched)."""
    ds = dcmread(get_testdata_file(name))
    ds.Modality = "OT"
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.ProtocolName = "AP Spine"
    ds.PatientOrientation = ["L", "F"]
    return ds


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"]
)
def test_pydicom_compressed_files_match_the_uncompressed_original(name):
    reference = dcmread(get_testdata_file("MR_small.dcm"))
    expected = apply_modality_lut(reference.pixel_array, reference).astype(np.float64)
    scan = dxaspine.load(_as_spine_display(name))
    assert_array_equal(scan.frames["display"], expected)  # lossless syntaxes: exact


@pytest.mark.parametrize(
    ("syntax", "package"),
    [
        (JPEG2000Lossless, "pylibjpeg-openjpeg"),
        (JPEGLSLossless, "pyjpegls"),
        (RLELossless, "pylibjpeg-rle"),
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_missing_plugin_names_the_package(tmp_path, monkeypatch, syntax, package):
    ds, _, _ = syn.display_dataset()
    ds.compress(syntax)
    path = syn.save(ds, tmp_path / "d.dcm")
    decoder = get_decoder(syntax)
    monkeypatch.setattr(decoder, "_available", {})  # as if no plugin were installed
    assert not decoder.is_available
    with pytest.raises(UnsupportedPixelDataError, match=package) as info:
        dxaspine.load(path)
    assert str(info.value).startswith(path) and "install" in str(info.value)
    # peek reads no pixels, so it still classifies the file (discovery is not blocked).
    assert dxaspine.peek(path).kind == "display"


def test_unknown_transfer_syntax_is_unsupported(tmp_path):
    ds, _, _ = syn.display_dataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no pixel decoder
    ds.PixelData = encapsulate([b"\x00" * 4])  # content never reached
    with pytest.raises(UnsupportedPixelDataError, match="cannot be decoded"):
        dxaspine.load(syn.save(ds, tmp_path / "d.dcm"))


def test_plugin_without_the_capability_names_an_alternative():
    # JPEG Extended 12-bit: pillow is installed and claims the syntax but cannot do 12-bit;
    # pylibjpeg-libjpeg or python-gdcm can.  Whichever is true here, load must either decode
    # the file like pydicom does, or say which package would.
    ds = _as_spine_display("JPGExtended.dcm")
    ds.BodyPartExamined = ""  # the file says WHOLE BODY, which would be rejected first
    try:
        expected = dcmread(get_testdata_file("JPGExtended.dcm")).pixel_array
    except RuntimeError:
        with pytest.raises(UnsupportedPixelDataError, match="pylibjpeg-libjpeg"):
            dxaspine.load(ds)
    else:
        assert_array_equal(dxaspine.load(ds).frames["display"], expected)
