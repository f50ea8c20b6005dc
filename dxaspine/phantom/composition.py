"""What each ray of the drawn phantom crosses: areal masses per material (g/cm2).

Bone is rendered as mineral areal density sigma (g/cm2 of hydroxyapatite) and a chord c (cm)
through bone (:mod:`dxaspine.phantom.render`).  The marrow model says what fills the bone's
non-mineral volume and whether bone displaces the surrounding soft tissue:

- ``"fat"`` (default): bone displaces the local fat/lean mix; its non-mineral volume
  c - sigma / rho_HA is vertebral marrow of the case's PDFF (:mod:`dxaspine.phantom.marrow`),
  split into triglyceride and fat-free marrow;
- ``"lean"``: the same displacement with lean soft tissue (ICRU-44) as marrow: the older
  phantom, whose assumption the pipeline's optional ``marrow="lean"`` correction shares;
- ``"none"``: mineral only is added on top of the soft tissue (no displacement), the
  two-material model's own assumption.

Simplifications: the non-mineral part of cortical shells, pedicles and processes is treated
as marrow too (collagen and bone water are not modelled separately; the shell is ~6 % of a
vertebral body's chord), and metal is hydroxyapatite-equivalent with no chord.
"""

from __future__ import annotations

import numpy as np

from dxaspine.phantom.marrow import lipid_mass_fraction, marrow_material
from dxaspine.phantom.physics import HA_DENSITY_G_CM3, MINERAL
from dxaspine.phantom.soft_tissue import FAT_DENSITY_G_CM3, LEAN_DENSITY_G_CM3, SoftTissue

MARROW_MODELS = ("fat", "lean", "none")


def areal_masses(
    bone_g_cm2: np.ndarray,
    bone_chord_cm: np.ndarray,
    tissue: SoftTissue,
    marrow: str,
    marrow_pdff: float = 0.5,
) -> dict[str, np.ndarray]:
    """``{material: (rows, cols) g/cm2}`` of one case for :func:`physics.project_areal_masses`.

    Raises
    ------
    ValueError
        For an unknown marrow model.
    """
    if marrow not in MARROW_MODELS:
        raise ValueError(f"marrow {marrow!r}: use one of {MARROW_MODELS}")
    if marrow == "none":
        marrow_cm = np.zeros_like(bone_g_cm2)
        overlying_cm = tissue.thickness_cm
    else:
        mineral_volume_cm = bone_g_cm2 / HA_DENSITY_G_CM3
        # metal (HA-equivalent, no chord) can exceed its own chord; never negative tissue
        marrow_cm = np.maximum(bone_chord_cm - mineral_volume_cm, 0.0)
        overlying_cm = np.maximum(tissue.thickness_cm - bone_chord_cm, 0.0)
    out = {
        MINERAL: bone_g_cm2,
        "adipose": FAT_DENSITY_G_CM3 * tissue.fat_fraction * overlying_cm,
        "soft_tissue": LEAN_DENSITY_G_CM3 * (1.0 - tissue.fat_fraction) * overlying_cm,
    }
    if marrow == "lean":
        out["soft_tissue"] = out["soft_tissue"] + LEAN_DENSITY_G_CM3 * marrow_cm
    elif marrow == "fat":
        density = marrow_material(marrow_pdff).density_g_cm3
        lipid = lipid_mass_fraction(marrow_pdff)
        out["triglyceride"] = density * lipid * marrow_cm
        out["marrow_fat_free"] = density * (1.0 - lipid) * marrow_cm
    return out


def non_mineral(masses: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same ray without its mineral: what R_st of the material along it is made of."""
    return {name: value for name, value in masses.items() if name != MINERAL}
