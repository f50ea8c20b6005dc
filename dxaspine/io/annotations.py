"""Burned-in vendor graphics in display exports: find them and inpaint them.

Display exports (docs/domain.md §6) are often captures of the vendor's analysis screen: the
intervertebral lines, the ROI box, the level labels "L1".."L4" and sometimes a text block are
drawn *into the pixels*.  Left in, a near-white line across a disc space fills the dark
valley the segmenter looks for (disc lines moved 3-4 mm on a Prodigy-like phantom), and
lines and letters over soft tissue look like bone (false osteophyte / sclerosis flags, areas
about 5 % too large).

What identifies such graphics, and what separates them from anatomy (cortical rims,
endplates, pedicle rings are thin and bright too):

1. **Thin**: at most ~3 px wide, drawn in screen pixels, so a grey opening with a 5 x 5
   square removes them; the white top-hat (image minus opening) is then nearly the whole
   height of the graphic above the local background.  Anatomy is blurred by the focal spot,
   the detector and the vendor's smoothing, so a thin cortical rim stands out from the bone
   beside it by only a fraction of the bone-to-soft-tissue contrast.
2. **One flat colour near white**: vendors draw graphics in one grey (antialiasing aside);
   the dominant grey of the strong top-hat pixels must be brighter than 99 % of the
   (opened) anatomy.  Anatomy's thin peaks are noise and spread over many values.
3. **Extended**: a line or a word is dozens of connected pixels; noise peaks are 1-4 px.
4. **Free-standing**: not the ragged fringe of a wide flat region of the same grey (an
   outside-field strip that is not at the top of the range, a metal blob).

Pixels passing 1-3 (with hysteresis along the graphic where it crosses bright bone, where its
top-hat is small) are replaced by a normalized-convolution average of the surrounding
non-graphic pixels.  A graphic is at most ~3 px wide, so every replaced pixel has measured
neighbours within ~2 px: the inpainting interpolates over a gap narrower than the image's
own blur and is trusted.  Only pixels farther than :data:`MAX_TRUSTED_GAP_PX` from measured
pixels (a filled block of text, say) are also removed from the field mask.

Only ever applied to the ``display`` kind; quantitative frames are never altered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

# A 5 x 5 opening removes every structure at most 4 px wide: 1-3 px vendor lines and 1 px
# bitmap-font strokes.  Wider structures (metal rods >= 5 mm, vertebral bodies) survive.
OPENING_SIZE_PX = 5
# Seeds: top-hat at least this fraction of the anatomy's contrast (opened p99.5 - p5).  A
# graphic over soft tissue stands ~1.2 contrasts above it (phantom: top-hat 1st percentile
# 137 grey for a contrast of 120-150); blurred cortical rims and endplates reach ~0.8 only on
# anisotropic 1.05 mm rows (Prodigy-like), so the flat-colour and size tests below decide.
SEED_TOPHAT_FRACTION = 0.4
# Hysteresis: along a graphic crossing bright bone its top-hat drops; keep pixels of the same
# flat colour whose top-hat still clears image noise (a few % of the contrast).
GROW_TOPHAT_FRACTION = 0.04
# Flat colour: same grey within this fraction of the contrast (~2-3 levels on 8-bit exports).
COLOUR_TOLERANCE_FRACTION = 0.02
# The graphic colour must be brighter than this percentile of the opened field (unclipped
# pixels: metal can fill more than 1 % of it).
COLOUR_MIN_PERCENTILE = 99.9
# A cluster (glyphs merged by a small dilation) needs this many graphic pixels: a level label
# "L1" has ~20, a noise peak 1-4.
MIN_CLUSTER_PX = 12
# Glyphs of one word are <= ~3 px apart in the bitmap font; merge them with a 5 x 7 dilation.
CLUSTER_DILATION = (5, 7)
# Candidates this close (px) to a same-coloured plateau are its fringe: strip edges jitter by
# up to ~1 mm (4 px on iDXA-like pixels) row to row, so 8 px covers them with a margin.
PLATEAU_MARGIN_PX = 8.0
# Inpainting: median of the valid pixels in a 5 x 5 window (a 1-3 px graphic leaves >= 10 of
# its 25 pixels valid); below 5 valid pixels, a normalized convolution with these sigmas (px),
# widened until every pixel is reached.
MEDIAN_WINDOW_PX = 5
MIN_MEDIAN_SUPPORT = 5
INPAINT_SIGMAS_PX = (1.0, 2.0, 4.0, 8.0)
# Pixels farther than this from measured ones are inpainted *and* left out of the field.
MAX_TRUSTED_GAP_PX = 2.5


@dataclass(frozen=True)
class GraphicsRemoval:
    """Result of :func:`remove_burned_in_graphics`."""

    image: np.ndarray  # float64, graphics inpainted
    field_mask: np.ndarray  # bool, untrusted inpainted pixels removed
    graphics_mask: np.ndarray  # bool, the pixels replaced
    untrusted_px: int  # of those, how many were also removed from the field

    @property
    def removed_px(self) -> int:
        return int(self.graphics_mask.sum())


def _fill_outside(image: np.ndarray, field_mask: np.ndarray) -> np.ndarray:
    """Outside-field pixels take the nearest field pixel's value (no edges at the strips)."""
    if field_mask.all():
        return image
    index = ndi.distance_transform_edt(~field_mask, return_distances=False, return_indices=True)
    return image[tuple(index)]


def _dominant_colour(values: np.ndarray, tolerance: float) -> float:
    """The most common value (in bins of ``tolerance``) among the seed candidates."""
    bins = np.rint(values / tolerance).astype(np.int64)
    uniq, counts = np.unique(bins, return_counts=True)
    centre = uniq[np.argmax(counts)] * tolerance
    near = values[np.abs(values - centre) <= tolerance]
    return float(np.median(near))


def find_burned_in_graphics(
    image: np.ndarray, field_mask: np.ndarray, saturation_value: float | None = None
) -> np.ndarray:
    """True where vendor graphics are burned into a bone-bright display image.

    Parameters
    ----------
    image : (M, N) ndarray
        Display grey values, bone bright (MONOCHROME1 already inverted), any bit depth.
    field_mask : (M, N) ndarray of bool
        Where the scanner measured (saturated strips excluded).
    saturation_value : float, optional
        The top of the stored range (bone-bright).  Clipped pixels are never graphics: metal,
        photon starvation and over-windowed sclerotic endplates clip to it in thin shapes too.

    Returns
    -------
    (M, N) ndarray of bool
        Inside ``field_mask`` only.
    """
    image = np.asarray(image, dtype=np.float64)
    field_mask = np.asarray(field_mask, dtype=bool)
    found = np.zeros(image.shape, dtype=bool)
    if image.size == 0 or field_mask.sum() < OPENING_SIZE_PX**2:
        return found
    filled = _fill_outside(image, field_mask)
    opened = ndi.grey_opening(filled, size=(OPENING_SIZE_PX, OPENING_SIZE_PX))
    tophat = filled - opened
    low, high = np.percentile(opened[field_mask], [5.0, 99.5])
    contrast = float(high - low)
    if not contrast > 0:
        return found
    usable = field_mask if saturation_value is None else field_mask & (filled < saturation_value)
    strong = usable & (tophat >= SEED_TOPHAT_FRACTION * contrast)
    if not strong.any():
        return found
    tolerance = COLOUR_TOLERANCE_FRACTION * contrast
    colour = _dominant_colour(filled[strong], tolerance)
    if colour < np.percentile(opened[usable], COLOUR_MIN_PERCENTILE):
        return found  # the strong thin peaks are not one near-white colour: anatomy/noise
    flat = usable & (np.abs(filled - colour) <= tolerance)
    seeds = strong & flat
    grown = flat & (tophat >= GROW_TOPHAT_FRACTION * contrast)
    labels, _ = ndi.label(grown, structure=np.ones((3, 3), dtype=bool))
    keep = np.unique(labels[seeds])
    candidate = np.isin(labels, keep[keep > 0])
    # A flat region of the same colour that the opening keeps (an unsaturated outside-field
    # strip, the halo of a metal blob) is not a graphic, nor is its ragged fringe.
    plateau = flat & (opened >= colour - tolerance)
    if plateau.any():
        candidate &= ndi.distance_transform_edt(~plateau) > PLATEAU_MARGIN_PX
    clusters, n = ndi.label(ndi.binary_dilation(candidate, np.ones(CLUSTER_DILATION, bool)))
    if n == 0:
        return found
    sizes = np.bincount(clusters[candidate], minlength=n + 1)
    return candidate & (sizes >= MIN_CLUSTER_PX)[clusters]


def inpaint(image: np.ndarray, hole: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``image`` with ``hole`` pixels replaced from the ``valid`` pixels around them.

    Each hole pixel takes the median of the valid pixels in the
    :data:`MEDIAN_WINDOW_PX` square around it (a median keeps a bone edge that a line
    crosses sharp, where a mean would blur it); the few with fewer than
    :data:`MIN_MEDIAN_SUPPORT` valid neighbours fall back to a normalized convolution
    (Gaussian-weighted mean of valid pixels, sigma widened until the pixel is reached).
    """
    out = np.asarray(image, dtype=np.float64).copy()
    valid = valid & ~hole
    rows, cols = np.nonzero(hole)
    if rows.size == 0:
        return out
    half = MEDIAN_WINDOW_PX // 2
    padded = np.pad(np.where(valid, out, np.nan), half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (MEDIAN_WINDOW_PX,) * 2)
    patches = windows[rows, cols].reshape(rows.size, -1)
    support = np.isfinite(patches).sum(axis=1)
    enough = support >= MIN_MEDIAN_SUPPORT
    if enough.any():
        out[rows[enough], cols[enough]] = np.nanmedian(patches[enough], axis=1)
    todo = np.zeros(hole.shape, dtype=bool)
    todo[rows[~enough], cols[~enough]] = True
    weight = valid.astype(np.float64)
    values = np.where(valid, out, 0.0)
    for sigma in INPAINT_SIGMAS_PX:
        if not todo.any():
            break
        num = ndi.gaussian_filter(values, sigma, mode="nearest")
        den = ndi.gaussian_filter(weight, sigma, mode="nearest")
        reached = todo & (den > 1e-3)
        out[reached] = num[reached] / den[reached]
        todo &= ~reached
    return out


def remove_burned_in_graphics(
    image: np.ndarray, field_mask: np.ndarray, saturation_value: float | None = None
) -> GraphicsRemoval:
    """Find burned-in graphics (:func:`find_burned_in_graphics`) and inpaint them.

    Parameters
    ----------
    image : (M, N) ndarray
        Display grey values, bone bright.
    field_mask : (M, N) ndarray of bool
        Where the scanner measured.
    saturation_value : float, optional
        The top of the stored range; clipped pixels are left alone.

    Returns
    -------
    GraphicsRemoval
        The inpainted image, the field mask without untrusted pixels, the graphics mask.
    """
    image = np.asarray(image, dtype=np.float64)
    field_mask = np.asarray(field_mask, dtype=bool)
    graphics = find_burned_in_graphics(image, field_mask, saturation_value)
    if not graphics.any():
        return GraphicsRemoval(image, field_mask, graphics, 0)
    valid = field_mask & ~graphics
    gap_px = ndi.distance_transform_edt(~valid)
    untrusted = graphics & (gap_px > MAX_TRUSTED_GAP_PX)
    return GraphicsRemoval(
        inpaint(image, graphics, valid), field_mask & ~untrusted, graphics, int(untrusted.sum())
    )
