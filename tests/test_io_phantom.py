"""load() and peek() on the ground-truth phantom's exports (dxaspine.phantom).

Truth: the phantom's counts, bone density, pixel spacing, white-strip geometry and patient,
all known exactly.  Every export kind must load as the right kind, head-up, with the right
physical scale, and a flipped export must load identical to the unflipped one.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from pydicom import dcmread

import dxaspine
from dxaspine.io import pair_dual_energy
from dxaspine.phantom import PhantomParams, generate_case, write_case

FLIPS = [("columns",), ("rows",), ("rows", "columns")]


@pytest.fixture(scope="module")
def prodigy(tmp_path_factory):
    case = generate_case(PhantomParams(seed=3, scanner="prodigy"))
    files = {(): write_case(case, tmp_path_factory.mktemp("flip_none"))}
    for flip in FLIPS:
        files[flip] = write_case(case, tmp_path_factory.mktemp("flip_" + "_".join(flip)), flip=flip)
    return case, files


@pytest.fixture(scope="module")
def idxa_mono1(tmp_path_factory):
    case = generate_case(PhantomParams(seed=1, scanner="idxa", display_photometric="MONOCHROME1"))
    return case, write_case(case, tmp_path_factory.mktemp("idxa"), kinds=("display",))


def _slope(path) -> float:
    return float(dcmread(path, stop_before_pixels=True).RescaleSlope)


def test_dual_energy_counts_and_profile_values(prodigy):
    case, files = prodigy
    path = files[()]["dual_energy"]
    scan = dxaspine.load(path)
    assert scan.kind == "dual_energy"
    assert (scan.pixel_spacing_mm, scan.pixel_spacing_source) == (
        case.pixel_spacing_mm,
        "PixelSpacing",
    )
    # Counts are stored as round(counts / slope): the loaded value is within slope/2 (+ float eps).
    tol = _slope(path) / 2 * (1 + 1e-9)
    assert np.max(np.abs(scan.frames["low"] - case.counts_low)) <= tol
    assert np.max(np.abs(scan.frames["high"] - case.counts_high)) <= tol
    assert scan.energies_kev == tuple(case.truth["energies_kev"])
    assert scan.i0_counts == pytest.approx(tuple(case.truth["i0_counts"]), rel=1e-12)


def test_pair_loads_as_dual_energy(prodigy):
    case, files = prodigy
    low, high = files[()]["dual_energy_pair"]
    scan = dxaspine.load([high, low])
    single = dxaspine.load(files[()]["dual_energy"])
    assert scan.kind == "dual_energy" and scan.pixel_spacing_mm == case.pixel_spacing_mm
    assert_array_equal(scan.frames["low"], single.frames["low"])
    assert_array_equal(scan.frames["high"], single.frames["high"])
    assert scan.energies_kev == single.energies_kev and scan.i0_counts == single.i0_counts


def test_bmd_map_values(prodigy):
    case, files = prodigy
    path = files[()]["bmd_map"]
    scan = dxaspine.load(path)
    assert scan.kind == "bmd_map" and scan.pixel_spacing_source == "PixelSpacing"
    tol = _slope(path) / 2 * (1 + 1e-9)  # quantisation of the stored map
    assert np.max(np.abs(scan.frames["bmd"] - case.bone_density_g_cm2)) <= tol


def test_display_spacing_from_exposed_area_and_field_mask(prodigy):
    case, files = prodigy
    scan = dxaspine.load(files[()]["display"])
    assert scan.kind == "display" and scan.pixel_spacing_source == "ExposedArea"
    # ExposedArea is US (whole mm), so rounding costs at most 0.5 mm over >= 180 mm (0.28 %);
    # the bound is 0.5 %, the whole-mm rounding of ExposedArea (docs/domain.md §6).
    np.testing.assert_allclose(scan.pixel_spacing_mm, case.pixel_spacing_mm, rtol=0.005)
    cols = np.arange(scan.shape[1])[None, :]
    outside = (cols < case.strip_left_px[:, None]) | (
        cols >= scan.shape[1] - case.strip_right_px[:, None]
    )
    assert_array_equal(scan.field_mask, ~outside)  # the ragged strips exactly, nothing else
    first, last = case.truth["field_columns"]  # columns inside the field in every row
    assert scan.field_mask[:, first : last + 1].all()


def test_idxa_monochrome1_display(idxa_mono1):
    from dxaspine.phantom.display import display_image

    case, files = idxa_mono1
    scan = dxaspine.load(files["display"])
    # 720 x 788 px at 0.25 mm: ExposedArea [180, 197] mm reproduces 0.25 mm (docs/domain.md §6 iDXA).
    np.testing.assert_allclose(scan.pixel_spacing_mm, case.pixel_spacing_mm, rtol=0.005)
    assert_array_equal(scan.frames["display"], display_image(case))  # inverted back to bone-bright
    assert "MONOCHROME1" in scan.recognised_by
    assert scan.field_mask.sum() == np.sum(scan.shape[1] - case.strip_left_px - case.strip_right_px)


@pytest.mark.parametrize("flip", FLIPS, ids="_".join)
def test_flipped_exports_load_equal_to_unflipped(prodigy, flip):
    _, files = prodigy
    for kind in ("dual_energy", "bmd_map", "display"):
        upright = dxaspine.load(files[()][kind])
        flipped = dxaspine.load(files[flip][kind])
        assert flipped.orientation_flips == tuple(f for f in ("rows", "columns") if f in flip)
        assert upright.orientation_flips == ()
        for name, frame in upright.frames.items():
            assert_array_equal(flipped.frames[name], frame)
        assert_array_equal(flipped.field_mask, upright.field_mask)
        assert flipped.pixel_spacing_mm == upright.pixel_spacing_mm
    pair = dxaspine.load(list(files[flip]["dual_energy_pair"]))
    assert_array_equal(pair.frames["low"], dxaspine.load(files[()]["dual_energy"]).frames["low"])


def test_to_stored_xy_maps_back_to_the_flipped_file(prodigy):
    _, files = prodigy
    flipped = dxaspine.load(files[("rows", "columns")]["display"])
    stored = dcmread(files[("rows", "columns")]["display"]).pixel_array
    for col, row in [(0, 0), (17, 40), (flipped.shape[1] - 1, flipped.shape[0] - 1)]:
        c, r = flipped.to_stored_xy(col, row)
        assert stored[int(r), int(c)] == flipped.frames["display"][row, col]


def test_patient_from_phantom_header(prodigy):
    case, files = prodigy
    patient = dxaspine.load(files[()]["display"]).patient
    truth = case.truth["patient"]
    assert patient.sex == truth["sex"] and patient.ethnicity == truth["ethnicity"]
    # The header's PatientAge is in whole years, so the loaded age is within a year of the truth.
    assert patient.age_years == pytest.approx(truth["age_years"], abs=1.0)
    assert patient.height_m == truth["height_m"] and patient.weight_kg == truth["weight_kg"]


def test_peek_classifies_every_export_and_pairs_the_pair(prodigy):
    _, files = prodigy
    out = files[()]
    assert dxaspine.peek(out["dual_energy"]).kind == "dual_energy"
    assert dxaspine.peek(out["bmd_map"]).kind == "bmd_map"
    assert dxaspine.peek(out["display"]).kind == "display"
    assert dxaspine.peek(out["truth"]).error_class == "NotDicomError"
    assert dxaspine.peek(out["labels"]).error_class == "NotDicomError"
    low, high = out["dual_energy_pair"]
    pairs, unpaired = pair_dual_energy([dxaspine.peek(high), dxaspine.peek(low)])
    assert [(p.path, q.path) for p, q in pairs] == [(str(low), str(high))] and not unpaired
