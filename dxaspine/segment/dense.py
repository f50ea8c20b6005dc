"""Very dense pixels on the work grid: metal, or what cannot be told from metal.

The segmenter leaves them out when it looks for discs; the evidence stage
(:mod:`dxaspine.evidence`) flags the levels they cover.  Sources of "dense":

- work-image values far above a vertebral body (:data:`METAL_LEVEL` body cores);
- dual-energy pixels whose counts starved (``DensityMap.starved_mask``: metal stops the beam);
- display exports: pixels at the export's ceiling (``DensityMap.saturated_mask``), unless so
  much of the field saturates that it is the bone itself (an export windowed too hard), which
  is reported instead.
"""

from __future__ import annotations

import numpy as np

from dxaspine.physics.density_map import DensityMap
from dxaspine.segment.bone_mask import WorkImage
from dxaspine.segment.kernels import masked_block_mean
from dxaspine.segment.segmentation import QcFlag

__all__ = ["METAL_LEVEL", "SATURATED_METAL_MAX_SHARE", "dense_pixels"]

# Metal: work-image values (body core = 1) at or above this; cortical overlaps reach ~2.5.
METAL_LEVEL = 4.0
# Largest share of a display field that saturation may cover and still be metal (a pair of
# instrumented levels, screws and rods, covers ~1000 mm2, ~3 % of a 180 x 197 mm field).
SATURATED_METAL_MAX_SHARE = 0.05
# A work pixel is dense when this share of its full-resolution pixels starved or saturated.
_DENSE_SHARE = 0.25


def dense_pixels(work: WorkImage, density_map: DensityMap) -> tuple[np.ndarray, list[QcFlag]]:
    """Metal / very dense pixels on the work grid, and a flag if a display export saturates.

    Parameters
    ----------
    work : WorkImage
        The density map on the ~1 mm grid, body core at 1.
    density_map : DensityMap

    Returns
    -------
    mask : (M, N) ndarray of bool
        Work-grid pixels that are metal or cannot be told from it.
    flags : list of QcFlag
        ``display_saturated`` when saturation covers too much of a display field to be metal.
    """
    flags: list[QcFlag] = []
    metal = work.values >= METAL_LEVEL
    extra = None
    starved = density_map.starved_mask
    if starved is not None and np.shape(starved) == density_map.values.shape:
        starved = np.asarray(starved, dtype=bool)
        extra = starved if starved.any() else None
    saturated = density_map.saturated_mask
    if saturated is not None and np.shape(saturated) == density_map.values.shape:
        field = np.asarray(density_map.field_mask, dtype=bool)
        share = saturated.sum() / max(int(field.sum()), 1)
        if share <= SATURATED_METAL_MAX_SHARE:
            extra = saturated if extra is None else (extra | saturated)
        else:
            flags.append(
                QcFlag(
                    "display_saturated",
                    f"{share:.0%} of the display "
                    "export is saturated: bone densities are clipped and "
                    "metal cannot be told from bone",
                    evidence={"saturated_share": round(float(share), 3)},
                )
            )
    if extra is not None:
        share = masked_block_mean(
            extra.astype(float), np.ones(extra.shape, dtype=bool), *work.factors
        )
        metal |= np.nan_to_num(share) >= _DENSE_SHARE
    return metal, flags
