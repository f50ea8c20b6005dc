"""Soft tissue over the spine: thickness, fat fraction and bowel gas as smooth fields.

The abdomen is 12-35 cm thick (the span DXA scanners are specified for; docs/physics.md) and thins towards the flanks; the fat
volume fraction varies smoothly (a low-frequency random field), which makes R_st vary
across the image as it does in vivo (docs/domain.md §5: R_st varies with fat fraction).  Bowel
gas pockets replace tissue by air.  Fields are in cm (thickness) or fractions per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dxaspine.phantom.params import PhantomParams

# ICRU-44 densities (g/cm3): soft tissue 1.06, adipose 0.95.
LEAN_DENSITY_G_CM3 = 1.06
FAT_DENSITY_G_CM3 = 0.95


@dataclass(frozen=True)
class SoftTissue:
    thickness_cm: np.ndarray  # total body thickness along the beam (including bone), minus gas
    fat_fraction: np.ndarray  # volume fraction of fat in the non-bone tissue
    gas_cm: np.ndarray  # air along the beam


def low_frequency_field(
    shape, spacing_mm, rng: np.random.Generator, n_waves: int = 6, wavelengths_mm=(60.0, 220.0)
):
    """A smooth random field in about [-1, 1] built from a few plane waves."""
    rows, cols = shape
    y = (np.arange(rows) + 0.5)[:, None] * spacing_mm[0]
    x = (np.arange(cols) + 0.5)[None, :] * spacing_mm[1]
    out = np.zeros(shape)
    for _ in range(n_waves):
        wavelength = rng.uniform(*wavelengths_mm)
        angle = rng.uniform(0.0, np.pi)
        phase = rng.uniform(0.0, 2 * np.pi)
        k = 2 * np.pi / wavelength
        out += np.cos(k * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    return out / np.sqrt(n_waves / 2.0) / 2.0


def make_soft_tissue(
    params: PhantomParams, shape, spacing_mm, spine_x_mm: float, rng: np.random.Generator
) -> SoftTissue:
    rows, cols = shape
    x = (np.arange(cols) + 0.5)[None, :] * spacing_mm[1] - spine_x_mm
    y = (np.arange(rows) + 0.5)[:, None] * spacing_mm[0]
    t0 = params.soft_tissue_thickness_cm
    # the abdomen's half-width grows with thickness (a rounder body); thins towards the flanks
    half_width_mm = 140.0 + 4.0 * t0
    profile = np.sqrt(np.clip(1.0 - (x / half_width_mm) ** 2, 0.2, 1.0))
    slope = 1.0 + 0.04 * (y / (rows * spacing_mm[0]) - 0.5)  # slightly thicker caudally
    wobble = 1.0 + 0.03 * low_frequency_field(shape, spacing_mm, rng)
    thickness = t0 * profile * slope * wobble

    # fat varies over >= 100 mm (subcutaneous and visceral fat are smooth at the spine's scale)
    fat = params.fat_fraction + params.fat_fraction_variation * low_frequency_field(
        shape, spacing_mm, rng, wavelengths_mm=(100.0, 260.0)
    )
    fat = fat + 0.05 * (x / 90.0) ** 2  # flanks a little fattier
    fat = np.clip(fat, 0.02, 0.85)

    gas = np.zeros(shape)
    for _ in range(params.gas_pockets):
        cx = spine_x_mm + rng.uniform(-70.0, 70.0)
        cy = rng.uniform(0.25, 0.95) * rows * spacing_mm[0]
        ru, rv = rng.uniform(8.0, 22.0), rng.uniform(6.0, 16.0)
        depth_cm = rng.uniform(1.5, 4.0)
        xx = (np.arange(cols) + 0.5)[None, :] * spacing_mm[1]
        r2 = ((xx - cx) / ru) ** 2 + ((y - cy) / rv) ** 2
        gas += depth_cm * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    gas = np.minimum(gas, 0.5 * thickness)
    return SoftTissue(thickness_cm=thickness - gas, fat_fraction=fat, gas_cm=gas)
