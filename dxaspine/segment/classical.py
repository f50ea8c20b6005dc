"""The default classical segmenter: bone mask -> axis -> box -> discs -> labels.

``segment_spine(density_map, scan) -> Segmentation`` is a segmenter in the docs/architecture.md sense
(any callable ``(DensityMap, Scan) -> Segmentation``).  Coordinates in the result are those of
the loaded (head-up) image.  Its ``qc_flags`` are about the labelling (cues that disagree,
clipped ribs, transitional anatomy); the image evidence (lesions, metal, rotation, positioning)
is the evidence stage's (:mod:`dxaspine.evidence`), computed from the result like any
segmenter's.
"""

from __future__ import annotations

import logging

import numpy as np

from dxaspine.errors import SegmentationError, describe
from dxaspine.io.scan import Scan
from dxaspine.levels import LUMBAR, disc_name
from dxaspine.physics.density_map import DensityMap
from dxaspine.segment import box as box_mod
from dxaspine.segment.axis import rescale_axis, track_axis
from dxaspine.segment.bone_mask import bone_mask, bone_threshold, make_work_image, refine_contrast
from dxaspine.segment.conventions import (
    DEFAULT_BOX,
    DEFAULT_EDGE,
    DEFAULT_EDGE_NOISE,
    BoxConvention,
    EdgeConvention,
    EdgeNoise,
    spine_core_density,
)
from dxaspine.segment.dense import dense_pixels
from dxaspine.segment.discs import find_discs
from dxaspine.segment.edge_noise import soft_tissue_noise
from dxaspine.segment.kernels import rasterize_levels
from dxaspine.segment.labelling import assign_labels
from dxaspine.segment.landmarks import (
    LUMBAR_RIB_FAR_MM,
    find_crest,
    find_ribs,
    lateral_band_fall,
    lateral_bone,
    lateral_zones,
    lumbar_rib_suspected,
    top_level_band_fall,
    top_level_rib_sides,
)
from dxaspine.segment.level_heights import CONF_HEIGHT_INCONSISTENT, height_flags
from dxaspine.segment.segmentation import IntervertebralLine, QcFlag, Segmentation
from dxaspine.segment.small_stats import median

# Below this ratio of the bone edge's contrast to the per-pixel noise of the soft tissue the
# mask grows with noise even with the noise-aware edge, and the scan is flagged
# (``edge_noise_limited``).  Measured (docs/segmentation.md §8): on the drawn phantom (fat
# marrow, seeds 1-2, 12-35 cm) ratios 0.23-0.52 (Hologic-like and iDXA at 30-35 cm) read
# L1-L4 BMD -2.7 to -13.6 %, Prodigy at 35 cm (0.83-0.85) -2.0 to -3.2 %, ratios >= 1.0
# -2.3 to +0.7 %; on the CT family (dual-energy, seeds 0, 3, 4) the iDXA geometry reads
# 0.48-0.96 at BMD -2.6 to -0.4 %.  The two families disagree at a given ratio (the drawn
# bodies' sharp edges lose more to the noise ring), so the limit is set where both agree the
# bias is large: 0.6 flags the drawn 30-35 cm Hologic-like and iDXA scans and 3 of 36 CT
# inputs, and misses the drawn Prodigy at 35 cm.
EDGE_NOISE_LIMIT = 0.6

logger = logging.getLogger(__name__)

# Fewer rows than this (mm) of the field cannot hold two lumbar levels (2 x ~37 mm period).
MIN_FIELD_HEIGHT_MM = 60.0
# The body filter must find a bright band this strong (body-contrast units) on a third of the
# rows, or there is no spine in the image.
MIN_SPINE_RESPONSE = 0.25


def segment_spine(
    density_map: DensityMap,
    scan: Scan,
    *,
    edge: EdgeConvention = DEFAULT_EDGE,
    box: BoxConvention = DEFAULT_BOX,
    edge_noise: EdgeNoise = DEFAULT_EDGE_NOISE,
) -> Segmentation:
    """Segment and label the lumbar spine (T12-L5) of one scan.

    Parameters
    ----------
    density_map : DensityMap
        g/cm2 or relative density, head-up (the decomposition's output).
    scan : Scan
        The loaded scan (used for its path in messages).
    edge, box : EdgeConvention, BoxConvention
        The bone-edge and analysis-box conventions (:mod:`dxaspine.segment.conventions`),
        recorded in ``Segmentation.conventions``.
    edge_noise : EdgeNoise
        How the edge is estimated under noise (:mod:`dxaspine.segment.edge_noise`), recorded
        with what it did on this scan as ``conventions["edge_noise"]``.

    Returns
    -------
    Segmentation
        Bone mask, axis, analysis box, intervertebral lines (top to bottom), labels with a
        confidence each, the label image and QC flags.

    Raises
    ------
    SegmentationError
        No spine found, or fewer than 2 lumbar levels visible.
    """
    source = getattr(scan, "path", None)
    values = np.asarray(density_map.values)
    if values.ndim != 2 or min(values.shape) < 8:
        raise SegmentationError(
            describe(
                source,
                f"density map of shape {values.shape} is too small to hold a spine",
                "analyse a lumbar spine scan",
            )
        )
    height_mm = values.shape[0] * density_map.pixel_spacing_mm[0]
    if height_mm < MIN_FIELD_HEIGHT_MM:
        raise SegmentationError(
            describe(
                source,
                f"scan field is only {height_mm:.0f} mm high",
                "scan at least L1-L4 (about 150 mm)",
            )
        )
    work = make_work_image(density_map)
    if work.field.sum() < 16:
        raise SegmentationError(
            describe(source, "no measured pixels in the scan field", "check the input file")
        )
    axis = track_axis(work)
    # re-scale so the body core (median of the central columns on body rows) reads 1
    core = axis.body_core[axis.body_rows]
    if core.size >= 5:
        # a pure rescaling: the path and the half-contrast edges do not move, only the
        # scores scale (the 5-body cap aside), so the axis is rescaled, not re-tracked
        factor = median(core)
        refined = refine_contrast(work, factor)
        if refined is not work:
            work, axis = refined, rescale_axis(axis, factor)
    strong = np.mean(axis.response > MIN_SPINE_RESPONSE)
    if strong < 1 / 3 or axis.body_rows.sum() < 5:
        raise SegmentationError(
            describe(
                source,
                "no spine found: no vertebral-body column in the image",
                "check that this is a PA lumbar spine scan",
            )
        )
    half_width = box_mod.preliminary_half_width_mm(axis)
    metal, _ = dense_pixels(work, density_map)  # discs are not read through metal
    discs = find_discs(work, axis, half_width, exclude=metal)
    if len(discs) < 3:
        raise SegmentationError(
            describe(
                source,
                f"only {len(discs)} intervertebral disc(s) found, fewer than 2 levels",
                "rescan with L1-L4 and the iliac crests in the field",
            )
        )
    disc_rows = np.array([d.row for d in discs])
    period_rows = median(np.diff(disc_rows))
    # the crest and the ribs are searched in the same lateral zones: straightened once
    zones = lateral_zones(work, axis, half_width)
    crest_row, crest_sides = find_crest(
        work, axis, half_width, below_row=median(disc_rows), zones=zones
    )
    rib_rows, rib_sides, rib_clipped, clipped_rows = find_ribs(
        work, axis, half_width, above_row=_rib_search_limit(crest_row, disc_rows), zones=zones
    )
    if not rib_rows and not rib_clipped:
        # thin oblique real ribs: the band beside the vertebra cut by the field top
        rib_rows, rib_sides = _top_level_rib(work, axis, discs, period_rows)
    lowest_rib = rib_rows[-1] if rib_rows else None
    # side bone from the body edge (labels, the area cue) and beyond the process roots (the
    # lumbar-rib bar), in one pass
    _, (lateral_area, far_area), process_length = lateral_bone(
        work, axis, discs, area_from_mm=(0.0, LUMBAR_RIB_FAR_MM)
    )
    labelling = assign_labels(
        disc_rows, period_rows, crest_row, lowest_rib, process_length, clipped_rows,
        sex=_patient_sex(scan),
    )  # fmt: skip
    labels = labelling.labels
    confidence = list(labelling.confidence)
    flags: list[QcFlag] = list(labelling.flags)
    # clipped ribs whose vertebra could be inferred were used as the rib cue
    if rib_clipped and lowest_rib is None and not labelling.evidence["rib_attachment_inferred"]:
        flags.append(
            QcFlag(
                "ribs_clipped",
                "ribs reach the top of the field but their "
                "vertebra is not in view; T12 cannot be confirmed",
            )
        )
    for i, flag in height_flags(
        disc_rows * work.pixel_spacing_mm[0], _level_cores(axis, disc_rows), labels
    ):
        flags.append(flag)
        # a spurious line inside the spine shifts every count across it; at an end level
        # only that level is in doubt
        doubtful = [i] if i in (0, len(labels) - 1) else range(len(labels))
        for j in doubtful:
            confidence[j] = min(confidence[j], CONF_HEIGHT_INCONSISTENT)
    stub = lumbar_rib_suspected(
        labels, lateral_area, lateral_band_fall(work, axis, discs), far_area
    )
    if stub is not None:
        flags.append(stub)
        confidence = [min(c, 0.45) for c in confidence]

    # final box from the convention's level width (L4 by default), else the preliminary
    if box.width_level in labels:
        i = labels.index(box.width_level)
        width = box_mod.level_body_width_mm(axis, disc_rows[i], disc_rows[i + 1])
        if np.isfinite(width):
            half_width = box.half_width_mm(width)
    lumbar = [name for name in labels if name in LUMBAR]
    if len(lumbar) < 2:
        raise SegmentationError(
            describe(
                source,
                f"only {len(lumbar)} lumbar level(s) visible",
                "rescan with L1-L4 in the field",
            )
        )

    lines = _full_resolution_lines(work, discs, half_width, density_map.pixel_spacing_mm[1], labels)
    shape = values.shape
    row_lo = min(min(line.left[1], line.right[1]) for line in lines[:1])
    row_hi = max(max(line.left[1], line.right[1]) for line in lines[-1:])
    axis_col, lo, hi = box_mod.box_bounds(
        work, axis, half_width, shape, density_map.pixel_spacing_mm[1], (row_lo, row_hi)
    )
    box_pixels = box_mod.box_mask(shape, lo, hi)
    label_image = rasterize_levels(
        shape,
        lo,
        hi,
        np.array([ln.midpoint[0] for ln in lines]),
        np.array([ln.midpoint[1] for ln in lines]),
        np.array([(ln.right[1] - ln.left[1]) / (ln.right[0] - ln.left[0]) for ln in lines]),
    )
    core = spine_core_density(
        values, axis_col, _core_span(lines, labels), density_map.pixel_spacing_mm[1],
        density_map.field_mask,
    )  # fmt: skip
    contrast, soft_level = bone_threshold(density_map, work, edge, core)
    noise_sigma = soft_tissue_noise(
        values, density_map.field_mask, lo, hi, density_map.pixel_spacing_mm[1]
    )
    if np.isfinite(noise_sigma) and noise_sigma > 0 and contrast < EDGE_NOISE_LIMIT * noise_sigma:
        ratio = contrast / noise_sigma
        flags.append(
            QcFlag(
                "edge_noise_limited",
                f"the bone edge is {ratio:.2f} noise sigmas above soft tissue per pixel (below "
                f"{EDGE_NOISE_LIMIT}): the area may read high and the BMD low (a thick patient "
                "or a low dose)",
                evidence={"edge_to_noise": round(float(ratio), 3)},
            )
        )
    if edge_noise.rule == "none":
        noise_sigma = float("nan")
    mask = bone_mask(density_map, contrast, soft_level, lo, hi, edge_noise, noise_sigma)
    edge_noise_used = edge_noise.describe(noise_sigma, contrast)
    logger.debug(
        "bone edge %.4g, soft-tissue noise %.4g per pixel: edge %s",
        contrast, noise_sigma, edge_noise_used,
    )  # fmt: skip

    logger.debug("segmented %d levels: %s", len(labels), labels)
    return Segmentation(
        bone_mask=mask,
        axis_rows=np.arange(shape[0], dtype=float),
        axis_columns=axis_col,
        box_mask=box_pixels,
        lines=tuple(lines),
        labels=tuple(labels),
        label_confidence=tuple(float(c) for c in confidence),
        label_image=label_image,
        qc_flags=tuple(flags),
        conventions={
            "edge": str(edge),
            "edge_noise": edge_noise_used,
            "box": str(box),
            "segmenter": "dxaspine classical",
        },
    )


def _level_cores(axis, disc_rows: np.ndarray) -> np.ndarray:
    """Median body-core density over the middle half of each level (work units; NaN if none)."""
    out = np.full(max(0, disc_rows.size - 1), np.nan)
    for i in range(out.size):
        a, b = disc_rows[i], disc_rows[i + 1]
        r = np.arange(int(np.ceil(a + 0.25 * (b - a))), int(np.floor(b - 0.25 * (b - a))) + 1)
        r = r[(r >= 0) & (r < axis.body_core.size)]
        core = axis.body_core[r] if r.size else np.array([])
        core = core[np.isfinite(core)]
        if core.size:
            out[i] = median(core)
    return out


def _core_span(lines, labels) -> tuple[float, float]:
    """Rows from the upper line of L1 to the lower line of L4 (all levels when either is absent)."""
    top = labels.index("L1") if "L1" in labels else 0
    bottom = labels.index("L4") + 1 if "L4" in labels else len(lines) - 1
    return lines[top].midpoint[1], lines[min(bottom, len(lines) - 1)].midpoint[1]


def _top_level_rib(work, axis, discs, period_rows: float) -> tuple[tuple[float, ...], int]:
    """A rib beside the vertebra above the first disc, from its band's lateral fall.

    ``((row,), sides)`` with a row inside that vertebra (half-way between the field top and the
    first disc) when the band's half-height lower edge falls like a rib on at least one side:
    RIB_FALL_MIN (the lumbar-rib shape cue's threshold) by RIB_FALL_Z standard errors
    (landmarks.top_level_band_fall, landmarks.top_level_rib_sides); ``((), 0)`` otherwise.
    """
    fall, fall_se, top = top_level_band_fall(work, axis, discs, period_rows)
    if fall is None:
        return (), 0
    sides = top_level_rib_sides(fall, fall_se)
    if sides == 0:
        return (), 0
    return (0.5 * (top + discs[0].row),), sides


def _rib_search_limit(crest_row: float | None, disc_rows: np.ndarray) -> float:
    """Ribs are searched above the middle of the lumbar spine (never among the iliac wings)."""
    mid = median(disc_rows)
    return mid if crest_row is None else min(mid, crest_row)


def _full_resolution_lines(work, discs, half_width_mm, col_spacing_mm, labels):
    factor_r, factor_c = work.factors
    hw_px = half_width_mm / col_spacing_mm
    names = [""] * len(discs)
    for i in range(len(discs)):
        upper = labels[i - 1] if 0 < i <= len(labels) else None
        lower = labels[i] if i < len(labels) else None
        names[i] = disc_name(upper, lower)
    lines = []
    for disc, name in zip(discs, names, strict=True):
        row = float(work.to_full_rows(disc.row))
        col = float(work.to_full_cols(disc.column))
        slope = disc.slope * factor_r / factor_c
        lines.append(
            IntervertebralLine(
                (col - hw_px, row - slope * hw_px), (col + hw_px, row + slope * hw_px), name
            )
        )
    return lines


def _patient_sex(scan) -> str | None:
    """The patient's sex from the scan header ("M"/"F"), None when unknown."""
    sex = getattr(getattr(scan, "patient", None), "sex", None)
    return sex if sex in ("M", "F") else None
