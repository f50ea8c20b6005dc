"""The phantom's files: DICOM headers, display export, flips, suites, byte-for-byte repeatability."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dxaspine.phantom import SUITES, PhantomParams, generate_case, write_case
from dxaspine.phantom.suite_files import png_pixel_sha256, write_suite

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("case")
    case = generate_case(PhantomParams(seed=4, scanner="prodigy", age_years=61.0))
    return case, write_case(case, out)


def test_dual_energy_header_follows_the_interchange_profile(written):
    case, paths = written
    ds = pydicom.dcmread(paths["dual_energy"])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.3"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.Modality == "BMD" and list(ds.PatientOrientation) == ["L", "F"]
    assert [float(v) for v in ds.PixelSpacing] == [1.05, 0.6]
    assert ds.NumberOfFrames == 2 and ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
    assert ds.FrameIncrementPointer == pydicom.tag.Tag(0x0018, 0x2002)
    block = ds.private_block(0x0071, "DXASPINE 1")
    assert list(block[0x01].value) == [40.0, 70.0]
    assert list(block[0x02].value) == case.truth["i0_counts"]
    counts = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    # stored = round(counts / slope): the error is at most half a slope step
    assert np.abs(counts[0] - case.counts_low).max() <= float(ds.RescaleSlope) / 2
    assert np.abs(counts[1] - case.counts_high).max() <= float(ds.RescaleSlope) / 2
    # patient header: age consistent with birth and study dates
    birth = dt.datetime.strptime(ds.PatientBirthDate, "%Y%m%d").date()
    study = dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date()
    years = study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day))
    assert ds.PatientAge == "061Y" and years == 61
    assert str(ds.PatientName) == f"PHANTOM^{case.name.upper()}"
    assert ds.EthnicGroup and ds.PatientSize and ds.PatientWeight
    assert ds.ManufacturerModelName == "Prodigy-like"


def test_pair_and_bmd_map(written):
    case, paths = written
    low, high = (pydicom.dcmread(p) for p in paths["dual_energy_pair"])
    assert low.SeriesInstanceUID == high.SeriesInstanceUID
    assert low.SOPInstanceUID != high.SOPInstanceUID
    assert (low.ImageType[2], high.ImageType[2]) == ("LOW_ENERGY", "HIGH_ENERGY")
    for ds, counts in ((low, case.counts_low), (high, case.counts_high)):
        assert ds.private_block(0x0071, "DXASPINE 1")[0x04].value
        got = ds.pixel_array * float(ds.RescaleSlope)
        assert np.abs(got - counts).max() <= float(ds.RescaleSlope) / 2
    bmd = pydicom.dcmread(paths["bmd_map"])
    assert bmd.private_block(0x0071, "DXASPINE 1")[0x03].value == "AREAL_BMD_MAP"
    assert bmd.get("NumberOfFrames", 1) == 1
    value = bmd.pixel_array * float(bmd.RescaleSlope) + float(bmd.RescaleIntercept)
    # 1e-4 g/cm2 steps -> rounding error <= 5e-5 g/cm2
    np.testing.assert_allclose(value, case.bone_density_g_cm2, atol=5.0001e-5)


@pytest.mark.parametrize("scanner", ["prodigy", "idxa", "hologic"])
def test_display_export_has_no_spacing_but_exposed_area_gives_it(tmp_path, scanner):
    case = generate_case(PhantomParams(seed=9, scanner=scanner))
    ds = pydicom.dcmread(write_case(case, tmp_path, kinds=("display",))["display"])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1" and ds.Modality == "CR"
    assert "PixelSpacing" not in ds and "ImagerPixelSpacing" not in ds
    assert ds.BitsAllocated == 8 and ds.PhotometricInterpretation == "MONOCHROME2"
    assert ds.ProtocolName == "AP Spine" and ds.BodyPartExamined == "LSPINE"
    width_mm, length_mm = ds.ExposedArea
    spacing = (length_mm / ds.Rows, width_mm / ds.Columns)
    # ExposedArea / (cols, rows) within 0.5 % of the true spacing (whole-mm rounding)
    np.testing.assert_allclose(spacing, case.pixel_spacing_mm, rtol=0.005)
    img = ds.pixel_array
    assert np.all(img[:, 0] == 255) and np.all(img[:, -1] == 255)  # white strips
    c0, c1 = case.truth["field_columns"]
    field = img[:, c0 : c1 + 1]
    assert np.mean(field == 255) < 0.001  # normal bone stays below saturation
    # the strip edge is ragged: it moves row to row
    edge = np.argmax(img != 255, axis=1)
    assert np.ptp(edge) >= 2
    # bone bright on grey: vertebral bodies brighter than soft tissue beside the spine
    assert np.median(img[case.bone_mask & (case.label_image > 0)]) > np.median(field) + 20


def test_monochrome1_display_inverts(tmp_path):
    case = generate_case(PhantomParams(seed=9, display_photometric="MONOCHROME1"))
    ds = pydicom.dcmread(write_case(case, tmp_path, kinds=("display",))["display"])
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert np.all(ds.pixel_array[:, 0] == 0)  # strips stored 0 = displayed white


def test_metal_saturates_the_display(tmp_path):
    from dxaspine.phantom import Lesion

    case = generate_case(PhantomParams(seed=9, lesions=(Lesion("pedicle_screws", "L2"),)))
    ds = pydicom.dcmread(write_case(case, tmp_path, kinds=("display",))["display"])
    c0, c1 = case.truth["field_columns"]
    assert np.count_nonzero(ds.pixel_array[:, c0 : c1 + 1] == 255) > 20


@pytest.mark.parametrize("flip", [("columns",), ("rows",), ("rows", "columns")])
def test_flipped_files_flip_pixels_orientation_labels_and_truth(tmp_path, flip):
    case = generate_case(PhantomParams(seed=6, tilt_deg=3.0))
    plain = write_case(case, tmp_path / "plain", kinds=("dual_energy",))
    flipped = write_case(case, tmp_path / "flip", kinds=("dual_energy",), flip=flip)
    a = pydicom.dcmread(plain["dual_energy"])
    b = pydicom.dcmread(flipped["dual_energy"])
    axes = tuple(1 + ("columns", "rows").index(x) * -1 + 1 for x in flip)  # rows->1, cols->2
    assert np.array_equal(np.flip(a.pixel_array, axis=axes), b.pixel_array)
    expected = ["R" if "columns" in flip else "L", "H" if "rows" in flip else "F"]
    assert list(b.PatientOrientation) == expected
    la, lb = (np.asarray(Image.open(p["labels"])) for p in (plain, flipped))
    assert np.array_equal(np.flip(la, axis=tuple(x - 1 for x in axes)), lb)
    ta = json.loads(plain["truth"].read_text())
    tb = json.loads(flipped["truth"].read_text())
    rows, cols = ta["shape"]
    assert tb["flip"] == [x for x in ("rows", "columns") if x in flip]
    for la_, lb_ in zip(ta["lines"], tb["lines"], strict=True):
        got = sorted([lb_["left"], lb_["right"]])
        want = sorted(
            [cols - 1 - c if "columns" in flip else c, rows - 1 - r if "rows" in flip else r]
            for c, r in (la_["left"], la_["right"])
        )
        np.testing.assert_allclose(got, want, atol=2e-6)
    # the label code under a flipped line midpoint is unchanged (coordinates really moved)
    lv = tb["levels"][2]
    (c0, r0), (c1, r1) = lv["upper_line_px"]
    (c2, r2), (c3, r3) = lv["lower_line_px"]
    mid = (round((r0 + r1 + r2 + r3) / 4), round((c0 + c1 + c2 + c3) / 4))
    assert lb[mid] == lv["code"]


def test_truth_lines_bound_the_labelled_levels():
    case = generate_case(PhantomParams(seed=12, scoliosis_mm=20.0, scanner="hologic"))
    t = case.truth
    labels = [lv["label"] for lv in t["levels"]]
    order = ["T11", "T12", "L1", "L2", "L3", "L4", "L5"]
    start = order.index(labels[0])
    assert labels == order[start : start + len(labels)] and {"L1", "L4"} <= set(labels)
    for lv in t["levels"]:
        rows, cols = np.nonzero(case.label_image == lv["code"])
        (uc0, ur0), (uc1, ur1) = lv["upper_line_px"]
        (lc0, lr0), (lc1, lr1) = lv["lower_line_px"]
        upper = ur0 + (ur1 - ur0) * (cols - uc0) / (uc1 - uc0)
        lower = lr0 + (lr1 - lr0) * (cols - lc0) / (lc1 - lc0)
        # pixel centres of a level lie between its lines (half a pixel of slack for tilt)
        assert np.all(rows >= upper - 0.5) and np.all(rows <= lower + 0.5)
    # scoliosis: the mid-disc lines follow a 20 mm lateral curve (hologic 0.5 mm columns)
    mids = [(ln["left"][0] + ln["right"][0]) / 2 for ln in t["lines"]]
    assert (max(mids) - min(mids)) * 0.5 > 12.0
    assert t["label_codes"] == {str(lv["code"]): lv["label"] for lv in t["levels"]}


def test_transitional_six_lumbar_moves_the_field_and_crest():
    case = generate_case(PhantomParams(seed=3, transitional="six_lumbar"))
    t = case.truth
    labels = [lv["label"] for lv in t["levels"]]
    assert "L6" in labels and "T12" not in labels and t["transitional"] == "six_lumbar"
    l5_l6 = next(ln for ln in t["lines"] if ln["name"] == "L5/L6")
    disc_row = (l5_l6["left"][1] + l5_l6["right"][1]) / 2
    # docs/domain.md §4: crests at the lowest lumbar disc; disc height <= 12 mm -> within 12 mm
    assert abs(t["iliac_crest_row"] - disc_row) * 1.05 < 12.0


def test_ribs_follow_the_transitional_type():
    """T12 ribs add bone to the T12 region; without them (no_t12_rib) it has less."""
    with_ribs = generate_case(PhantomParams(seed=3, noise=False))
    without = generate_case(PhantomParams(seed=3, noise=False, transitional="no_t12_rib"))
    lumbar_rib = generate_case(PhantomParams(seed=3, noise=False, transitional="lumbar_rib"))
    bone_outside_box = [
        c.bone_density_g_cm2[: c.shape[0] // 3][c.label_image[: c.shape[0] // 3] == 0].sum()
        for c in (with_ribs, without, lumbar_rib)
    ]
    assert bone_outside_box[1] < 0.8 * bone_outside_box[0]
    assert bone_outside_box[2] > bone_outside_box[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suite", ["standard", "hard", "pathology", "transitional", "scanners"])
def test_suites_run_and_manifest_matches_files(tmp_path, suite):
    manifest = write_suite(suite, tmp_path, seed=1, count=1)
    assert len(manifest["cases"]) == 1
    for entry in manifest["files"]:
        assert _sha(tmp_path / entry["file"]) == entry["sha256"]
    for path in tmp_path.glob("*.dcm"):
        pydicom.dcmread(path).pixel_array  # noqa: B018  (every file decodes)


def test_suites_are_seeded():
    first = [p.to_json() for p in SUITES["hard"](seed=2, count=3)]
    again = [p.to_json() for p in SUITES["hard"](seed=2, count=3)]
    other = [p.to_json() for p in SUITES["hard"](seed=3, count=3)]
    assert first == again and first != other


def _check_against_manifest(directory: Path, regenerated: Path) -> None:
    manifest = json.loads((directory / "MANIFEST.json").read_text())
    assert manifest["files"]
    for entry in manifest["files"]:
        new = regenerated / entry["file"]
        if new.suffix == ".png":
            # PNG bytes depend on the zlib build; the decoded pixels must match exactly
            assert png_pixel_sha256(new.read_bytes()) == entry["pixel_sha256"], entry["file"]
        else:
            assert _sha(new) == entry["sha256"], entry["file"]
    assert json.loads((regenerated / "MANIFEST.json").read_text())["cases"] == manifest["cases"]


def test_committed_test_images_regenerate_byte_for_byte(tmp_path):
    write_suite("test_images", tmp_path, seed=0)
    _check_against_manifest(REPO / "test_images", tmp_path)


def test_bundled_demo_case_regenerates_byte_for_byte(tmp_path):
    write_suite("demo", tmp_path, seed=0)
    _check_against_manifest(REPO / "dxaspine" / "data", tmp_path)


def test_write_case_twice_gives_identical_bytes(tmp_path):
    params = PhantomParams(seed=10, scanner="hologic", gas_pockets=2)
    a = write_case(generate_case(params), tmp_path / "a")
    b = write_case(generate_case(params), tmp_path / "b")
    for key in ("dual_energy", "bmd_map", "display", "truth", "labels"):
        assert _sha(a[key]) == _sha(b[key]), key


def test_command_lists_and_rejects_unknown_suite(tmp_path, capsys):
    from dxaspine.commands.phantom import run
    from dxaspine.errors import DxaError

    ns = argparse.Namespace(outdir=str(tmp_path), suite="standard", seed=0, count=None, list=True)
    assert run(ns) == 0
    assert "test_images" in capsys.readouterr().out
    ns.list, ns.suite = False, "nope"
    with pytest.raises(DxaError, match="no such phantom suite"):
        run(ns)


def test_demo_analyses_the_bundled_case_and_writes_the_overlay(tmp_path, capsys):
    from dxaspine.commands.demo import bundled_paths, run

    out = tmp_path / "demo.png"
    assert run(argparse.Namespace(overlay=str(out))) == 0
    printed = capsys.readouterr().out
    truth = json.loads(bundled_paths()[1].read_text())
    for label in ("L1", "L2", "L3", "L4"):
        assert label in printed
    assert "L1-L4" in printed
    assert f"{truth['composites']['L1-L4']['bmd_g_cm2']:.3f}" in printed  # the truth column
    assert Image.open(out).size[0] > 100
