"""Per-level area, BMC, BMD, width and height from a density map and a segmentation.

DXA convention (docs/domain.md §1): a level is everything between its two intervertebral lines
inside the analysis box; its **area** is the number of bone pixels there times the pixel
area, its **BMC** the sum of areal density times pixel area over those pixels, and its
**BMD** = BMC / area.

Geometry definitions (vendors print width and height but do not publish their rules):

- ``width_mm``: the mean, over the image rows that hold bone of the level, of the bone
  extent on that row (last bone column − first bone column + 1) × column spacing.  Rows
  approximate the perpendicular to the spine axis, which is near vertical on a PA scan; on a
  tilted spine this overestimates by 1/cos(tilt) (≤ 1.5 % below 10°).  The extent includes
  projected posterior elements and transverse processes inside the box.
- ``height_mm``: the vertical distance between the level's lower and upper lines, averaged
  over the level's bone pixels — for straight lines exactly the distance at the bone
  centroid column — times row spacing.  It is the mid-disc to mid-disc period (vertebral body
  plus one disc), not the body height alone.

NaN semantics: a non-finite density in a bone pixel still counts toward area (it is bone
geometry) but makes that level's BMC and BMD unknown (``None``) — never a silently smaller
BMC.  ``nonfinite_pixel_count`` says how many there were.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from dxaspine.errors import InputError, describe
from dxaspine.measure._kernels import level_sums_kernel
from dxaspine.physics.density_map import DensityMap
from dxaspine.segment.segmentation import IntervertebralLine, Segmentation

__all__ = ["LevelMeasurement", "LevelSums", "level_sums", "measure_levels"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LevelSums:
    """Raw per-label sums from one pass over the label image (index k is label k + 1)."""

    count: np.ndarray  # int64 (n,): bone pixels
    nonfinite: np.ndarray  # int64 (n,): bone pixels whose density is NaN/Inf
    density_sum: np.ndarray  # float64 (n,): sum of finite densities over bone pixels
    column_sum: np.ndarray  # float64 (n,): sum of bone-pixel column indices
    first_col: np.ndarray  # int64 (n, rows): first bone column per row, -1 if none
    last_col: np.ndarray  # int64 (n, rows): last bone column per row, -1 if none


@dataclass(frozen=True)
class LevelMeasurement:
    """One level's measurement (the measure stage's output, one per labelled level)."""

    label: str
    pixel_count: int
    area_cm2: float
    bmc_g: float | None  # None for display inputs or non-finite density
    bmd_g_cm2: float | None  # BMC / area; None when BMC is None or area is 0
    width_mm: float | None
    height_mm: float
    density_index: float | None  # mean density over bone pixels (g/cm2 or relative units)
    upper_line: IntervertebralLine
    lower_line: IntervertebralLine
    label_confidence: float
    nonfinite_pixel_count: int = 0


def level_sums(
    label_image: np.ndarray, bone_mask: np.ndarray, density: np.ndarray, n_labels: int
) -> LevelSums:
    """Validate the inputs and accumulate per-label sums with the numba kernel.

    Parameters
    ----------
    label_image : (M, N) ndarray of int
        ``k`` for pixels of label ``k`` (1..n_labels), 0 elsewhere.
    bone_mask : (M, N) ndarray of bool
    density : (M, N) ndarray of float
        Areal density per pixel (g/cm2 or relative units).
    n_labels : int
        Number of labels; values above it are an error.

    Returns
    -------
    LevelSums

    Raises
    ------
    InputError
        Wrong dimensions, mismatched shapes, non-integer labels, non-boolean mask or labels
        outside ``0..n_labels``.
    """
    src = "measure_levels"
    label_image = np.asarray(label_image)
    bone_mask = np.asarray(bone_mask)
    density = np.asarray(density)
    if label_image.ndim != 2:
        raise InputError(describe(src, f"label image is {label_image.ndim}-D", "pass a 2-D array"))
    if bone_mask.shape != label_image.shape or density.shape != label_image.shape:
        raise InputError(
            describe(
                src,
                f"shapes differ: labels {label_image.shape}, bone mask {bone_mask.shape}, "
                f"density {density.shape}",
                "pass arrays of one shape (rows, cols)",
            )
        )
    if not np.issubdtype(label_image.dtype, np.integer):
        raise InputError(
            describe(src, f"label image dtype {label_image.dtype}", "use an integer label image")
        )
    if bone_mask.dtype != np.bool_:
        raise InputError(describe(src, f"bone mask dtype {bone_mask.dtype}", "use a bool mask"))
    if not np.issubdtype(density.dtype, np.floating):
        raise InputError(describe(src, f"density dtype {density.dtype}", "use a float array"))
    if int(n_labels) < 0:
        raise InputError(describe(src, f"n_labels={n_labels}", "pass n_labels >= 0"))
    labels32 = np.ascontiguousarray(label_image, dtype=np.int32)
    mask = np.ascontiguousarray(bone_mask)
    dens = np.ascontiguousarray(density, dtype=np.float64)
    count, nonfinite, dsum, csum, first, last, bad = level_sums_kernel(
        labels32, mask, dens, int(n_labels)
    )
    if bad:
        raise InputError(
            describe(
                src,
                f"{bad} label-image pixels lie outside 0..{n_labels}",
                "label levels 1..len(labels) and everything else 0",
            )
        )
    return LevelSums(count, nonfinite, dsum, csum, first, last)


def _width_mm(first: np.ndarray, last: np.ndarray, column_spacing_mm: float) -> float | None:
    rows_with_bone = first >= 0
    if not rows_with_bone.any():
        return None
    extent = last[rows_with_bone] - first[rows_with_bone] + 1
    return float(extent.mean() * column_spacing_mm)


def measure_levels(
    density_map: DensityMap, segmentation: Segmentation
) -> tuple[LevelMeasurement, ...]:
    """Measure every labelled level, top to bottom.

    Parameters
    ----------
    density_map : DensityMap
        ``values`` in g/cm2 when ``quantitative``; relative otherwise (then BMC/BMD are None).
    segmentation : Segmentation
        ``label_image`` holds ``i + 1`` for level ``i`` between ``lines[i]`` and
        ``lines[i + 1]`` inside the analysis box; ``bone_mask`` marks bone.

    Returns
    -------
    tuple of LevelMeasurement
        One per entry of ``segmentation.labels``, in the same (top-to-bottom) order.
    """
    seg = segmentation
    n = len(seg.labels)
    if len(seg.lines) != n + 1 or len(seg.label_confidence) != n:
        raise InputError(
            describe(
                "measure_levels",
                f"{n} labels need {n + 1} lines and {n} confidences, got {len(seg.lines)} "
                f"and {len(seg.label_confidence)}",
                "build the Segmentation with one line above and below every level",
            )
        )
    sums = level_sums(seg.label_image, seg.bone_mask, density_map.values, n)
    pixel_area_cm2 = density_map.pixel_area_cm2
    row_mm, col_mm = density_map.pixel_spacing_mm
    out = []
    for k, label in enumerate(seg.labels):
        upper, lower = seg.lines[k], seg.lines[k + 1]
        count = int(sums.count[k])
        nonfinite = int(sums.nonfinite[k])
        area_cm2 = count * pixel_area_cm2
        bmc_g = bmd_g_cm2 = None
        if density_map.quantitative and nonfinite == 0:
            bmc_g = float(sums.density_sum[k] * pixel_area_cm2)
            bmd_g_cm2 = bmc_g / area_cm2 if count else None
        if nonfinite:
            logger.warning("level %s: %d bone pixels with non-finite density", label, nonfinite)
        finite = count - nonfinite
        density_index = float(sums.density_sum[k] / finite) if finite else None
        centroid_col = sums.column_sum[k] / count if count else upper.midpoint[0]
        height_px = float(lower.row_at(centroid_col) - upper.row_at(centroid_col))
        out.append(
            LevelMeasurement(
                label=label,
                pixel_count=count,
                area_cm2=float(area_cm2),
                bmc_g=bmc_g,
                bmd_g_cm2=bmd_g_cm2,
                width_mm=_width_mm(sums.first_col[k], sums.last_col[k], col_mm),
                height_mm=height_px * row_mm,
                density_index=density_index,
                upper_line=upper,
                lower_line=lower,
                label_confidence=float(seg.label_confidence[k]),
                nonfinite_pixel_count=nonfinite,
            )
        )
    return tuple(out)
