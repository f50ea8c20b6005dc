"""Per-level image evidence for the clinical layer: metal and lesions.

Per level (``QcFlag.level`` names it): metal or very dense objects (``metal``); an endplate
widened by spurs (``osteophyte_suspected``); dense endplate bands (``sclerosis_suspected``);
dense articular processes in both adjacent discs (``facet_arthrosis_suspected``); reduced
height with raised density (``fracture_suspected``).  Sclerosis and facet measures live in
:mod:`dxaspine.evidence.lesion_measures`.  Evidence flags never change labels or lines; the
clinical layer decides on exclusion (docs/domain.md §2: exclude fracture, severe osteophytes,
sclerosis, implants, artifact).

All measures are in body-contrast units of the work image or relative to the other levels of
the same scan, so they hold for g/cm2 maps and display exports alike.
"""

from __future__ import annotations

import numpy as np

from dxaspine.evidence.geometry import SpineGeometry
from dxaspine.evidence.lesion_measures import endplate_band_ratios, facet_density, relative_excess
from dxaspine.levels import LUMBAR
from dxaspine.segment.segmentation import QcFlag

__all__ = ["level_flags"]

# Endplate widening beyond the mid-body half-width, mm (a waisted body's endplates are ~1.5 mm
# wider per side; phantom spurs reach 5-13 mm beyond the edge).
OSTEOPHYTE_WIDENING_MM = 4.0
# Endplate-band ratio (first 4 mm of bone under each endplate / mid-body, lesion_measures):
# the mean of a level's two endplates against the median of the other levels' endplates.
# Calibration on phantom seeds 41/43/44/45 (not those of the tests): 239 levels of 48
# standard and no-lesion "hard" cases, g/cm2 maps and display exports, read 1.00 +- 0.027
# (robust SD), highest 1.087; sclerosis at severity 0.5 reads 1.10-1.27, at 0.8 1.15-1.39.
# 1.10 is ~+3.5 robust SD above normal: a band ~+25 % denser than the body over 4 mm (the
# phantom adds 0.10-0.13 g/cm3 to ~0.16 g/cm3 trabecular bone, a +60-80 % band, diluted by
# the 1 mm work grid and the cortical endplate every level has).
SCLEROSIS_RATIO = 1.10
# Facet density of *both* discs of a level (lesion_measures.facet_density; the lower of the
# two) against the median of the spine's other discs.  The ratio is the lower of two, so not
# Gaussian; the threshold is set on the same calibration set: normal levels at most 1.37
# (239 levels of standard cases) and 1.42 (222 non-lesioned levels of pathology cases);
# facet arthrosis at severity 0.5 reads 1.40-2.1, at 0.8 1.56-3.3.  Physically: a normal
# facet pair projects ~0.26 g/cm2 (0.22 g/cm3 over ~12 mm, phantom skeleton); an arthrotic
# one 0.5-0.8 g/cm2 at its centre, read (upper decile, ~1 mm blur) as +45 % or more.
FACET_RATIO = 1.45
# Metal must cover at least this area over a level, mm2 (screw heads ~100 mm2, rods ~200 mm2;
# a few saturated pixels of dense cortical overlap on a display export are not metal).
METAL_MIN_AREA_MM2 = 15.0
# Fracture: body height below this fraction of its neighbours' mean and body density above
# FRACTURE_DENSITY_RATIO of theirs (a crushed body is compacted: docs/domain.md §2/§3).
FRACTURE_HEIGHT_RATIO = 0.85
FRACTURE_DENSITY_RATIO = 1.05


def level_flags(geometry: SpineGeometry) -> list[QcFlag]:
    """Per-level evidence flags (``labels[i]`` lies between ``discs[i]`` and ``discs[i+1]``)."""
    work, axis, discs = geometry.work, geometry.axis, geometry.discs
    labels, metal_work = geometry.labels, geometry.dense
    flags: list[QcFlag] = []
    stats = [
        _level_stats(
            work, axis, discs[i], discs[i + 1], metal_work, skip_upper_endplate=(labels[i] == "L1")
        )
        for i in range(len(labels))
    ]
    pixel_mm2 = work.pixel_spacing_mm[0] * work.pixel_spacing_mm[1]
    has_metal = np.array([s["metal_px"] * pixel_mm2 >= METAL_MIN_AREA_MM2 for s in stats])
    # a level under metal gives no bone evidence, neither for itself nor as a reference
    heights = np.array(
        [np.nan if m else s["height_mm"] for s, m in zip(stats, has_metal, strict=True)]
    )
    cores = np.array([np.nan if m else s["core"] for s, m in zip(stats, has_metal, strict=True)])
    crush = [_crush_ratios(heights, cores, i) for i in range(len(labels))]
    fractured = [
        c is not None and c[0] < FRACTURE_HEIGHT_RATIO and c[1] > FRACTURE_DENSITY_RATIO
        for c in crush
    ]
    values = np.nan_to_num(np.where(work.field, work.values, 0.0), nan=0.0)
    # endplate-band ratios, (upper, lower) per level; a level's value is the mean of its two,
    # the reference the median of the other levels' single endplates (robust to one bad line)
    ends = np.array(
        [
            (np.nan, np.nan)
            if has_metal[i]
            else endplate_band_ratios(
                values, work.field, work.pixel_spacing_mm, axis.columns, discs[i], discs[i + 1],
                s["half_px"],
            )
            for i, s in enumerate(stats)
        ]
    ).reshape(-1, 2)  # fmt: skip
    # disc k is read with the half-width of the level below it (the last with the one above)
    facets = np.array(
        [
            facet_density(
                values, work.pixel_spacing_mm, d, stats[min(k, len(stats) - 1)]["half_px"]
            )
            for k, d in enumerate(discs)
        ]
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
        if name not in LUMBAR:  # T12 carries ribs that widen its margins
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
        pair = ends[i][np.isfinite(ends[i])]
        level_band = float(pair.mean()) if pair.size else np.nan
        ratio = relative_excess(level_band, np.delete(ends, i, axis=0).ravel())
        if ratio > SCLEROSIS_RATIO:
            flags.append(
                QcFlag(
                    "sclerosis_suspected",
                    f"{name} endplate bands are {ratio:.2f}x as dense (relative to its "
                    "body) as on the other levels",
                    level=name,
                    evidence={"endplate_ratio": round(float(ratio), 3)},
                )
            )
        # reference discs: not this level's, nor those of a metal or crushed level (a crushed
        # body moves its facets apart and thins their overlap); too few left, no verdict
        away = np.ones(facets.size, dtype=bool)
        for j in [i] + [k for k in range(len(labels)) if has_metal[k] or fractured[k]]:
            away[j : j + 2] = False
        ratio = relative_excess(min(facets[i], facets[i + 1]), facets[away])
        if ratio > FACET_RATIO:
            flags.append(
                QcFlag(
                    "facet_arthrosis_suspected",
                    f"{name} facet regions in the discs above and below are {ratio:.2f}x "
                    "as dense as in the spine's other discs",
                    level=name,
                    evidence={"facet_ratio": round(float(ratio), 3)},
                )
            )
        if fractured[i]:
            h_ratio, c_ratio = crush[i]
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


def _crush_ratios(heights, cores, i) -> tuple[float, float] | None:
    """(height, core density) of level ``i`` relative to its neighbours' mean, or None."""
    neighbours = [j for j in (i - 1, i + 1) if 0 <= j < heights.size]
    nh, nc = heights[neighbours], cores[neighbours]
    ok = np.isfinite(nh) & np.isfinite(nc)
    if not ok.any() or not (np.isfinite(heights[i]) and np.isfinite(cores[i])):
        return None
    return heights[i] / float(np.mean(nh[ok])), cores[i] / float(np.mean(nc[ok]))


def _level_stats(work, axis, upper, lower, metal_work, skip_upper_endplate=False) -> dict:
    """Body height, core density, half-width (work px), endplate widening, metal pixels.

    ``skip_upper_endplate``: L1's upper endplate has the T12 ribs running past it, which
    would read as widening.
    """
    values = np.nan_to_num(np.where(work.field, work.values, 0.0), nan=0.0)
    rows, cols = values.shape
    spacing_r, spacing_c = work.pixel_spacing_mm
    top = upper.row + 0.5 * np.nan_to_num(upper.thickness_mm, nan=9.0) / spacing_r
    bottom = lower.row - 0.5 * np.nan_to_num(lower.thickness_mm, nan=9.0) / spacing_r
    out = {
        "height_mm": (bottom - top) * spacing_r,
        "core": np.nan,
        "half_px": np.nan,
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
    half_px = half_mm / spacing_c
    out["half_px"] = half_px
    # metal inside the box span of this level
    cc = np.arange(cols)[None, :]
    in_box = np.abs(cc - col[:, None]) <= half_px + 7.0 / spacing_c
    out["metal_px"] = int((metal_work[r] & in_box).sum())
    body_rows = r[(r >= top + 2 / spacing_r) & (r <= bottom - 2 / spacing_r)]
    if body_rows.size < 3:
        return out
    # core: central half of the body, all body rows
    central = np.abs(cc - axis.columns[body_rows][:, None]) <= 0.5 * half_px
    core_vals = values[body_rows][central]
    out["core"] = float(np.median(core_vals)) if core_vals.size else np.nan
    # endplate widening: bone extent per side in rows around each endplate vs mid-body
    widen = 0.0
    for edge in (bottom,) if skip_upper_endplate else (top, bottom):
        sel = r[(r >= edge - 3 / spacing_r) & (r <= edge + 3 / spacing_r)]
        for side in (-1, 1):
            extent = _extent_px(values, sel, axis.columns[sel], side, half_px)
            widen = max(widen, (extent - half_px) * spacing_c)
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
