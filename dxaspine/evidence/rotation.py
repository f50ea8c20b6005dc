"""Axial (patient) rotation from the spinous-process offset, per level, on a PA image.

In a PA projection an axial rotation ``theta`` leaves the projected vertebral body centred
between its lateral margins (the body is nearly an elliptic cylinder about its own centre) but
moves the posterior elements sideways by ``d * sin(theta)``, ``d`` being their depth behind
the body centre.  This is the Nash-Moe idea (pedicle position against the body edges) applied
to the structure with the longest lever, the spinous process.

Per level, the rows over the lower half of the body (where the spinous process overlies it,
between the laminae and the disc below) are resampled about the spine axis and averaged into
one lateral profile.  The body margins are its half-contrast crossings; the spinous process
is the narrow midline peak of the high-passed profile.  Its offset from the margin midpoint,
in mm, gives ``theta = asin(offset / d)``.  Only positions are used, never absolute values,
so the estimate holds for g/cm2 maps and display exports alike.

Depth ``d`` (body centre to the spinous process's projected mass): half the AP body depth
plus the posterior distance of the spinous process.  docs/domain.md §4 gives the AP depth as
30-35 mm for a transverse width of 40-50 mm, i.e. about 0.72 x width; the spinous process
mass centre sits 38 mm behind the posterior body wall in the phantom anatomy
(phantom/skeleton.py, a modelling choice, *unverified* against a population), so
``d = 0.36 x width + 38 mm``, about 54 mm at a 45 mm body.

Sign convention: positive degrees move the spinous processes towards the patient's left
(the image right of the loaded, head-up image), the phantom's ``rotation_deg`` convention.
The levels L1-L4 present are combined by their median.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxaspine.evidence._kernels import level_profile_kernel
from dxaspine.segment.segmentation import IntervertebralLine, QcFlag
from dxaspine.segment.small_stats import median, percentile

# Body centre to spinous-process depth, d = DEPTH_PER_WIDTH x width + SPINOUS_BEHIND_BODY_MM
# (module docstring): half of the 0.72 AP-depth/width ratio of docs/domain.md §4.
DEPTH_PER_WIDTH = 0.36
SPINOUS_BEHIND_BODY_MM = 38.0
# Rows used per level, as fractions of the disc-to-disc span at the axis: the spinous process
# overlies the lower body (its centre about 0.8 of the span down, its top at mid-body) and the
# body margins are still measurable there (the lower endplate is at ~0.86).
SPAN_FRACTIONS = (0.58, 0.84)
# Half-width of the resampled profile, mm: beyond a 50 mm body (docs/domain.md §4) with margin.
PROFILE_HALF_WIDTH_MM = 45.0
PROFILE_STEP_MM = 0.25
# High-pass: subtract a Gaussian-smoothed profile.  The spinous process is ~8 mm wide in
# projection, the body ~45 mm; 5 mm separates the two.
HIGH_PASS_SIGMA_MM = 5.0
# The spinous process is searched within this distance of the body centre: 8 deg at 54 mm is
# 7.5 mm; the articular processes (+-9 mm at 0.19 x width) lie just beyond.
SEARCH_HALF_WIDTH_MM = 8.5
# Centroid window around the peak: the process's half-width (0.085 x width ~ 4 mm).
CENTROID_HALF_WIDTH_MM = 3.5
# Body margins: where the profile falls to this fraction of the body contrast.  An elliptic
# chord profile is still at 25 % at 0.97 of the half-width, so this is the body's outer edge;
# the half-contrast level would sit on the flanks (0.87), where the pedicles and laminae, which
# move with rotation, overlap the body and bias the centre towards them.
EDGE_LEVEL = 0.25
# Body contrast: median over the central +-12 mm, wider than the ~8 mm spinous process.
CORE_HALF_WIDTH_MM = 12.0
# Accepted body widths, mm (docs/domain.md §4 40-50 mm, with margins for body size).
BODY_WIDTH_RANGE_MM = (25.0, 75.0)
MEASURED_LEVELS = ("L1", "L2", "L3", "L4")
# Flag tolerance, deg (a modelling choice, *unverified*: docs/domain.md and the vendor manuals give
# no number).  Against phantom truth the estimate's error is ~0.1-0.2 deg RMS, at most
# ~0.5 deg (tests/test_segment_rotation.py), and the phantom's natural level-to-level scatter
# is 0.8 deg per vertebra (0.4 deg on a median of four), so 3 deg is far above "unrotated"
# yet 2 deg below the +-5 deg of the phantom "hard" suite, which must be flagged.
ROTATION_TOLERANCE_DEG = 3.0
# A median of one level is a single measurement: the flag needs at least two.
MIN_LEVELS_FOR_FLAG = 2


@dataclass(frozen=True)
class RotationEstimate:
    """Axial rotation of the lumbar spine from the spinous-process offsets.

    ``rotation_deg`` is the median over the measured levels (NaN if none); positive moves
    the spinous processes to the patient's left.  The per-level dicts hold only the levels
    that could be measured.
    """

    rotation_deg: float
    per_level_deg: dict[str, float]
    per_level_offset_mm: dict[str, float]
    per_level_offset_ratio: dict[str, float]  # offset / body width
    per_level_width_mm: dict[str, float]

    @property
    def n_levels(self) -> int:
        return len(self.per_level_deg)


def estimate_rotation(
    values: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    axis_columns: np.ndarray,
    lines: Sequence[IntervertebralLine],
    labels: Sequence[str],
) -> RotationEstimate:
    """Estimate axial rotation from the spinous-process offset on L1-L4.

    Parameters
    ----------
    values : ndarray
        The head-up density map (g/cm2 or relative; NaN outside the field allowed).
    pixel_spacing_mm : (float, float)
        Row and column spacing of ``values``.
    axis_columns : ndarray
        Column of the spine axis for every row of ``values``.
    lines : sequence of IntervertebralLine
        Intervertebral lines top to bottom; level ``i`` lies between lines ``i`` and ``i+1``.
    labels : sequence of str
        Level names, ``labels[i]`` for level ``i``.

    Returns
    -------
    RotationEstimate
        Median rotation in degrees (positive: spinous processes to the patient's left) and
        the per-level offsets in mm.
    """
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all():  # a density map is usually finite: no copy then
        values = np.nan_to_num(values, nan=0.0)
    axis_columns = np.asarray(axis_columns, dtype=float)
    spacing_r, spacing_c = (float(s) for s in pixel_spacing_mm)
    degs: dict[str, float] = {}
    offsets: dict[str, float] = {}
    ratios: dict[str, float] = {}
    widths: dict[str, float] = {}
    for i, name in enumerate(labels):
        if name not in MEASURED_LEVELS or i + 1 >= len(lines):
            continue
        profile = _level_profile(values, spacing_c, axis_columns, lines[i], lines[i + 1])
        if profile is None:
            continue
        measured = _spinous_offset(profile)
        if measured is None:
            continue
        offset_mm, width_mm = measured
        depth_mm = DEPTH_PER_WIDTH * width_mm + SPINOUS_BEHIND_BODY_MM
        degs[name] = math.degrees(math.asin(max(-1.0, min(1.0, offset_mm / depth_mm))))
        offsets[name] = offset_mm
        ratios[name] = offset_mm / width_mm
        widths[name] = width_mm
    rotation = median(list(degs.values())) if degs else float("nan")
    return RotationEstimate(rotation, degs, offsets, ratios, widths)


def rotation_flag(estimate: RotationEstimate) -> QcFlag | None:
    """``spine_rotated`` if the median rotation exceeds the tolerance on >= 2 levels.

    The flag reports vertebral rotation as the image shows it: patient (positioning)
    rotation, or the structural rotation that comes with a scoliotic curve.  Either changes
    the projected body and its BMD, so both deserve a look.
    """
    rotation = estimate.rotation_deg
    if estimate.n_levels < MIN_LEVELS_FOR_FLAG or not abs(rotation) > ROTATION_TOLERANCE_DEG:
        return None
    side = "left" if rotation > 0 else "right"
    return QcFlag(
        "spine_rotated",
        f"spine rotated {rotation:+.1f} deg about its long axis (spinous processes towards "
        f"the patient's {side}, median of {estimate.n_levels} levels); reposition unless "
        "the rotation is structural (scoliosis)",
        None,
        evidence={
            "rotation_deg": round(rotation, 1),
            "tolerance_deg": ROTATION_TOLERANCE_DEG,
            "per_level_deg": {k: round(v, 1) for k, v in estimate.per_level_deg.items()},
            "per_level_offset_mm": {
                k: round(v, 1) for k, v in estimate.per_level_offset_mm.items()
            },
            "per_level_offset_ratio": {
                k: round(v, 3) for k, v in estimate.per_level_offset_ratio.items()
            },
        },
    )


def _level_profile(values, spacing_c, axis_columns, upper, lower) -> np.ndarray | None:
    """Mean lateral profile (mm grid about the axis) over the level's spinous-process rows."""
    rows_n, cols_n = values.shape
    mid_row = 0.5 * (upper.midpoint[1] + lower.midpoint[1])
    col = float(axis_columns[int(np.clip(round(mid_row), 0, rows_n - 1))])
    top, bottom = float(upper.row_at(col)), float(lower.row_at(col))
    if not bottom > top:
        return None
    r0 = int(np.ceil(top + SPAN_FRACTIONS[0] * (bottom - top)))
    r1 = int(np.floor(top + SPAN_FRACTIONS[1] * (bottom - top)))
    r0, r1 = max(r0, 0), min(r1, rows_n - 1)
    if r1 - r0 < 1:
        return None
    s_mm = np.arange(-PROFILE_HALF_WIDTH_MM, PROFILE_HALF_WIDTH_MM + 1e-9, PROFILE_STEP_MM)
    offsets = s_mm / spacing_c
    rows = np.arange(r0, r1 + 1)
    cols = axis_columns[rows][:, None] + offsets[None, :]
    if not np.all(np.isfinite(cols)) or cols.min() < 0 or cols.max() > cols_n - 1:
        return None
    # bilinear samples on whole rows, averaged over the rows: one numba pass with the numbers
    # of map_coordinates(order=1) and mean(axis=0) (_numpy_reference.level_profile_reference)
    profile = np.empty(offsets.size)
    level_profile_kernel(
        np.ascontiguousarray(values, dtype=np.float64),
        np.ascontiguousarray(axis_columns, dtype=np.float64),
        int(r0), int(r1), offsets, profile,
    )  # fmt: skip
    return profile


def _spinous_offset(profile: np.ndarray) -> tuple[float, float] | None:
    """(spinous offset from the body-margin midpoint, body width), both mm, or None."""
    n = profile.size
    s_mm = (np.arange(n) - (n - 1) / 2) * PROFILE_STEP_MM
    core_half = int(round(CORE_HALF_WIDTH_MM / PROFILE_STEP_MM))
    centre_i = (n - 1) // 2
    core = median(profile[centre_i - core_half : centre_i + core_half + 1])
    base = percentile(profile, 5)
    if not core > base:
        return None
    half = base + EDGE_LEVEL * (core - base)
    below = profile < half
    left_part = below[:centre_i][::-1]
    right_part = below[centre_i + 1 :]
    if not left_part.any() or not right_part.any():
        return None
    k_l, k_r = int(np.argmax(left_part)), int(np.argmax(right_part))
    i_out_l, i_out_r = centre_i - 1 - k_l, centre_i + 1 + k_r
    left = _crossing(profile, i_out_l + 1, i_out_l, half)
    right = _crossing(profile, i_out_r - 1, i_out_r, half)
    width_mm = (right - left) * PROFILE_STEP_MM
    if not BODY_WIDTH_RANGE_MM[0] <= width_mm <= BODY_WIDTH_RANGE_MM[1]:
        return None
    centre_mm = 0.5 * (left + right) * PROFILE_STEP_MM - PROFILE_HALF_WIDTH_MM
    residual = profile - ndimage.gaussian_filter1d(
        profile, HIGH_PASS_SIGMA_MM / PROFILE_STEP_MM, mode="nearest"
    )
    window = np.abs(s_mm - centre_mm) <= SEARCH_HALF_WIDTH_MM
    if not window.any():
        return None
    peak = int(np.flatnonzero(window)[np.argmax(residual[window])])
    near = np.abs(s_mm - s_mm[peak]) <= CENTROID_HALF_WIDTH_MM
    weight = np.clip(residual[near], 0.0, None)
    if weight.sum() <= 0:
        return None
    spinous_mm = float(np.sum(weight * s_mm[near]) / weight.sum())
    return spinous_mm - centre_mm, width_mm


def _crossing(profile: np.ndarray, i_in: int, i_out: int, level: float) -> float:
    """Sub-sample index where the profile crosses ``level`` between two samples."""
    v_in, v_out = profile[i_in], profile[i_out]
    frac = 0.0 if v_in == v_out else float(np.clip((v_in - level) / (v_in - v_out), 0.0, 1.0))
    return i_in + (i_out - i_in) * frac
