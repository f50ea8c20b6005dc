"""The file boundary (issue 12): every exception a decoder or parser raises is a DxaError.

Ground truth: files whose damage is known by construction (a Rust panic in pylibjpeg-rle on
random RLE segments, a group length cut by ``head -c 142``, a symlink loop, a file cut
before its pixel data) and what the DICOM standard says each one is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
import pytest
from _damage import TEST_IMAGES, compressed_copy, rle_panic_copy

import dxaspine
from dxaspine.errors import CorruptDicomError, DxaError, InputError, NotDxaError
from dxaspine.io.reading import file_boundary

DUAL = TEST_IMAGES / "ti_standard_prodigy.dual_energy.dcm"


@pytest.fixture(scope="module")
def panic_file(tmp_path_factory) -> Path:
    pytest.importorskip("rle")
    folder = tmp_path_factory.mktemp("rle")
    rle = compressed_copy(DUAL, folder / "de.rle.dcm", "rle")
    return rle_panic_copy(rle, folder / "panic.rle.dcm")


def _one_line_naming(exc: DxaError, path: str) -> str:
    message = str(exc)
    assert "\n" not in message and message.startswith(path) and "; " in message
    return message


def test_rle_panic_is_reproduced_and_becomes_corrupt_dicom(panic_file):
    # Reproduce first: the plugin itself raises a BaseException that is not an Exception.
    with pytest.raises(BaseException) as raw:
        _ = pydicom.dcmread(panic_file).pixel_array
    assert not isinstance(raw.value, Exception), "the panic is a BaseException subclass"
    assert type(raw.value).__name__ == "PanicException"
    with pytest.raises(CorruptDicomError) as info:
        dxaspine.load(str(panic_file))
    message = _one_line_naming(info.value, str(panic_file))
    assert "PanicException" in message
    with pytest.raises(CorruptDicomError):
        dxaspine.analyze(str(panic_file))


def test_the_boundary_converts_any_base_exception_but_never_an_interrupt():
    class Exotic(BaseException):  # stands for any decoder's non-Exception error
        pass

    with pytest.raises(
        CorruptDicomError, match=r"^f\.dcm: damaged or inconsistent DICOM \(Exotic\)"
    ):
        with file_boundary("f.dcm"):
            raise Exotic("secret DOE^JANE")
    for passthrough in (KeyboardInterrupt, SystemExit):
        with pytest.raises(passthrough):
            with file_boundary("f.dcm"):
                raise passthrough()


def test_cut_group_length_is_corrupt_not_bytes_length_exception(tmp_path):
    # `head -c 142` of a good file ends inside (0002,0000): pydicom raises
    # BytesLengthException, whose text quotes the bytes it read.
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(DUAL.read_bytes()[:142])
    with pytest.raises(CorruptDicomError) as info:
        dxaspine.load(str(cut))
    message = _one_line_naming(info.value, str(cut))
    assert "BytesLengthException" in message and "received" not in message
    result = dxaspine.peek(cut)  # peek never raises, and says the same
    assert result.kind is None and result.error_class == "CorruptDicomError"


def test_file_cut_before_its_pixel_data_is_an_error_not_a_skip(tmp_path):
    # The File Meta says it is an image; an image without Pixel Data (Type 1, PS3.3 C.7.6.3)
    # is a damaged file: errors.csv, not skipped.csv (issue 12).
    cut = tmp_path / "cut.dcm"
    data = DUAL.read_bytes()
    cut.write_bytes(data[: data.find(b"\xe0\x7f\x10\x00") - 200])
    result = dxaspine.peek(cut)
    assert result.kind is None and result.error_class == "CorruptDicomError"
    assert "without Pixel Data" in result.reason


def test_a_non_image_object_without_pixels_is_still_not_dxa(tmp_path):
    from pydicom.data import get_testdata_file

    with pytest.raises(NotDxaError):
        dxaspine.load(get_testdata_file("test-SR.dcm"))


def test_symlink_loop_is_a_path_problem_not_a_damaged_dicom(tmp_path):
    loop = tmp_path / "loop.dcm"
    os.symlink(loop, loop)
    with pytest.raises(InputError) as info:
        dxaspine.load(str(loop))
    message = _one_line_naming(info.value, str(loop))
    assert not isinstance(info.value, CorruptDicomError)
    assert "symbolic links" in message and "re-export" not in message
    dangling = tmp_path / "dangling.dcm"
    os.symlink(tmp_path / "nowhere.dcm", dangling)
    with pytest.raises(InputError, match="symbolic link to a missing file"):
        dxaspine.load(str(dangling))
