"""The runner against phantom truth: the harness scores what the accuracy tests score, the
references are the ceiling and floor they claim to be, and bad segmenters, bad images and bad
truth are recorded per case while the run goes on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dxaspine.bench import metrics
from dxaspine.bench.folder import open_folder
from dxaspine.bench.runner import RunOptions, run_case, run_suite
from dxaspine.bench.segmenters import parse_spec
from dxaspine.bench.suites import SuitePart, SuiteSpec, write_phantom_suite
from dxaspine.io import load
from dxaspine.phantom import SUITES, generate_case, write_case
from dxaspine.physics import decompose
from dxaspine.segment import segment_spine

PLUGINS = Path(__file__).resolve().parent / "_bench_plugins.py"
TINY = SuiteSpec("tiny", "two standard cases, dual-energy and display",
                 (SuitePart("standard", "standard", 2, ("dual_energy", "display")),))  # fmt: skip


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_phantom_suite(TINY, root)
    return open_folder(root)


@pytest.fixture(scope="module")
def flipped_folder(tmp_path_factory):
    """One case stored flipped on both axes, written as a user would: no manifest."""
    root = tmp_path_factory.mktemp("flipped")
    case = generate_case(next(iter(SUITES["standard"](seed=7, count=1))))
    write_case(case, root, kinds=("dual_energy",), flip=("rows", "columns"))
    bone = np.asarray(case.bone_mask, dtype=np.uint8)[::-1, ::-1] * 255
    Image.fromarray(np.ascontiguousarray(bone)).save(root / f"{case.name}.bone.png")
    return case, open_folder(root)


def _in_memory(case, path):
    """The accuracy test's evaluation (tests/test_segment_accuracy.py): head-up, in memory."""
    scan = load(path)
    seg = segment_spine(decompose(scan), scan)
    truth = json.loads(Path(str(path).replace(".dual_energy.dcm", ".truth.json")
                            .replace(".display.dcm", ".truth.json")).read_text())  # fmt: skip
    predicted = [(ln.name, scan.to_stored_xy(*ln.left), scan.to_stored_xy(*ln.right))
                 for ln in seg.lines]  # fmt: skip
    lines = metrics.line_errors(predicted, truth["lines"], case.pixel_spacing_mm)
    codes = {int(k): v for k, v in truth["label_codes"].items()}
    names = metrics.level_truth_names(seg.label_image, len(seg.labels), case.label_image, codes)
    complete = [lv["label"] for lv in truth["levels"] if lv["complete"] and lv["label"] in
                ("L1", "L2", "L3", "L4")]  # fmt: skip
    labels = metrics.label_outcome(seg.labels, seg.label_confidence, (), names, complete)
    dice = metrics.level_dice(seg.label_image, seg.bone_mask, seg.labels, names,
                              case.label_image, codes, case.bone_mask)  # fmt: skip
    return labels.scan_correct, sorted(e.midpoint_mm for e in lines), dice


CLASSICAL = parse_spec("classical=dxaspine.segment:segment_spine")


def test_harness_scores_what_the_accuracy_test_scores(tiny_suite, flipped_folder):
    # The harness reads the cached files on the stored grid and flips the segmentation back;
    # the accuracy test compares head-up arrays in memory.  Same definitions, same numbers
    # (1e-9: floating-point summation order only), on plain and on doubly flipped files.
    flipped_case, flipped = flipped_folder
    cases = [(generate_case(p), c) for p, c in zip(
        [p for p in SUITES["standard"](seed=0, count=2) for _ in range(2)], tiny_suite.cases,
        strict=True)] + [(flipped_case, flipped.cases[0])]  # fmt: skip
    for case, bench_case in cases:
        (row,) = run_case(bench_case, RunOptions((CLASSICAL,)))
        labels_ok, line_errors, dice = _in_memory(case, bench_case.images[0])
        assert row["status"] == "ok", row["error"]
        assert row["labels_scan_correct"] == labels_ok
        harness_lines = sorted(ln["midpoint_mm"] for ln in json.loads(row["lines_json"])
                               if ln["midpoint_mm"] is not None)  # fmt: skip
        assert harness_lines == pytest.approx(line_errors, abs=1e-9)
        assert {k: v["dice"] for k, v in json.loads(row["masks_json"]).items()} == pytest.approx(
            dice, abs=1e-9
        )


def test_oracle_is_the_ceiling(tiny_suite):
    rows = [r for c in tiny_suite.cases for r in run_case(c, RunOptions((parse_spec("oracle"),)))]
    for row in rows:
        assert row["status"] == "ok" and row["labels_scan_correct"]
        assert row["line_midpoint_error_max_mm"] == 0.0 and row["dice_min"] == 1.0
        assert row["boundary_hd95_max_mm"] == 0.0
        if row["kind"] == "dual_energy":
            # truth bone mask and truth regions: area is exact, BMD error is physics only
            # (docs: the classical L1-L4 error is <= 0.65 % on standard phantoms; the oracle,
            # with no segmentation error, must be inside 1 %)
            for n in ("L1", "L2", "L3", "L4"):
                assert row[f"{n}_area_error_percent"] == pytest.approx(0.0, abs=1e-9)
            assert abs(row["L1-L4_bmd_error_percent"]) < 1.0


def test_naive_is_the_floor(tiny_suite):
    specs = (CLASSICAL, parse_spec("naive"))
    rows = [r for c in tiny_suite.cases for r in run_case(c, RunOptions(specs))]
    classical = [r for r in rows if r["segmenter"] == "classical"]
    naive = [r for r in rows if r["segmenter"] == "naive"]
    assert all(r["status"] == "ok" for r in naive)
    # equal-height boxes cannot follow the discs: several times the classical line error and
    # a clearly lower Dice on every input
    for c, n in zip(classical, naive, strict=True):
        assert n["line_midpoint_error_mean_mm"] > 2 * c["line_midpoint_error_mean_mm"]
        assert n["dice_mean"] < c["dice_mean"] - 0.05


def test_bad_segmenters_are_recorded_per_case_and_the_run_goes_on(tiny_suite):
    specs = [
        parse_spec(f"{name}={PLUGINS}:{name}") for name in ("raises", "garbage", "wrong_shape")
    ]
    specs += [CLASSICAL, parse_spec("missing=no_such_package.segmenters:segment")]
    run = run_suite(tiny_suite, specs, workers=1)
    assert run.skipped_segmenters == [("missing", run.skipped_segmenters[0][1])]
    assert "cannot import no_such_package.segmenters" in run.skipped_segmenters[0][1]
    assert "\n" not in run.skipped_segmenters[0][1]
    by = {(r["segmenter"], r["case"]): r for r in run.rows}
    for case in tiny_suite.cases:
        assert by[("classical", case.id)]["status"] == "ok"
        raised = by[("raises", case.id)]
        assert (raised["status"], raised["stage"], raised["error_class"]) == (
            "failed",
            "segment",
            "RuntimeError",
        )
        assert "not a dxaspine.segment.Segmentation" in by[("garbage", case.id)]["error"]
        assert "bone_mask has shape" in by[("wrong_shape", case.id)]["error"]
        assert by[("wrong_shape", case.id)]["error"].startswith(case.id)
        assert by[("raises", case.id)]["labels_scan_correct"] is False  # a failure counts wrong


def test_an_image_that_fails_to_load_fails_only_its_case(tiny_suite, tmp_path):
    root = tmp_path / "suite"
    shutil.copytree(tiny_suite.root, root)
    (root / "bench_manifest.json").unlink()  # walk the folder: the copy is no longer as indexed
    victim = root / "standard_001.display.dcm"
    victim.write_bytes(b"DICM but not really" * 10)
    suite = open_folder(root)
    run = run_suite(suite, [CLASSICAL], workers=1)
    failed = [r for r in run.rows if r["status"] != "ok"]
    assert [r["case"] for r in failed] == ["standard_001.display"]
    assert failed[0]["stage"] == "load" and str(victim) in failed[0]["error"]
    assert sum(r["status"] == "ok" for r in run.rows) == len(suite.cases) - 1


def test_truth_shape_mismatch_fails_the_case_naming_the_truth(tiny_suite, tmp_path):
    root = tmp_path / "suite"
    shutil.copytree(tiny_suite.root, root)
    (root / "bench_manifest.json").unlink()
    labels = root / "standard_000.labels.png"
    array = np.asarray(Image.open(labels))
    Image.fromarray(array[:-4]).save(labels)
    (root / "standard_000.bone.png").unlink()
    suite = open_folder(root)
    rows = [r for c in suite.cases if c.id.startswith("standard_000")
            for r in run_case(c, RunOptions((CLASSICAL,)))]  # fmt: skip
    assert all(r["status"] == "failed" and r["stage"] == "truth" for r in rows)
    assert "standard_000.truth.json" in rows[0]["error"] and "stored image grid" in rows[0]["error"]
