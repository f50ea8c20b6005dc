"""Beer-Lambert counts from areal masses of hydroxyapatite, lean tissue and fat; Poisson noise.

Model (stated simplifications):
- **monoenergetic beams** at the two effective energies, NIST coefficients from
  :mod:`dxaspine.physics.attenuation` (docs/domain.md §5): A_E = mu_HA,E s_b + mu_lean,E m_l +
  mu_fat,E m_f, counts = I0_E exp(-A_E);
- the pixel value is Beer-Lambert of the *pixel-averaged* areal masses (partial volume is
  linear in the log domain, so a decomposition with the true R_st is exact);
- with ``marrow="lean"`` the bone volume displaces the local fat/lean tissue and the bone's
  non-mineral part (marrow, collagen) is lean soft tissue; the mineral's own volume is
  HA at 3.16 g/cm3.  ``marrow="none"`` adds mineral only (R_st over bone equals its
  surroundings);
- metal is hydroxyapatite-equivalent (no separate attenuation spectrum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dxaspine.phantom.soft_tissue import FAT_DENSITY_G_CM3, LEAN_DENSITY_G_CM3, SoftTissue
from dxaspine.physics.attenuation import coefficient_pair

HA_DENSITY_G_CM3 = 3.16  # hydroxyapatite crystal density


@dataclass(frozen=True)
class Attenuation:
    lean_g_cm2: np.ndarray
    fat_g_cm2: np.ndarray
    log_low: np.ndarray  # A_L = ln(I0/I), noise-free
    log_high: np.ndarray
    r_st: np.ndarray  # mu_L/mu_H of all non-mineral material along each ray


def tissue_masses(bone_g_cm2, bone_chord_cm, tissue: SoftTissue, marrow: str):
    """Areal masses (g/cm2) of lean and fat along each ray."""
    if marrow == "lean":
        mineral_volume_cm = bone_g_cm2 / HA_DENSITY_G_CM3
        # metal (HA-equivalent, no chord) can exceed its own chord; never negative tissue
        bone_lean_cm = np.maximum(bone_chord_cm - mineral_volume_cm, 0.0)
        overlying_cm = np.maximum(tissue.thickness_cm - bone_chord_cm, 0.0)
    else:
        bone_lean_cm = np.zeros_like(bone_g_cm2)
        overlying_cm = tissue.thickness_cm
    fat = FAT_DENSITY_G_CM3 * tissue.fat_fraction * overlying_cm
    lean = LEAN_DENSITY_G_CM3 * ((1.0 - tissue.fat_fraction) * overlying_cm + bone_lean_cm)
    return lean, fat


def attenuate(bone_g_cm2, lean_g_cm2, fat_g_cm2, energies_kev) -> Attenuation:
    mu_b = coefficient_pair("hydroxyapatite", energies_kev)
    mu_l = coefficient_pair("soft_tissue", energies_kev)
    mu_f = coefficient_pair("adipose", energies_kev)
    soft_low = mu_l[0] * lean_g_cm2 + mu_f[0] * fat_g_cm2
    soft_high = mu_l[1] * lean_g_cm2 + mu_f[1] * fat_g_cm2
    return Attenuation(
        lean_g_cm2=lean_g_cm2,
        fat_g_cm2=fat_g_cm2,
        log_low=mu_b[0] * bone_g_cm2 + soft_low,
        log_high=mu_b[1] * bone_g_cm2 + soft_high,
        r_st=soft_low / soft_high,
    )


def expected_counts(log_attenuation: np.ndarray, i0_counts: float) -> np.ndarray:
    return i0_counts * np.exp(-log_attenuation)


def poisson_counts(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Detected counts: Poisson with mean ``expected`` (quantum noise), as float64."""
    return rng.poisson(expected).astype(np.float64)


def i0_per_pixel(photons_per_mm2: tuple[float, float], spacing_mm) -> tuple[float, float]:
    area_mm2 = spacing_mm[0] * spacing_mm[1]
    return (photons_per_mm2[0] * area_mm2, photons_per_mm2[1] * area_mm2)


def rescale_slope(max_counts: float) -> float:
    """Smallest power of two so that ``max_counts / slope`` fits in 16 bits.

    The stored value is round(counts / slope); the rounding error has variance slope^2/12,
    which must be negligible next to the Poisson variance (= counts).  Power-of-two slopes
    are exact decimal strings in the DS header and lose at most one bit of range.
    """
    slope = 1.0
    while max_counts / slope > 65535.0:
        slope *= 2.0
    return slope
