"""QC flags: positioning, metal, and per-level image evidence for the clinical layer.

Global: spine off-centre or tilted beyond tolerance; axis lost over a stretch.  (Axial
rotation is not flagged: the spinous-process offset did not track the phantom's rotation
reliably enough to be a flag.)
Per level (``QcFlag.level`` names it): metal or very dense objects; an endplate widened by
spurs (``osteophyte_suspected``); dense endplate bands (``sclerosis_suspected``); reduced
height with raised density (``fracture_suspected``).  Evidence flags never change labels or
lines; the clinical layer decides on exclusion (DOMAIN.md §2: exclude fracture, severe
osteophytes, sclerosis, implants, artifact).

All measures are in body-contrast units of the work image or relative to the other levels of
the same scan, so they hold for g/cm2 maps and display exports alike.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine.segment.segmentation import QcFlag

# Positioning tolerances (modelling choices, *unverified*: vendor manuals ask for a centred,
# straight spine without giving numbers).
OFF_CENTRE_MM = 25.0  # axis mean vs field centre
MIN_SOFT_TISSUE_MARGIN_MM = 10.0  # box edge to field edge: R_st needs tissue beside the spine
TILT_DEG = 8.0  # straight-line fit of the axis vs vertical
# A stretch of the lumbar axis without a vertebral-body response this long is "lost", mm.
AXIS_LOST_MM = 20.0
AXIS_MIN_RESPONSE = 0.25
# Metal: work-image values (body core = 1) at or above this; cortical overlaps reach ~2.5.
METAL_LEVEL = 4.0
# Endplate widening beyond the mid-body half-width, mm (a waisted body's endplates are ~1.5 mm
# wider per side; phantom spurs reach 5-13 mm beyond the edge).
OSTEOPHYTE_WIDENING_MM = 4.0
# Endplate-band density (relative to the body's middle third) against the same ratio on the
# scan's other levels.  Phantom calibration: normal levels 0.93-1.10 of the median,
# sclerosis 1.16-1.24 (only the stronger cases are flagged; false flags cost more).
SCLEROSIS_RATIO = 1.2
# Metal must cover at least this area over a level, mm2 (screw heads ~100 mm2, rods ~200 mm2;
# a few saturated pixels of dense cortical overlap on a display export are not metal).
METAL_MIN_AREA_MM2 = 15.0
# Largest share of a display field that saturation may cover and still be metal (a pair of
# instrumented levels, screws and rods, covers ~1000 mm2, ~3 % of a 180 x 197 mm field).
SATURATED_METAL_MAX_SHARE = 0.05
# Evidence flags are for lumbar levels: T12 carries ribs that widen its margins.
_LUMBAR = ("L1", "L2", "L3", "L4", "L5", "L6")
# Fracture: body height below this fraction of its neighbours' mean and body density above
# FRACTURE_DENSITY_RATIO of theirs (a crushed body is compacted: DOMAIN.md §2/§3).
FRACTURE_HEIGHT_RATIO = 0.85
FRACTURE_DENSITY_RATIO = 1.05


def metal_mask_work(work, density_map, scan) -> tuple[np.ndarray, list[QcFlag]]:
    """Metal / very dense pixels on the work grid, and a flag if a display export saturates.

    On 8-bit display exports metal shows only as saturation; when a large share of the field
    saturates, it is the bone itself (an export windowed too hard), not metal.
    """
    flags: list[QcFlag] = []
    from dxaspine.segment.kernels import block_mean

    metal = work.values >= METAL_LEVEL
    extra = None
    starved = getattr(density_map, "starved_mask", None)
    if starved is not None and np.shape(starved) == density_map.values.shape:
        starved = np.asarray(starved, dtype=bool)
        extra = starved if starved.any() else None
    frames = getattr(scan, "frames", {}) or {}
    if getattr(scan, "kind", None) == "display" and "display" in frames:
        grey = np.asarray(frames["display"], dtype=float)
        field = np.asarray(density_map.field_mask, dtype=bool)
        if grey.shape == field.shape and field.any():
            top = float(grey[field].max())
            # 8-bit exports saturate metal; normal bone stays below the ceiling
            if top >= 250:
                sat = (grey >= top) & field
                share = sat.sum() / field.sum()
                if share <= SATURATED_METAL_MAX_SHARE:
                    extra = sat if extra is None else (extra | sat)
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
        share = block_mean(extra.astype(float), np.ones(extra.shape, dtype=bool), *work.factors)
        metal |= np.nan_to_num(share) >= 0.25
    return metal, flags


def global_flags(work, axis, discs, half_width_mm) -> list[QcFlag]:
    flags: list[QcFlag] = []
    mm_r, mm_c = work.spacing_mm
    rows = np.arange(int(np.ceil(discs[0].row)), int(np.floor(discs[-1].row)) + 1)
    rows = rows[(rows >= 0) & (rows < axis.columns.size)]
    if rows.size < 2:
        return flags
    cols = axis.columns[rows]
    field_cols = np.flatnonzero(work.field.any(axis=0))
    centre = 0.5 * (field_cols[0] + field_cols[-1])
    offset_mm = (float(np.mean(cols)) - centre) * mm_c
    margin_mm = min(float(np.min(cols)) - field_cols[0], field_cols[-1] - float(np.max(cols)))
    margin_mm = margin_mm * mm_c - half_width_mm
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
    slope = np.polyfit(rows * mm_r, cols * mm_c, 1)[0]
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
    run = _longest_run(weak) * mm_r
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


def level_flags(work, axis, discs, labels, metal_work) -> list[QcFlag]:
    """Per-level evidence flags (``labels[i]`` lies between ``discs[i]`` and ``discs[i+1]``)."""
    flags: list[QcFlag] = []
    stats = [
        _level_stats(
            work, axis, discs[i], discs[i + 1], metal_work, skip_upper_endplate=(labels[i] == "L1")
        )
        for i in range(len(labels))
    ]
    pixel_mm2 = work.spacing_mm[0] * work.spacing_mm[1]
    has_metal = np.array([s["metal_px"] * pixel_mm2 >= METAL_MIN_AREA_MM2 for s in stats])
    # a level under metal gives no bone evidence, neither for itself nor as a reference
    heights = np.array(
        [np.nan if m else s["height_mm"] for s, m in zip(stats, has_metal, strict=True)]
    )
    cores = np.array([np.nan if m else s["core"] for s, m in zip(stats, has_metal, strict=True)])
    bands = np.array(
        [np.nan if m else s["endplate_ratio"] for s, m in zip(stats, has_metal, strict=True)]
    )
    for i, (name, s) in enumerate(zip(labels, stats, strict=True)):
        if has_metal[i]:
            metal_mm2 = s["metal_px"] * pixel_mm2
            flags.append(
                QcFlag(
                    "metal",
                    f"metal or very dense object over {name} ({metal_mm2:.0f} mm2)",
                    level=name,
                    evidence={"area_mm2": round(float(metal_mm2), 1)},
                )
            )
            continue
        if name not in _LUMBAR:
            continue
        if s["widening_mm"] > OSTEOPHYTE_WIDENING_MM:
            flags.append(
                QcFlag(
                    "osteophyte_suspected",
                    f"{name} endplate margin extends "
                    f"{s['widening_mm']:.0f} mm beyond the body's side",
                    level=name,
                    evidence={"widening_mm": round(s["widening_mm"], 1)},
                )
            )
        others = np.delete(bands, i)
        others = others[np.isfinite(others)]
        if others.size >= 2 and np.isfinite(bands[i]):
            ratio = bands[i] / float(np.median(others))
            if ratio > SCLEROSIS_RATIO:
                flags.append(
                    QcFlag(
                        "sclerosis_suspected",
                        f"{name} endplate bands are "
                        f"{ratio:.2f}x as dense (relative to its body) as on the "
                        "other levels",
                        level=name,
                        evidence={"endplate_ratio": round(float(ratio), 3)},
                    )
                )
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(labels)]
        nh = heights[neighbours]
        nc = cores[neighbours]
        ok = np.isfinite(nh) & np.isfinite(nc)
        if ok.any() and np.isfinite(heights[i]) and np.isfinite(cores[i]):
            h_ratio = heights[i] / float(np.mean(nh[ok]))
            c_ratio = cores[i] / float(np.mean(nc[ok]))
            if h_ratio < FRACTURE_HEIGHT_RATIO and c_ratio > FRACTURE_DENSITY_RATIO:
                flags.append(
                    QcFlag(
                        "fracture_suspected",
                        f"{name} is {h_ratio:.0%} of its "
                        f"neighbours' height with {c_ratio:.2f}x their density",
                        level=name,
                        evidence={
                            "height_ratio": round(h_ratio, 3),
                            "density_ratio": round(c_ratio, 3),
                        },
                    )
                )
    return flags


def _level_stats(work, axis, upper, lower, metal_work, skip_upper_endplate=False) -> dict:
    """Body height, core density, endplate-band ratio, endplate widening, metal pixels.

    ``skip_upper_endplate``: L1's upper endplate has the T12 ribs running past it, which
    would read as widening.
    """
    values = np.nan_to_num(np.where(work.field, work.values, 0.0), nan=0.0)
    rows, cols = values.shape
    mm_r, mm_c = work.spacing_mm
    top = upper.row + 0.5 * np.nan_to_num(upper.thickness_mm, nan=9.0) / mm_r
    bottom = lower.row - 0.5 * np.nan_to_num(lower.thickness_mm, nan=9.0) / mm_r
    out = {
        "height_mm": (bottom - top) * mm_r,
        "core": np.nan,
        "endplate_ratio": np.nan,
        "widening_mm": 0.0,
        "metal_px": 0,
    }
    r = np.arange(max(0, int(np.ceil(upper.row))), min(rows, int(np.floor(lower.row)) + 1))
    if r.size < 4:
        return out
    col = axis.columns[r]
    widths = axis.body_width_mm[r]
    half_mm = np.nanmedian(widths) / 2 if np.isfinite(widths).any() else np.nan
    if not np.isfinite(half_mm):
        return out
    half_px = half_mm / mm_c
    # metal inside the box span of this level
    cc = np.arange(cols)[None, :]
    in_box = np.abs(cc - col[:, None]) <= half_px + 7.0 / mm_c
    out["metal_px"] = int((metal_work[r] & in_box).sum())
    body_rows = r[(r >= top + 2 / mm_r) & (r <= bottom - 2 / mm_r)]
    if body_rows.size < 3:
        return out
    # core: central half of the body, all body rows
    central = np.abs(cc - axis.columns[body_rows][:, None]) <= 0.5 * half_px
    core_vals = values[body_rows][central]
    out["core"] = float(np.median(core_vals)) if core_vals.size else np.nan
    # endplate bands: 4 mm inside each endplate vs the middle third of the body
    band = max(1, int(round(4.0 / mm_r)))
    lateral = np.abs(cc - col[:, None]) <= 0.8 * half_px

    def mean_rows(lo, hi):
        sel = (r >= lo) & (r < hi)
        return float(values[r[sel]][lateral[sel]].mean()) if sel.any() else np.nan

    upper_band = mean_rows(top, top + band)
    lower_band = mean_rows(bottom - band, bottom)
    third = (bottom - top) / 3
    mid = mean_rows(top + third, bottom - third)
    if np.isfinite(mid) and mid > 0:
        out["endplate_ratio"] = max(upper_band, lower_band) / mid
    # endplate widening: bone extent per side in rows around each endplate vs mid-body
    widen = 0.0
    for edge in (bottom,) if skip_upper_endplate else (top, bottom):
        sel = r[(r >= edge - 3 / mm_r) & (r <= edge + 3 / mm_r)]
        for side in (-1, 1):
            extent = _extent_px(values, sel, axis.columns[sel], side, half_px)
            widen = max(widen, (extent - half_px) * mm_c)
    out["widening_mm"] = widen
    return out


def _extent_px(values, rows_sel, centres, side, half_px) -> float:
    """Largest lateral extent (px from the axis) of bone contiguous with the body edge."""
    if rows_sel.size == 0:
        return 0.0
    cols = values.shape[1]
    offs = np.arange(int(0.6 * half_px), int(half_px + 25))
    c = np.clip(np.round(centres[:, None] + side * offs[None, :]).astype(int), 0, cols - 1)
    bone = values[rows_sel[:, None], c] > 0.3
    gap = ~bone
    first_gap = np.where(gap.any(axis=1), np.argmax(gap, axis=1), offs.size)
    return float(offs[0] + first_gap.max()) if first_gap.size else 0.0
