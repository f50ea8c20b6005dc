"""Unit tests of the segmentation pieces and its error handling, on small synthetic inputs.

The accuracy against phantom truth is in ``test_segment_accuracy.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from dxaspine.errors import DxaError, SegmentationError
from dxaspine.io.scan import Scan
from dxaspine.physics.density_map import DensityMap
from dxaspine.segment import Segmentation, segment_spine
from dxaspine.segment.bone_mask import bone_mask
from dxaspine.segment.discs import robust_line
from dxaspine.segment.labelling import CONF_AGREE, CONF_CLIPPED_AGREE, assign_labels

SPACING = (1.0, 1.0)


def _map_and_scan(values, spacing=SPACING, quantitative=True, path="case.dcm"):
    field = np.ones(values.shape, dtype=bool)
    dm = DensityMap(values, quantitative, "g/cm2" if quantitative else "relative", spacing, field)
    scan = Scan(
        kind="bmd_map" if quantitative else "display",
        frames={"bmd": values},
        pixel_spacing_mm=spacing,
        pixel_spacing_source="PixelSpacing",
        field_mask=field,
        path=path,
    )
    return dm, scan


def _toy_spine(n_levels=6, period_mm=37.0, disc_mm=10.0, shape=(197, 180), crest=True, ribs=True):
    """A 1 mm-pixel spine: bodies 44 mm wide, discs, processes, T12 ribs and iliac crests.

    Returns (density g/cm2, disc centre rows top to bottom).  The top disc is T11/T12 when
    ``ribs`` (ribs drawn on the level below it), the last one L4/L5 at the crest.
    """
    rows, cols = shape
    img = np.zeros(shape)
    cc = np.arange(cols)[None, :] - cols / 2
    rr = np.arange(rows)[:, None].astype(float)
    # the last disc (L4/L5) 20 mm above the field's bottom: the field ends at ~mid-L5
    top0 = rows - 20 - n_levels * period_mm + disc_mm / 2
    discs = []
    for k in range(n_levels + 1):
        body_top = top0 + k * period_mm
        body_bottom = body_top + period_mm - disc_mm
        inside = (rr >= body_top) & (rr < body_bottom) & (np.abs(cc) < 22)
        img += np.where(inside, 1.0, 0.0)
        tp = (np.abs(rr - (body_top + 10)) < 3) & (np.abs(cc) >= 22) & (np.abs(cc) < 40)
        img += np.where(tp, 0.4, 0.0)
        if k < n_levels:
            discs.append(body_bottom + disc_mm / 2)
        if ribs and k == 1:  # the level below the first disc carries ribs: T12
            d = np.abs(cc) - 22
            rib = (d > 0) & (np.abs(rr - (body_top + 8) - 0.4 * d) < 3)
            img += np.where(rib, 0.5, 0.0)
    if crest:
        crest_row = discs[-1]
        ilium = (np.abs(cc) > 40) & (rr > crest_row + 0.004 * (np.abs(cc) - 70) ** 2 - 3)
        img += np.where(ilium, 0.6, 0.0)
    discs = [d for d in discs if 0 < d < rows]
    return img, discs


# ---------------------------------------------------------------- robust line fit
def test_robust_line_ignores_outliers():
    x = np.arange(-20.0, 21.0)
    y = 50.0 + 0.1 * x
    y[[3, 4, 5, 30, 31]] -= 5.0  # articular processes pulling some columns off the disc
    slope, intercept, rms = robust_line(x, y, min_scale=0.5)
    assert slope == pytest.approx(0.1, abs=1e-9)
    assert intercept == pytest.approx(50.0, abs=1e-9)
    assert rms < 1e-9


def test_robust_line_needs_four_points():
    assert robust_line(np.arange(3.0), np.arange(3.0), 0.5) is None


# ---------------------------------------------------------------- labelling logic
DISCS = np.array([10.0, 47.0, 84.0, 121.0, 158.0, 195.0])  # T11/T12 .. L4/L5, period 37


def test_labels_agree_when_crest_and_rib_agree():
    out = assign_labels(DISCS, 37.0, crest_row=197.0, lowest_rib_row=30.0)
    assert out.labels == ("T12", "L1", "L2", "L3", "L4")
    assert all(c == CONF_AGREE for c in out.confidence)
    assert not out.flags


def test_labels_disagree_lowers_confidence_and_flags():
    # lowest rib one level lower than the crest count expects: ribs on L1
    out = assign_labels(DISCS, 37.0, crest_row=197.0, lowest_rib_row=66.0)
    assert out.labels == ("T12", "L1", "L2", "L3", "L4")  # bottom-up numbering wins
    assert max(out.confidence) < 0.5
    assert [f.code for f in out.flags] == ["label_disagreement"]


def test_labels_single_cue_is_flagged():
    out = assign_labels(DISCS, 37.0, crest_row=197.0, lowest_rib_row=None)
    assert out.labels[-1] == "L4"
    assert "label_single_cue" in [f.code for f in out.flags]
    out = assign_labels(DISCS, 37.0, crest_row=None, lowest_rib_row=30.0)
    assert max(out.confidence) < 0.5


# Field cut at mid-T12: first disc T12/L1, period 37; crest at L4/L5.
TOP_CUT = np.array([20.0, 57.0, 94.0, 131.0, 168.0])  # T12/L1 .. L4/L5


def test_clipped_rib_of_the_cut_vertebra_confirms_t12():
    # attachment 0.5 periods above the first disc on both sides: the cut vertebra is T12
    out = assign_labels(TOP_CUT, 37.0, 170.0, None, clipped_rib_rows=(1.5, 3.0))
    assert out.labels == ("L1", "L2", "L3", "L4")
    assert all(c == CONF_CLIPPED_AGREE for c in out.confidence) and CONF_CLIPPED_AGREE >= 0.9
    assert not out.flags


def test_clipped_rib_above_the_field_confirms_t12_one_level_up():
    # first disc L1/L2 (field cut in L1); the rib attaches 1.5 periods up, on T12
    out = assign_labels(TOP_CUT[1:] - 37.0, 37.0, 133.0, None, clipped_rib_rows=(-35.0,))
    assert out.labels == ("L2", "L3", "L4")
    assert out.confidence[0] == CONF_CLIPPED_AGREE


def test_clipped_rib_of_six_lumbar_spine_disagrees():
    # six lumbar vertebrae: the crests count one level too high, so the crest count calls the
    # cut vertebra T12 while the clipped T12 rib attaches 1.5 periods above the first disc
    out = assign_labels(TOP_CUT, 37.0, 170.0, None, clipped_rib_rows=(-35.0, -36.0))
    assert max(out.confidence) < 0.5
    assert [f.code for f in out.flags] == ["label_disagreement"]


@pytest.mark.parametrize(
    "rows",
    [
        (-17.0,),  # 1.0 period: on the disc between the two vertebrae, either could own it
        (1.5, -35.0),  # the sides place the rib on different vertebrae
        (1.5, None),  # one side's rib could not be fitted
        (30.0,),  # below the first disc: not a clipped rib of the cut vertebra
    ],
)
def test_ambiguous_clipped_ribs_leave_the_crests_alone(rows):
    out = assign_labels(TOP_CUT, 37.0, 170.0, None, clipped_rib_rows=rows)
    assert out.labels == ("L1", "L2", "L3", "L4")
    assert max(out.confidence) < 0.9
    assert "label_single_cue" in [f.code for f in out.flags]


def test_whole_rib_takes_precedence_over_clipped_ones():
    out = assign_labels(TOP_CUT, 37.0, 170.0, 10.0, clipped_rib_rows=(-35.0,))
    assert all(c == CONF_AGREE for c in out.confidence)


def test_labels_without_cues_are_unreliable():
    out = assign_labels(DISCS, 37.0, crest_row=None, lowest_rib_row=None)
    assert max(out.confidence) < 0.5
    assert "label_unanchored" in [f.code for f in out.flags]


def test_crest_between_discs_is_not_trusted():
    out = assign_labels(DISCS, 37.0, crest_row=176.0, lowest_rib_row=30.0)  # mid-body of L5
    assert "crest_ambiguous" in [f.code for f in out.flags]
    assert max(out.confidence) < 0.5


# ---------------------------------------------------------------- bone mask
def test_bone_mask_follows_local_soft_tissue_level():
    # a bright block over a soft-tissue offset of +0.06 g/cm2 near the spine (a drifting
    # decomposition baseline): the local level keeps the rim around the block out
    values = np.full((60, 80), 0.06)
    values[20:40, 30:50] = 1.0
    dm, _ = _map_and_scan(values)
    lo, hi = np.full(60, 22.0), np.full(60, 58.0)
    with_local = bone_mask(dm, 0.1, 0.0, lo, hi)
    assert with_local[25:35, 32:48].all()
    assert not with_local[:15].any() and not with_local[45:].any()
    np.testing.assert_array_equal(with_local[20:40, 30:50], True)


def test_bone_mask_empty_input():
    dm, _ = _map_and_scan(np.zeros((0, 0)))
    assert bone_mask(dm, 0.1).shape == (0, 0)


def test_work_image_is_made_once_per_map_arrays():
    """The segmenter and the evidence stage share the work image of one map (bone_mask.
    make_work_image keeps the last one); another map, or new arrays, get their own."""
    import dataclasses

    from dxaspine.segment.bone_mask import make_work_image, refine_contrast

    img, _ = _toy_spine()
    dm, _ = _map_and_scan(img + 0.3)  # soft tissue above 0: a display's background is not 0
    work = make_work_image(dm)
    assert make_work_image(dm) is work
    assert refine_contrast(work, 0.9) is refine_contrast(work, 0.9)
    assert refine_contrast(work, 0.9) is not refine_contrast(work, 0.8)
    copy = dataclasses.replace(dm, values=dm.values.copy())
    other = make_work_image(copy)
    assert other is not work
    np.testing.assert_array_equal(other.values, work.values)
    assert make_work_image(dm) is not work  # only the last map is kept
    np.testing.assert_array_equal(make_work_image(dm).values, work.values)
    # a map of other spacing or kind over the same arrays is another work image
    assert make_work_image(dataclasses.replace(dm, pixel_spacing_mm=(0.5, 0.5))).factors == (2, 2)
    shown = make_work_image(dataclasses.replace(dm, quantitative=False))
    assert shown.background != make_work_image(dm).background
    # the same arrays changed in place (a caller masking pixels) are made afresh
    work = make_work_image(dm)
    dm.values[: dm.values.shape[0] // 2] = 0.3
    changed = make_work_image(dm)
    assert changed is not work
    assert not np.array_equal(changed.values, work.values)


# ---------------------------------------------------------------- whole segmenter
def test_segments_a_toy_spine():
    img, discs = _toy_spine()
    dm, scan = _map_and_scan(img)
    seg = segment_spine(dm, scan)
    assert isinstance(seg, Segmentation)
    mids = np.array([ln.midpoint[1] for ln in seg.lines])
    # every toy disc is found within 1.5 mm (the accuracy bar of the standard group)
    for d in discs:
        assert np.min(np.abs(mids - d)) < 1.5
    assert seg.labels[-1] == "L4"
    assert {"L1", "L2", "L3", "L4"} <= set(seg.labels)
    # the axis is the toy's vertical midline (column 90 = centre of the 180-column image)
    assert np.nanmax(np.abs(seg.axis_columns[40:180] - 89.5)) < 1.0
    # label_image holds i + 1 between lines i and i + 1, inside the box only
    assert set(np.unique(seg.label_image)) == set(range(len(seg.labels) + 1))
    assert not (seg.label_image > 0)[~seg.box_mask].any()


def test_blank_image_raises_naming_the_file():
    dm, scan = _map_and_scan(np.zeros((197, 180)), path="/data/blank.dcm")
    with pytest.raises(SegmentationError, match="/data/blank.dcm"):
        segment_spine(dm, scan)


def test_tiny_image_raises():
    dm, scan = _map_and_scan(np.zeros((20, 20)), path="tiny.dcm")
    with pytest.raises(SegmentationError, match="tiny.dcm"):
        segment_spine(dm, scan)


def test_one_level_visible_raises():
    img, _ = _toy_spine()
    dm, scan = _map_and_scan(img[150:, :], path="short.dcm")  # 47 mm: < 2 levels
    with pytest.raises(SegmentationError):
        segment_spine(dm, scan)


def test_hip_like_image_is_not_four_confident_levels():
    # a proximal femur: oblique shaft, neck and head, a pelvis rim; no stacked vertebrae
    rows, cols = 197, 180
    rr, cc = np.mgrid[0:rows, 0:cols].astype(float)
    img = np.zeros((rows, cols))
    shaft = np.abs((cc - 100) - 0.25 * (rr - 100)) < 15
    img += np.where(shaft & (rr > 80), 1.2, 0.0)
    neck = (np.abs((rr - 75) + 0.7 * (cc - 85)) < 12) & (cc > 50) & (cc < 110)
    img += np.where(neck, 0.9, 0.0)
    head = (rr - 50) ** 2 + (cc - 55) ** 2 < 22**2
    img += np.where(head, 1.0, 0.0)
    rim = np.abs(np.hypot(rr - 20, cc - 40) - 40) < 5
    img += np.where(rim, 0.8, 0.0)
    img += np.random.default_rng(1).normal(0, 0.01, img.shape)
    dm, scan = _map_and_scan(img, path="hip.dcm")
    try:
        seg = segment_spine(dm, scan)
    except DxaError:
        return  # refusing is the best answer
    confident = [
        lab
        for lab, c in zip(seg.labels, seg.label_confidence, strict=True)
        if c >= 0.5 and lab in ("L1", "L2", "L3", "L4")
    ]
    assert len(confident) < 4


# ---------------------------------------------------------------- lumbar rib on L1
def _lateral_scene(fall_l1: float | None, tilt: float = 0.0):
    """Work image of two levels (L1 above L2), 1 mm pixels, bodies 40 mm wide.

    Each level has a horizontal transverse process 6 mm thick reaching 14 mm (L1) and 20 mm
    (L2) beyond the body edge, drawn in the vertebra's frame (tilted by ``tilt`` rows per
    column, like the disc lines).  With ``fall_l1`` L1 also carries a rib 6 mm thick leaving
    the body at the process and falling ``fall_l1`` mm per mm laterally out to 18 mm.
    Returns (work, axis, discs).
    """
    from dxaspine.segment.axis import SpineAxis
    from dxaspine.segment.bone_mask import WorkImage
    from dxaspine.segment.discs import Disc

    rows, cols, centre = 110, 120, 60.0
    rr = np.arange(rows)[:, None].astype(float)
    u = np.arange(cols)[None, :] - centre  # signed lateral mm from the axis
    d = np.abs(u) - 20.0  # mm beyond the body edge
    img = np.zeros((rows, cols))
    disc_rows = (10.0, 50.0, 90.0)
    for top, bottom, reach in ((10.0, 50.0, 14.0), (50.0, 90.0, 20.0)):
        v = rr - tilt * u  # row in the vertebra's frame
        img[(v > top + 5) & (v < bottom - 5) & (d < 0)] = 1.0
        mid = 0.5 * (top + bottom) - 4.0
        img[(np.abs(v - mid) < 3) & (d >= -2) & (d < reach)] = 0.4
        if fall_l1 is not None and top == 10.0:
            img[(np.abs(v - mid - fall_l1 * np.maximum(d, 0)) < 3) & (d >= -2) & (d < 18)] = 0.5
    work = WorkImage(img, np.ones((rows, cols), bool), (1.0, 1.0), (1, 1), 0.0, 1.0)
    axis = SpineAxis(
        columns=np.full(rows, centre),
        response=np.ones(rows),
        body_rows=np.ones(rows, bool),
        body_width_mm=np.full(rows, 40.0),
        body_core=np.ones(rows),
    )
    discs = [Disc(r, centre, tilt, 0.5, True, 0.0) for r in disc_rows]
    return work, axis, discs


@pytest.mark.parametrize("tilt", [0.0, 0.15])
def test_transverse_processes_are_not_rib_like(tilt):
    from dxaspine.segment.landmarks import RIB_FALL_MIN, lateral_band_fall

    fall = lateral_band_fall(*_lateral_scene(None, tilt))
    assert fall.shape == (2, 2) and np.isfinite(fall).all()
    # a horizontal bar in the vertebra's frame: its lower edge is level (a tilted vertebra is
    # measured from its own disc lines); +-0.05 mm/mm = 1 px of rounding over 20 mm
    assert np.abs(fall).max() <= 0.05
    assert fall.max() < RIB_FALL_MIN


@pytest.mark.parametrize("tilt", [0.0, 0.15])
@pytest.mark.parametrize("drawn", [0.3, 0.6])
def test_rib_on_l1_falls_like_a_rib(drawn, tilt):
    from dxaspine.segment.landmarks import lateral_band_fall, lumbar_rib_suspected

    fall = lateral_band_fall(*_lateral_scene(drawn, tilt))
    # the trace follows the rib (the lower branch) from 4 mm out: the drawn fall within
    # 0.1 mm/mm (1-2 px of rounding at the fork and the rib's end over ~14 mm)
    assert np.all(np.abs(fall[0] - drawn) <= 0.1), fall
    assert np.abs(fall[1]).max() <= 0.05  # L2: its process only
    # equal areas beside L1 and L2: only the shape cue can raise the flag
    flag = lumbar_rib_suspected(("L1", "L2"), np.array([5.0, 5.0]), fall)
    assert flag is not None and flag.level == "L1"
    assert flag.evidence["l1_band_fall_mm_per_mm"] >= 0.2


def test_lumbar_rib_flag_needs_a_cue():
    from dxaspine.segment.landmarks import lumbar_rib_suspected

    level = np.array([[0.0, -0.05], [0.0, 0.0]])
    assert lumbar_rib_suspected(("L1", "L2"), np.array([5.0, 5.0]), level) is None
    assert lumbar_rib_suspected(("L1", "L2"), np.array([5.0, 5.0]), None) is None
    assert lumbar_rib_suspected(("L2", "L3"), np.array([9.0, 5.0]), level) is None  # no L1
    # the area cue alone still flags (more bone beside L1 than beside L2)
    assert lumbar_rib_suspected(("L1", "L2"), np.array([7.0, 5.0]), level) is not None
    # unmeasured sides say nothing
    assert lumbar_rib_suspected(("L1", "L2"), np.array([5.0, 5.0]), np.full((2, 2), np.nan)) is None


def test_lumbar_rib_area_cue_needs_bone_beyond_the_process_roots():
    from dxaspine.segment.landmarks import LUMBAR_RIB_FAR_MIN, lumbar_rib_suspected

    level = np.array([[0.0, -0.05], [0.0, 0.0]])
    area = np.array([7.0, 5.0])  # L1 1.4 x L2: over the area ratio
    # the excess lies by the body (pedicles, process roots): no rib stub
    near = np.array([LUMBAR_RIB_FAR_MIN - 0.5, 0.0])
    assert lumbar_rib_suspected(("L1", "L2"), area, level, near) is None
    # the bone reaches out beyond the roots like a bar: flagged, the measure in the evidence
    far = np.array([LUMBAR_RIB_FAR_MIN + 0.5, 0.0])
    flag = lumbar_rib_suspected(("L1", "L2"), area, level, far)
    assert flag is not None and flag.level == "L1"
    assert flag.evidence["l1_lateral_beyond_roots_mm2_per_mm"] == LUMBAR_RIB_FAR_MIN + 0.5
    # an unmeasured far side does not let the area cue fire on its own
    assert lumbar_rib_suspected(("L1", "L2"), area, level, np.array([np.nan, 0.0])) is None
    # the shape cue does not depend on the gate
    steep = np.array([[0.3, 0.0], [0.0, 0.0]])
    assert lumbar_rib_suspected(("L1", "L2"), area, steep, near) is not None


def test_process_run_bridges_short_gaps_and_skips_merged_sides():
    from dxaspine.segment.landmarks import process_run_mm

    counts = np.array([3, 3, 0, 0, 2, 1, 0, 0, 0, 0, 5, 5])
    # a 2-column gap (a thin tip broken by noise) is bridged; 4 empty columns end the run
    assert process_run_mm(counts, 3, 1.0) == 6.0
    assert process_run_mm(counts, 1, 1.2) == pytest.approx(2.4)
    # bone that never ends inside the scanned columns (the iliac wing, a rib) is not read
    assert np.isnan(process_run_mm(np.ones(10, dtype=int), 3, 1.0))
    assert process_run_mm(np.zeros(10, dtype=int), 3, 1.0) == 0.0


def test_transverse_process_cue_reads_l1_to_l4():
    from dxaspine.segment.labelling import CONF_AGREE, CONF_TP_DISAGREE, assign_labels

    discs = np.arange(7) * 37.0  # six levels: T12 (rib) ... L5 (crest at the L4/L5 disc)
    rib, crest = 15.0, discs[5]
    # L5's massive processes and the sacral ala carry the most side bone; L3 leads L1-L4
    area = np.array([3.0, 3.0, 4.0, 6.0, 4.5, 9.0])
    out = assign_labels(discs, 37.0, crest, rib, area)
    assert out.labels == ("T12", "L1", "L2", "L3", "L4", "L5")
    assert out.confidence[0] == CONF_AGREE
    assert out.evidence["longest_transverse_process"] == "L3"
    # L4 clearly ahead of L3 among L1-L4: the weak cue still tempers the confidence
    area = np.array([3.0, 3.0, 4.0, 4.5, 6.0, 9.0])
    out = assign_labels(discs, 37.0, crest, rib, area)
    assert out.confidence[0] == CONF_TP_DISAGREE
