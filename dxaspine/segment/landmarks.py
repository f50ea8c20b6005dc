"""Anatomical landmarks for labelling: iliac crests, the lowest ribs, transverse processes.

All work on the ~1 mm work image, relative to the spine axis and the analysis half-width
(docs/domain.md §4: the iliac crests lie at the L4/L5 disc; the lowest rib-bearing vertebra is
T12; L3 has the longest transverse processes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxaspine.segment.axis import SpineAxis
from dxaspine.segment.bone_mask import WorkImage
from dxaspine.segment.kernels import band_half_edge, band_trace, side_bone
from dxaspine.segment.segmentation import QcFlag
from dxaspine.segment.small_stats import median, percentile

# Bone in the work image (body-contrast units).  Ribs, processes and the ilium are thinner
# than a vertebral body (~0.3-0.6 of its contrast); 0.15 keeps them and rejects soft tissue.
LANDMARK_BONE = 0.15
# Lateral zone searched for ribs and iliac wings: from this far beyond the box edge (mm;
# transverse processes end within ~15 mm of the box edge) out to ZONE_OUTER_MM beyond it.
ZONE_INNER_MM = 15.0
ZONE_OUTER_MM = 75.0
# A rib runs laterally for at least this far inside the zone (mm); processes stop earlier.
RIB_MIN_LENGTH_MM = 15.0
# Share of the zone's columns the crest spans (the crest runs ~40-130 mm from the midline,
# across most of the 60 mm zone; a transverse process ends within ~15 mm of the zone).
ILIUM_MIN_COLUMNS = 0.5
# Lateral bone is scanned this far beyond the body edge (mm; the longest processes, L3's,
# end ~27 mm beyond it, docs/domain.md §4) and its area counted over LATERAL_AREA_MM.
LATERAL_REACH_MAX_MM = 45.0
LATERAL_AREA_MM = 30.0
# Process length (the transverse-process cue, labelling.assign_labels): per side, the bone run
# beyond the body edge ends at the first gap of more than PROCESS_GAP_MM without bone in the
# level's rows (a thin real process tip at the bone threshold breaks up under pixel noise:
# on the CT family's development seed 1 ct_010 its L3 reads 11 mm on the dual-energy input
# with no gap allowed, 21 mm with 3 mm, and 18 mm either way on the noise-free BMD map), and a
# side whose run does not end inside LATERAL_REACH_MAX_MM (merged with a wider bone: the iliac
# wing beside L4, a rib) is not read.  Measured on both families: docs/segmentation.md §2.
PROCESS_GAP_MM = 3.0
# A rib clipped by the top of the field: its attachment is extrapolated medially from the
# first CLIPPED_FIT_MM of columns where the band is wholly in the field (the medial, least
# curved part).  Ribs run inferolaterally; a fitted fall outside this range (mm per mm) is a
# merged or mis-segmented band and is not used.
CLIPPED_FIT_MM = 15.0
CLIPPED_SLOPE_RANGE = (0.3, 2.0)
# L1's lateral bone (per mm of height, smaller side) at least this multiple of L2's suggests
# a rib stub on L1.  Phantom calibration on the real load->decompose path: standard suite
# 0.56-1.06 (L1 processes are shorter), stubs 1.12-1.64; 1.09 sits between.  A false alarm
# only lowers the labels' confidence.
LUMBAR_RIB_AREA_RATIO = 1.09
# ... and the bone must reach out like a bar: a rib stub adds bone beyond the process root,
# so the area cue also needs at least LUMBAR_RIB_FAR_MIN mm2 per mm of height of bone from
# LUMBAR_RIB_FAR_MM beyond the body edge out to LATERAL_AREA_MM (smaller side, like the area).
# Within 8 mm lie the pedicles and process roots every vertebra has: on the CT family the
# whole excess of its normal L1 over L2 lies there (docs/segmentation.md §7).  Measured on
# both families (docs/segmentation.md §2): drawn rib stubs on L1 2.49-5.17 (transitional
# seeds 0-3, 60 inputs), the CT's normal L1 0.00-1.59 (development seeds 0-2, 107 inputs, 65
# of them over the area ratio); 2.0 lies between (about their geometric mean).  Drawn normal
# L1s (standard, no-T12-rib groups) read 0.7-2.7 here but never pass the ratio (0.56-1.06).
LUMBAR_RIB_FAR_MM = 8.0
LUMBAR_RIB_FAR_MIN = 2.0
# Shape cue for a rib on L1: a transverse process is a short horizontal bar; a rib leaves the
# vertebra (body/transverse process) and runs inferolaterally, so the lower edge of the bone
# beside the body falls with lateral distance.  The band is traced from BAND_START_MM beyond
# the body edge (clear of the body's endplate corners) out to BAND_END_MM (past the longest
# L1 process, docs/domain.md §4, and the medial part of a rib stub, well short of the T12 ribs'
# course through L1's rows) and must span BAND_MIN_LENGTH_MM.
BAND_START_MM = 4.0
BAND_END_MM = 22.0
BAND_MIN_LENGTH_MM = 10.0
# Fall of that lower edge (mm per mm lateral, relative to the level's disc lines) above which
# the band is rib-like (~8.5 deg below the discs).  Phantom calibration on the real
# load->decompose path (L1, per case the steeper side): standard suite seeds 0-2 at most
# -0.007 (a process tapers, so its lower edge rises), hard suite seeds 0-2 (rotation,
# scoliosis) at most 0.08, ribs on L1 0.10-0.43 (the few below 0.15 are stubs lying along
# the process, which the area ratio catches).  Real lumbar processes may tilt more than the
# phantom's: to be revalidated on real scans.
RIB_FALL_MIN = 0.15


@dataclass(frozen=True)
class Landmarks:
    crest_row: float | None  # work row of the iliac crests (mean of the sides found)
    crest_sides: int  # 0, 1 or 2 sides found
    lowest_rib_row: float | None  # work row where the lowest rib meets the box edge
    rib_sides: int
    rib_rows: tuple[float, ...]  # medial row of each rib found, sorted top to bottom
    transverse_reach_mm: np.ndarray  # per level: lateral reach of bone beyond the axis


def _zone_image(work: WorkImage, axis: SpineAxis, half_width_mm: float, side: int):
    """Straightened lateral zone (rows x lateral mm steps) on one side: bool bone."""
    rows, cols = work.values.shape
    step_mm = work.pixel_spacing_mm[1]
    u_mm = np.arange(half_width_mm + ZONE_INNER_MM, half_width_mm + ZONE_OUTER_MM, step_mm)
    c = axis.columns[:, None] + side * u_mm[None, :] / step_mm
    inside = (c >= 0) & (c <= cols - 1)
    ci = np.clip(np.round(c).astype(int), 0, cols - 1)
    index = (np.arange(rows)[:, None], ci)
    # only the zone's pixels are read (no whole-image copy): a pixel outside the field or NaN
    # is neither bone nor in the field; NaN compares False
    sampled = work.values[index]
    measured = work.field[index]
    in_field = inside & measured & (sampled > -1.0)
    return measured & (sampled > LANDMARK_BONE), in_field, u_mm


def lateral_zones(work: WorkImage, axis: SpineAxis, half_width_mm: float) -> tuple:
    """The straightened lateral zones of both sides (left, right), each ``(bone, in_field,
    u_mm)`` as :func:`find_crest` and :func:`find_ribs` read them: made once, passed to both
    (``zones=``), which only read them."""
    return tuple(_zone_image(work, axis, half_width_mm, side) for side in (-1, 1))


def find_crest(
    work: WorkImage,
    axis: SpineAxis,
    half_width_mm: float,
    below_row: float,
    zones: tuple | None = None,
) -> tuple[float | None, int]:
    """Row of the iliac crests: top of the broad band of bone crossing the lower lateral zones.

    The crest is a thick cortical rim running across most of the lateral zone below
    ``below_row`` (the middle of the lumbar spine); the wing below it can be too thin to
    threshold.  Per side, the connected bone component spanning the most zone columns is
    taken when it spans at least ILIUM_MIN_COLUMNS of them; its top row near the highest
    point is the crest.  Ribs lie above ``below_row``; transverse processes span few columns.
    ``zones``: :func:`lateral_zones` of the same arguments, when the caller has them.
    """
    found = []
    if zones is None:
        zones = lateral_zones(work, axis, half_width_mm)
    for bone, in_field, _ in zones:
        bone = bone.copy()
        bone[: int(max(0, below_row)), :] = False
        labels, n = ndimage.label(bone)
        if n == 0:
            continue
        n_cols = int(in_field.any(axis=0).sum())
        best, best_span = None, 0
        for k, sl in enumerate(ndimage.find_objects(labels), start=1):
            comp = labels[sl] == k
            span = int(comp.any(axis=0).sum())
            if span > best_span:
                best, best_span = (k, sl, comp), span
        if best is None or best_span < max(3, ILIUM_MIN_COLUMNS * n_cols):
            continue
        k, sl, comp = best
        present = comp.any(axis=0)
        tops = np.argmax(comp, axis=0)[present] + sl[0].start
        # the crest's highest stretch (the phantom's and anatomy's peak is lateral)
        found.append(percentile(tops, 10))
    if not found:
        return None, 0
    return float(np.mean(found)), len(found)


def find_ribs(
    work: WorkImage,
    axis: SpineAxis,
    half_width_mm: float,
    above_row: float,
    zones: tuple | None = None,
):
    """Rows where the ribs found above ``above_row`` meet the box edge (work rows).

    Returns ``(rows sorted top to bottom, number of sides with ribs, clipped, clipped_rows)``.
    A rib that runs into the top of the field is not in ``rows`` (its medial end is not in
    view) but sets ``clipped``; ``clipped_rows`` holds, per side with such a rib, the row where
    the lowest clipped rib's medial part, extrapolated along its own direction, meets the box
    edge (see :func:`clipped_rib_edge_row`).  Sides whose clipped ribs cannot be fitted add
    ``None``.  ``zones``: :func:`lateral_zones` of the same arguments, when the caller has them.
    """
    spacing_r, spacing_c = work.pixel_spacing_mm
    rib_rows: list[float] = []
    sides = 0
    clipped = False
    clipped_rows: list[float | None] = []
    if zones is None:
        zones = lateral_zones(work, axis, half_width_mm)
    for bone, in_field, u_mm in zones:
        bone = bone.copy()
        bone[int(max(0, above_row)) :, :] = False
        labels, n = ndimage.label(bone)
        if n == 0:
            continue
        first_field_row = np.argmax(in_field, axis=0)  # per column
        found_here = False
        clipped_here: list[float | None] = []
        for k, sl in enumerate(ndimage.find_objects(labels), start=1):
            comp = labels[sl] == k
            rr, cc = np.nonzero(comp)
            rr = rr + sl[0].start
            cc = cc + sl[1].start
            length_mm = (cc.max() - cc.min() + 1) * spacing_c
            height_mm = (rr.max() - rr.min() + 1) * spacing_r
            # a rib is a long band that starts at the zone's inner edge and falls laterally
            if length_mm < RIB_MIN_LENGTH_MM or cc.min() * spacing_c > 10.0:
                continue
            if height_mm > length_mm + 30.0:
                continue
            medial = cc <= cc.min() + max(2, int(10.0 / spacing_c))
            if np.any(rr[medial] <= first_field_row[cc[medial]] + 1):
                clipped = True  # its medial end leaves the field: vertebra not in view
                clipped_here.append(
                    clipped_rib_edge_row(rr, cc, first_field_row, u_mm, half_width_mm, spacing_r)
                )
                continue
            if np.ptp(cc[medial]) > 0:
                slope = np.polyfit(u_mm[cc[medial]], rr[medial], 1)[0]
                slope = float(np.clip(slope, 0.0, 1.0 / spacing_r))  # ribs fall laterally
                row_at_edge = float(
                    rr[medial].mean() - slope * (u_mm[cc[medial]].mean() - half_width_mm)
                )
            else:
                row_at_edge = float(rr[medial].mean())
            rib_rows.append(row_at_edge)
            found_here = True
        sides += int(found_here)
        if clipped_here:
            fitted = [r for r in clipped_here if r is not None]
            # the lowest clipped rib of the side; a side with an unfittable band says nothing
            clipped_rows.append(max(fitted) if len(fitted) == len(clipped_here) else None)
    rib_rows.sort()
    return tuple(rib_rows), sides, clipped, tuple(clipped_rows)


def clipped_rib_edge_row(rr, cc, first_field_row, u_mm, half_width_mm, spacing_r) -> float | None:
    """Row where a clipped rib's medial part, extrapolated medially, meets the box edge.

    ``rr``/``cc`` are the band's pixels in the straightened zone (row, lateral step); columns
    whose band touches the top of the field are cut and skipped.  The band's centre row is
    fitted against lateral distance over the first CLIPPED_FIT_MM of wholly visible columns
    (the medial part, where a rib is straightest) and followed back to ``half_width_mm``.
    None when fewer than 3 such columns exist or the fall is implausible for a rib.
    """
    cols = np.unique(cc)
    u_c, r_c = [], []
    for c in cols:
        r = rr[cc == c]
        if r.min() > first_field_row[c] + 1:
            u_c.append(u_mm[c])
            r_c.append(r.mean())
    if len(u_c) < 3:
        return None
    u_c, r_c = np.asarray(u_c), np.asarray(r_c)
    near = u_c <= u_c[0] + CLIPPED_FIT_MM
    if near.sum() < 3:
        return None
    slope, intercept = np.polyfit(u_c[near], r_c[near], 1)
    fall = slope * spacing_r  # mm of height per mm of lateral run
    if not CLIPPED_SLOPE_RANGE[0] <= fall <= CLIPPED_SLOPE_RANGE[1]:
        return None
    return float(intercept + slope * half_width_mm)


def lateral_bone(
    work: WorkImage, axis: SpineAxis, discs: list, area_from_mm: tuple[float, ...] = (0.0,)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per level: (lateral reach in mm, lateral bone area per mm of height, process length in
    mm) beside the body.

    Level ``i`` lies between ``discs[i]`` and ``discs[i + 1]`` (tilted lines with ``row``,
    ``column`` and ``slope`` on the work grid); at each column beyond the body's edge the
    level's rows follow the two lines, so a tilted (scoliotic) neighbour's rib stays with
    its own level.  Per side, the reach ends at the first column without bone in the level's
    rows, and an area counts bone pixels from one of ``area_from_mm`` out to LATERAL_AREA_MM
    beyond the edge.  The reach is averaged over both sides (axial rotation moves the
    processes towards one side and away from the other); the area takes the smaller side
    (one-sided overlaps: aorta, gas).  The process length (:func:`process_run_mm`) is the
    mean over the sides whose run ends (NaN when neither does).  Returns ``reach``
    (n_levels,), ``areas`` (len(area_from_mm), n_levels) and ``length`` (n_levels,), all
    from one pass over the levels' side bone.
    """
    spacing_c = work.pixel_spacing_mm[1]
    values = _bone_values(work)
    offsets = np.arange(0, int(LATERAL_REACH_MAX_MM / spacing_c))
    n_levels = max(0, len(discs) - 1)
    reach = np.full(n_levels, np.nan)
    length = np.full(n_levels, np.nan)
    areas = np.full((len(area_from_mm), n_levels), np.nan)
    gap = int(np.ceil(PROCESS_GAP_MM / spacing_c - 1e-9))
    counted = [
        (offsets * spacing_c >= start) & (offsets * spacing_c < LATERAL_AREA_MM)
        for start in area_from_mm
    ]
    for i, upper, lower, r_mid, edge_px, col0 in _level_spans(work, axis, discs):
        per_reach, per_area, per_length = [], [], []
        up = (upper.row, upper.slope, upper.column)
        low = (lower.row, lower.slope, lower.column)
        for side in (-1, 1):
            # per column beyond the edge, the bone pixels in the level's rows; the reach ends
            # at the first column without any, or at the field's edge (numba kernel)
            n, counts = side_bone(values, col0, side, edge_px, offsets, up, low, LANDMARK_BONE)
            per_reach.append((edge_px + n) * spacing_c)
            per_length.append(process_run_mm(counts, gap, spacing_c))
            # per mm of level height: a crushed (fractured) level keeps its processes
            per_area.append([int(counts[m].sum()) * spacing_c / max(r_mid.size, 1)
                             for m in counted])  # fmt: skip
        reach[i] = float(np.mean(per_reach))
        areas[:, i] = np.min(per_area, axis=0)
        ended = [v for v in per_length if np.isfinite(v)]
        if ended:
            length[i] = float(np.mean(ended))
    return reach, areas, length


def process_run_mm(counts: np.ndarray, gap: int, spacing_mm: float) -> float:
    """Length (mm beyond the body edge) of the bone run in ``counts`` (bone pixels per column,
    outward), ended by more than ``gap`` columns without bone; NaN when it does not end
    inside the columns scanned (merged with a wider bone)."""
    last, empty = -1, 0
    for k, count in enumerate(np.asarray(counts).tolist()):
        if count > 0:
            last, empty = k, 0
        else:
            empty += 1
            if empty > gap:
                return (last + 1) * spacing_mm
    return float("nan")


def _bone_values(work: WorkImage) -> np.ndarray:
    """Work values with everything outside the field (or NaN) at 0: never bone."""
    return work.zeroed


def _level_spans(work: WorkImage, axis: SpineAxis, discs: list):
    """Yield ``(i, upper, lower, rows, body_half_width_px, centre_column)`` per measured level.

    Level ``i`` lies between ``discs[i]`` and ``discs[i + 1]``; levels whose rows have no
    measured body width are skipped.
    """
    rows = work.values.shape[0]
    spacing_c = work.pixel_spacing_mm[1]
    for i in range(max(0, len(discs) - 1)):
        upper, lower = discs[i], discs[i + 1]
        r_mid = np.arange(int(np.ceil(upper.row)), int(np.floor(lower.row)) + 1)
        r_mid = r_mid[(r_mid >= 0) & (r_mid < rows)]
        edge_px = _body_half_width_px(axis, r_mid, spacing_c)
        if edge_px is not None:
            yield i, upper, lower, r_mid, edge_px, 0.5 * (upper.column + lower.column)


def _body_half_width_px(axis: SpineAxis, level_rows: np.ndarray, spacing_c: float) -> float | None:
    """Half the level's median body width in work columns; None without measured edges."""
    widths = axis.body_width_mm[level_rows] if level_rows.size else np.array([])
    widths = widths[np.isfinite(widths)]
    if widths.size == 0:
        return None
    return median(widths) / 2 / spacing_c


def lateral_band_fall(work: WorkImage, axis: SpineAxis, discs: list) -> np.ndarray:
    """Per level and side: fall of the lower edge of the bone band beside the body (mm/mm).

    Level ``i`` lies between ``discs[i]`` and ``discs[i + 1]`` as in :func:`lateral_bone`.
    Per side, the band is traced outwards column by column from BAND_START_MM beyond the
    body edge: the longest bone run in the level's rows starts it, then the lowest run
    touching the previous column's run continues it (where a rib forks off a transverse
    process, the trace follows the lower branch, the rib).  The trace stops at a column
    without such a run or at BAND_END_MM.  The band's lower edge, measured from the midline
    between the two disc lines (so a tilted vertebra reads level), is fitted against lateral
    distance; positive = falling laterally.  Returns an ``(n_levels, 2)`` array (sides
    left, right), NaN where the band spans less than BAND_MIN_LENGTH_MM.
    """
    spacing_r, spacing_c = work.pixel_spacing_mm
    fall = np.full((max(0, len(discs) - 1), 2), np.nan)
    for i, k, band in _band_traces(work, axis, discs):
        lateral_mm = band.offsets[band.index] * spacing_c
        fall[i, k] = float(np.polyfit(lateral_mm, band.edge_rows * spacing_r, 1)[0])
    return fall


@dataclass(frozen=True)
class _Band:
    """One band traced beside a level on one side (:func:`_band_traces`)."""

    values: np.ndarray  # the work values read (outside the field 0)
    cols: np.ndarray  # work column of each trace step
    offsets: np.ndarray  # columns beyond the body edge of each trace step
    index: np.ndarray  # trace steps traced
    edge_rows: np.ndarray  # the run's last row per step, rows below the level's midline
    upper: tuple[float, float, float]  # the level's lines as (row, slope, column)
    lower: tuple[float, float, float]


def _band_traces(work: WorkImage, axis: SpineAxis, discs: list):
    """Yield ``(level, side index, band)`` for every band traced over at least
    BAND_MIN_LENGTH_MM (and 3 columns) from BAND_START_MM beyond the body edge out to
    BAND_END_MM (:func:`lateral_band_fall`'s trace; sides 0 = left, 1 = right)."""
    spacing_c = work.pixel_spacing_mm[1]
    values = _bone_values(work)
    offsets = np.arange(int(round(BAND_START_MM / spacing_c)), int(BAND_END_MM / spacing_c) + 1)
    for i, upper, lower, _rows, edge_px, col0 in _level_spans(work, axis, discs):
        up = (upper.row, upper.slope, upper.column)
        low = (lower.row, lower.slope, lower.column)
        for k, side in enumerate((-1, 1)):
            cols_k = np.round(col0 + side * (edge_px + offsets)).astype(np.int64)
            index, edge_rows = band_trace(values, cols_k, up, low, LANDMARK_BONE)
            if index.size >= 3 and index.size * spacing_c >= BAND_MIN_LENGTH_MM:
                yield i, k, _Band(values, cols_k, offsets, index, edge_rows, up, low)


def lumbar_rib_suspected(labels, area_mm2_per_mm, band_fall=None, far_mm2_per_mm=None):
    """Flag L1 when bone beside it looks like a rib (transitional anatomy or mislabelled T12).

    Two cues, either suffices:

    - area: clearly more bone beside L1 than beside L2 (LUMBAR_RIB_AREA_RATIO).  Normal L1
      transverse processes are shorter than L2's (docs/domain.md §4: L3 longest, lengths growing
      from L1); a rib stub on L1 adds a second bar of bone beside the body.  With
      ``far_mm2_per_mm`` (:func:`lateral_bone` from LUMBAR_RIB_FAR_MM), that bar must also
      reach beyond the process roots (LUMBAR_RIB_FAR_MIN beside L1);
    - shape: on either side, the lower edge of the band beside L1 falls laterally like a rib
      (``band_fall`` from :func:`lateral_band_fall`, at least RIB_FALL_MIN); a transverse
      process is horizontal.  Catches stubs on a small L1 beside long L2 processes.
    """
    if "L1" not in labels or area_mm2_per_mm is None:
        return None
    i1 = labels.index("L1")
    evidence: dict = {}
    reasons = []
    a1 = area_mm2_per_mm[i1]
    if "L2" in labels:
        a2 = area_mm2_per_mm[labels.index("L2")]
        if np.isfinite(a1) and np.isfinite(a2) and a2 > 0:
            evidence["l1_lateral_mm2_per_mm"] = round(float(a1), 2)
            evidence["l2_lateral_mm2_per_mm"] = round(float(a2), 2)
            far = None if far_mm2_per_mm is None else float(far_mm2_per_mm[i1])
            if far is not None:
                evidence["l1_lateral_beyond_roots_mm2_per_mm"] = round(far, 2)
            reaches = far is None or (np.isfinite(far) and far >= LUMBAR_RIB_FAR_MIN)
            if a1 >= LUMBAR_RIB_AREA_RATIO * a2 and reaches:
                reasons.append(
                    f"bone beside L1 ({a1:.1f} mm2 per mm of height) exceeds that beside "
                    f"L2 ({a2:.1f})"
                )
    if band_fall is not None:
        falls = np.asarray(band_fall, dtype=float)[i1]
        if np.isfinite(falls).any():
            steepest = float(np.nanmax(falls))
            evidence["l1_band_fall_mm_per_mm"] = round(steepest, 3)
            if steepest >= RIB_FALL_MIN:
                reasons.append(
                    f"a band beside L1 falls laterally ({steepest:.2f} mm per mm) like a rib"
                )
    if not reasons:
        return None
    return QcFlag(
        "lumbar_rib_suspected",
        "; ".join(reasons) + ": possible rib on L1 (transitional anatomy); check the labels",
        level="L1",
        evidence=evidence,
    )


# The vertebra cut by the field top: its rib, if any, is seen beside it even when the
# connected-component search (find_ribs) finds nothing.  A real 12th rib is thin, oblique and
# faint in the lateral zone (on the shared CT at most 0.12-0.17 g/cm2 beyond ZONE_INNER_MM,
# where a ridge search scored it no higher than spurious ridges), but its medial part, beside
# its own vertebra, is denser (0.19-0.36 g/cm2 at its densest) and falls laterally.  The band
# is traced as for a rib on L1 (lateral_band_fall) on the partial top level, between the field
# top and the first disc, when that level shows at least TOP_LEVEL_MIN_PERIOD of a period:
# less is too little of the vertebra to hold its rib's medial part (the rib head sits on the
# upper half of its body, docs/domain.md §4; at half a period the band beside the body's lower
# half is in view).  Measured on both families: docs/segmentation.md §2.
TOP_LEVEL_MIN_PERIOD = 0.5
# Its lower edge is read at half height, not at the bone threshold (band_edge_fall).  The
# CT's 12th rib stands only 0.09-0.48 units above the soft tissue beside it
# (docs/segmentation.md §7), so the LANDMARK_BONE contour follows its fading contrast, not its
# edge, and pixel noise moves that contour: the thresholded fall read -0.04-0.26 on noisy
# dual-energy inputs against 0.03-0.25 noise-free, the half-height edge 0.16-0.39 against
# 0.17-0.37 (docs/segmentation.md §2).  Per traced column the profile is averaged over
# EDGE_AVERAGE_MM of trace columns on each side (3 columns on the ~1 mm grid: pixel noise
# / sqrt(3)); the band's peak is searched EDGE_PEAK_MM above the thresholded run's last row
# and its floor EDGE_FLOOR_MM below it (drawn ribs are tubes of 4-4.5 mm radius,
# phantom/skeleton.py, so the peak lies ~4 mm above the lower edge).
EDGE_AVERAGE_MM = 1.0
EDGE_PEAK_MM = 6.0
EDGE_FLOOR_MM = 6.0
# The fall must exceed RIB_FALL_MIN by RIB_FALL_Z standard errors of the fitted slope (its own
# residual scatter): a noisy fit of a rib-less band can read a steep slope (drawn hard group,
# L1 at the field top: 0.24 +- 0.11 mm/mm), a rib is read to +- 0.01-0.05 on the CT.  The
# standard error treats the edges as independent; neighbouring edges share 2 of their 3
# columns, so the true one is larger (up to sqrt(3)) and the test is a rule whose margins are
# measured, not a 97.7 % one-sided test: docs/segmentation.md §2.
RIB_FALL_Z = 2.0


def band_edge_fall(work: WorkImage, axis: SpineAxis, discs: list) -> tuple[np.ndarray, np.ndarray]:
    """Per level and side: fall of the band's half-height lower edge (mm/mm) and its standard
    error.

    The band is traced as in :func:`lateral_band_fall` (same columns, the same
    BAND_MIN_LENGTH_MM).  In each traced column the lower edge is read where the profile,
    averaged over EDGE_AVERAGE_MM of trace columns each side, falls half-way from the band's
    peak to the background under it (:func:`~dxaspine.segment.kernels.band_half_edge`), to a
    fraction of a row.  A straight line is fitted by least squares to the edges read (at
    least 3), against lateral distance.

    Parameters
    ----------
    work : WorkImage
        The work image.
    axis : SpineAxis
        The spine axis (body edges).
    discs : list
        Disc lines on the work grid; level ``i`` lies between ``discs[i]`` and ``discs[i+1]``.

    Returns
    -------
    fall_mm_per_mm : (n_levels, 2) ndarray
        Fitted fall per side (left, right); positive = falling laterally.  NaN where the band
        spans less than BAND_MIN_LENGTH_MM or fewer than 3 edges are read.
    fall_se_mm_per_mm : (n_levels, 2) ndarray
        Standard error of each fall from the fit's residuals (n - 2 degrees of freedom).
    """
    spacing_r, spacing_c = work.pixel_spacing_mm
    half_cols = int(round(EDGE_AVERAGE_MM / spacing_c))
    peak_px = int(round(EDGE_PEAK_MM / spacing_r))
    floor_px = int(round(EDGE_FLOOR_MM / spacing_r))
    fall = np.full((max(0, len(discs) - 1), 2), np.nan)
    fall_se = np.full_like(fall, np.nan)
    for i, k, band in _band_traces(work, axis, discs):
        up, low = band.upper, band.lower
        c = band.cols[band.index]
        mid = 0.5 * (up[0] + up[1] * (c - up[2]) + low[0] + low[1] * (c - low[2]))
        bottom = np.rint(band.edge_rows + mid).astype(np.int64)  # the run's last row
        edge = band_half_edge(band.values, band.cols, band.index, bottom, up, low, half_cols,
                              peak_px, floor_px)  # fmt: skip
        read = np.isfinite(edge)
        if read.sum() >= 3:
            fall[i, k], fall_se[i, k] = _slope_with_se(
                band.offsets[band.index][read] * spacing_c, edge[read] * spacing_r
            )
    return fall, fall_se


def _slope_with_se(x_mm: np.ndarray, y_mm: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and its standard error (residuals, n - 2 dof)."""
    dx = x_mm - x_mm.mean()
    sxx = float(dx @ dx)
    if sxx <= 0:
        return np.nan, np.nan
    slope = float(dx @ (y_mm - y_mm.mean())) / sxx
    residual = y_mm - y_mm.mean() - slope * dx
    return slope, float(np.sqrt(float(residual @ residual) / (x_mm.size - 2) / sxx))


def top_level_band_fall(work: WorkImage, axis: SpineAxis, discs: list, period_rows: float):
    """(fall per side, its standard error, top row) of the band beside the vertebra above
    the first disc.

    The level is bounded above by the field top at the axis (a horizontal line) and below by
    the first disc; returns ``(None, None, None)`` when less than TOP_LEVEL_MIN_PERIOD of a
    period of it is in the field.  ``fall`` and its standard error are length-2 arrays as
    :func:`band_edge_fall` gives (the half-height edge).
    """
    if not discs:
        return None, None, None
    first = discs[0]
    r_axis = int(np.clip(round(first.row), 0, work.values.shape[0] - 1))
    col = int(np.clip(round(axis.columns[r_axis]), 0, work.values.shape[1] - 1))
    in_field = np.flatnonzero(work.field[:, col])
    if in_field.size == 0:
        return None, None, None
    top = float(in_field[0])
    if first.row - top < TOP_LEVEL_MIN_PERIOD * period_rows:
        return None, None, None
    upper = type(first)(top, first.column, 0.0, 0.0, False, 0.0)
    fall, fall_se = band_edge_fall(work, axis, [upper, first])
    if fall.shape[0] == 0:
        return None, None, top
    return fall[0], fall_se[0], top


def top_level_rib_sides(fall: np.ndarray, fall_se: np.ndarray) -> int:
    """Sides on which the top level's band falls like a rib: ``fall - RIB_FALL_Z * se`` at
    least RIB_FALL_MIN (:func:`top_level_band_fall`'s arrays; NaN is no rib)."""
    bound = np.asarray(fall, dtype=float) - RIB_FALL_Z * np.asarray(fall_se, dtype=float)
    return int(np.sum(np.nan_to_num(bound, nan=-np.inf) >= RIB_FALL_MIN))
