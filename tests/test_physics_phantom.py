"""``decompose`` against the phantom's ground truth (docs/architecture.md, Ground truth: the phantom).

Per-level BMC is the decomposed map summed over the truth level's bone pixels (truth label
image and bone mask), compared with the truth BMC; with the truth area, the BMD error equals
the BMC error.  See the module ``dxaspine.physics.soft_tissue`` for what limits accuracy: the
soft tissue under the spine is never seen, only inferred from beside it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dxaspine.io.scan import Scan
from dxaspine.phantom import SUITES, generate_case
from dxaspine.phantom.display import display_image
from dxaspine.physics import decompose

LUMBAR = ("L1", "L2", "L3", "L4")


def _standard(count: int, **changes):
    """Seeded standard cases, alternating Prodigy and iDXA geometry."""
    for i, params in enumerate(SUITES["standard"](seed=0, count=count)):
        yield params.replace(scanner=("prodigy", "idxa")[i % 2], **changes)


def _dual_energy_scan(case) -> Scan:
    return case.dual_energy_scan(path=f"{case.truth['case']}.dcm")


def _level_errors(case, density) -> tuple[dict[str, float], float]:
    """Relative BMC error per truth level, and of the L1-L4 composite.

    Levels cut by the field edge still have a truth BMC over their pixels in the field, so
    they count; slivers under 1 g (a few rows of T11/T12) would only measure rounding.
    """
    code_of = {name: int(code) for code, name in case.truth["label_codes"].items()}
    errors, measured, true = {}, 0.0, 0.0
    for level in case.truth["levels"]:
        if level["bmc_g"] < 1.0:
            continue
        pixels = (case.label_image == code_of[level["label"]]) & case.bone_mask
        bmc_g = density.values[pixels].sum() * density.pixel_area_cm2
        errors[level["label"]] = bmc_g / level["bmc_g"] - 1.0
        if level["label"] in LUMBAR:
            measured, true = measured + bmc_g, true + level["bmc_g"]
    return errors, measured / true - 1.0


def test_noise_free_uniform_fat_is_exact_per_level():
    # The decomposition itself: fat fraction uniform up to the phantom's smooth flank term
    # (fatter flanks; no fattier midline), bone mineral only (no marrow displacement),
    # noise-free, on the default polyenergetic beams (GE-like on Prodigy/iDXA geometry) with
    # the file's calibration table.  What remains is R_st bridging, partial volume and the
    # table's interpolation: 0.5 % per level is a quarter of the 2 % per-level target.
    for params in _standard(
        6, noise=False, fat_fraction_variation=0.0, marrow="none", midline_fat_excess=0.0
    ):
        case = generate_case(params)
        density = decompose(_dual_energy_scan(case), poisson_counts=False)
        assert density.physics_model == "two-material"
        assert density.calibration.startswith("file table: ")
        errors, composite = _level_errors(case, density)
        assert set(LUMBAR) <= set(errors)
        worst = max(errors, key=lambda k: abs(errors[k]))
        assert abs(errors[worst]) < 0.005, (params.case_name, worst, errors[worst])
        assert abs(composite) < 0.005
        # R_st converges to the truth of the overlying tissue: dR = 0.0005 is 0.35 % of BMD.
        spine = case.bone_mask & (case.label_image > 0)
        r_error = density.soft_tissue_ratio[spine] - case.r_st_truth[spine]
        assert abs(r_error.mean()) < 5e-4


@pytest.mark.parametrize("beam", ["mono", "ge"])
def test_noise_free_lean_marrow_per_level(beam):
    # The lean-marrow model against a phantom that makes the same assumption (marrow="lean":
    # bone displaces fatty tissue by lean marrow; asked for explicitly, it is no longer the
    # default).  Without the marrow model this over-reads by ~3-4 %; with it, what is left
    # is the apparent-density estimate (vertebral depth 30-35 mm, docs/domain.md §4) and, for the
    # polyenergetic beam, the first-order displacement terms: 1.5 % per level.
    for params in _standard(
        6, noise=False, fat_fraction_variation=0.0, marrow="lean", midline_fat_excess=0.0,
        beam=beam,
    ):  # fmt: skip
        case = generate_case(params)
        scan = _dual_energy_scan(case)
        density = decompose(scan, marrow="lean", poisson_counts=False)
        assert density.physics_model == "two-material+lean-marrow"
        errors, composite = _level_errors(case, density)
        assert max(abs(e) for e in errors.values()) < 0.015, (params.case_name, errors)
        plain, plain_composite = _level_errors(
            case, decompose(scan, marrow="none", poisson_counts=False)
        )
        assert plain_composite > composite + 0.02  # the correction is doing the work


@pytest.mark.slow
def test_standard_suite_bmd_accuracy():
    # 24 seeded standard cases (12 Prodigy, 12 iDXA geometry), GE-like polyenergetic beam
    # with the file's calibration table, Poisson noise, fat fraction varying on 60-220 mm
    # scales, and the physics the two-material model assumes: mineral added to the tissue
    # (marrow="none"), no fattier midline.  The error is dominated by fat inhomogeneity under
    # the spine, which no projection measures (per-level spread ~1 %); noise adds < 0.1 % per
    # level (docs/domain.md §5).
    # These bounds do NOT hold on the default phantom physics (fat marrow of the age/sex PDFF,
    # +0.03 fat over the spine), and should not: there the two-material model carries DXA's
    # fat error (tests/test_physics_calibration.py::test_fat_marrow_error_is_the_two_material_
    # models_own).  Measured on the same 24 cases with the default physics: per-level 95th
    # percentile 3.8 %, levels 1.4-3.2 % off (docs/physics.md, "Figures").
    level_errors, composite_errors = [], []
    for params in _standard(24, marrow="none", midline_fat_excess=0.0):
        case = generate_case(params)
        errors, composite = _level_errors(case, decompose(_dual_energy_scan(case)))
        level_errors += [errors[name] for name in LUMBAR]
        composite_errors.append(composite)
    level_abs = np.abs(level_errors)
    composite_abs = np.abs(composite_errors)
    # Brief: per-level BMD within 2 % (95th percentile), L1-L4 within 1 %.
    assert np.percentile(level_abs, 95) < 0.02
    assert np.percentile(composite_abs, 95) < 0.01
    # No case far out, and no systematic bias (< 0.75 %).
    assert level_abs.max() < 0.03
    assert composite_abs.max() < 0.02
    assert abs(np.mean(level_errors)) < 0.0075


def test_display_relative_map_is_monotone_in_true_density():
    for params in _standard(4):
        case = generate_case(params)
        grey = display_image(case).astype(np.float64)
        first, last = case.truth["field_columns"]
        field = np.zeros(grey.shape, dtype=bool)
        field[:, first : last + 1] = True
        field &= grey < 255  # the ragged white strips at the field edge
        scan = Scan(
            kind="display",
            frames={"display": grey},
            pixel_spacing_mm=tuple(case.pixel_spacing_mm),
            pixel_spacing_source="ExposedArea",
            field_mask=field,
        )
        density = decompose(scan)
        assert density.units == "relative" and not density.quantitative
        spine_bone = (case.label_image > 0) & case.bone_mask & field
        # The export is a smoothed, 8-bit, noisy Q image: ranks of bone density inside the
        # analysis box must still agree (observed 0.97-0.995; 0.95 leaves room for noise).
        rho = stats.spearmanr(density.values[spine_bone], case.bone_density_g_cm2[spine_bone])
        assert rho.statistic > 0.95
        soft = field & (case.bone_density_g_cm2 == 0)
        assert abs(np.median(density.values[soft])) < 1.0  # soft tissue reads 0 grey levels
        assert density.bone_mask_hint[spine_bone].mean() > 0.95
