"""Relative density map of a display image (no g/cm2 exist; docs/architecture.md, Contract 1).

A vendor display export shows bone bright over a soft-tissue background that drifts with body
thickness and fat.  The background of each scan line is estimated exactly like R_st for
dual-energy scans (threshold -> bone mask -> per-row baseline from bone-free pixels, bridged
across the bone span, smoothed along the spine; :mod:`dxaspine.physics.soft_tissue`) and
subtracted.

The relative density index is therefore **grey value above the local soft-tissue background,
in the display's own grey units**: soft tissue reads about 0, bone is positive, and the index is
monotone in the grey value, which vendors render monotone in bone density.  It is not
comparable between scanners or exports; measurement reports it as a relative index only.
"""

from __future__ import annotations

import numpy as np

from dxaspine.physics.density_map import DensityMap
from dxaspine.physics.resample import block_all, block_mean, grid_factors, upsample_linear
from dxaspine.physics.soft_tissue import (
    DEFAULT_OPTIONS,
    BaselineOptions,
    iterate_baseline,
    threshold_bone,
)

# An 8-bit export shows metal (and over-windowed bone) at its ceiling; below this top grey the
# export does not clip at all (docs/domain.md §6: real spine exports saturate at 255).
SATURATION_MIN_GREY = 250.0


def saturated_pixels(grey: np.ndarray, field: np.ndarray) -> np.ndarray | None:
    """Field pixels at the export's top grey value, when that value is a ceiling (>= 250)."""
    inside = field & np.isfinite(grey)
    if not inside.any():
        return None
    top = float(grey[inside].max())
    if top < SATURATION_MIN_GREY:
        return None
    return (grey >= top) & inside


def relative_density(
    grey: np.ndarray,
    field_mask: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    options: BaselineOptions = DEFAULT_OPTIONS,
    threshold_floor_grey: float | None = None,
) -> DensityMap:
    """Relative density map of a display image.

    Parameters
    ----------
    grey : (M, N) ndarray
        Display grey values after the Modality LUT, bone bright.
    field_mask : (M, N) ndarray of bool
        Where the scanner measured; the map is 0 elsewhere.
    pixel_spacing_mm : (float, float)
        (row, column) spacing.
    threshold_floor_grey : float, optional
        Smallest bone threshold in grey units; default 1 % of the grey range in the field
        (about 2.5 levels on an 8-bit export), above quantisation but far below bone contrast.

    Returns
    -------
    DensityMap
        ``units="relative"``, ``quantitative=False``, with the converged bone mask as hint.
    """
    grey = np.ascontiguousarray(grey, dtype=np.float64)
    field = np.ascontiguousarray(field_mask, dtype=bool)
    candidate = field & np.isfinite(grey)
    if threshold_floor_grey is None:
        if candidate.any():
            lo, hi = np.percentile(grey[candidate], [0.5, 99.5])
            threshold_floor_grey = max(0.01 * float(hi - lo), 1e-9)
        else:
            threshold_floor_grey = 1.0

    factors = grid_factors(pixel_spacing_mm, options.baseline_grid_mm, at_most=True)
    if factors == (1, 1):
        result = iterate_baseline(
            grey,
            lambda background: grey - background,
            field,
            candidate,
            pixel_spacing_mm,
            threshold_floor_grey,
            options,
        )
        excess, bone = result.excess, result.bone_mask
    else:  # the background is smooth: iterate on a ~1 mm grid, interpolate back
        coarse = block_mean(np.where(candidate, grey, 0.0), factors)
        coarse_candidate = block_all(candidate, factors)
        result = iterate_baseline(
            coarse,
            lambda background: coarse - background,
            block_all(field, factors),
            coarse_candidate,
            (pixel_spacing_mm[0] * factors[0], pixel_spacing_mm[1] * factors[1]),
            threshold_floor_grey,
            options,
        )
        excess = grey - upsample_linear(result.baseline, factors, grey.shape)
        bone, _, _ = threshold_bone(
            excess, field, candidate, pixel_spacing_mm, threshold_floor_grey, options
        )
    values = np.where(candidate, excess, 0.0)
    return DensityMap(
        saturated_mask=saturated_pixels(grey, field),
        values=values,
        quantitative=False,
        units="relative",
        pixel_spacing_mm=pixel_spacing_mm,
        field_mask=field,
        soft_tissue_ratio=None,
        bone_mask_hint=bone & candidate,
    )
