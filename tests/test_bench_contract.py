"""The ``Segmentation`` contract check: the classical output passes, each kind of garbage is
named (docs/architecture.md, "Segmenters"; dxaspine/segment/segmentation.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from dxaspine.bench.contract import SegmenterOutputError, check_segmentation, contract_problems
from dxaspine.errors import SegmentationError
from dxaspine.io import load
from dxaspine.physics import decompose
from dxaspine.segment import IntervertebralLine, segment_spine

IMAGE = Path(__file__).resolve().parents[1] / "test_images" / "ti_standard_prodigy.dual_energy.dcm"


@pytest.fixture(scope="module")
def valid():
    scan = load(IMAGE)
    dmap = decompose(scan)
    return segment_spine(dmap, scan), dmap.values.shape


def test_the_classical_segmentation_is_valid(valid):
    seg, shape = valid
    assert contract_problems(seg, shape) == []
    check_segmentation(seg, shape, "case", "classical")  # does not raise


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda s: {"not": "a segmentation"}, "not a dxaspine.segment.Segmentation"),
        (lambda s: dataclasses.replace(s, bone_mask=s.bone_mask[1:]), "bone_mask has shape"),
        (lambda s: dataclasses.replace(s, label_image=s.label_image.astype(float)),
         "label_image has dtype"),
        (lambda s: dataclasses.replace(s, lines=s.lines[:-1]), "lines for 4 levels"),
        (lambda s: dataclasses.replace(s, labels=s.labels[::-1]), "not cranial to caudal"),
        (lambda s: dataclasses.replace(s, labels=("L1", "L2", "L3", "L9")), "are not in"),
        (lambda s: dataclasses.replace(s, label_confidence=(0.9, 0.9, 1.5, 0.9)), "in [0, 1]"),
        (lambda s: dataclasses.replace(s, label_confidence=(0.9,)), "1 confidences for 4"),
        (lambda s: dataclasses.replace(s, lines=s.lines[::-1]), "not ordered top to bottom"),
        (lambda s: dataclasses.replace(s, lines=(IntervertebralLine((0, float("nan")), (5, 1)),
                                                 *s.lines[1:])), "finite endpoints"),
        (lambda s: dataclasses.replace(s, label_image=s.label_image + 3), "exceed the levels"),
        (lambda s: dataclasses.replace(s, axis_rows=s.axis_rows[:50],
                                       axis_columns=s.axis_columns[:50]), "image rows"),
    ],
)  # fmt: skip
def test_each_breach_is_named(valid, change, problem):
    seg, shape = valid
    broken = change(seg)
    problems = contract_problems(broken, shape)
    assert any(problem in p for p in problems), problems
    with pytest.raises(SegmenterOutputError) as info:
        check_segmentation(broken, shape, "standard_000.dual_energy", "mine")
    message = str(info.value)
    assert isinstance(info.value, SegmentationError) and "\n" not in message
    assert message.startswith("standard_000.dual_energy: segmenter mine broke the Segmentation")


def test_a_valid_but_empty_axis_is_named(valid):
    seg, shape = valid
    broken = dataclasses.replace(seg, axis_columns=np.full(seg.axis_columns.shape, np.nan))
    assert "fewer than 2 finite points" in " ".join(contract_problems(broken, shape))
