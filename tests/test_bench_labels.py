"""The level label export (``analyze --labels``): stored orientation, names, spacing, NIfTI,
and the sidecar as benchmark truth.  Checked against the phantom's own truth label image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dxaspine.bench import metrics
from dxaspine.bench.folder import open_folder
from dxaspine.bench.runner import RunOptions, run_case
from dxaspine.bench.segmenters import parse_spec
from dxaspine.bench.truth import load_truth
from dxaspine.cli import main
from dxaspine.report.labels import read_label_png

IMAGES = Path(__file__).resolve().parents[1] / "test_images"


@pytest.mark.parametrize("case, axcodes", [("ti_standard_prodigy", ("L", "I", "A")),
                                           ("ti_flipped_prodigy", ("R", "I", "A"))])  # fmt: skip
def test_export_lies_on_the_stored_grid_of_the_truth(tmp_path, case, axcodes):
    out = tmp_path / "labels.png"
    assert main(["analyze", str(IMAGES / f"{case}.dual_energy.dcm"), "--labels", str(out)]) == 0
    image, codes = read_label_png(out)
    truth = load_truth(IMAGES / f"{case}.truth.json")
    assert image.shape == truth.label_image.shape and image.dtype == np.int32
    # the PNG's own text chunk: L1-L4, and on the flipped file L5 too (its L5/S1 dip is
    # shallow; the lowest disc a period below L4/L5 is kept, docs/segmentation.md §1)
    assert list(codes.items())[:4] == [(1, "L1"), (2, "L2"), (3, "L3"), (4, "L4")]
    assert set(codes.values()) <= {"L1", "L2", "L3", "L4", "L5"}
    # On the stored grid, every exported level lies over the truth level of its name (a
    # mirrored export of the flipped file would put L1 over L4), and the box regions
    # overlap the truth's: lines within ~1 mm and box sides within a few mm of the truth's
    # (measured Dice 0.973-0.983 on these two files), so >= 0.9.
    names = metrics.level_truth_names(image, len(codes), truth.label_image, truth.label_codes)
    assert names == list(codes.values())
    dice = metrics.level_dice(image, None, list(codes.values()), names, truth.label_image,
                              truth.label_codes)  # fmt: skip
    assert min(dice.values()) >= 0.9
    sidecar = json.loads((tmp_path / "labels.json").read_text())
    assert sidecar["label_codes"] == {str(k): v for k, v in codes.items()}
    assert sidecar["pixel_spacing_mm"] == list(truth_spacing(case))
    bone, _ = read_label_png(tmp_path / "labels.bone.png")
    assert bone.shape == image.shape and bone[image > 0].mean() > 0.3  # bodies are bone
    nibabel = pytest.importorskip("nibabel")
    volume = nibabel.load(tmp_path / "labels.nii.gz")
    assert volume.shape == (image.shape[1], image.shape[0], 1)
    assert np.array_equal(np.asarray(volume.dataobj)[:, :, 0].T, image)
    spacing = truth_spacing(case)
    assert volume.header.get_zooms() == pytest.approx((spacing[1], spacing[0], 1.0))
    assert nibabel.aff2axcodes(volume.affine) == axcodes  # columns to the patient's left: L


def truth_spacing(case):
    return tuple(json.loads((IMAGES / f"{case}.truth.json").read_text())["pixel_spacing_mm"])


def test_without_nibabel_the_nifti_is_left_out(tmp_path, monkeypatch):
    import dxaspine.report.labels as labels

    real = labels.importlib.util.find_spec
    monkeypatch.setattr(labels.importlib.util, "find_spec",
                        lambda name, *a: None if name == "nibabel" else real(name, *a))  # fmt: skip
    out = tmp_path / "x.png"
    assert main(["analyze", str(IMAGES / "ti_standard_prodigy.dual_energy.dcm"),
                 "--labels", str(out)]) == 0  # fmt: skip
    assert out.is_file() and (tmp_path / "x.json").is_file()
    assert not (tmp_path / "x.nii.gz").exists()


def test_the_sidecar_is_benchmark_truth(tmp_path):
    # export a segmentation, rename its sidecar <case>.truth.json: it is an annotation, and
    # the segmenter that made it scores perfectly against it
    shutil.copy(IMAGES / "ti_flipped_prodigy.dual_energy.dcm", tmp_path / "scan.dcm")
    assert main(["analyze", str(tmp_path / "scan.dcm"), "--labels",
                 str(tmp_path / "scan.labels.png")]) == 0  # fmt: skip
    (tmp_path / "scan.labels.json").rename(tmp_path / "scan.truth.json")
    suite = open_folder(tmp_path)
    (row,) = run_case(suite.cases[0], RunOptions((parse_spec("dxaspine.segment:segment_spine"),)))
    assert row["status"] == "ok" and row["labels_scan_correct"]
    assert row["line_midpoint_error_max_mm"] == pytest.approx(0.0, abs=1e-9)
    assert row["dice_min"] == 1.0


def test_batch_offers_a_labels_folder(capsys):
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    assert "--labels-dir" in capsys.readouterr().out
