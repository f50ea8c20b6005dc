"""``decompose`` against synthetic Beer-Lambert ground truth (NIST table, docs/domain.md §5).

The scans here are built in the test from a known hydroxyapatite map over lean+fat soft tissue
whose fat fraction varies smoothly across and along the body, so R_st changes under the spine
and only an interpolated, bone-free baseline gives the right sigma_b.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import ndimage, stats

from dxaspine.errors import DxaError, InputError
from dxaspine.io.scan import Scan
from dxaspine.physics import DensityMap, decompose
from dxaspine.physics.attenuation import coefficient_pair

SPACING_MM = (1.0, 0.6)  # Prodigy-like rows x columns (docs/domain.md §6)
I0 = (5e5, 5e5)  # docs/domain.md §5: 5-7 x 10^5 photons per pixel


def _truth(rows=260, cols=220, gas=False, metal=False):
    """Known HA map, soft-tissue masses and fat fraction; returns a dict of truth arrays."""
    rr, cc = np.mgrid[0:rows, 0:cols].astype(float)
    y, x = rr * SPACING_MM[0], cc * SPACING_MM[1]
    xc = x.mean()
    # Fat fraction rises 0.12 -> 0.42 across and by 0.06 along the body: R_st spans ~0.04.
    fat = 0.12 + 0.30 * x / x.max() + 0.06 * y / y.max()
    mass_g_cm2 = 18.0 * (1.0 - 0.25 * ((x - xc) / x.max()) ** 2) + 2.0 * y / y.max()
    bone = np.zeros((rows, cols))
    top, level = 15.0, 0
    while top + 26 < y.max() - 10:  # 26 mm bodies, 9 mm discs, 44 mm wide (docs/domain.md §4)
        body = (np.abs(x - xc) < 22.0) & (y >= top) & (y < top + 26)
        rim_mm = np.minimum(
            np.minimum(x - (xc - 22), xc + 22 - x), np.minimum(y - top, top + 26 - y)
        )
        bone = np.where(body, 0.85 + 0.05 * level + 0.25 * np.exp(-rim_mm / 1.5), bone)
        top, level = top + 35.0, level + 1
    rib = (np.abs(y - (0.35 * (xc - x) + 20)) < 4.0) & (x < xc - 25)  # a rib to the left edge
    bone = np.where(rib, 0.5, bone)
    bone = ndimage.gaussian_filter(bone, (0.6 / SPACING_MM[0], 0.6 / SPACING_MM[1]))  # blur
    if gas:  # 3 g/cm2 of tissue replaced by gas, 30 x 40 mm, beside and over the spine edge
        pocket = ((x - (xc + 20)) / 15) ** 2 + ((y - 120) / 20) ** 2 < 1
        mass_g_cm2 = np.where(pocket, mass_g_cm2 - 3.0, mass_g_cm2)
    return {"bone": bone, "fat": fat, "mass": mass_g_cm2, "x": x, "xc": xc, "metal": metal}


def _scan(
    truth,
    energies=(40.0, 70.0),
    noise=False,
    seed=0,
    bone_mu=None,
    label_energies=None,
    marrow_density_g_cm3=None,
):
    lean, fat_mu = coefficient_pair("soft_tissue", energies), coefficient_pair("adipose", energies)
    ha = coefficient_pair("hydroxyapatite", energies)
    f = truth["fat"]
    mu_low, mu_high = (1 - f) * lean[0] + f * fat_mu[0], (1 - f) * lean[1] + f * fat_mu[1]
    a_low = mu_low * truth["mass"] + ha[0] * truth["bone"]
    a_high = mu_high * truth["mass"] + ha[1] * truth["bone"]
    if marrow_density_g_cm3:  # bone of that apparent density displaces the mix by lean marrow
        chord_cm = truth["bone"] / marrow_density_g_cm3
        mix_density = 1.0 / ((1 - f) / 1.06 + f / 0.95)  # ICRU-44 lean and adipose densities
        lean_g_cm2 = 1.06 * (chord_cm - truth["bone"] / 3.16)
        a_low += lean[0] * lean_g_cm2 - mu_low * mix_density * chord_cm
        a_high += lean[1] * lean_g_cm2 - mu_high * mix_density * chord_cm
    low, high = I0[0] * np.exp(-a_low), I0[1] * np.exp(-a_high)
    if noise:
        rng = np.random.default_rng(seed)
        low, high = rng.poisson(low).astype(float), rng.poisson(high).astype(float)
    if truth["metal"]:  # a pedicle screw: no photon gets through
        low[150:160, 95:100] = 0.0
        high[150:160, 95:100] = 0.0
    field = np.ones(low.shape, dtype=bool)
    field[:, :3] = False  # a collimator edge outside the field
    scan = Scan(
        kind="dual_energy",
        frames={"low": low, "high": high},
        pixel_spacing_mm=SPACING_MM,
        pixel_spacing_source="PixelSpacing",
        field_mask=field,
        energies_kev=label_energies or energies,
        i0_counts=I0,
        bone_mu_cm2_g=bone_mu,
        path="synthetic.dcm",
    )
    return scan, mu_low / mu_high


def _bmc_error(density: DensityMap, truth) -> float:
    region = truth["bone"] > 0.1  # the phantom's bone threshold convention
    return density.values[region].sum() / truth["bone"][region].sum() - 1.0


def _spine(truth):
    return (truth["bone"] > 0.1) & (np.abs(truth["x"] - truth["xc"]) < 22.0)


def test_noise_free_bmc_and_soft_tissue_ratio():
    truth = _truth()
    scan, r_truth = _scan(truth)
    density = decompose(scan, marrow="none", poisson_counts=False)
    assert density.quantitative and density.units == "g/cm2"
    # Noise-free, the only errors left are R_st interpolation across a 44 mm spine under a
    # curved fat profile and the partial-volume fringe: 0.5 % is the phantom target.
    assert abs(_bmc_error(density, truth)) < 0.005
    spine = _spine(truth)
    r_err = density.soft_tissue_ratio[spine] - r_truth[spine]
    # dR = 0.001 moves sigma_b by about A_H/0.55 * 0.001 = 0.007 g/cm2 (0.7 % of BMD).
    assert abs(r_err.mean()) < 0.0005
    assert np.abs(r_err).max() < 0.003
    # The converged bone mask holds every truth bone pixel of the vertebrae.
    assert density.bone_mask_hint[spine].all()
    assert (density.values[~density.field_mask] == 0).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_poisson_noise_bmc(seed):
    truth = _truth()
    scan, r_truth = _scan(truth, noise=True, seed=seed)
    density = decompose(scan, marrow="none")
    # Per-pixel sigma_b noise at these counts is ~0.04 g/cm2; summed over ~14 000 bone pixels
    # it is < 0.05 %, and the R_st baseline averages ~thousands of pixels per vertebra: 1 %.
    assert abs(_bmc_error(density, truth)) < 0.01
    spine = _spine(truth)
    assert abs((density.soft_tissue_ratio[spine] - r_truth[spine]).mean()) < 0.001
    assert np.isfinite(density.values).all()


def test_gas_pocket_does_not_bias_bmc():
    truth = _truth(gas=True)
    scan, _ = _scan(truth)
    density = decompose(scan, marrow="none", poisson_counts=False)
    assert abs(_bmc_error(density, truth)) < 0.005  # same bound as without gas


def test_metal_is_flagged_and_finite(caplog):
    truth = _truth(metal=True)
    scan, _ = _scan(truth)
    with caplog.at_level(logging.WARNING, logger="dxaspine.physics.decompose"):
        density = decompose(scan, marrow="none", poisson_counts=False)
    assert density.starved_mask[150:160, 95:100].all()
    assert density.starved_mask.sum() == 50
    assert np.isfinite(density.values).all()
    # Starved pixels read as at least very dense, never as soft tissue.
    assert (density.values[150:160, 95:100] > 2.0).all()
    assert "photon starvation" in caplog.text


def test_file_coefficients_win_over_tables():
    # Energies off the NIST grid are fine when the file supplies the bone basis: label the
    # 40/70 keV scan as 45/80 keV and give the 40/70 HA coefficients explicitly.
    truth = _truth()
    ha = tuple(coefficient_pair("hydroxyapatite", (40.0, 70.0)))
    scan, _ = _scan(truth, bone_mu=ha, label_energies=(45.0, 80.0))
    assert abs(_bmc_error(decompose(scan, marrow="none", poisson_counts=False), truth)) < 0.005


def test_off_grid_energies_without_coefficients_is_input_error():
    scan, _ = _scan(_truth(rows=40, cols=40), label_energies=(45.0, 80.0))
    with pytest.raises(InputError, match=r"synthetic\.dcm: .*not on the NIST grid.*\(0071,xx04\)"):
        decompose(scan, marrow="none", poisson_counts=False)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"i0_counts": None}, "unattenuated counts"),
        ({"energies_kev": None}, "effective energies"),
        ({"bone_mu_cm2_g": (0.3, 0.9)}, "not physical"),
        ({"frames": {"low": np.ones((40, 40))}}, "no 'high' frame"),
        ({"frames": {"low": np.ones((40, 40)), "high": np.ones((40, 41))}}, "shape"),
        ({"field_mask": np.zeros((40, 40), dtype=bool)}, "field is empty"),
    ],
)
def test_bad_dual_energy_input_is_one_line_input_error(change, message):
    import dataclasses

    scan, _ = _scan(_truth(rows=40, cols=40))
    with pytest.raises(DxaError, match=message) as info:
        decompose(dataclasses.replace(scan, **change))
    assert "\n" not in str(info.value) and str(info.value).startswith("synthetic.dcm: ")


def test_unknown_option_is_type_error():
    scan, _ = _scan(_truth(rows=40, cols=40))
    with pytest.raises(TypeError, match="side_widow_mm"):
        decompose(scan, side_widow_mm=10)


def test_bmd_map_passes_through():
    truth = _truth()
    field = np.ones(truth["bone"].shape, dtype=bool)
    field[:, -5:] = False
    bmd = truth["bone"].copy()
    bmd[0, 0] = np.nan
    scan = Scan(
        kind="bmd_map",
        frames={"bmd": bmd},
        pixel_spacing_mm=SPACING_MM,
        pixel_spacing_source="PixelSpacing",
        field_mask=field,
    )
    density = decompose(scan)
    assert density.quantitative and density.units == "g/cm2"
    inside = field.copy()
    inside[0, 0] = False
    assert_allclose(density.values[inside], truth["bone"][inside], rtol=0, atol=0)
    assert (density.values[~field] == 0).all() and density.values[0, 0] == 0
    assert density.bone_mask_hint[_spine(truth)].all()


def test_display_relative_map_is_monotone_in_density():
    # A vendor-like 8-bit display: grey rises with total attenuation (so it carries the
    # thickness/fat background) and with bone, then is quantised.
    truth = _truth()
    scan, _ = _scan(truth)
    a_high = np.log(I0[1] / scan.frames["high"])
    grey = np.clip(np.round(18.0 * (a_high - 2.5) + 60.0 * truth["bone"]), 0, 255)
    display = Scan(
        kind="display",
        frames={"display": grey},
        pixel_spacing_mm=SPACING_MM,
        pixel_spacing_source="ExposedArea",
        field_mask=scan.field_mask,
    )
    density = decompose(display)
    assert not density.quantitative and density.units == "relative"
    assert density.soft_tissue_ratio is None
    spine = _spine(truth)
    # Grey is monotone in bone up to the background drift and 8-bit rounding (one grey level
    # = 0.017 g/cm2), so ranks over the spine must agree strongly with the truth.
    rho = stats.spearmanr(density.values[spine], truth["bone"][spine]).statistic
    assert rho > 0.9
    soft = scan.field_mask & (truth["bone"] < 0.001)
    assert abs(np.median(density.values[soft])) < 1.0  # soft tissue reads ~0 grey levels
    assert (density.values[~scan.field_mask] == 0).all()
