"""Per-level truth of a projected CT under the pipeline's named conventions.

The conventions are the drawn phantom's and the pipeline's (:mod:`dxaspine.segment.conventions`,
:mod:`dxaspine.phantom.truth`), recorded in every truth file; ``TruthConvention`` bundles them
with the one rule only the CT needs, how a mid-disc line is found:

- **mid-disc lines** from the label map: in the PA projection of each vertebral *body*
  (:mod:`dxaspine.phantom.ct.anatomy`), per image column, the upper body's inferior edge
  and the lower body's superior edge are the half-maximum crossings of the body's projected
  thickness; the mid-disc point is halfway between them, and the line is a least-squares
  fit of those points over the central ``disc_fit_fraction`` of the narrower body (the
  rounded endplate corners are left out);
- **spine axis**: straight segments through the bodies' projected centres. The centre's row
  is the thickness-weighted one; its column (``axis_centre``) is by default the median, over
  the central 80 % of the body's rows, of the midpoints of the row's half-maximum lateral
  edges (``"edges"``): a box is centred between the body's edges, as its width is set by them
  (below) and as an operator or a vendor's edge detection centres it. ``"centroid"`` (the
  thickness-weighted column, the convention before) is kept as an option; on this CT the two
  differ by 0.3-0.7 pixel per body, because a real body's projected thickness is not
  symmetric about its outline (docs/accuracy.md §2);
- **analysis box** (``BoxConvention``, default L4 + 7 mm): axis +- (half the width of the
  ``width_level`` body + ``margin_mm``), the width being the 90th percentile of the body's
  row-wise half-maximum widths (the endplate width, not the waist);
- **bone pixels** (``EdgeConvention``, default ``relative:0.1``): mineral above the edge's
  threshold, for a relative edge that fraction of the spine's core density measured as the
  pipeline measures it (:func:`~dxaspine.segment.conventions.spine_core_density`, +-5 mm of
  the axis from the upper line of L1 to the lower line of L4); the legacy ``absolute:0.1``
  figures are written too, as the drawn phantom does;
- **a level** is the box between its two mid-disc lines; BMC is all mineral in its bone
  pixels (its own vertebra, and ribs, ilium or a neighbour's processes that project there,
  as on a real scan), area = bone pixels x pixel area, BMD = BMC / area; composites are
  total BMC over total area (docs/domain.md §1).

A level whose upper neighbour has no body in the CT (the top of the scan) gets an upper line
extrapolated parallel to its lower line, one body height plus the mean disc gap higher, and
is marked incomplete, as is a level whose body is cut by the CT's top or bottom face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dxaspine.levels import LEVEL_ORDER, disc_name
from dxaspine.phantom.truth import _r, composites
from dxaspine.segment.conventions import (
    DEFAULT_BOX,
    DEFAULT_EDGE,
    BoxConvention,
    EdgeConvention,
    spine_core_density,
)

LEGACY_EDGE = EdgeConvention("absolute", 0.1)  # phantom/truth.py BONE_THRESHOLD_G_CM2
HALF = 0.5  # half-maximum edge of a body's projected thickness
_MIN_COLUMN_SHARE = 0.3  # a column counts for an edge if its thickness is >= 30 % of the peak
AXIS_CENTRES = ("edges", "centroid")


@dataclass(frozen=True)
class TruthConvention:
    """The edge and box conventions (shared with the pipeline) and the disc-line rule."""

    edge: EdgeConvention = DEFAULT_EDGE
    box: BoxConvention = DEFAULT_BOX
    disc_fit_fraction: float = 0.6
    axis_centre: str = "edges"  # "edges" | "centroid" (module docstring)
    disc_lines: str = field(default="half_maximum_body_edges", init=False)

    def __post_init__(self) -> None:
        if self.axis_centre not in AXIS_CENTRES:
            raise ValueError(f"axis_centre must be one of {AXIS_CENTRES}, not {self.axis_centre!r}")

    def to_json(self) -> dict:
        return {"edge": str(self.edge), "box": str(self.box), "disc_lines": self.disc_lines,
                "disc_fit_fraction": self.disc_fit_fraction,
                "axis_centre": self.axis_centre}  # fmt: skip


@dataclass(frozen=True)
class BodyView:
    """One body's projected thickness (cm) on a window ``(r0, r1, c0, c1)`` of the image."""

    name: str
    window: tuple[int, int, int, int]
    thickness_cm: np.ndarray
    clipped: bool


@dataclass(frozen=True)
class BodyShape:
    name: str
    centre: tuple[float, float]  # (column, row), thickness-weighted
    width_px: float
    height_px: float
    columns: np.ndarray  # image columns with an edge
    top: np.ndarray  # superior edge row per column (NaN where none)
    bottom: np.ndarray  # inferior edge row per column
    edge_centre_col: float = float("nan")  # median midpoint of the rows' half-maximum edges


def _edges(column: np.ndarray) -> tuple[float, float]:
    """Sub-pixel half-maximum top and bottom crossings of one column's thickness profile."""
    peak = column.max()
    above = np.nonzero(column >= HALF * peak)[0]
    first, last = int(above[0]), int(above[-1])
    top = float(first)
    if first > 0:
        a, b = column[first - 1], column[first]
        top = first - (b - HALF * peak) / (b - a)
    bottom = float(last)
    if last < len(column) - 1:
        a, b = column[last], column[last + 1]
        bottom = last + (a - HALF * peak) / (a - b)
    return top, bottom


def body_shape(view: BodyView) -> BodyShape:
    r0, _, c0, _ = view.window
    t = view.thickness_cm
    peak = t.max(axis=0)
    good = np.nonzero(peak >= _MIN_COLUMN_SHARE * peak.max())[0]
    top = np.full(t.shape[1], np.nan)
    bottom = np.full(t.shape[1], np.nan)
    for c in good:
        top[c], bottom[c] = _edges(t[:, c])
    rows, cols = np.indices(t.shape)
    total = t.sum()
    centre = (float((cols * t).sum() / total) + c0, float((rows * t).sum() / total) + r0)
    # row-wise half-maximum widths over the central 80 % of the body's height
    height_rows = np.nonzero(t.max(axis=1) >= _MIN_COLUMN_SHARE * t.max())[0]
    lo, hi = np.percentile(height_rows, [10, 90])
    widths = [
        np.count_nonzero(t[r] >= HALF * t[r].max())
        for r in height_rows
        if lo <= r <= hi and t[r].max() > 0
    ]
    width = float(np.percentile(widths, 90)) if widths else 0.0
    mids = [_row_edge_midpoint(t[r]) for r in height_rows if lo <= r <= hi and t[r].max() > 0]
    edge_centre = float(np.median(mids)) + c0 if mids else centre[0]
    centre_cols = good[np.abs(good + c0 - centre[0]) <= max(1.0, 0.25 * width)]
    height = float(np.nanmedian(bottom[centre_cols] - top[centre_cols])) if centre_cols.size else 0
    return BodyShape(view.name, centre, width, height, good + c0,
                     top[good] + r0, bottom[good] + r0, edge_centre)  # fmt: skip


def _row_edge_midpoint(profile: np.ndarray) -> float:
    """Midpoint (column) of the outermost half-maximum crossings of one row's thickness."""
    level = HALF * profile.max()
    above = np.flatnonzero(profile >= level)
    a, b = int(above[0]), int(above[-1])
    left, right = float(a), float(b)
    if a > 0 and profile[a] != profile[a - 1]:
        left = a - (profile[a] - level) / (profile[a] - profile[a - 1])
    if b + 1 < profile.size and profile[b] != profile[b + 1]:
        right = b + (profile[b] - level) / (profile[b] - profile[b + 1])
    return 0.5 * (left + right)


def _edge_at(shape: BodyShape, which: str) -> dict[int, float]:
    values = shape.top if which == "top" else shape.bottom
    return {int(c): float(v) for c, v in zip(shape.columns, values, strict=True)}


def disc_line(upper: BodyShape, lower: BodyShape, fit_fraction: float):
    """(intercept, slope, gap_px) of the mid-disc line row = a + b * column, or None."""
    half = 0.5 * fit_fraction * min(upper.width_px, lower.width_px)
    centre = 0.5 * (upper.centre[0] + lower.centre[0])
    bottoms, tops = _edge_at(upper, "bottom"), _edge_at(lower, "top")
    cols = [c for c in bottoms if c in tops and abs(c - centre) <= half]
    if len(cols) < 3:
        return None
    c = np.asarray(cols, dtype=float)
    b = np.asarray([bottoms[k] for k in cols])
    t = np.asarray([tops[k] for k in cols])
    slope, intercept = np.polyfit(c, 0.5 * (b + t), 1)
    return float(intercept), float(slope), float(np.median(t - b))


@dataclass(frozen=True)
class LevelGeometry:
    """Lines (intercept, slope) bounding each level, the axis, the box and the label image."""

    levels: tuple[str, ...]
    upper: tuple[tuple[float, float], ...]
    lower: tuple[tuple[float, float], ...]
    extrapolated: tuple[bool, ...]
    discs: dict[str, tuple[float, float, float]]  # name -> (intercept, slope, gap_px)
    axis_rows: np.ndarray
    axis_cols: np.ndarray
    half_width_px: float
    label_image: np.ndarray
    shapes: dict[str, BodyShape]


def level_geometry(
    views: list[BodyView], shape: tuple[int, int], spacing_mm, convention: TruthConvention
) -> LevelGeometry:
    """Discs, axis, box and label image from the projected bodies (module docstring)."""
    shapes = {v.name: body_shape(v) for v in views}
    names = [v.name for v in views]  # cranio-caudal
    discs = {}
    for up, low in zip(names, names[1:], strict=False):
        fit = disc_line(shapes[up], shapes[low], convention.disc_fit_fraction)
        if fit is not None:
            discs[disc_name(up, low)] = fit
    if convention.axis_centre == "edges":
        centres = np.array([(shapes[n].edge_centre_col, shapes[n].centre[1]) for n in names])
    else:
        centres = np.array([shapes[n].centre for n in names])  # (col, row)
    axis_rows = np.arange(shape[0], dtype=float)
    axis_cols = _axis(centres, axis_rows)
    ref = shapes.get(convention.box.width_level)
    if ref is None:
        raise ValueError(f"no {convention.box.width_level} body to set the box width")
    half_width_px = convention.box.half_width_mm(ref.width_px * spacing_mm[1]) / spacing_mm[1]
    gaps = [g for _, _, g in discs.values()]
    mean_gap = float(np.mean(gaps)) if gaps else 0.0
    levels, uppers, lowers, extra = [], [], [], []
    for i, name in enumerate(names):
        if name not in LEVEL_ORDER or name == "S1" or i == len(names) - 1:
            continue
        below = discs.get(disc_name(name, names[i + 1]))
        if below is None:
            continue
        above = discs.get(disc_name(names[i - 1], name)) if i > 0 else None
        extrapolated = above is None
        if extrapolated:  # the top of the scan: one body height and a disc above the lower line
            lift = shapes[name].height_px + mean_gap
            above = (below[0] - lift, below[1], mean_gap)
        levels.append(name)
        uppers.append(above[:2])
        lowers.append(below[:2])
        extra.append(extrapolated)
    label_image = _label_image(shape, axis_cols, half_width_px, uppers, lowers)
    return LevelGeometry(tuple(levels), tuple(uppers), tuple(lowers), tuple(extra), discs,
                         axis_rows, axis_cols, half_width_px, label_image, shapes)  # fmt: skip


def _axis(centres: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Column of the spine axis per row: straight segments through the body centres."""
    order = np.argsort(centres[:, 1])
    r, c = centres[order, 1], centres[order, 0]
    cols = np.interp(rows, r, c)
    if len(r) >= 2:  # extend the end segments beyond the first and last centres
        top, bottom = rows < r[0], rows > r[-1]
        cols[top] = c[0] + (rows[top] - r[0]) * (c[1] - c[0]) / (r[1] - r[0])
        cols[bottom] = c[-1] + (rows[bottom] - r[-1]) * (c[-1] - c[-2]) / (r[-1] - r[-2])
    return cols


def _label_image(shape, axis_cols, half_width_px, uppers, lowers) -> np.ndarray:
    rows, cols = shape
    c = np.arange(cols)[None, :]
    r = np.arange(rows)[:, None]
    in_box = np.abs(c - axis_cols[:, None]) <= half_width_px
    labels = np.zeros(shape, dtype=np.int16)
    for code, (up, low) in enumerate(zip(uppers, lowers, strict=True), start=1):
        below_upper = r > up[0] + up[1] * c
        above_lower = r <= low[0] + low[1] * c
        region = in_box & below_upper & above_lower & (labels == 0)
        labels[region] = code
    return labels


def level_stats(mineral_g_cm2, labels, n_levels: int, pixel_area_cm2: float, threshold: float):
    """(bmc_g, area_cm2, bmd_g_cm2) per level code 1..n under the bone-pixel threshold."""
    bone = mineral_g_cm2 > threshold
    codes = np.where(bone, labels, 0).ravel()
    bmc = np.bincount(codes, weights=mineral_g_cm2.ravel(), minlength=n_levels + 1)[1:]
    count = np.bincount(codes, minlength=n_levels + 1)[1:].astype(float)
    bmc, area = bmc * pixel_area_cm2, count * pixel_area_cm2
    bmd = np.divide(bmc, area, out=np.zeros_like(bmc), where=area > 0)
    return bmc, area, bmd


def _line_px(line, axis_col: float, half_width_px: float) -> list[list[float]]:
    a, b = line
    return [[_r(c), _r(a + b * c)] for c in (axis_col - half_width_px, axis_col + half_width_px)]


def _axis_at(geometry: LevelGeometry, line) -> float:
    """The column where ``line`` (intercept, slope) crosses the axis (a fixed point)."""
    a, b = line
    col = float(np.median(geometry.axis_cols))
    for _ in range(4):
        col = float(np.interp(a + b * col, geometry.axis_rows, geometry.axis_cols))
    return col


def edge_threshold_g_cm2(
    mineral_g_cm2: np.ndarray, geometry: LevelGeometry, spacing_mm, edge: EdgeConvention
) -> float:
    """The bone threshold (g/cm2) of the true mineral map under ``edge``.

    A relative edge takes its fraction of the spine's core density, measured as the pipeline
    and the drawn phantom measure it: +-5 mm of the true axis, from the upper mid-disc line of
    L1 to the lower one of L4 (the outermost levels present if those are missing).
    """
    if edge.rule == "absolute" or not geometry.levels:
        return edge.value if edge.rule == "absolute" else LEGACY_EDGE.value
    names = list(geometry.levels)
    first = names.index("L1") if "L1" in names else 0
    last = names.index("L4") if "L4" in names else len(names) - 1

    def row(line):
        return line[0] + line[1] * _axis_at(geometry, line)

    span = (row(geometry.upper[first]), row(geometry.lower[last]))
    core = spine_core_density(mineral_g_cm2, geometry.axis_cols, span, spacing_mm[1])
    return edge.threshold(core) if np.isfinite(core) else LEGACY_EDGE.value


def truth_levels(
    geometry: LevelGeometry,
    mineral_g_cm2: np.ndarray,
    own_mineral_g: dict[str, np.ndarray],
    spacing_mm,
    threshold_g_cm2: float,
    clipped: dict[str, bool],
    findings: dict[str, list[str]],
) -> tuple[list[dict], list[dict]]:
    """The truth JSON ``levels`` and ``lines`` lists (the drawn phantom's layout)."""
    rows = mineral_g_cm2.shape[0]
    pixel_area = spacing_mm[0] * spacing_mm[1] / 100.0
    n = len(geometry.levels)
    bmc, area, bmd = level_stats(mineral_g_cm2, geometry.label_image, n, pixel_area,
                                 threshold_g_cm2)  # fmt: skip
    bone = mineral_g_cm2 > threshold_g_cm2
    hw = geometry.half_width_px

    def axis_at(line):
        return _axis_at(geometry, line)

    levels = []
    for i, name in enumerate(geometry.levels):
        upper = _line_px(geometry.upper[i], axis_at(geometry.upper[i]), hw)
        lower = _line_px(geometry.lower[i], axis_at(geometry.lower[i]), hw)
        complete = all(0 <= p[1] <= rows - 1 for p in upper + lower)
        complete = complete and not geometry.extrapolated[i] and not clipped.get(name, False)
        region = (geometry.label_image == i + 1) & bone
        own = own_mineral_g.get(name)
        shape = geometry.shapes[name]
        levels.append({
            "label": name, "code": i + 1, "bmc_g": _r(bmc[i]), "area_cm2": _r(area[i]),
            "bmd_g_cm2": _r(bmd[i]),
            "height_mm": _r(shape.height_px * spacing_mm[0]),
            "width_mm": _r(shape.width_px * spacing_mm[1]),
            "upper_line_px": upper, "lower_line_px": lower, "complete": bool(complete),
            "lesions": [], "lesion_free": not findings.get(name),
            "findings": list(findings.get(name, [])),
            "upper_line_extrapolated": bool(geometry.extrapolated[i]),
            "own_vertebra_bmc_g": _r(own[region].sum() * pixel_area) if own is not None else None,
        })  # fmt: skip
    lines = []
    for disc, (a, b, gap) in geometry.discs.items():
        (c0, r0), (c1, r1) = _line_px((a, b), axis_at((a, b)), hw)
        if 0 <= (r0 + r1) / 2 <= rows - 1:
            lines.append({"name": disc, "left": [c0, r0], "right": [c1, r1],
                          "gap_mm": _r(gap * spacing_mm[0])})  # fmt: skip
    return levels, lines


def levels_under_edge(geometry, mineral_g_cm2, spacing_mm, threshold_g_cm2: float) -> list[dict]:
    """Per-level BMC, area and BMD under another edge (the ``levels_by_edge`` entries)."""
    pixel_area = spacing_mm[0] * spacing_mm[1] / 100.0
    bmc, area, bmd = level_stats(mineral_g_cm2, geometry.label_image, len(geometry.levels),
                                 pixel_area, threshold_g_cm2)  # fmt: skip
    return [{"label": n, "bmc_g": _r(bmc[i]), "area_cm2": _r(area[i]), "bmd_g_cm2": _r(bmd[i])}
            for i, n in enumerate(geometry.levels)]  # fmt: skip


def level_composites(levels: list[dict]) -> dict:
    """Every set of 2+ of L1-L4: total BMC / total area (the drawn phantom's function)."""
    return composites(levels)
