"""Ground truth from the phantom: the kernel follows the phantom's DXA convention, and the
truth numbers alone single out lesioned levels without excluding normal ones."""

import numpy as np
import pytest

from dxaspine.clinical import assess
from dxaspine.clinical.interlevel import deviation_scores, load_interlevel_model
from dxaspine.measure import measure_levels
from dxaspine.physics.density_map import DensityMap
from dxaspine.segment.segmentation import IntervertebralLine, Segmentation

phantom = pytest.importorskip("dxaspine.phantom")
if not hasattr(phantom, "generate_case"):
    pytest.skip("dxaspine.phantom.generate_case not available yet", allow_module_level=True)
from dxaspine.phantom import PhantomParams, generate_case  # noqa: E402
from dxaspine.phantom.params import Lesion  # noqa: E402


def truth_inputs(case):
    truth = case.truth
    codes = truth["label_codes"]
    labels = tuple(codes[str(k)] for k in range(1, len(codes) + 1))
    # Level k lies between its truth upper and lower lines (the field edge closes the
    # outermost levels, so use the per-level lines rather than only the mid-disc lines).
    by_label = {lv["label"]: lv for lv in truth["levels"]}
    bounds = [by_label[labels[0]]["upper_line_px"]] + [by_label[x]["lower_line_px"] for x in labels]
    lines = tuple(IntervertebralLine(tuple(b[0]), tuple(b[1])) for b in bounds)
    dm = DensityMap(
        values=case.bone_density_g_cm2,
        quantitative=True,
        units="g/cm2",
        pixel_spacing_mm=tuple(case.pixel_spacing_mm),
        field_mask=np.ones(case.bone_mask.shape, bool),
    )
    seg = Segmentation(
        bone_mask=case.bone_mask,
        axis_rows=np.arange(case.bone_mask.shape[0], dtype=float),
        axis_columns=np.zeros(case.bone_mask.shape[0]),
        box_mask=case.label_image > 0,
        lines=lines,
        labels=labels,
        label_confidence=(1.0,) * len(labels),
        label_image=case.label_image,
    )
    return dm, seg


PARAMS = [
    PhantomParams(seed=3),
    PhantomParams(seed=4, scanner="idxa"),
    PhantomParams(seed=5, scoliosis_mm=12.0, tilt_deg=4.0),
    PhantomParams(seed=6, lesions=(Lesion("osteophyte", "L3"),)),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: str(p.seed))
def test_measure_levels_reproduces_phantom_truth(params):
    try:
        case = generate_case(params)
    except ValueError as exc:  # e.g. a scanner name the phantom does not know
        pytest.skip(str(exc))
    dm, seg = truth_inputs(case)
    measured = {m.label: m for m in measure_levels(dm, seg)}
    for level in case.truth["levels"]:
        m = measured[level["label"]]
        # Truth JSON rounds area/BMC to 4 decimals (+-5e-5) and BMD to 6 (+-5e-7).
        assert m.area_cm2 == pytest.approx(level["area_cm2"], abs=6e-5), level["label"]
        assert m.bmc_g == pytest.approx(level["bmc_g"], abs=6e-5), level["label"]
        assert m.bmd_g_cm2 == pytest.approx(level["bmd_g_cm2"], abs=1e-6), level["label"]


def _assess_truth(case):
    levels = [
        {"label": lv["label"], "bmc_g": lv["bmc_g"], "area_cm2": lv["area_cm2"]}
        for lv in case.truth["levels"]
    ]
    patient = case.truth["patient"]
    return assess(levels, {"sex": patient["sex"], "age_years": patient["age_years"]})


def test_truth_numbers_single_out_the_lesion_without_false_exclusions():
    # Numbers only (the phantom's truth BMC/area, no image): what the inter-level rule can
    # honestly do.  Its exclusion threshold is calibrated on real NHANES scatter (robust SD of
    # a level's deviation 4.5-6.5 %, threshold 2.5 SD: docs/domain.md §3, <= 5 % false flags), so
    # it excludes a level only beyond ~+12 % (L2/L3) to ~+18 % (L4).  On the finished phantom,
    # osteophytes at severity 0.8 add +8..12 % and sclerosis only ~+7 % (4 mm bands), so most
    # of these lesions are *below* that limit and the >= 90 % detection target cannot be met
    # from numbers; it is met with image evidence (tests/test_pathology_pipeline.py).
    # What numbers can do, asserted here:
    # - the lesioned level is the one that deviates most (positive score, the largest of its
    #   spine) in every case: the phantom's levels follow the NHANES gradient, so a +7 % level
    #   stands out even though it does not cross the threshold;
    # - normal levels are not excluded (<= 5 %, the target for false flags).
    found = []
    normal_flagged = normal_levels = 0
    for i, (kind, level) in enumerate(
        [(k, lv) for k in ("osteophyte", "sclerosis") for lv in ("L2", "L3", "L4")] * 2
    ):
        case = generate_case(
            PhantomParams(seed=100 + i, lesions=(Lesion(kind, level, severity=0.8),))
        )
        a = _assess_truth(case)
        bmd = {lv.label: lv.bmd_g_cm2 for lv in a.levels}
        scores = deviation_scores(bmd, load_interlevel_model())
        found.append((kind, level, max(scores, key=scores.get), round(scores[level], 2)))
        normal_flagged += len([x for x in a.excluded if x != level])  # collateral exclusions
        normal_levels += 3
        b = _assess_truth(generate_case(PhantomParams(seed=200 + i)))
        normal_flagged += len(b.excluded)
        normal_levels += 4
    assert all(top == level and score > 0 for _, level, top, score in found), found
    assert normal_flagged / normal_levels <= 0.05, (normal_flagged, normal_levels)
