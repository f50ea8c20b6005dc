"""``DensityMap``: the bone map every segmenter and the measurement stage work on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class DensityMap:
    """Bone density per pixel, head-up, patient left on the image's right.

    ``values`` is bone-mineral areal density in g/cm2 when ``quantitative`` (dual-energy and
    AREAL_BMD_MAP inputs), or a relative density index (display inputs: no g/cm2 exist;
    docs/architecture.md, Contract 1).  Pixels outside ``field_mask`` are not measured and hold 0.
    """

    values: np.ndarray  # float64 (rows, cols)
    quantitative: bool
    units: Literal["g/cm2", "relative"]
    pixel_spacing_mm: tuple[float, float]  # (row, column)
    field_mask: np.ndarray  # bool (rows, cols)
    soft_tissue_ratio: np.ndarray | None = None  # R_st per pixel used, dual-energy only
    bone_mask_hint: np.ndarray | None = None  # bool; the decomposition's converged bone mask
    # bool; pixels whose counts were clipped to the floor (photon starvation behind metal, or
    # corrupt counts): their density is only a lower bound.  Dual-energy only.
    starved_mask: np.ndarray | None = None
    # How ``values`` were made (docs/architecture.md: physics named in the result): "two-material" (the
    # vendors' model, docs/domain.md §5), "two-material+lean-marrow" (an explicit option),
    # "bmd-map" (values read from an AREAL_BMD_MAP file), "display-relative".
    physics_model: str = "two-material"
    # Beam-hardening calibration applied: "none" or "file table: <identifier>".
    calibration: str = "none"
    # bool; display inputs only: pixels at the export's top grey value (clipped), where bone and
    # metal cannot be told apart.  None when the export does not reach its ceiling.
    saturated_mask: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]

    @property
    def pixel_area_cm2(self) -> float:
        return self.pixel_spacing_mm[0] * self.pixel_spacing_mm[1] / 100.0
