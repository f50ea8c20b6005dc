"""Area over 0.5-1.4 g/cm2 of one anatomy with the noise-aware edge (issue 11, item 4).

The drawn phantom of examples/physics_accuracy.py (seed 41, eight densities), Hologic-like beam
(sigma 0.050 g/cm2 per 0.5 mm pixel: the edge is 0.9-2.5 noise sigmas, the estimator acts) and
GE-like beam (the edge is 3.3 or more noise sigmas: it must not act).  Truth: the phantom's
noise-free level areas under the same ``relative:0.1`` edge.  docs/accuracy.md §4 has the
figures; the tolerances below are the measured values plus a stated margin, not the target,
which is kept as a strict xfail until it is met.
"""

from __future__ import annotations

import numpy as np
import pytest

from dxaspine.io import load
from dxaspine.measure import measure_levels
from dxaspine.phantom import PhantomParams, generate_case
from dxaspine.phantom.dicom_writer import dual_energy_dataset
from dxaspine.physics import decompose
from dxaspine.segment import segment_spine
from dxaspine.segment.conventions import EdgeNoise

LUMBAR = ("L1", "L2", "L3", "L4")
DENSITIES_G_CM2 = np.linspace(0.5, 1.4, 8)
BEAMS = {
    "hologic": {"beam": "hologic", "scanner": "hologic"},
    "ge": {"beam": "ge", "scanner": "prodigy"},
}


def _series(beam: str) -> dict:
    """Per edge estimator: level areas, L1-L4 area error and BMD pairs over the densities."""
    out = {
        name: {"areas": {k: [] for k in LUMBAR}, "l1l4": [], "bmd": [], "notes": []}
        for name in ("isophote", "none")
    }
    for target in DENSITIES_G_CM2:
        case = generate_case(
            PhantomParams(seed=41, target_bmd_g_cm2=float(target), suite="lin", **BEAMS[beam])
        )
        scan = load(dual_energy_dataset(case))
        density = decompose(scan)
        truth = {lv["label"]: lv for lv in case.truth["levels"]}
        true_area = sum(truth[k]["area_cm2"] for k in LUMBAR)
        true_bmd = case.truth["composites"]["L1-L4"]["bmd_g_cm2"]
        for name in out:
            seg = segment_spine(density, scan, edge_noise=EdgeNoise.parse(name))
            levels = {m.label: m for m in measure_levels(density, seg)}
            area = sum(levels[k].area_cm2 for k in LUMBAR)
            for k in LUMBAR:
                out[name]["areas"][k].append(levels[k].area_cm2)
            out[name]["l1l4"].append(area / true_area - 1)
            out[name]["bmd"].append((true_bmd, sum(levels[k].bmc_g for k in LUMBAR) / area))
            out[name]["notes"].append(seg.conventions["edge_noise"])
    for series in out.values():
        series["spread"] = max((max(a) - min(a)) / np.mean(a) for a in series["areas"].values())
        t, m = np.array(series["bmd"]).T
        series["bmd_slope"] = float(np.polyfit(t, m, 1)[0])
    return out


@pytest.fixture(scope="module")
def hologic():
    return _series("hologic")


def test_hologic_like_area_no_longer_grows_with_noise(hologic):
    aware, plain = hologic["isophote"], hologic["none"]
    assert all(note.endswith("(applied)") for note in aware["notes"])
    # measured: largest level spread 2.02 % (plain per-pixel test 4.04 %)
    assert aware["spread"] < 2.5e-2
    assert aware["spread"] < 0.6 * plain["spread"]
    # the density trend of L1-L4 area: +2.7 % -> 0.0 % plain; measured +1.3 -> +0.2 % here
    trend = aware["l1l4"][0] - aware["l1l4"][-1]
    assert trend < 1.5e-2 and trend < 0.6 * (plain["l1l4"][0] - plain["l1l4"][-1])
    assert max(abs(e) for e in aware["l1l4"]) < 1.5e-2
    # BMD slope: 1.032 plain, measured 1.023 here; the truth-mask BMD alone has 1.022 (the
    # decomposition's BMC linearity, docs/accuracy.md §4), so the edge is no longer the cause
    assert abs(aware["bmd_slope"] - 1) < 0.025


@pytest.mark.xfail(strict=True, reason="measured 2.02 % (docs/accuracy.md §4): line placement "
                   "alone moves the levels 0.8-0.95 % between densities on this phantom")  # fmt: skip
def test_hologic_like_area_target(hologic):
    assert hologic["isophote"]["spread"] <= 0.01


def test_ge_like_edge_is_left_alone():
    ge = _series("ge")
    assert all(note.endswith("(not needed)") for note in ge["isophote"]["notes"])
    assert ge["isophote"]["areas"] == ge["none"]["areas"]
    assert ge["isophote"]["spread"] <= 0.01  # measured 0.37 %
    assert abs(ge["isophote"]["bmd_slope"] - 1) <= 0.02  # measured 1.0038
