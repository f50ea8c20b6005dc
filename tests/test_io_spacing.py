"""The pixel spacing chain (docs/domain.md §6): source, value, warnings, and bad values."""

from __future__ import annotations

import logging
import warnings

import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dxaspine.errors import CorruptDicomError, InputError, MissingSpacingError
from dxaspine.io.spacing import resolve_spacing
from dxaspine.io.spacing_defaults import SPACING_DEFAULTS


def _header(rows=780, cols=716, **attrs) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns = rows, cols
    with warnings.catch_warnings():
        # pydicom warns when a test deliberately writes an invalid value.
        warnings.simplefilter("ignore")
        for key, value in attrs.items():
            if isinstance(value, bytes):  # as read from a file: raw, converted on access
                tag = tag_for_keyword(key)
                ds[tag] = RawDataElement(
                    Tag(tag), dictionary_VR(tag), len(value), value, 0, False, True
                )
            else:
                setattr(ds, key, value)
    return ds


def test_exposed_area_idxa_example():
    # docs/domain.md §6 / brief: 780 rows x 716 columns, ExposedArea [180, 197] mm ([width, length])
    # -> 197/780 = 0.25256 mm per row, 180/716 = 0.25140 mm per column.  4 decimals as quoted.
    spacing, source, _ = resolve_spacing(_header(ExposedArea=[180, 197]))
    assert source == "ExposedArea"
    assert spacing[0] == pytest.approx(0.2526, abs=5e-5)
    assert spacing[1] == pytest.approx(0.2514, abs=5e-5)


def test_pixel_spacing_wins_and_is_not_a_fallback(caplog):
    ds = _header(PixelSpacing=[0.3, 0.4], ImagerPixelSpacing=[1, 1], ExposedArea=[180, 197])
    with caplog.at_level(logging.WARNING):
        assert resolve_spacing(ds)[:2] == ((0.3, 0.4), "PixelSpacing")
    assert not caplog.records  # the first link of the chain is not a fallback


def test_imager_spacing_divided_by_magnification(caplog):
    ds = _header(ImagerPixelSpacing=[0.6, 0.5], EstimatedRadiographicMagnificationFactor=1.2)
    with caplog.at_level(logging.WARNING):
        spacing, source, _ = resolve_spacing(ds, "f.dcm")
    assert source == "ImagerPixelSpacing"
    assert spacing == pytest.approx((0.5, 0.5 / 1.2))
    assert "ImagerPixelSpacing" in caplog.text  # every fallback is logged


def test_imager_spacing_without_magnification_logs_divide_by_one(caplog):
    with caplog.at_level(logging.WARNING):
        spacing, _, note = resolve_spacing(_header(ImagerPixelSpacing=[0.6, 0.5]), "f.dcm")
    assert spacing == pytest.approx((0.6, 0.5))
    assert "EstimatedRadiographicMagnificationFactor absent" in caplog.text
    assert "/ 1" in note


def test_exposed_area_fallback_is_logged(caplog):
    with caplog.at_level(logging.WARNING):
        resolve_spacing(_header(ExposedArea=[180, 197]), "f.dcm")
    assert "ExposedArea" in caplog.text


def test_model_default_is_marked_unverified(caplog):
    ds = _header(Manufacturer="GE Healthcare", ManufacturerModelName="Lunar Prodigy Advance")
    with caplog.at_level(logging.WARNING):
        spacing, source, note = resolve_spacing(ds, "f.dcm")
    # docs/domain.md §6: Prodigy about 0.6 x 1.05 mm, rows along the patient axis (1.05).
    assert (spacing, source) == ((1.05, 0.6), "default")
    assert "UNVERIFIED" in note and "UNVERIFIED" in caplog.text


def test_every_default_has_a_source_and_sane_values():
    for entry in SPACING_DEFAULTS:
        assert entry.source
        assert all(0.05 < s < 2.0 for s in entry.pixel_spacing_mm)


def test_nothing_known_raises_missing_spacing():
    with pytest.raises(MissingSpacingError, match=r"^f\.dcm: no pixel spacing.*; add PixelSpacing"):
        resolve_spacing(_header(Manufacturer="Acme", ManufacturerModelName="X1"), "f.dcm")


@pytest.mark.parametrize(
    "attrs",
    [
        {"PixelSpacing": b"abc\\0.5 "},
        {"PixelSpacing": [0, 0.5]},
        {"PixelSpacing": [-0.5, 0.5]},
        {"PixelSpacing": [0.5]},
        {"PixelSpacing": [50.0, 50.0]},  # 5 cm pixels: a unit error
        {"ImagerPixelSpacing": [0.5, 0.5], "EstimatedRadiographicMagnificationFactor": 0},
        {"ExposedArea": [0, 197]},
    ],
)
def test_bad_spacing_is_an_input_error_with_fix(attrs):
    with pytest.raises(CorruptDicomError) as info:
        resolve_spacing(_header(**attrs), "f.dcm")
    assert issubclass(info.type, InputError)
    msg = str(info.value)
    assert msg.startswith("f.dcm: ") and "\n" not in msg
    assert "correct" in msg  # names the fix
