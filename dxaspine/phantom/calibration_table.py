"""The beam-hardening calibration table a phantom computes from its own spectrum.

This is what a vendor measures with step phantoms of bone and of lean and fat equivalents
(Hologic's in-beam calibration wheel, GE's calibration block; docs/physics.md,
"Calibration"): for reference soft tissues, mixtures of ICRU-44 soft tissue and adipose with
adipose mass fraction f, of areal mass m on a grid, the beam's log attenuations A_L(f, m),
A_H(f, m), and for hydroxyapatite sigma added to them the secant bone-basis coefficients

    mu_b,E(f, m, sigma) = (A_E(f, m, sigma) - A_E(f, m, 0)) / sigma   (tangent at sigma = 0),

with which sigma = (A_L - R A_H) / (mu_bL - R mu_bH) is exact for a ray of reference tissue
plus bone, whatever its thickness and fat content (:mod:`dxaspine.physics.calibration`).
The fat axis matters: the secant coefficients depend on the spectrum the tissue leaves, and
without it 30 % fat reads +1.2 % (GE-like) to +7.0 % (Hologic-like) high on a thickness-only
table.  The grids cover 0-52 g/cm2 of tissue (docs/domain.md range 12-35 cm with margin), 0-100 %
fat and 0-4 g/cm2 of bone (vertebrae with osteophytes or sclerosis reach ~2).
"""

from __future__ import annotations

import numpy as np

from dxaspine.io.private_block import CalibrationTable
from dxaspine.phantom.physics import MINERAL, project_areal_masses
from dxaspine.phantom.spectra import Beam

REFERENCE_TISSUE = "soft_tissue"
FAT_TISSUE = "adipose"
FAT_GRID = tuple(i / 10 for i in range(11))  # adipose mass fraction of the reference tissues
SOFT_TISSUE_GRID_G_CM2 = tuple(float(v) for v in (*range(0, 30, 2), *range(30, 53, 3)))
BONE_GRID_G_CM2 = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
# Tangent at sigma = 0 by a central difference: the error is O(h^2) relative (~1e-9).
_TANGENT_STEP_G_CM2 = 1e-4
# Reference thickness of the single effective coefficients the file also carries (0071,xx04)
# and of the effective energies (0071,xx01): 20 cm of reference soft tissue, 1 g/cm2 of bone.
REFERENCE_SOFT_TISSUE_G_CM2 = 21.2
REFERENCE_BONE_G_CM2 = 1.0


def _log_attenuations(beam: Beam, fat, soft_g_cm2, bone_g_cm2):
    fat = np.broadcast_to(fat, np.shape(soft_g_cm2))
    expected = project_areal_masses(
        {
            REFERENCE_TISSUE: (1.0 - fat) * soft_g_cm2,
            FAT_TISSUE: fat * soft_g_cm2,
            MINERAL: np.broadcast_to(bone_g_cm2, np.shape(soft_g_cm2)),
        },
        beam,
        (1.0, 1.0),
    )
    return expected.log_low, expected.log_high


def calibration_table(beam: Beam) -> CalibrationTable:
    """The table of ``beam`` on the module's grids (docs/interchange.md, elements 0x05-0x0C)."""
    fat_grid = np.asarray(FAT_GRID)
    soft = np.asarray(SOFT_TISSUE_GRID_G_CM2)
    bone = np.asarray(BONE_GRID_G_CM2)
    f, m, s = np.meshgrid(fat_grid, soft, bone, indexing="ij")
    base_low, base_high = _log_attenuations(beam, f[..., 0], m[..., 0], 0.0)
    low, high = _log_attenuations(beam, f, m, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_low = (low - base_low[..., None]) / s
        mu_high = (high - base_high[..., None]) / s
    h = _TANGENT_STEP_G_CM2
    up_low, up_high = _log_attenuations(beam, f[..., 0], m[..., 0], h)
    down_low, down_high = _log_attenuations(beam, f[..., 0], m[..., 0], -h)
    mu_low[..., 0] = (up_low - down_low) / (2 * h)
    mu_high[..., 0] = (up_high - down_high) / (2 * h)
    return CalibrationTable(
        identifier=f"dxaspine phantom {beam.name}-like beam; ICRU-44 lean/adipose ref.",
        fat_fraction=fat_grid,
        soft_tissue_g_cm2=soft,
        soft_log_low=base_low,
        soft_log_high=base_high,
        bone_g_cm2=bone,
        bone_mu_low_cm2_g=mu_low,
        bone_mu_high_cm2_g=mu_high,
    )


def reference_coefficients(beam: Beam) -> tuple[float, float]:
    """Single effective bone-basis coefficients (secant) at the reference thickness: what a
    decomposition without the table uses (interchange element (0071,xx04))."""
    soft = np.array([REFERENCE_SOFT_TISSUE_G_CM2])
    low0, high0 = _log_attenuations(beam, 0.0, soft, 0.0)
    low1, high1 = _log_attenuations(beam, 0.0, soft, REFERENCE_BONE_G_CM2)
    return (
        float((low1 - low0)[0] / REFERENCE_BONE_G_CM2),
        float((high1 - high0)[0] / REFERENCE_BONE_G_CM2),
    )


def effective_energies_kev(beam: Beam) -> tuple[float, float]:
    """Mean detected energy of each frame behind the reference soft tissue (element 0x01)."""
    from dxaspine.phantom.physics import mass_attenuation

    out = []
    for frame in beam.frames:
        mu = mass_attenuation(REFERENCE_TISSUE, beam, frame.energies_kev)
        weights = frame.weights * np.exp(-mu * REFERENCE_SOFT_TISSUE_G_CM2)
        out.append(float(np.dot(weights, frame.energies_kev) / weights.sum()))
    return out[0], out[1]
