"""Bone-basis mass attenuation coefficients for one scan (docs/domain.md §5).

The basis material is hydroxyapatite (HA).  Optionally it carries the lean marrow that bone
puts where fat-containing soft tissue would otherwise be ("marrow displacement"): a ray
through a vertebra crosses less of the surrounding fat/lean mix and more lean tissue, so the
R_st measured beside the spine over-reads bone (about +4 % for 30 % fat, 33 mm of bone).
With the bone's non-mineral volume counted as lean tissue,

    Q = A_L - R A_H = sigma_b [ (mu_bL - R mu_bH) + kappa (mu_lL - R mu_lH) ],
    kappa = rho_lean (1 / rho_app - 1 / rho_HA)   (g lean per g mineral),

which is the plain formula with an *effective* basis mu_b + kappa mu_lean.  rho_app is the
bone's apparent mineral density along the ray: areal BMD / AP depth.  The depth of a vertebral
body does not scale with its mineral, so rho_app is estimated per scan
(:func:`estimate_apparent_density`) as the upper-quartile sigma_b of the bone pixels (the
vertebral bodies, not the thinner ribs and processes) over the 30-35 mm AP depth of docs/domain.md
§4; about 1.0 g/cm2 / 3.25 cm = 0.31 g/cm3 for a typical spine.  This is a modelling
assumption (real marrow also holds fat); ``marrow="none"`` switches it off.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine.errors import InputError, describe
from dxaspine.io.scan import Scan
from dxaspine.physics.attenuation import TABULATED_ENERGIES_KEV, coefficient_pair
from dxaspine.physics.quantiles import linear_quantiles

HA_DENSITY_G_CM3 = 3.16  # hydroxyapatite crystal density
LEAN_DENSITY_G_CM3 = 1.06  # ICRU-44 soft tissue
DEFAULT_BONE_APPARENT_DENSITY_G_CM3 = 0.31  # ~1.0 g/cm2 over ~32 mm AP depth (docs/domain.md §4)
MARROW_MODELS = ("lean", "none")
VERTEBRAL_DEPTH_CM = 3.25  # docs/domain.md §4: AP depth 30-35 mm
# Integral vertebral mineral density stays within these bounds (0.7-2.0 g/cm2 over ~3 cm);
# the clip keeps a field full of metal or of ribs from pushing the estimate anywhere absurd.
APPARENT_DENSITY_RANGE_G_CM3 = (0.15, 0.6)


def estimate_apparent_density(sigma_b_g_cm2: np.ndarray, bone_mask: np.ndarray) -> float:
    """Apparent mineral density (g/cm3) of the vertebral bodies of one scan.

    Upper quartile of sigma_b over the bone pixels (the dense vertebral bodies) divided by
    the vertebral AP depth (``VERTEBRAL_DEPTH_CM``); the default when there is too little bone.
    """
    values = sigma_b_g_cm2[bone_mask]
    values = values[np.isfinite(values)]
    if values.size < 50:
        return DEFAULT_BONE_APPARENT_DENSITY_G_CM3
    rho = linear_quantiles(values, (0.75,))[0] / VERTEBRAL_DEPTH_CM  # = np.percentile(, 75)
    return float(np.clip(rho, *APPARENT_DENSITY_RANGE_G_CM3))


def bone_basis_coefficients(
    scan: Scan,
    marrow: str = "lean",
    bone_apparent_density_g_cm3: float = DEFAULT_BONE_APPARENT_DENSITY_G_CM3,
) -> tuple[float, float]:
    """``(mu_bL, mu_bH)`` in cm2/g of the bone basis for the scan's effective energies.

    ``marrow="lean"`` adds the lean marrow displacement term (module docstring); it needs the
    lean-tissue coefficients, so it only applies at tabulated energies (otherwise the file's
    coefficients are used as they are).  ``marrow="none"``: pure mineral.

    Coefficients stored in the file (interchange private tag (0071,xx04), ``scan.bone_mu_cm2_g``)
    win; otherwise the NIST hydroxyapatite values at the file's energies are used.  Only
    tabulated energies are served: docs/domain.md §5 warns that log-log interpolation between grid
    energies is about 2 % off for hydroxyapatite at 70 keV.

    Raises
    ------
    InputError
        When the coefficients are missing, not physical, or the energies are off the NIST grid
        and the file supplies no coefficients.
    """
    if marrow not in MARROW_MODELS:
        raise ValueError(f"marrow must be one of {MARROW_MODELS}, got {marrow!r}")
    if not bone_apparent_density_g_cm3 > 0:
        raise ValueError(
            f"bone_apparent_density_g_cm3 must be > 0, got {bone_apparent_density_g_cm3}"
        )
    mu_low, mu_high = _mineral_coefficients(scan)
    energies = tuple(float(e) for e in scan.energies_kev or ())
    if marrow == "lean" and energies and all(e in TABULATED_ENERGIES_KEV for e in energies):
        kappa = LEAN_DENSITY_G_CM3 * (1.0 / bone_apparent_density_g_cm3 - 1.0 / HA_DENSITY_G_CM3)
        lean = coefficient_pair("soft_tissue", energies)
        mu_low, mu_high = mu_low + kappa * float(lean[0]), mu_high + kappa * float(lean[1])
    return mu_low, mu_high


def _mineral_coefficients(scan: Scan) -> tuple[float, float]:
    source = scan.path
    if scan.bone_mu_cm2_g is not None:
        mu_low, mu_high = (float(v) for v in scan.bone_mu_cm2_g)
        # mu falls with energy below the K-edges of Ca/P, so low > high for any DXA pair.
        if not (math.isfinite(mu_low) and math.isfinite(mu_high) and mu_low > mu_high > 0):
            raise InputError(
                describe(
                    source,
                    f"bone-basis coefficients (0071,xx04) {scan.bone_mu_cm2_g} are not physical "
                    "(need finite low > high > 0 cm2/g)",
                    "write the hydroxyapatite mass attenuation coefficients at the low and high "
                    "effective energies, low first",
                )
            )
        return mu_low, mu_high
    if scan.energies_kev is None:
        raise InputError(
            describe(
                source,
                "dual-energy scan without effective energies (0071,xx01) or bone-basis "
                "coefficients (0071,xx04)",
                "add the energies in keV [low, high] or the coefficients in cm2/g",
            )
        )
    energies = tuple(float(e) for e in scan.energies_kev)
    missing = [e for e in energies if e not in TABULATED_ENERGIES_KEV]
    if missing:
        grid = ", ".join(f"{e:g}" for e in TABULATED_ENERGIES_KEV)
        raise InputError(
            describe(
                source,
                f"effective energies {energies} keV are not on the NIST grid ({grid} keV) and the "
                "file gives no bone-basis coefficients",
                "add hydroxyapatite mass attenuation coefficients in cm2/g as (0071,xx04) "
                "[low, high], or state tabulated energies",
            )
        )
    mu = coefficient_pair("hydroxyapatite", energies)
    return float(mu[0]), float(mu[1])
