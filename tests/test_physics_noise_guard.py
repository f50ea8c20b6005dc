"""The soft-tissue baseline's noise guard and straight bridge (options, off by default).

docs/physics.md §7, "Noise guard": on the CT family's Hologic-like cases the noise raises the
baseline's bone threshold, faint bone beside the mask then counts as soft tissue, and the
Hologic-like beam turns the too-high R_st into -6 to -12 % of L1-L4 BMC.  The options are
checked against the CT-derived truth (truth mask: the decomposition alone) and against the
drawn phantom's noise-free truth.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("nibabel")
pytest.importorskip("xraydb")
from dxaspine.io import load  # noqa: E402
from dxaspine.phantom import PhantomParams, generate_case  # noqa: E402
from dxaspine.physics import decompose  # noqa: E402
from dxaspine.physics.soft_tissue import BaselineOptions, noise_guard_mm  # noqa: E402
from tests._shared_data import needs_totalseg  # noqa: E402

LUMBAR = ("L1", "L2", "L3", "L4")
GUARD = {"noise_guard": True, "bridge": "straight"}


def _truth_mask_error(case, density) -> float:
    code = {name: int(c) for c, name in case.truth["label_codes"].items()}
    pixels = np.isin(case.label_image, [code[k] for k in LUMBAR]) & case.bone_mask
    bmc = density.values[pixels].sum() * density.pixel_area_cm2
    return bmc / case.truth["composites"]["L1-L4"]["bmc_g"] - 1


@needs_totalseg
@pytest.mark.parametrize("index", [0, 2])  # seed 3: case 0 GE-like (Prodigy), 2 Hologic-like
def test_noise_guard_removes_the_hologic_like_ct_baseline_error(index):
    # Measured (seed 3; docs/physics.md §7): case 2 default -11.6 %, with the guard and the
    # straight bridge +2.1 %; case 0 (GE-like) +1.7 % and +3.3 %.  What the options leave is
    # this CT's own two-material error under a straight bridge: +2.4 to +3.1 % noise-free on
    # the GE-like cases.  4 % bounds it; the default must stay worse than -5 % on case 2
    # (else the guard is no longer needed and the docs are out of date).
    from dxaspine.phantom.ct import generate_ct_case
    from dxaspine.phantom.dicom_writer import dual_energy_dataset
    from dxaspine.phantom.suites import SUITES

    params = list(SUITES["ct"](seed=3, count=index + 1))[index]
    case = generate_ct_case(dataclasses.replace(params, beam="auto"))
    scan = load(dual_energy_dataset(case))
    guarded = _truth_mask_error(case, decompose(scan, **GUARD))
    assert abs(guarded) < 0.04, guarded
    if case.beam.name == "hologic":
        assert _truth_mask_error(case, decompose(scan)) < -0.05


def test_noise_guard_is_zero_where_the_threshold_sits_on_its_floor():
    # Noise-free drawn phantom: the baseline's threshold is peak + its floor, so the guard
    # adds nothing, and with the curved bridge the map is the default's bit for bit.
    case = generate_case(PhantomParams(seed=2, noise=False))
    scan = case.dual_energy_scan("c.dcm")
    default = decompose(scan, poisson_counts=False)
    guarded = decompose(scan, poisson_counts=False, noise_guard=True)
    np.testing.assert_array_equal(guarded.values, default.values)


def test_noise_guard_follows_the_edge_slope():
    # A ramp edge of 0.1 g/cm2 per mm (1 mm pixels): a threshold 0.2 g/cm2 above the floor
    # is 2 mm of edge; capped at the limit; nothing without an excess.
    cols = np.arange(40, dtype=float)
    smoothed = np.tile(np.clip((cols - 10) * 0.1, 0.0, 1.0), (20, 1))
    bone = smoothed > 0.5
    args = (bone, smoothed, 0.0)
    assert noise_guard_mm(*args, 0.23, 0.03, (1.0, 1.0), 5.0) == pytest.approx(2.0)
    assert noise_guard_mm(*args, 0.83, 0.03, (1.0, 1.0), 5.0) == 5.0
    assert noise_guard_mm(*args, 0.03, 0.03, (1.0, 1.0), 5.0) == 0.0


def test_unknown_bridge_is_refused():
    with pytest.raises(ValueError, match="bridge"):
        BaselineOptions(bridge="spline")
