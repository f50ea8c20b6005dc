"""The documented truth format, its loader's errors, and suite folders with bad members.

Truth comes from the committed phantom set (test_images/, whose truth the phantom wrote);
user-format files are derived from it, holding only what a person annotates (lines).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dxaspine.bench.folder import MANIFEST_NAME, index_folder, open_folder
from dxaspine.bench.truth import TruthError, load_truth
from dxaspine.errors import DxaError, InputError

IMAGES = Path(__file__).resolve().parents[1] / "test_images"
CASE = "ti_standard_prodigy"


def _annotation(case: str = CASE) -> dict:
    """A hand annotation of a committed case: its disc lines only (format 1.0)."""
    phantom = json.loads((IMAGES / f"{case}.truth.json").read_text())
    return {"truth_format": "1.0", "lines": phantom["lines"]}


def test_phantom_truth_reads_as_full_truth():
    truth = load_truth(IMAGES / f"{CASE}.truth.json")
    raw = json.loads((IMAGES / f"{CASE}.truth.json").read_text())
    assert truth.format == "phantom"
    assert [ln.name for ln in truth.lines] == [ln["name"] for ln in raw["lines"]]
    assert truth.complete_clinical == ("L1", "L2", "L3", "L4")
    assert truth.label_image.shape == tuple(raw["shape"])
    assert truth.level("L2").bmd_g_cm2 == pytest.approx(raw["levels"][2]["bmd_g_cm2"])
    assert truth.has_measurements


def test_lines_only_truth_derives_levels(tmp_path):
    path = tmp_path / "scan1.truth.json"
    path.write_text(json.dumps(_annotation()))
    truth = load_truth(path)
    # lines T12/L1 ... L4/L5: L1-L4 lie between two annotated lines, T12 and L5 do not
    assert [(lv.label, lv.complete) for lv in truth.levels] == [
        ("T12", False), ("L1", True), ("L2", True), ("L3", True), ("L4", True), ("L5", False)
    ]  # fmt: skip
    assert truth.label_image is None and not truth.has_measurements


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "not a JSON object"),
        ('{"lines": []}', "truth_format"),
        ('{"truth_format": "1.0", "lines": [{"name": "L1-L2", "left": [0, 1], "right": [5, 1]}]}',
         "not UPPER/LOWER"),
        ('{"truth_format": "1.0", "lines": [{"name": "L1/L2", "left": [0], "right": [5, 1]}]}',
         "not a [column, row] pair"),
        ('{"truth_format": "1.0", "lines": []}', "nothing to compare"),
        ('{"truth_format": "1.0", "lines": [], "label_image": "gone.png"}', "gone.png is missing"),
        ('{"truth_format": "1.0", "levels": [{"label": "L9"}], "lines": []}', "not a vertebra"),
    ],
)  # fmt: skip
def test_malformed_truth_is_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.truth.json"
    path.write_text(content)
    with pytest.raises(TruthError) as info:
        load_truth(path)
    message = str(info.value)
    assert isinstance(info.value, InputError) and "\n" not in message
    assert message.startswith(str(path)) and problem in message


def test_label_image_values_must_be_named(tmp_path):
    labels = np.zeros((20, 10), dtype=np.uint16)
    labels[5:10] = 1
    labels[10:15] = 7  # no name for 7
    Image.fromarray(labels).save(tmp_path / "x.labels.png")
    (tmp_path / "x.truth.json").write_text(json.dumps({"truth_format": "1.0",
                                                       "label_codes": {"1": "L1"}}))  # fmt: skip
    with pytest.raises(TruthError, match=r"values \[7\] are not in label_codes"):
        load_truth(tmp_path / "x.truth.json")


def test_bone_mask_must_match_the_label_image(tmp_path):
    Image.fromarray(np.ones((20, 10), dtype=np.uint16)).save(tmp_path / "x.labels.png")
    Image.fromarray(np.zeros((19, 10), dtype=np.uint8)).save(tmp_path / "x.bone.png")
    (tmp_path / "x.truth.json").write_text(json.dumps({"truth_format": "1.0",
                                                       "label_codes": {"1": "L1"}}))  # fmt: skip
    with pytest.raises(TruthError, match="bone mask"):
        load_truth(tmp_path / "x.truth.json")


@pytest.fixture
def user_folder(tmp_path):
    """good/ one annotated scan; bad/ a malformed truth, a scan without truth, truth without scan."""
    root = tmp_path / "suite"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    shutil.copy(IMAGES / f"{CASE}.dual_energy.dcm", root / "good" / "scan1.dcm")
    (root / "good" / "scan1.truth.json").write_text(json.dumps(_annotation()))
    shutil.copy(IMAGES / f"{CASE}.bmd_map.dcm", root / "bad" / "broken.dcm")
    (root / "bad" / "broken.truth.json").write_text('{"truth_format": "1.0", "lines": [')
    shutil.copy(IMAGES / f"{CASE}.display.dcm", root / "bad" / "orphan.dcm")
    (root / "bad" / "lonely.truth.json").write_text(json.dumps(_annotation()))
    return root


def test_folder_runs_what_it_can_and_lists_the_rest(user_folder):
    suite = open_folder(user_folder)
    assert [c.id for c in suite.cases] == ["scan1"]
    assert suite.cases[0].group == "good"  # the sub-folder is the group
    reasons = dict(suite.skipped)
    assert "not valid JSON" in reasons["bad/broken.truth.json"]
    assert "no truth file" in reasons["bad/orphan.dcm"]
    assert "no image lonely.dcm" in reasons["lonely"]
    assert all("\n" not in r for r in reasons.values())


def test_index_folder_writes_the_sha256_of_every_file(user_folder):
    manifest = index_folder(user_folder)
    files = {f["file"] for f in manifest["files"]}
    assert files == {"good/scan1.dcm", "good/scan1.truth.json"}
    (user_folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    # a file changed after indexing is skipped with the reason, never run silently
    with open(user_folder / "good" / "scan1.dcm", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DxaError, match="changed since the manifest"):
        open_folder(user_folder)  # no case left: one line naming why


def test_missing_folder_is_one_line():
    with pytest.raises(InputError, match="no such suite folder"):
        open_folder("/nonexistent/suite")


def test_make_suite_from_a_folder_writes_its_manifest(user_folder, capsys):
    from dxaspine.cli import main

    assert main(["bench", "make-suite", "--from", str(user_folder)]) == 0
    manifest = json.loads((user_folder / MANIFEST_NAME).read_text())
    assert [c["id"] for c in manifest["cases"]] == ["scan1"]
    assert len(manifest["skipped"]) == 3  # listed, with reasons, for the user to fix
    assert "1 cases indexed" in capsys.readouterr().out
    assert [c.id for c in open_folder(user_folder).cases] == ["scan1"]  # now read from it
