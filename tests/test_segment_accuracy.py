"""Segmentation and labelling accuracy against phantom truth, on the real pipeline path.

Every case is written as DICOM by the phantom (``write_case``), loaded (``dxaspine.io.load``),
decomposed (``dxaspine.physics.decompose``) and segmented; results are compared with the
truth the phantom wrote.  Groups and bars (the segmentation brief, docs/domain.md §3-4):

- standard (no pathology, scoliosis <= 10 mm, all scanner geometries; dual-energy, bmd_map
  and display inputs): labels of the complete L1-L4 levels right in 100 %; intervertebral
  line midpoints within a median 1.5 mm and a 95th percentile 3 mm; each level's bone-pixel
  Dice >= 0.95;
- hard (scoliosis to 25 mm, rotation +-5 deg, 12-35 cm tissue, bowel gas, each pathology,
  metal): labels right in >= 95 %, and every wrong labelling carries confidence < 0.5 or a
  labelling QC flag;
- transitional (6 lumbar, rib on L1, no T12 rib): 100 % carry a flag or low confidence;
- display exports label as well as the quantitative inputs of the same cases.

Truth lines are in stored-image coordinates of the written file; segmentations are head-up
and are mapped back with ``Scan.to_stored_xy`` (the flipped cases check that path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

pytest.importorskip("dxaspine.phantom")
from dxaspine.bench import metrics  # noqa: E402
from dxaspine.errors import SegmentationError  # noqa: E402
from dxaspine.evidence import find_evidence  # noqa: E402
from dxaspine.io import load  # noqa: E402
from dxaspine.phantom import SUITES, generate_case, write_case  # noqa: E402
from dxaspine.physics import decompose  # noqa: E402
from dxaspine.segment import segment_spine  # noqa: E402
from tests._benchmarks import benchmark_module  # noqa: E402

N_CASES = 30  # per group: 30 seeded cases give a 1-in-30 resolution on each rate
LUMBAR = ("L1", "L2", "L3", "L4")
# Flags that tell the user the labels need checking (any of them, or confidence < 0.5): the
# benchmark harness's own list, so this test and `dxaspine bench` judge labels alike.
LABEL_FLAGS = metrics.LABEL_FLAGS


@dataclass
class Outcome:
    case: str
    kind: str
    anatomy: str | None = None  # the phantom's transitional anatomy, if any
    labels_ok: bool = False
    warned: bool = False  # low confidence or a labelling flag
    min_confidence: float = 0.0
    error: str | None = None
    line_errors_mm: list[float] = field(default_factory=list)
    dice: dict[str, float] = field(default_factory=dict)
    flags: set[tuple[str, str | None]] = field(default_factory=set)
    label_levels: tuple = ()  # metrics.LevelLabel per predicted level


def _evaluate(case, paths, kind) -> Outcome:
    out = Outcome(case.name, kind)
    scan = load(paths[kind])
    try:
        dmap = decompose(scan)
        seg = segment_spine(dmap, scan)
    except SegmentationError as exc:
        out.error = str(exc)
        return out
    truth = json.loads(paths["truth"].read_text())
    evidence = find_evidence(dmap, seg)  # the pipeline's image flags: segmenter + evidence
    out.flags = {(f.code, f.level) for f in seg.qc_flags + evidence.flags}
    out.min_confidence = min(seg.label_confidence, default=0.0)
    out.warned = metrics.scan_warned(seg.label_confidence, [f.code for f in seg.qc_flags])
    # The benchmark harness's metric functions (dxaspine/bench/metrics.py, docs/benchmark.md),
    # so `dxaspine bench run --suite standard` reports exactly what these tests assert.
    # Line midpoints, matched by name, compared in stored coordinates (mm, Euclidean).
    predicted = [
        (line.name, scan.to_stored_xy(*line.left), scan.to_stored_xy(*line.right))
        for line in seg.lines
    ]
    out.line_errors_mm = [
        e.midpoint_mm for e in metrics.line_errors(predicted, truth["lines"], case.pixel_spacing_mm)
    ]
    # labels: the truth level under each of our regions (head-up label images on both sides)
    codes = {int(k): v for k, v in truth["label_codes"].items()}
    names = metrics.level_truth_names(seg.label_image, len(seg.labels), case.label_image, codes)
    complete = [lv["label"] for lv in truth["levels"] if lv["complete"] and lv["label"] in LUMBAR]
    labels = metrics.label_outcome(seg.labels, seg.label_confidence, (), names, complete)
    out.labels_ok = labels.scan_correct
    out.label_levels = labels.levels
    # bone-pixel Dice of each correctly named L1-L4 level
    out.dice = metrics.level_dice(
        seg.label_image, seg.bone_mask, seg.labels, names, case.label_image, codes, case.bone_mask
    )
    return out


def _run_group(suite: str, kinds: tuple[str, ...], tmp_path, flip=(), seed=0) -> list[Outcome]:
    outcomes = []
    for params in SUITES[suite](seed=seed, count=N_CASES):
        case = generate_case(params)
        paths = write_case(case, tmp_path / params.case_name, kinds=kinds, flip=flip)
        for kind in kinds:
            outcome = _evaluate(case, paths, kind)
            outcome.anatomy = params.transitional
            outcomes.append(outcome)
    return outcomes


@pytest.fixture(scope="module")
def standard(tmp_path_factory):
    return _run_group(
        "standard", ("dual_energy", "bmd_map", "display"), tmp_path_factory.mktemp("standard")
    )


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    return _run_group("hard", ("dual_energy", "display"), tmp_path_factory.mktemp("hard"))


@pytest.fixture(scope="module")
def transitional(tmp_path_factory):
    return _run_group(
        "transitional", ("dual_energy", "display"), tmp_path_factory.mktemp("transitional")
    )


@pytest.fixture(scope="module")
def transitional_seed2(tmp_path_factory):
    # a second draw of the transitional anatomies, quantitative input only (display input
    # labels like it, checked on seed 0 above); ~15 s
    return _run_group(
        "transitional", ("dual_energy",), tmp_path_factory.mktemp("transitional2"), seed=2
    )


def _by_kind(outcomes):
    kinds: dict[str, list[Outcome]] = {}
    for o in outcomes:
        kinds.setdefault(o.kind, []).append(o)
    return kinds


def test_standard_labels_all_right(standard):
    wrong = [(o.case, o.kind, o.error) for o in standard if not o.labels_ok]
    assert not wrong


# What a PACS rule routing scans to a human would act on: any labelling doubt flag, or a
# confidence below 0.9 (0.95 = crests and a seen lowest rib agree, 0.9 = crests and a clipped
# rib's inferred attachment agree).
REVIEW_FLAGS = (
    "label_single_cue",
    "label_disagreement",
    "label_unanchored",
    "crest_ambiguous",
    "lumbar_rib_suspected",
    "ribs_clipped",
)
REVIEW_CONFIDENCE = 0.9


def test_standard_scans_rarely_sent_for_review(standard):
    # Normal spines should not flood the review queue.  Bar: 10 % of the standard inputs.
    # Measured 3 of 90 on this seed (3.3 %) and 3-7 of 90 on seeds 1-2 (weak transverse-
    # process cue, one false clipped-rib disagreement); 10 % leaves room for that spread and
    # still fails if clipped ribs stop confirming T12 (23 % of inputs, the clipped-top cases).
    review = [
        (o.case, o.kind)
        for o in standard
        if o.error is None
        and (
            o.min_confidence < REVIEW_CONFIDENCE or any(code in REVIEW_FLAGS for code, _ in o.flags)
        )
    ]
    assert len(review) <= 0.10 * len(standard), review


def test_standard_line_midpoints(standard):
    errors = np.concatenate([o.line_errors_mm for o in standard])
    assert errors.size >= 4 * len(standard)  # lines were matched by name, not skipped
    assert np.median(errors) <= 1.5
    assert np.percentile(errors, 95) <= 3.0


def test_standard_level_dice(standard):
    dice = np.array([d for o in standard for d in o.dice.values()])
    assert dice.size >= 3 * len(standard)
    assert dice.min() >= 0.95


def test_hard_labels(hard):
    for kind, outcomes in _by_kind(hard).items():
        right = sum(o.labels_ok for o in outcomes)
        assert right >= 0.95 * len(outcomes), kind
        silent = [o.case for o in outcomes if not o.labels_ok and not o.warned and o.error is None]
        assert not silent, (kind, silent)


@pytest.mark.parametrize("group", ["transitional", "transitional_seed2"])
def test_transitional_always_warned(group, request):
    # "never a silently wrong label": every transitional case (six lumbar, rib on L1, no rib
    # on T12) carries a labelling flag or low confidence, even when the count happens to be
    # right (a rib on L1 must lower confidence); checked on two seeds
    outcomes = request.getfixturevalue(group)
    assert len(outcomes) >= N_CASES
    unwarned = [(o.case, o.kind) for o in outcomes if o.error is None and not o.warned]
    assert not unwarned
    ribbed = [o for o in outcomes if o.anatomy == "lumbar_rib"]
    assert ribbed
    # the rib itself is seen (not just some other doubt): every rib-on-L1 case carries the
    # lumbar-rib flag on L1 (measured on seeds 0-3, both inputs: 80 of 80)
    assert all(("lumbar_rib_suspected", "L1") in o.flags for o in ribbed if o.error is None)


def test_top_level_rib_cue_never_fires_on_a_ribless_top_level():
    # The rib cue beside the vertebra cut by the field top (segment/classical.py::
    # _top_level_rib: the half-height fall minus 2 standard errors >= RIB_FALL_MIN) against
    # the phantom's truth, on the anatomy where a false rib would shift the labels:
    # transitional seed 0 (no rib on T12; six lumbar vertebrae with L1 cut by the field top),
    # and, on every input, a rib-less control with the field top moved down to 0.6 period
    # above the second disc (benchmarks/ct_top_rib.py --crop).  A rib-less top level must
    # never read as a rib, with margin: measured fall - 2 SE at most 0.00 mm/mm over the 25
    # rib-less top levels read (cut L1 and L2, six-lumbar L1, rib-less T12), against the 0.15
    # threshold; the bar keeps 0.05 of that margin.  Top levels that carry their rib (T12 with
    # a rib on L1, T11 above a rib-less T12) read it on every input (measured fall - 2 SE
    # 0.47 or more, 6 inputs).
    from dxaspine.segment.landmarks import RIB_FALL_MIN, RIB_FALL_Z

    tool = benchmark_module("ct_top_rib")
    rows = tool.measure("transitional", seed=0, count=N_CASES, crop=True, kinds=("dual_energy",))

    def bound(r):
        return np.nanmax(np.array(r["fall"]) - RIB_FALL_Z * np.array(r["fall_se"]), initial=-1.0)

    ribless = [r for r in rows if r["rib"] is False]
    assert len(ribless) >= 20  # measured 25: the cut control and the rib-less top levels read
    assert not [(r["case"], r["truth"]) for r in ribless if r["rib_sides"] > 0]
    assert max(bound(r) for r in ribless) <= RIB_FALL_MIN - 0.05
    ribbed = [r for r in rows if r["rib"] and not r["cropped"]]
    assert ribbed
    assert all(r["rib_sides"] > 0 for r in ribbed), [(r["case"], r["truth"]) for r in ribbed]


def test_transverse_process_cue_against_truth_on_transitional_anatomy():
    # Where the two primary cues disagree (transitional anatomy) one of them counts wrong; the
    # transverse-process cue (labelling.assign_labels: the longest processes of L1-L4 on L3)
    # is what would catch a count both got wrong alike.  Each input's labelling by each
    # primary cue alone (benchmarks/ct_process_cue.py primary_labellings), against the
    # phantom's truth, transitional seed 0, dual-energy: of 13 wrong labellings (no rib on
    # T12 counted down from T11's rib; six lumbar vertebrae counted up from the crests) the
    # process length says "not L3" on 10 (the side-bone area it read before: 7); of 35
    # right ones on none (the area: 12, the rib stubs on L1).  Seeds 0-3, both inputs: wrong
    # 85 of 118 (area 68), right 0 of 352 (area 74).  Bars: right never, wrong at least 9.
    tool = benchmark_module("ct_process_cue")
    rows = tool.measure("transitional", seed=0, count=N_CASES, kinds=("dual_energy",))
    labellings = tool.primary_labellings(rows)
    right = [x for x in labellings if x["right"]]
    wrong = [x for x in labellings if not x["right"]]
    assert len(right) >= 30 and len(wrong) >= 12, (len(right), len(wrong))
    assert not [(x["case"], x["cue"]) for x in right if x["length"] not in (None, "L3")]
    assert sum(x["length"] not in (None, "L3") for x in wrong) >= 9


def _confident_wrong(outcomes) -> tuple[int, int]:
    return metrics.confident_and_wrong(lv for o in outcomes for lv in o.label_levels)


def test_confident_levels_are_rarely_wrong(standard, hard, transitional, transitional_seed2):
    # Confidence must mean something: of the levels labelled with confidence >= 0.9 (routed
    # past review), how many are wrong.  Measured on seed 0: standard 360 confident levels,
    # 0 wrong; hard 198, 0 wrong; transitional none confident (every case is warned).  The
    # CT family's figure is in tests/test_ct_family_accuracy.py; both are in
    # docs/segmentation.md.
    figures = {
        "standard": _confident_wrong(standard),
        "hard": _confident_wrong(hard),
        "transitional": _confident_wrong(transitional + transitional_seed2),
    }
    assert figures["standard"][0] >= 3 * len(standard), figures  # the figure exists
    assert figures["hard"][0] > 0, figures
    # normal spines: every confident level right; hard anatomy (rotation, scoliosis, gas,
    # pathology, metal): at most 2 % wrong; transitional anatomy must never be confidently wrong
    assert figures["standard"][1] == 0, figures
    assert figures["hard"][1] <= 0.02 * figures["hard"][0], figures
    assert figures["transitional"][1] == 0, figures


def test_display_labels_as_well_as_quantitative(standard, hard, transitional):
    for group in (standard, hard, transitional):
        kinds = _by_kind(group)
        quantitative = sum(o.labels_ok for o in kinds["dual_energy"])
        display = sum(o.labels_ok for o in kinds["display"])
        # "the same labelling accuracy": equal up to one case in 30 (~3 %)
        assert display >= quantitative - 1


@pytest.mark.parametrize("flip", [("columns",), ("rows",), ("rows", "columns")])
def test_flipped_files_give_stored_coordinates(flip, tmp_path):
    params = next(iter(SUITES["standard"](seed=7, count=1)))
    case = generate_case(params)
    paths = write_case(case, tmp_path, kinds=("dual_energy",), flip=flip)
    outcome = _evaluate(case, paths, "dual_energy")
    assert outcome.labels_ok
    # same bar as the standard group's 95th percentile
    assert max(outcome.line_errors_mm) <= 3.0


# Evidence flags for the clinical layer, by lesion type (a level with focal spots at
# the endplate margins, reduced height with raised density, or metal is flagged, level named).
EVIDENCE = {
    "osteophyte": "osteophyte_suspected",
    "sclerosis": "sclerosis_suspected",
    "fracture": "fracture_suspected",
    "pedicle_screws": "metal",
}


@pytest.fixture(scope="module")
def pathology(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pathology")
    rows = []
    for params in SUITES["pathology"](seed=0, count=24):  # each of 6 lesion types 4 times
        case = generate_case(params)
        paths = write_case(case, tmp / params.case_name, kinds=("dual_energy", "display"))
        for kind in ("dual_energy", "display"):
            rows.append((params.lesions[0], _evaluate(case, paths, kind)))
    return rows


def test_lesioned_level_is_flagged(pathology):
    hits: dict[str, list[bool]] = {}
    for lesion, outcome in pathology:
        code = EVIDENCE.get(lesion.type)
        if code is not None:
            hits.setdefault(lesion.type, []).append((code, lesion.level) in outcome.flags)
    # Metal over the spine and a 20-40 % crush (docs/domain.md §2 exclusion causes) must never be
    # missed.  Osteophytes and sclerosis are graded (severity 0.6-1 here) and subtle on a PA
    # projection: at least 3 in 4 spurs and half the sclerotic endplates.
    assert all(hits["pedicle_screws"]) and all(hits["fracture"])
    assert np.mean(hits["osteophyte"]) >= 0.75
    assert np.mean(hits["sclerosis"]) >= 0.5


def test_evidence_flags_are_rare_on_normal_spines(standard):
    # On the standard group no level is diseased: evidence flags must stay rare (<= 5 % of
    # levels; docs/domain.md §3: an automated flag should stay near the ~6 % background rate).
    levels = sum(len(o.dice) for o in standard)
    false = sum(1 for o in standard for code, _ in o.flags if code in EVIDENCE.values())
    assert false <= 0.05 * levels
