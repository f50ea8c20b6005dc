"""The measured field of a display export: mask the saturated strips outside the scan.

Vendor display exports (docs/domain.md §6, GE Lunar iDXA) fill the area the scanner did not
measure with saturated white, in vertical strips at the left and right whose inner edge is
ragged from row to row (the scan lines start and stop at slightly different columns).

Recognition is by geometry, not by value alone: in each row, the run of saturated pixels
that touches the left (right) image edge is outside the field.  Bright bone or metal inside
the field is saturated too, but is not connected to the image edge through saturated
pixels in the same row, so it stays in the field.  A side counts as having a strip only
when most rows have such a run, so a single bright blob touching the edge is not mistaken
for a strip.  Whole saturated rows at the top and bottom are outside the field as well.
"""

from __future__ import annotations

import numpy as np

# A side has a strip when at least this fraction of rows start (end) with saturated pixels.
# The iDXA strips run the full height; 0.5 tolerates rows where the ragged edge reaches the
# image border, yet a bright object touching the edge in a few rows never qualifies.
MIN_STRIP_ROW_FRACTION = 0.5


def _edge_run_lengths(saturated: np.ndarray) -> np.ndarray:
    """Per row, the number of leading True values (the run touching column 0)."""
    not_sat = ~saturated
    first_false = np.argmax(not_sat, axis=1)
    return np.where(not_sat.any(axis=1), first_false, saturated.shape[1])


def saturated_strip_mask(image: np.ndarray, saturation_value: float) -> np.ndarray:
    """True where a pixel belongs to a saturated outside-field strip.

    Parameters
    ----------
    image : (M, N) ndarray
        Display image, bone bright, oriented head-up.
    saturation_value : float
        The saturated (white) value, normally the top of the stored range.

    Returns
    -------
    (M, N) ndarray of bool
    """
    rows, cols = image.shape
    saturated = image >= saturation_value
    outside = np.zeros((rows, cols), dtype=bool)
    if rows == 0 or cols == 0 or not saturated.any():
        return outside
    col_index = np.arange(cols)[None, :]
    left = _edge_run_lengths(saturated)
    right = _edge_run_lengths(saturated[:, ::-1])
    if np.mean(left > 0) >= MIN_STRIP_ROW_FRACTION:
        outside |= col_index < left[:, None]
    if np.mean(right > 0) >= MIN_STRIP_ROW_FRACTION:
        outside |= col_index >= (cols - right)[:, None]
    full_rows = saturated.all(axis=1)
    # Saturated rows connected to the top or bottom edge.
    top = int(np.argmin(full_rows)) if not full_rows.all() else rows
    bottom = int(np.argmin(full_rows[::-1])) if not full_rows.all() else rows
    outside[:top] = True
    outside[rows - bottom :] = True
    return outside


def display_field_mask(image: np.ndarray, saturation_value: float) -> np.ndarray:
    """``field_mask`` of a display image: True where the scanner measured."""
    return ~saturated_strip_mask(image, saturation_value)
