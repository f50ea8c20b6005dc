"""Two reference segmenters that give every benchmark table a ceiling and a floor.

- :func:`oracle_segmenter` returns the **truth** itself as a ``Segmentation``: the truth's
  lines, its level regions and its bone mask for L1-L4 (the levels an analysis reports; on
  the head-up grid of the loaded scan), with confidence 1.  Everything it gets wrong downstream is not segmentation: its BMD error is
  the physics-only error (decomposition and noise), its flags are the evidence stage's on
  perfect lines.  When the truth has no bone mask (a hand annotation of lines), the oracle
  takes the classical bone mask inside the truth's box; when it has no label image, the box
  is the truth lines' own span.
- :func:`naive_segment` is deliberately simple and must be beaten: threshold the map, take
  the column of most bone as a vertical axis, a fixed 25 mm half-width box, and split the
  rows from the first to the last bone row into five equal periods, taking them as mid-T12 to
  mid-L5 (docs/domain.md §4: a lumbar scan covers about mid-T12 to mid-L5): four horizontal
  levels L1-L4 between five lines, each with the constant confidence 0.5 (one weak cue).
"""

from __future__ import annotations

import numpy as np

from dxaspine.bench.truth import CaseTruth
from dxaspine.errors import SegmentationError, describe
from dxaspine.levels import CLINICAL_LEVELS, disc_name
from dxaspine.segment.segmentation import IntervertebralLine, Segmentation

__all__ = ["NAIVE_CONFIDENCE", "naive_segment", "oracle_segmenter"]

NAIVE_HALF_WIDTH_MM = 25.0  # about half a lumbar body width (docs/domain.md §4: 40-50 mm)
NAIVE_CONFIDENCE = 0.5
NAIVE_PERIODS = 5  # mid-T12 to mid-L5: half of T12, L1-L4, half of L5
# Bone for the naive axis: the 30 % point between the field's soft tissue (20th percentile)
# and its densest bone (99th percentile); a row is a bone row when a third of its box is bone.
_NAIVE_LEVEL = 0.3
_NAIVE_ROW_FILL = 1 / 3


def _flip(array: np.ndarray, flips) -> np.ndarray:
    out = array
    if "rows" in flips:
        out = out[::-1, :]
    if "columns" in flips:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _axis_from_box(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box centre on every image row (held constant above and below the box).

    Every row, because the evidence stage reads ``axis_columns`` by image row.
    """
    rows = np.nonzero(box.any(axis=1))[0]
    cols = np.arange(box.shape[1], dtype=float)
    centre = [(cols[box[r]].min() + cols[box[r]].max()) / 2 for r in rows]
    all_rows = np.arange(box.shape[0], dtype=float)
    return all_rows, np.interp(all_rows, rows.astype(float), np.asarray(centre, dtype=float))


def _box_from_lines(shape, lines: list[IntervertebralLine]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: first and last box column, interpolated between the lines' endpoints."""
    rows = np.arange(shape[0], dtype=float)
    left_r = np.array([ln.left[1] for ln in lines])
    order = np.argsort(left_r)
    lo = np.interp(rows, left_r[order], np.array([ln.left[0] for ln in lines])[order])
    right_r = np.array([ln.right[1] for ln in lines])
    order_r = np.argsort(right_r)
    hi = np.interp(rows, right_r[order_r], np.array([ln.right[0] for ln in lines])[order_r])
    top = min(min(ln.left[1], ln.right[1]) for ln in lines)
    bottom = max(max(ln.left[1], ln.right[1]) for ln in lines)
    outside = (rows < np.floor(top)) | (rows > np.ceil(bottom))
    lo[outside], hi[outside] = np.nan, np.nan
    return lo, hi


def _classical_bone(density_map, lo, hi) -> np.ndarray:
    from dxaspine.segment.bone_mask import bone_mask, bone_threshold, make_work_image

    contrast, soft = bone_threshold(density_map, make_work_image(density_map))
    return bone_mask(density_map, contrast, soft, lo, hi)


def _edge_line(region: np.ndarray, top: bool, name: str) -> IntervertebralLine | None:
    """A horizontal line along the field-edge side of a level region cut by the field edge."""
    rows = np.nonzero(region.any(axis=1))[0]
    if rows.size == 0:
        return None
    row = float(rows[0] if top else rows[-1])
    cols = np.nonzero(region[int(row)])[0]
    return IntervertebralLine((float(cols[0]), row), (float(cols[-1]), row), name)


def _clinical_levels(lines, names, head_up_labels, truth):
    """The L1-L4 levels of the truth, as an analysis reports them (docs/domain.md §1).

    Levels outside L1-L4 are left out (the classical segmenter reports L1-L4 too, so both
    meet the evidence stage on the same levels).  An L1 or L4 that the field edge cuts (its
    outer line lies outside the image) is kept, bounded by the edge row of its truth region:
    the truth gives it BMC and area for the part inside the field, as an analysis does.
    """
    keep = [i for i, n in enumerate(names) if n in CLINICAL_LEVELS]
    if len(keep) < 2:
        return lines, names
    lines, names = lines[keep[0] : keep[-1] + 2], names[keep[0] : keep[-1] + 1]
    for name, top in ((CLINICAL_LEVELS[0], True), (CLINICAL_LEVELS[-1], False)):
        if name in names or truth.code_of(name) is None:
            continue
        neighbour = lines[0] if top else lines[-1]
        if neighbour.name.split("/")[0 if top else 1] != name:
            continue  # the level is not next to the annotated ones
        line = _edge_line(head_up_labels == truth.code_of(name), top,
                          disc_name(None, name) if top else disc_name(name, None))  # fmt: skip
        if line is None:
            continue
        if top and line.midpoint[1] < neighbour.midpoint[1]:
            lines, names = [line, *lines], [name, *names]
        elif not top and line.midpoint[1] > neighbour.midpoint[1]:
            lines, names = [*lines, line], [*names, name]
    return lines, names


def oracle_segmenter(truth: CaseTruth):
    """A segmenter ``(DensityMap, Scan) -> Segmentation`` that returns ``truth``."""

    def oracle(density_map, scan) -> Segmentation:
        from dxaspine.segment.kernels import rasterize_levels

        shape = np.asarray(density_map.values).shape
        flips = tuple(scan.orientation_flips)
        lines = []
        for t in truth.lines:  # stored -> head-up: the same flip (its own inverse)
            a, b = scan.to_stored_xy(*t.left), scan.to_stored_xy(*t.right)
            left, right = (a, b) if a[0] <= b[0] else (b, a)
            lines.append(IntervertebralLine(tuple(left), tuple(right), t.name))
        lines.sort(key=lambda ln: ln.midpoint[1])
        if len(lines) < 2:
            raise SegmentationError(describe(truth.path, "truth has fewer than 2 lines",
                                             "the oracle needs annotated lines"))  # fmt: skip
        names = [ln.name.split("/")[1] for ln in lines[:-1]]
        if truth.label_image is not None:
            if truth.label_image.shape != shape:
                raise SegmentationError(
                    describe(truth.path, f"truth label image {truth.label_image.shape} is not "
                             f"the image's {shape}", "write it on the stored image grid")
                )  # fmt: skip
            head_up = _flip(truth.label_image, flips)
            lines, names = _clinical_levels(lines, names, head_up, truth)
            label_image = np.zeros(shape, dtype=np.int32)
            for i, name in enumerate(names):
                code = truth.code_of(name)
                if code is not None:
                    label_image[head_up == code] = i + 1
            box = label_image > 0
            lo = hi = None
        else:
            lo, hi = _box_from_lines(shape, lines)
            label_image = rasterize_levels(
                shape, lo, hi,
                np.array([ln.midpoint[0] for ln in lines]),
                np.array([ln.midpoint[1] for ln in lines]),
                np.array([(ln.right[1] - ln.left[1]) / (ln.right[0] - ln.left[0]) for ln in lines]),
            )  # fmt: skip
            box = label_image > 0
        if truth.bone_mask is not None:
            bone = _flip(truth.bone_mask, flips)
        elif truth.level_masks == "bone":
            bone = label_image > 0
        else:
            if lo is None:  # the box's span per row, from the label image
                spans = np.where(box, np.arange(shape[1])[None, :], np.nan)
                filled = box.any(axis=1)
                lo, hi = np.full(shape[0], np.nan), np.full(shape[0], np.nan)
                lo[filled] = np.nanmin(spans[filled], axis=1)
                hi[filled] = np.nanmax(spans[filled], axis=1)
            bone = _classical_bone(density_map, lo, hi) & box
        axis_rows, axis_columns = _axis_from_box(box)
        return Segmentation(
            bone_mask=np.asarray(bone, dtype=bool),
            axis_rows=axis_rows,
            axis_columns=axis_columns,
            box_mask=box,
            lines=tuple(lines),
            labels=tuple(names),
            label_confidence=tuple(1.0 for _ in names),
            label_image=label_image,
        )

    return oracle


def naive_segment(density_map, scan) -> Segmentation:
    """Equal-height levels between the first and last bone rows (see the module docstring)."""
    values = np.asarray(density_map.values, dtype=float)
    field = np.asarray(density_map.field_mask, dtype=bool) & np.isfinite(values)
    if field.sum() < 16:
        raise SegmentationError(describe(getattr(scan, "path", None), "no measured pixels",
                                         "check the input"))  # fmt: skip
    soft, dense = np.percentile(values[field], [20, 99])
    bone = field & (values > soft + _NAIVE_LEVEL * (dense - soft))
    spacing_r, spacing_c = density_map.pixel_spacing_mm
    column = int(np.argmax(bone.sum(axis=0)))
    half = NAIVE_HALF_WIDTH_MM / spacing_c
    lo_col, hi_col = max(0.0, column - half), min(values.shape[1] - 1.0, column + half)
    in_box = bone[:, int(np.ceil(lo_col)) : int(np.floor(hi_col)) + 1]
    rows = np.nonzero(in_box.mean(axis=1) >= _NAIVE_ROW_FILL)[0]
    if rows.size < 2:
        raise SegmentationError(describe(getattr(scan, "path", None), "no bone rows found",
                                         "check that this is a PA lumbar spine"))  # fmt: skip
    top, bottom = float(rows[0]), float(rows[-1])
    period = (bottom - top) / NAIVE_PERIODS
    names = CLINICAL_LEVELS
    line_rows = [top + (k + 0.5) * period for k in range(len(names) + 1)]
    lines = tuple(
        IntervertebralLine(
            (lo_col, r), (hi_col, r),
            disc_name(names[k - 1] if k > 0 else None, names[k] if k < len(names) else None),
        )
        for k, r in enumerate(line_rows)
    )  # fmt: skip
    shape = values.shape
    grid_r = np.arange(shape[0])[:, None]
    grid_c = np.arange(shape[1])[None, :]
    box = (grid_c >= np.ceil(lo_col)) & (grid_c <= np.floor(hi_col))
    box = box & (grid_r >= np.floor(line_rows[0])) & (grid_r <= np.ceil(line_rows[-1]))
    level = np.searchsorted(np.asarray(line_rows), np.arange(shape[0]) + 0.0, side="right")
    level = np.where((level >= 1) & (level <= len(names)), level, 0)
    label_image = np.where(box, level[:, None], 0).astype(np.int32)
    return Segmentation(
        bone_mask=bone & (label_image > 0),
        axis_rows=np.arange(shape[0], dtype=float),
        axis_columns=np.full(shape[0], float(column)),
        box_mask=label_image > 0,
        lines=lines,
        labels=tuple(names),
        label_confidence=tuple(NAIVE_CONFIDENCE for _ in names),
        label_image=label_image,
    )
