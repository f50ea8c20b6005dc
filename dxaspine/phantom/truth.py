"""Ground truth by the DXA convention: mid-disc lines, the analysis box, the label image and
per-level BMC / area / BMD, and composites as total BMC over total area (docs/domain.md §1).

A level's region is the part of the analysis box (true spine axis +- ``box_half_width_mm``
per row) between its two mid-disc lines; its BMC is all HA in the region's bone pixels,
including lesion mineral; area = bone pixels x pixel area; BMD = BMC / area.  Which pixels are
bone is the *named* edge convention the pipeline also uses
(:mod:`dxaspine.segment.conventions`; default ``relative:0.1``, 10 % of the spine's core
density), applied to the true bone map: the truth says which convention it was computed
under, and also gives the legacy ``absolute:0.1`` figures, so accuracy can be quoted with and
without the shared convention.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from dxaspine.phantom.anatomy import Disc, Skeleton
from dxaspine.segment.conventions import DEFAULT_EDGE, EdgeConvention, spine_core_density

BONE_THRESHOLD_G_CM2 = 0.1  # the legacy absolute edge (EdgeConvention("absolute", 0.1))
# The box reaches a little beyond the widest analysed body (L4): the half-width of L4
# plus 7 mm of soft tissue, as a vendor ROI does; transverse processes are clipped.
BOX_MARGIN_MM = 7.0
LUMBAR_FOR_COMPOSITES = ("L1", "L2", "L3", "L4")


def box_half_width_mm(sk: Skeleton) -> float:
    return sk.vertebra("L4").width_mm / 2 + BOX_MARGIN_MM


def line_px(disc: Disc, half_width_mm: float, spacing_mm) -> list[list[float]]:
    """Endpoints [[c, r], [c, r]] of a mid-disc line spanning the box at the disc."""
    f = disc.frame
    t = half_width_mm / math.cos(f.theta)
    out = []
    for sign in (-1, 1):
        x, y = f.to_image(sign * t, 0.0)
        out.append([x / spacing_mm[1] - 0.5, y / spacing_mm[0] - 0.5])
    return out


def label_regions(sk: Skeleton, shape, spacing_mm, half_width_mm: float):
    """Level names (top to bottom) and the int16 image with code i+1 for level i (0 outside)."""
    rows, cols = shape
    x = (np.arange(cols) + 0.5)[None, :] * spacing_mm[1]
    y = (np.arange(rows) + 0.5)[:, None] * spacing_mm[0]
    in_box = np.abs(x - sk.axis_x_at(y)) <= half_width_mm
    names = [v.name for v in sk.vertebrae]
    labels = np.zeros(shape, dtype=np.int16)
    level_names = []
    for upper, lower in zip(sk.discs[:-1], sk.discs[1:], strict=True):
        name = upper.lower
        if name in ("S1",) or name == names[0]:
            continue
        below_upper = _side(upper, x, y) > 0
        above_lower = _side(lower, x, y) <= 0
        region = in_box & below_upper & above_lower & (labels == 0)
        if region.any():
            level_names.append(name)
            labels[region] = len(level_names)
    return level_names, labels


def _side(disc: Disc, x, y):
    """Signed distance (mm) below the disc's mid-line (positive = caudal)."""
    f = disc.frame
    return (x - f.cx) * math.sin(f.theta) + (y - f.cy) * math.cos(f.theta)


def edge_threshold_g_cm2(
    bone_g_cm2, sk: Skeleton, spacing_mm, half_width_mm: float, edge: EdgeConvention = DEFAULT_EDGE
) -> float:
    """The bone threshold (g/cm2) of the true bone map under ``edge``.

    The core density is measured as the pipeline measures it
    (:func:`dxaspine.segment.conventions.spine_core_density`): within +-5 mm of the true axis,
    from the upper mid-disc line of L1 to the lower one of L4.
    """
    if edge.rule == "absolute":
        return edge.value
    rows = bone_g_cm2.shape[0]
    y = (np.arange(rows) + 0.5) * spacing_mm[0]
    axis_cols = np.asarray([sk.axis_x_at(v) for v in y]) / spacing_mm[1] - 0.5
    discs = {d.lower: d for d in sk.discs}
    below = {d.upper: d for d in sk.discs}
    names = [v.name for v in sk.vertebrae]
    first = "L1" if "L1" in discs else names[1]
    last = "L4" if "L4" in below else names[-2]

    def mid_row(disc) -> float:
        (_, r0), (_, r1) = line_px(disc, half_width_mm, spacing_mm)
        return (r0 + r1) / 2

    core = spine_core_density(
        bone_g_cm2, axis_cols, (mid_row(discs[first]), mid_row(below[last])), spacing_mm[1]
    )
    return edge.threshold(core) if np.isfinite(core) else BONE_THRESHOLD_G_CM2


def level_stats(bone_g_cm2, labels, n_levels: int, pixel_area_cm2: float, threshold_g_cm2: float):
    """(bmc_g, area_cm2, bmd_g_cm2) arrays per level code 1..n by the DXA convention."""
    bone = bone_g_cm2 > threshold_g_cm2
    codes = np.where(bone, labels, 0).ravel()
    bmc = np.bincount(codes, weights=bone_g_cm2.ravel(), minlength=n_levels + 1)[1:]
    count = np.bincount(codes, minlength=n_levels + 1)[1:].astype(float)
    bmc = bmc * pixel_area_cm2
    area = count * pixel_area_cm2
    bmd = np.divide(bmc, area, out=np.zeros_like(bmc), where=area > 0)
    return bmc, area, bmd


def composite_name(levels: tuple[str, ...]) -> str:
    """docs/architecture.md, Contract 2 naming: contiguous runs with '-', runs joined by ','."""
    idx = [LUMBAR_FOR_COMPOSITES.index(level) for level in levels]
    runs, start = [], idx[0]
    for a, b in zip(idx, idx[1:] + [None], strict=True):
        if b is None or b != a + 1:
            runs.append((start, a))
            start = b
    parts = [
        LUMBAR_FOR_COMPOSITES[s]
        if s == e
        else f"{LUMBAR_FOR_COMPOSITES[s]}-{LUMBAR_FOR_COMPOSITES[e]}"
        for s, e in runs
    ]
    return ",".join(parts)


def composites(levels: list[dict]) -> dict:
    """Every set of 2+ of L1-L4 (Hologic's 11): total BMC / total area."""
    by_name = {lv["label"]: lv for lv in levels}
    present = [n for n in LUMBAR_FOR_COMPOSITES if n in by_name and by_name[n]["area_cm2"] > 0]
    out = {}
    for k in range(len(present), 1, -1):
        for combo in itertools.combinations(present, k):
            bmc = sum(by_name[n]["bmc_g"] for n in combo)
            area = sum(by_name[n]["area_cm2"] for n in combo)
            out[composite_name(combo)] = {
                "levels": list(combo),
                "bmc_g": _r(bmc),
                "area_cm2": _r(area),
                "bmd_g_cm2": _r(bmc / area),
            }
    return out


def _r(value: float, digits: int = 6) -> float:
    """Round for JSON: stable text across platforms, far below any tolerance used."""
    return round(float(value), digits)


def flip_truth(truth: dict, flip: tuple[str, ...]) -> dict:
    """The truth with pixel coordinates of the image stored flipped along ``flip`` axes."""
    rows, cols = truth["shape"]

    def pt(p):
        c, r = p
        if "columns" in flip:
            c = cols - 1 - c
        if "rows" in flip:
            r = rows - 1 - r
        return [_r(c), _r(r)]

    def rng_(pair, n, axis):
        if axis not in flip:
            return pair
        return sorted([n - 1 - pair[0], n - 1 - pair[1]])

    out = dict(truth)
    out["flip"] = [a for a in ("rows", "columns") if a in flip]

    def seg(points):
        return sorted(pt(p) for p in points)  # first endpoint = smaller stored column

    # order and upper/lower stay anatomical (cranial first); only coordinates are flipped
    out["levels"] = [
        {**lv, "upper_line_px": seg(lv["upper_line_px"]), "lower_line_px": seg(lv["lower_line_px"])}
        for lv in truth["levels"]
    ]
    lines = []
    for ln in truth["lines"]:
        a, b = pt(ln["left"]), pt(ln["right"])
        if a[0] > b[0]:
            a, b = b, a
        lines.append({"name": ln["name"], "left": a, "right": b})
    out["lines"] = lines
    if "rows" in flip and truth.get("iliac_crest_row") is not None:
        out["iliac_crest_row"] = _r(rows - 1 - truth["iliac_crest_row"])
    out["field_rows"] = rng_(truth["field_rows"], rows, "rows")
    out["field_columns"] = rng_(truth["field_columns"], cols, "columns")
    return out
