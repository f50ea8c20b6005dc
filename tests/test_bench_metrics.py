"""The benchmark's metric definitions on hand-worked examples (docs/benchmark.md, "Metrics")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dxaspine.bench import metrics
from dxaspine.bench.calibration import reliability


def test_line_error_midpoint_and_tilt_by_hand():
    # truth (0,10)-(10,10); prediction (0,12)-(10,14); spacing row 1.0 mm, column 0.5 mm.
    # midpoints (5, 10) and (5, 13): 3 rows x 1.0 mm = 3.0 mm.
    # angles in mm: truth 0 deg; prediction atan2(2 rows x 1.0, 10 cols x 0.5) = atan2(2, 5).
    truth = [{"name": "L1/L2", "left": [0, 10], "right": [10, 10]}]
    predicted = [("L1/L2", (0, 12), (10, 14)), ("L5/S1", (0, 0), (10, 0))]
    (error,) = metrics.line_errors(predicted, truth, (1.0, 0.5))  # L5/S1 has no truth: skipped
    assert error.name == "L1/L2"
    assert error.midpoint_mm == pytest.approx(3.0, abs=1e-12)
    assert error.tilt_deg == pytest.approx(math.degrees(math.atan2(2, 5)), abs=1e-9)


def test_tilt_error_ignores_line_direction():
    # a line drawn right to left is the same line: 0 deg, not 180
    truth = [{"name": "L1/L2", "left": [0, 10], "right": [10, 10]}]
    (error,) = metrics.line_errors([("L1/L2", (10, 10), (0, 10))], truth, (1.0, 1.0))
    assert error.tilt_deg == pytest.approx(0.0, abs=1e-12)


def test_level_names_by_majority_and_outside():
    truth = np.zeros((6, 4), dtype=np.int32)
    truth[0:2] = 1  # T12
    truth[2:4] = 2  # L1
    pred = np.zeros((6, 4), dtype=np.int32)
    pred[1:4] = 1  # one row of T12, two of L1: majority L1
    pred[5] = 2  # wholly outside the truth levels
    names = metrics.level_truth_names(pred, 2, truth, {1: "T12", 2: "L1"})
    assert names == ["L1", None]


def test_scan_labels_right_needs_every_complete_clinical_level():
    # named right where truth lies under them, but L4 (complete in truth) is not predicted
    out = metrics.label_outcome(["L1", "L2", "L3"], [0.9, 0.9, 0.9], (), ["L1", "L2", "L3"],
                                ["L1", "L2", "L3", "L4"])  # fmt: skip
    assert not out.scan_correct and out.missing == ("L4",)
    # a level outside the truth (None) is neither right nor wrong
    out = metrics.label_outcome(["T12", "L1"], [0.9, 0.9], (), [None, "L1"], ["L1"])
    assert out.scan_correct and out.wrong == ()


def test_wrong_label_warned_by_low_confidence_or_flag():
    out = metrics.label_outcome(["L2", "L3"], [0.4, 0.9], (), ["L1", "L2"], [])
    assert [lv.warned for lv in out.wrong] == [True, False]  # 0.4 < 0.5, 0.9 is silent
    out = metrics.label_outcome(["L2", "L3"], [0.9, 0.9], ("ribs_clipped",), ["L1", "L2"], [])
    assert all(lv.warned for lv in out.wrong)  # a labelling doubt flag warns every level
    assert metrics.scan_warned([0.9], ["label_single_cue"]) and not metrics.scan_warned([0.9], [])


def test_level_dice_on_bone_pixels_by_hand():
    # truth L1 region rows 0-3 x cols 0-3 (16 px), truth bone its left 3 columns (12 px);
    # predicted L1 region rows 0-3 x cols 1-4, predicted bone its cols 1-3 (12 px).
    # overlap of the bone sets: rows 0-3 x cols 1-2 = 8 px -> Dice = 2*8/(12+12) = 2/3.
    truth = np.zeros((4, 5), dtype=np.int32)
    truth[:, 0:4] = 1
    truth_bone = np.zeros((4, 5), dtype=bool)
    truth_bone[:, 0:3] = True
    pred = np.zeros((4, 5), dtype=np.int32)
    pred[:, 1:5] = 1
    pred_bone = np.zeros((4, 5), dtype=bool)
    pred_bone[:, 1:4] = True
    dice = metrics.level_dice(pred, pred_bone, ["L1"], ["L1"], truth, {1: "L1"}, truth_bone)
    assert dice == {"L1": pytest.approx(2 / 3)}
    # without a truth bone mask: box regions against box regions, 12 px overlap of 16 + 16
    dice = metrics.level_dice(pred, pred_bone, ["L1"], ["L1"], truth, {1: "L1"}, None)
    assert dice == {"L1": pytest.approx(2 * 12 / 32)}
    # a mislabelled level gets no Dice (its error is a labelling error)
    assert metrics.level_dice(pred, pred_bone, ["L2"], ["L1"], truth, {1: "L1"}, truth_bone) == {}


def test_boundary_distance_by_hand():
    # two 3 x 3 squares, the second one column to the right, column spacing 0.5 mm.  Of each
    # square's 8 boundary pixels, 4 lie on the other's boundary (0 mm) and 4 are one column
    # (0.5 mm) from it: ASSD = (4 x 0 + 4 x 0.5) / 8 = 0.25 mm; HD95 of eight 0 and eight 0.5
    # = 0.5 mm.
    a = np.zeros((5, 6), dtype=bool)
    a[1:4, 1:4] = True
    b = np.zeros((5, 6), dtype=bool)
    b[1:4, 2:5] = True
    assd, hd95 = metrics.boundary_distance_mm(a, b, (1.0, 0.5))
    assert assd == pytest.approx(0.25)
    assert hd95 == pytest.approx(0.5)
    assert metrics.boundary_distance_mm(a, a, (1.0, 1.0)) == (0.0, 0.0)
    assert metrics.boundary_distance_mm(a, np.zeros_like(a), (1.0, 1.0)) == (None, None)


def test_regions_from_lines_names_the_level_between_two_lines():
    lines = [{"name": "L1/L2", "left": [0, 2], "right": [9, 2]},
             {"name": "L2/L3", "left": [0, 6], "right": [9, 6]}]  # fmt: skip
    image, codes = metrics.regions_from_lines((10, 10), lines)
    assert codes == {1: "L2"}
    assert set(np.unique(image[3:6])) == {1} and not image[:2].any() and not image[8:].any()


def test_ece_by_hand():
    # bin 9 (0.9-1.0): four labels at 0.95, three right: |0.75 - 0.95| = 0.2, weight 4/6;
    # bin 5 (0.5-0.6): two at 0.55, one right: |0.5 - 0.55| = 0.05, weight 2/6.
    # ECE = (4 x 0.2 + 2 x 0.05) / 6 = 0.15.
    cal = reliability([0.95] * 4 + [0.55] * 2, [True, True, True, False, True, False])
    assert cal.ece == pytest.approx(0.15)
    assert cal.counts[9] == 4 and cal.counts[5] == 2 and cal.accuracy[9] == pytest.approx(0.75)
    # always right at stated 1.0 is perfectly calibrated; 1.0 falls in the last bin, 0 the first
    assert reliability([1.0, 1.0], [True, True]).ece == 0.0
    assert reliability([0.0, 1.0], [False, True]).counts[0] == 1
    assert reliability([], []).ece is None


@pytest.mark.parametrize("bad", [[float("nan")], [1.5], [-0.1]])
def test_ece_rejects_confidences_outside_0_1(bad):
    with pytest.raises(ValueError):
        reliability(bad, [True])
