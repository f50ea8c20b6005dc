"""Labels, disc lines, confidence and lesion flags against CT-derived truth (docs/segmentation.md).

The CT family is ONE real spine (the shared TotalSegmentator CT, a 55-year-old man) projected
in many seeded poses, tissues, doses and scanner geometries (docs/ct_phantom.md); its figures
say how the pipeline does on real vertebral shapes, and they can overfit that one spine.  The
rules were developed on family seeds 0-2; the slow test reports the held-out seeds 3-4.

Each case is written as DICOM, analysed (``dxaspine.analyze``) as dual-energy counts, BMD map
and display export, and compared with the truth by ``benchmarks/ct_family_baseline.py``
(the tool that makes the figures in the docs, so the test and the docs measure alike):

- labels: every complete truth L1-L4 level found under its own name;
- line midpoints of the lines bounding L1-L4 (T12/L1 .. L4/L5), mm, stored coordinates;
- confident and wrong: levels labelled with confidence >= 0.9 that are named wrong;
- lesion flags (osteophyte, sclerosis, facet, fracture) on the truth's lesion-free L1-L4.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nibabel")
pytest.importorskip("xraydb")
from tests._benchmarks import benchmark_module  # noqa: E402
from tests._shared_data import needs_totalseg  # noqa: E402

pytestmark = needs_totalseg


def _tool():
    return benchmark_module("ct_family_baseline")


def _run(tmp_path, seed: int, count: int) -> list[dict]:
    from dxaspine.phantom import write_case
    from dxaspine.phantom.ct import generate_ct_case
    from dxaspine.phantom.suites import SUITES

    tool = _tool()
    rows = []
    for params in SUITES["ct"](seed=seed, count=count):
        case = generate_ct_case(params)
        paths = write_case(case, tmp_path / case.name, kinds=tool.KINDS)
        rows += [tool.evaluate(case, paths, kind) for kind in tool.KINDS]
    return rows


def _bound_errors(rows) -> np.ndarray:
    return np.array(_tool().bound_line_errors(rows))


def _confident_wrong(rows) -> tuple[int, int]:
    return _tool().confident_levels(rows)


def _flag_rate(rows) -> tuple[int, int]:
    return _tool().lesion_flag_rate(rows)


@pytest.fixture(scope="module")
def three_cases(tmp_path_factory):
    # the CT as it lies (ct_000) and two varied poses, seed 0: ~10 s
    return _run(tmp_path_factory.mktemp("ct3"), seed=0, count=3)


def test_three_ct_cases_labels_right(three_cases):
    wrong = [(r["case"], r["kind"], r.get("ours")) for r in three_cases if not r["labels_right"]]
    assert not wrong


def test_three_ct_cases_line_midpoints(three_cases):
    # issue 11 target: median <= 1.5 mm, 95th percentile <= 3 mm.  Measured over these 9
    # inputs: 1.40 / 2.18 mm with the truth's box centred between each body's edges (the
    # default TruthConvention.axis_centre; 1.51 / 2.23 mm against the thickness centroid,
    # docs/accuracy.md section 2).
    errors = _bound_errors(three_cases)
    assert errors.size == 5 * len(three_cases)  # every bounding line found and named
    assert np.median(errors) <= 1.5
    assert np.percentile(errors, 95) <= 3.0


def test_three_ct_cases_no_false_lumbar_rib(three_cases):
    # The CT's normal L1 carries more of its own bone beside the body than its L2 (area ratio
    # up to 2.1, over the drawn calibration's 1.09), but within 8 mm of the body edge; beyond
    # it, where a rib stub is, it reads 0.00-1.59 mm2/mm against the gate's 2.0 (drawn stubs
    # 2.49-5.17).  Before the gate the flag fired on ct_001 and ct_002 (dual-energy) here and
    # on 65 of 107 development inputs; after it on none of 108 (docs/segmentation.md §2).
    flagged = [
        (r["case"], r["kind"])
        for r in three_cases
        if any(f.startswith("lumbar_rib_suspected") for f in r["level_flags"] + r["scan_flags"])
    ]
    assert not flagged


def test_three_ct_cases_confidence_is_honest(three_cases):
    # no level is called confident and wrong; a level the height rule doubts is below 0.5
    assert _confident_wrong(three_cases)[1] == 0
    for r in three_cases:
        short = {f.split("@")[1] for f in r["level_flags"] if f.startswith("level_height")}
        assert all(r["level_confidence"][name] < 0.5 for name in short), r["case"]


def test_three_ct_cases_lesion_free_levels_unflagged(three_cases):
    # issue 11 target: no lesion flag on >= 95 % of lesion-free levels (measured 0 of 36)
    flagged, levels = _flag_rate(three_cases)
    assert levels == 4 * len(three_cases)
    assert flagged <= 0.05 * levels


def _rib_tool():
    return benchmark_module("ct_rib_field")


def test_t12_ribs_in_field_and_found(three_cases):
    # Truth first: the CT as it lies (ct_000) holds both 12th ribs inside the field (measured
    # 93 % and 100 % of their mineral) at a contrast far above the work image's pixel noise
    # (0.15-0.40 body-contrast units against 0.02), so a rib cue is physically there.
    from dxaspine.phantom.suites import SUITES

    params = next(iter(SUITES["ct"](seed=0, count=1)))
    twelfth = [r for r in _rib_tool().measure_case(params) if r["twelfth"]]
    assert len(twelfth) == 2
    for rib in twelfth:
        assert rib["in_field_share"] >= 0.75, rib
        for kind in ("dual_energy", "display"):
            assert rib[kind]["contrast_work"] >= 5 * rib[kind]["noise_work_per_pixel"], rib
    # ... and the segmenter finds it beside the partial T12 on all three inputs of that case
    # (the dual-energy input since the half-height edge: its band falls 0.33 +- 0.03 mm/mm,
    # where the edge at the bone threshold read 0.11, under the rule's 0.15), and every level
    # it calls confident is right
    found = [r for r in three_cases if r["case"] == "ct_000"]
    assert len(found) == 3
    for r in found:
        assert "label_single_cue" not in r["scan_flags"], r["kind"]
        assert r["labels_right"] and r["min_confidence"] >= 0.9, (r["kind"], r["level_confidence"])


def test_top_level_rib_cue_against_truth():
    # Truth: the CT's T12 carries both 12th ribs, in the field on every pose
    # (benchmarks/ct_rib_field.py, test above).  On development seed 0, 7 of 12 poses show at
    # least half a period of T12 (the cue's TOP_LEVEL_MIN_PERIOD); on the noisy dual-energy and
    # display inputs the half-height fall with its 2-SE test (landmarks.top_level_band_fall,
    # top_level_rib_sides) finds the rib on 6 of the 7 each (measured; the thresholded fall
    # before found it on 2 and 5).  The 7th, ct_007, is missed noise-free too (its band reads
    # 0.17 +- 0.02 dual-energy, 0.13 display): a miss, not a false rib, so the bar is the
    # measured 6.  Rib-less control: the field top moved down to 0.6 period above the second
    # disc, so L1 (no rib) is the cut top level: the cue must never fire there (measured: its
    # band is never 10 mm long on this CT, so it is not read).
    tool = benchmark_module("ct_top_rib")
    rows = tool.measure("ct", seed=0, count=12, crop=True, kinds=("dual_energy", "display"))
    for kind in ("dual_energy", "display"):
        t12 = [r for r in rows if r["kind"] == kind and not r["cropped"]]
        assert len(t12) == 7 and all(r["truth"] == "T12" and r["rib"] for r in t12), kind
        found = [r["case"] for r in t12 if r["rib_sides"] > 0]
        assert len(found) >= 6, (kind, found)
        cut = [r for r in rows if r["kind"] == kind and r["cropped"]]
        assert all(r["rib"] is False for r in cut)
        assert not [r["case"] for r in cut if r["rib_sides"] > 0], kind


def test_ct_l3_has_the_longest_transverse_processes():
    # Truth on the CT itself (its TotalSegmentator label map, 3 mm voxels): the L3 label spans
    # 102 mm from one process tip to the other, L1 75, L2 81, L4 87 (measured), so "L3 has the
    # longest transverse processes" (docs/domain.md §4) holds on this real spine.  The cue's
    # measure (landmarks.lateral_bone's process length) must find it: on development seed 0
    # the BMD map (no quantum noise) names the truth L3 the longest of L1-L4 on 12 of 12 inputs
    # (36 of 36 over seeds 0-2; the side-bone area it read before: 3 of 12, 8 of 36) and no
    # other level on any; the noisy dual-energy input names L3 on 8 and another level on 1
    # (s0 ct_006: L1 13 mm against L3 10 mm; the area: L3 on 1, another level on 2).  Bars:
    # one input of slack on each count.
    from dxaspine.phantom.ct.case import resolve_layout
    from dxaspine.phantom.ct.family import shared_ct_paths
    from dxaspine.phantom.ct.volume import load_ct

    volume = load_ct(*shared_ct_paths())
    values = resolve_layout(volume, None).vertebra_values(set(np.unique(volume.labels).tolist()))
    span = {}
    for name in ("L1", "L2", "L3", "L4"):
        x = np.nonzero(volume.labels == values[name])[0]
        span[name] = (x.max() - x.min() + 1) * volume.spacing_mm[0]
    assert max(span, key=span.get) == "L3", span
    assert span["L3"] >= 1.1 * max(v for k, v in span.items() if k != "L3"), span

    tool = benchmark_module("ct_process_cue")
    rows = tool.measure("ct", seed=0, count=12, kinds=("bmd_map", "dual_energy"))
    for kind, l3_min, other_max in (("bmd_map", 11, 0), ("dual_energy", 7, 2)):
        verdicts = [
            tool.cue_verdict(tool._by_name(r, "length", r["truth"]))
            for r in rows
            if r["kind"] == kind
        ]
        assert len(verdicts) == 12, kind
        assert sum(v == "L3" for v in verdicts) >= l3_min, (kind, verdicts)
        assert sum(v not in (None, "L3") for v in verdicts) <= other_max, (kind, verdicts)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    # the held-out seeds 3-4: 24 CT cases x 3 inputs, ~1-2 min on 2 cores (slow tests only)
    tmp = tmp_path_factory.mktemp("held_out")
    rows = _run(tmp / "s3", seed=3, count=12) + _run(tmp / "s4", seed=4, count=12)
    by_kind = {
        k: [r for r in rows if r["kind"] == k] for k in ("dual_energy", "bmd_map", "display")
    }
    return rows, by_kind


@pytest.mark.slow
def test_held_out_ct_family(held_out):
    rows, by_kind = held_out
    # labels: measured 24/24 dual-energy, 23/24 BMD map (s3 ct_010: T12/L1 disc missed, flagged
    # few_lumbar_levels and unanchored, confidence 0.2), 24/24 display
    assert all(r["labels_right"] for r in by_kind["dual_energy"] + by_kind["display"])
    assert sum(r["labels_right"] for r in by_kind["bmd_map"]) >= 23
    # confidence >= 0.9 is never wrong.  The T12 rib is now found beside the vertebra cut by
    # the field top (segment/classical.py::_top_level_rib) on part of the poses, and since the
    # lumbar-rib gate no longer fires on the CT's normal L1: measured 128 confident levels (32
    # of 72 inputs: 10 dual-energy, 11 BMD map, 11 display since the transverse-process cue
    # reads the processes' length, branch tpcue; 9 / 11 / 12 before it, 7 / 11 / 8 before the
    # half-height rib edge of branch ribcue), none wrong.  The issue's "right with
    # confidence >= 0.9 on 100 %" is NOT met (on ~40 % of poses T12 is out of view,
    # docs/segmentation.md §6-7) and this test says so.
    confident, wrong = _confident_wrong(rows)
    assert wrong == 0
    assert 0 < confident < 4 * len(rows)
    # lines bounding L1-L4 on the cases labelled right, issue 11 target 1.5 / 3.0 mm: measured
    # median 1.42 mm, 95th percentile 2.26 mm with the truth's box centred between each body's
    # edges (TruthConvention.axis_centre, the default); 1.52 / 2.33 mm against the thickness
    # centroid (docs/accuracy.md section 2)
    errors = _bound_errors([r for r in rows if r["labels_right"]])
    assert np.median(errors) <= 1.5
    assert np.percentile(errors, 95) <= 3.0
    # lesion flags on lesion-free L1-L4, issue 11 target: none on >= 95 % of the levels.
    # Measured 1/95 BMD map (a fracture flag, unchanged), 0/96 display (before the osteophyte
    # inner-row reference and the sclerosis disc-floor rule: 3/96).  Dual-energy: the next test.
    for kind in ("bmd_map", "display"):
        flagged, levels = _flag_rate(by_kind[kind])
        assert levels >= 90
        assert flagged <= 0.05 * levels, (kind, flagged, levels)


@pytest.mark.slow
def test_held_out_ct_dual_energy_lesion_flags_meet_the_target(held_out):
    # issue 11 target on the held-out dual-energy inputs, measured once after development on
    # seeds 0-2: 0/96 lesion-free levels flagged (before: 11/96, L4 endplates beside the L5
    # transverse-process roots and L2 endplate bands under the posterior arch; the rules in
    # evidence/lesion_measures.py, docs/segmentation.md §5 and §7).  Bound at the target.
    _, by_kind = held_out
    flagged, levels = _flag_rate(by_kind["dual_energy"])
    assert levels >= 90
    assert flagged <= 0.05 * levels, (flagged, levels)
