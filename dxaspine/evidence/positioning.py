"""Positioning QC: spine off-centre, tilted, axis lost, and too few lumbar levels in the field.

Tolerances are modelling choices (*unverified*: vendor manuals ask for a centred, straight
spine without giving numbers).  Axial rotation is estimated in :mod:`dxaspine.evidence.rotation`.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine.evidence.geometry import SpineGeometry
from dxaspine.levels import CLINICAL_LEVELS
from dxaspine.segment.segmentation import QcFlag

__all__ = ["positioning_flags", "field_flags"]

OFF_CENTRE_MM = 25.0  # axis mean vs field centre
MIN_SOFT_TISSUE_MARGIN_MM = 10.0  # box edge to field edge: R_st needs tissue beside the spine
TILT_DEG = 8.0  # straight-line fit of the axis vs vertical
# A stretch of the lumbar axis without a vertebral-body response this long is "lost", mm.
AXIS_LOST_MM = 20.0
AXIS_MIN_RESPONSE = 0.25


def field_flags(labels) -> list[QcFlag]:
    """``few_lumbar_levels`` when fewer than all of L1-L4 are in the field."""
    if len([n for n in labels if n in CLINICAL_LEVELS]) < len(CLINICAL_LEVELS):
        return [QcFlag("few_lumbar_levels", "fewer than 4 of L1-L4 are in the field")]
    return []


def positioning_flags(geometry: SpineGeometry) -> list[QcFlag]:
    """Off-centre, tilted and lost-axis flags of one spine."""
    work, axis, discs, half_width_mm = (
        geometry.work,
        geometry.axis,
        geometry.discs,
        geometry.half_width_mm,
    )
    flags: list[QcFlag] = []
    spacing_r, spacing_c = work.pixel_spacing_mm
    rows = np.arange(int(np.ceil(discs[0].row)), int(np.floor(discs[-1].row)) + 1)
    rows = rows[(rows >= 0) & (rows < axis.columns.size)]
    if rows.size < 2:
        return flags
    cols = axis.columns[rows]
    field_cols = np.flatnonzero(work.field.any(axis=0))
    centre = 0.5 * (field_cols[0] + field_cols[-1])
    offset_mm = (float(np.mean(cols)) - centre) * spacing_c
    margin_mm = min(float(np.min(cols)) - field_cols[0], field_cols[-1] - float(np.max(cols)))
    margin_mm = margin_mm * spacing_c - half_width_mm
    if abs(offset_mm) > OFF_CENTRE_MM or margin_mm < MIN_SOFT_TISSUE_MARGIN_MM:
        flags.append(
            QcFlag(
                "spine_off_centre",
                f"spine axis {offset_mm:+.0f} mm from the field "
                f"centre, {margin_mm:.0f} mm of soft tissue beside the box",
                evidence={
                    "offset_mm": round(offset_mm, 1),
                    "soft_tissue_margin_mm": round(margin_mm, 1),
                },
            )
        )
    slope = np.polyfit(rows * spacing_r, cols * spacing_c, 1)[0]
    tilt = math.degrees(math.atan(slope))
    if abs(tilt) > TILT_DEG:
        flags.append(
            QcFlag(
                "spine_tilted",
                f"spine axis tilted {tilt:+.1f} deg from vertical",
                evidence={"tilt_deg": round(tilt, 1)},
            )
        )
    weak = axis.response[rows] < AXIS_MIN_RESPONSE
    run = _longest_run(weak) * spacing_r
    if run > AXIS_LOST_MM:
        flags.append(
            QcFlag(
                "axis_lost",
                f"no vertebral body along {run:.0f} mm of the spine "
                "axis; the axis there is interpolated",
                evidence={"run_mm": run},
            )
        )
    return flags


def _longest_run(mask: np.ndarray) -> int:
    best = cur = 0
    for v in mask:
        cur = cur + 1 if v else 0
        best = max(best, cur)
    return best
