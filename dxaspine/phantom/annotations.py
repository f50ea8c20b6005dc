"""Vendor-like graphics burned into the display export (``PhantomParams.display_annotations``).

Archived display exports are often screen captures of the vendor's analysis view, with its
graphics drawn into the pixels: the intervertebral lines (extended a little beyond the ROI
box), the box's sides, the level labels "L1".."L4" beside the levels and sometimes a small
text block in a corner.  This module draws them, non-antialiased, at one near-white grey
(:data:`ANNOTATION_GREY` of 255, so still below the saturated strips) along the *truth*
lines of the analysed levels L1-L4, so that a loader can be tested for removing them.

Only the display export carries them; the quantitative files never do.  The drawing is on
the head-up image, before any flip, so the graphics flip with the pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ANNOTATION_GREY = 250  # near-white, like vendor graphics; 255 is the outside-field strips
_LINE_WIDTH_MM = 0.5  # 1 px on Prodigy / Hologic-like, 2 px on iDXA-like
_EXTEND_MM = 5.0  # disc lines run this far beyond the box on each side
_LABEL_GAP_MM = 4.0  # gap between the box's left side and the level label
_ANALYSED = ("L1", "L2", "L3", "L4")
_TEXT_BLOCK = "AP Spine\nL1-L4\nPHANTOM"  # no patient identifiers (project rule)


def line_width_px(spacing_mm: tuple[float, float]) -> int:
    return max(1, round(_LINE_WIDTH_MM / spacing_mm[1]))


def annotation_record(params, spacing_mm: tuple[float, float]) -> dict | None:
    """The truth JSON entry saying what was burned in (``None`` when nothing was)."""
    if not params.display_annotations:
        return None
    elements = ["disc_lines", "box_sides", "level_labels"]
    if params.display_annotation_text_block:
        elements.append("text_block")
    return {
        "burned_in": True,
        "kinds": ["display"],
        "grey_monochrome2": ANNOTATION_GREY,
        "line_width_px": line_width_px(spacing_mm),
        "elements": elements,
    }


def _font() -> ImageFont.ImageFont:
    # The bitmap default font: no antialiasing, identical on every platform.
    return ImageFont.load_default_imagefont()


def _extended(p0, p1, extend_px: float) -> list[tuple[float, float]]:
    (c0, r0), (c1, r1) = p0, p1
    length = float(np.hypot(c1 - c0, r1 - r0)) or 1.0
    dc, dr = (c1 - c0) / length * extend_px, (r1 - r0) / length * extend_px
    return [(c0 - dc, r0 - dr), (c1 + dc, r1 + dr)]


def annotation_mask(truth: dict, shape: tuple[int, int], text_block: bool = True) -> np.ndarray:
    """(rows, cols) bool: the pixels the vendor graphics cover, head-up (truth unflipped).

    Parameters
    ----------
    truth : dict
        The case's truth (``PhantomCase.truth``), not flipped.
    shape : (int, int)
        Image shape.
    text_block : bool
        Also draw the small text block in the top-left corner of the field.
    """
    spacing = truth["pixel_spacing_mm"]
    width = line_width_px(spacing)
    canvas = Image.new("1", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    levels = [lv for lv in truth["levels"] if lv["label"] in _ANALYSED]
    if levels:
        extend_px = _EXTEND_MM / spacing[1]
        lines = [levels[0]["upper_line_px"]] + [lv["lower_line_px"] for lv in levels]
        for p0, p1 in lines:
            draw.line(_extended(p0, p1, extend_px), fill=1, width=width)
        for side in (0, 1):  # the box's sides join the line ends, top to bottom
            draw.line([tuple(line[side]) for line in lines], fill=1, width=width)
        font = _font()
        gap_px = _LABEL_GAP_MM / spacing[1]
        for lv in levels:
            (c0, r0), (c1, r1) = lv["upper_line_px"][0], lv["lower_line_px"][0]
            left, top, right, bottom = font.getbbox(lv["label"])
            x = min(c0, c1) - gap_px - (right - left)
            y = (r0 + r1) / 2 - (bottom - top) / 2
            draw.text((round(x), round(y)), lv["label"], fill=1, font=font)
    if text_block:
        x0 = truth["field_columns"][0] + round(3.0 / spacing[1])
        y0 = round(3.0 / spacing[0])
        draw.multiline_text((x0, y0), _TEXT_BLOCK, fill=1, font=_font(), spacing=2)
    return np.asarray(canvas, dtype=bool)


def burn_in(grey: np.ndarray, truth: dict, text_block: bool = True) -> np.ndarray:
    """``grey`` (uint8, head-up, MONOCHROME2) with the vendor graphics drawn in."""
    out = grey.copy()
    out[annotation_mask(truth, grey.shape, text_block)] = ANNOTATION_GREY
    return out
