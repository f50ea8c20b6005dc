"""The overlay picture: the scan with the analysis drawn on it, beside a vendor-style table.

This is the picture a person checks before trusting the numbers, so it shows exactly what
was measured: each level's region tinted (its bone pixels), the intervertebral lines, the
labels (with their confidence when below 1), excluded levels hatched and flagged levels
outlined, and a results table (levels, BMD, T, Z; composites; reported region; WHO
category; flags).

The image is drawn head-up with the patient's left on the picture's right (the loaded
orientation, docs/architecture.md, Contract 1) at its physical aspect ratio, whatever the stored pixel
spacing.  Colours are the Okabe–Ito palette, distinguishable with the common colour-vision
deficiencies (Okabe & Ito 2008, "Color Universal Design").  Pillow only: matplotlib is not a
dependency.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dxaspine.atomic import atomic_write_bytes
from dxaspine.report.table import font, render_table_panel, shown_excluded

logger = logging.getLogger(__name__)

__all__ = ["render_overlay", "render_scan_picture", "write_overlay", "write_picture", "OKABE_ITO"]

# Okabe–Ito colours (sRGB), black omitted: it is the background.
OKABE_ITO = {
    "orange": (230, 159, 0),
    "sky_blue": (86, 180, 233),
    "bluish_green": (0, 158, 115),
    "yellow": (240, 228, 66),
    "blue": (0, 114, 178),
    "vermillion": (213, 94, 0),
    "reddish_purple": (204, 121, 167),
}
# Level tints cycle through the four most separable hues; vermillion is kept for warnings.
_LEVEL_COLOURS = ("sky_blue", "orange", "bluish_green", "reddish_purple", "yellow", "blue")
_WARNING = OKABE_ITO["vermillion"]
_LINE = (255, 255, 255)

_IMAGE_HEIGHT_PX = 900  # drawn height of the scan; a level is then ~100 px tall
_TINT_ALPHA = 0.40  # enough to see the colour, little enough to see the bone under it


def _base_image(scan_result: Any) -> np.ndarray:
    """The grey picture to draw on, (rows, cols) float in [0, 1], bone bright."""
    picture = scan_result.scan.picture  # the kind's own picture (display grey), if it has one
    if picture is not None:
        values = np.asarray(picture, dtype=np.float64)
    else:
        values = np.asarray(scan_result.density_map.values, dtype=np.float64)
    field = np.asarray(scan_result.density_map.field_mask, dtype=bool)
    inside = values[field & np.isfinite(values)]
    if inside.size == 0:
        return np.zeros(values.shape)
    # Window on robust percentiles so one metal clip or saturated strip does not grey out
    # the bone (0.5/99.5 %: the same idea as a vendor's auto-window).
    lo, hi = np.percentile(inside, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    grey = np.clip((np.nan_to_num(values, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
    grey[~field] = 0.0
    return grey


def _display_scale(shape: tuple[int, int], spacing_mm: tuple[float, float]) -> tuple[float, float]:
    """Pixels of the picture per image pixel along (rows, cols), at the physical aspect."""
    rows, cols = shape
    sy = _IMAGE_HEIGHT_PX / rows
    sx = sy * spacing_mm[1] / spacing_mm[0]
    return sy, sx


def _hatch(width: int, height: int, period: int = 10) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return ((xx + yy) % period) < 3


def _level_layers(scan_result: Any, size: tuple[int, int]) -> list[dict]:
    """Per level: its region and bone masks resized to the picture (nearest neighbour)."""
    seg = scan_result.segmentation
    width, height = size
    label_image = np.asarray(seg.label_image)
    layers = []
    for index, label in enumerate(seg.labels):
        region = label_image == index + 1
        if not region.any():
            continue
        bone = region & np.asarray(seg.bone_mask, dtype=bool)

        def up(mask: np.ndarray) -> np.ndarray:
            img = Image.fromarray(mask.astype(np.uint8) * 255).resize(
                (width, height), Image.Resampling.NEAREST
            )
            return np.asarray(img) > 127

        layers.append({"index": index, "label": label, "region": up(region), "bone": up(bone)})
    return layers


def _tinted_scan(
    result: Mapping[str, Any], scan_result: Any
) -> tuple[Image.Image, list, float, float]:
    """The scan with level tints, hatching and outlines; also the layers and the scale."""
    scan = scan_result.scan
    grey = _base_image(scan_result)
    sy, sx = _display_scale(grey.shape, scan.pixel_spacing_mm)
    width, height = round(grey.shape[1] * sx), round(grey.shape[0] * sy)
    base = Image.fromarray((grey * 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    rgb = np.repeat(np.asarray(base, dtype=np.float64)[..., None], 3, axis=2)

    by_label = {lv["label"]: lv for lv in result["levels"]}
    layers = _level_layers(scan_result, (width, height))
    hatch = _hatch(width, height)
    for layer in layers:
        colour = np.array(_level_colour(layer["index"]), dtype=np.float64)
        bone = layer["bone"]
        rgb[bone] = (1 - _TINT_ALPHA) * rgb[bone] + _TINT_ALPHA * colour
        level = by_label.get(layer["label"], {})
        if shown_excluded(result, level):
            rgb[layer["region"] & hatch] = (30, 30, 30)
    picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return picture, layers, sx, sy


def _level_colour(index: int) -> tuple[int, int, int]:
    return OKABE_ITO[_LEVEL_COLOURS[index % len(_LEVEL_COLOURS)]]


def _needs_attention(result: Mapping[str, Any], level: Mapping[str, Any]) -> bool:
    return shown_excluded(result, level) or bool(level.get("flags"))


def _draw_lines(draw, lines: Sequence[Any], sx: float, sy: float, offset: tuple[int, int]) -> None:
    face = font(13)
    ox, oy = offset
    for line in lines:
        (c0, r0), (c1, r1) = line.left, line.right
        p0 = (ox + (c0 + 0.5) * sx, oy + (r0 + 0.5) * sy)
        p1 = (ox + (c1 + 0.5) * sx, oy + (r1 + 0.5) * sy)
        draw.line([p0, p1], fill=(0, 0, 0), width=5)  # dark halo: visible on bright bone
        draw.line([p0, p1], fill=_LINE, width=2)
        if line.name:
            draw.text(
                (p1[0] + 6, p1[1]),
                line.name,
                fill=_LINE,
                font=face,
                anchor="lm",
                stroke_width=2,
                stroke_fill=(0, 0, 0),
            )


def _draw_level_outlines(
    draw, result: Mapping[str, Any], scan_result: Any, sx: float, sy: float, offset: tuple[int, int]
) -> None:
    """Each level's box between its lines; thick vermillion when excluded or flagged."""
    seg = scan_result.segmentation
    by_label = {lv["label"]: lv for lv in result["levels"]}
    ox, oy = offset

    def xy(point):
        return (ox + (point[0] + 0.5) * sx, oy + (point[1] + 0.5) * sy)

    for index, label in enumerate(seg.labels):
        if index + 1 >= len(seg.lines):
            break
        upper, lower = seg.lines[index], seg.lines[index + 1]
        quad = [xy(upper.left), xy(upper.right), xy(lower.right), xy(lower.left), xy(upper.left)]
        attention = _needs_attention(result, by_label.get(label, {}))
        if attention:
            draw.line(quad, fill=_WARNING, width=5, joint="curve")
        else:
            draw.line(quad, fill=_level_colour(index), width=2, joint="curve")


def _draw_orientation_and_scale(draw, size, sy: float, scan_result: Any, offset) -> None:
    """Patient right/left markers (head-up, left on the right) and a 50 mm scale bar."""
    (ox, oy), (width, height) = offset, size
    style = {"fill": (255, 255, 255), "font": font(18), "stroke_width": 3, "stroke_fill": (0, 0, 0)}
    draw.text((ox + 8, oy + 6), "R", **style)
    draw.text((ox + width - 8, oy + 6), "L", anchor="ra", **style)
    bar_px = 50.0 / scan_result.scan.pixel_spacing_mm[0] * sy  # 50 mm along the rows
    x, y = ox + 14, oy + height - 14
    draw.line([(x, y), (x, y - bar_px)], fill=(0, 0, 0), width=7)
    draw.line([(x, y), (x, y - bar_px)], fill=(255, 255, 255), width=3)
    draw.text((x + 10, y - bar_px / 2), "50 mm", anchor="lm", **{**style, "font": font(13)})


def _draw_labels(
    draw,
    result: Mapping[str, Any],
    scan_result: Any,
    layers: Sequence[dict],
    offset: tuple[int, int],
) -> None:
    """Label (and confidence when < 1) left of each level; exclusions and flags below it."""
    confidences = scan_result.segmentation.label_confidence
    by_label = {lv["label"]: lv for lv in result["levels"]}
    big, small = font(22), font(14)
    ox, oy = offset
    for layer in layers:
        index, label = layer["index"], layer["label"]
        rows, cols = np.nonzero(layer["region"])
        x, y = ox + cols.min() - 12, oy + (rows.min() + rows.max()) / 2
        confidence = confidences[index] if index < len(confidences) else None
        level = by_label.get(label, {})
        if confidence is None:
            confidence = level.get("label_confidence")
        text = label if confidence is None or confidence >= 1.0 else f"{label} ({confidence:.2f})"
        draw.text(
            (x, y),
            text,
            fill=_level_colour(index),
            font=big,
            anchor="rs",
            stroke_width=3,
            stroke_fill=(0, 0, 0),
        )
        notes = ["EXCLUDED"] if shown_excluded(result, level) else []
        notes += [f["code"].replace("_", " ") for f in level.get("flags", [])]
        if notes:
            draw.multiline_text(
                (x, y + 6),
                "\n".join(notes[:3]),
                fill=_WARNING,
                font=small,
                anchor="ra",
                align="right",
                stroke_width=2,
                stroke_fill=(0, 0, 0),
            )


# Room left of the scan for the labels and flag notes, above and below it, and right of it
# for the line names (pixels of the picture).
_LABEL_ROOM_PX, _MARGIN_PX, _GAP_PX = 200, 16, 80


def render_scan_picture(result: Mapping[str, Any], scan_result: Any) -> Image.Image:
    """The annotated scan alone: the overlay's left part, without the results table.

    Same drawing as :func:`render_overlay` (the report page shows it beside its own tables).

    Returns
    -------
    PIL.Image.Image
        RGB picture on black: label room, the scan (head-up, physical aspect), line names.
    """
    scan_picture, layers, sx, sy = _tinted_scan(result, scan_result)
    offset = (_LABEL_ROOM_PX, _MARGIN_PX)
    picture = Image.new(
        "RGB",
        (_LABEL_ROOM_PX + scan_picture.width + _GAP_PX, scan_picture.height + 2 * _MARGIN_PX),
        (0, 0, 0),
    )
    picture.paste(scan_picture, offset)
    draw = ImageDraw.Draw(picture)
    _draw_level_outlines(draw, result, scan_result, sx, sy, offset)
    _draw_lines(draw, scan_result.segmentation.lines, sx, sy, offset)
    _draw_labels(draw, result, scan_result, layers, offset)
    _draw_orientation_and_scale(draw, scan_picture.size, sy, scan_result, offset)
    return picture


def render_overlay(result: Mapping[str, Any], scan_result: Any) -> Image.Image:
    """Draw the overlay picture of one analysed scan.

    Parameters
    ----------
    result : mapping
        The Contract 2 result of the scan (its numbers, exclusions and flags are drawn).
    scan_result : dxaspine.pipeline.ScanResult
        Supplies the pixels: the scan (display input) or bone map (quantitative input), the
        segmentation's label image, bone mask, lines and label confidences.

    Returns
    -------
    PIL.Image.Image
        RGB picture: the scan (head-up, physical aspect) with a results table on its right.
    """
    scan_picture = render_scan_picture(result, scan_result)
    seg = scan_result.segmentation
    colours = {label: _level_colour(i) for i, label in enumerate(seg.labels)}
    table = render_table_panel(result, height=scan_picture.height, colours=colours)
    page = Image.new("RGB", (scan_picture.width + table.width, scan_picture.height), (0, 0, 0))
    page.paste(scan_picture, (0, 0))
    page.paste(table, (scan_picture.width, 0))
    return page


def write_picture(path: str | os.PathLike, picture: Image.Image) -> None:
    """Write a rendered picture as PNG, atomically."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(path, buffer.getvalue())


def write_overlay(path: str | os.PathLike, result: Mapping[str, Any], scan_result: Any) -> None:
    """Render the overlay and write it as PNG, atomically."""
    write_picture(path, render_overlay(result, scan_result))
    logger.debug("wrote overlay %s", path)
