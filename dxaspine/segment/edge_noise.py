"""A bone edge that quantum noise does not bias: the ``isophote`` edge estimator.

The bone edge convention (:class:`dxaspine.segment.conventions.EdgeConvention`) says which
pixels are bone on a *noise-free* map: those whose density exceeds the local soft tissue by
the edge contrast T.  On a noisy map the plain per-pixel test is biased when T is not well
above the noise: the first ring of soft tissue outside a body (true density about 0) crosses
T with probability Phi(-T / sigma), and the ring's crossings stay attached to the body, so the
area grows.  Pixels just inside rarely drop out (the cortical rim is far above T), so the
errors do not cancel.  On the drawn phantom with the Hologic-like beam (sigma = 0.050 g/cm2
per 0.5 mm pixel, T = 0.044 g/cm2 at 0.5 g/cm2) that made L1-L4 area 2.7 % too large at
0.5 g/cm2 and 0.0 % at 1.4 g/cm2 (docs/accuracy.md section 4).

**The estimator** (:class:`dxaspine.segment.conventions.EdgeNoise`, ``isophote:3,2mm``):

1. sigma, the per-pixel noise, is measured on the soft tissue beside the analysis box
   (:func:`soft_tissue_noise`: median absolute horizontal first difference / (0.6745 sqrt 2),
   which ignores slow thickness trends and the occasional rib or crest edge);
2. only when the edge is less than ``band_sigmas`` (3) noise sigmas above soft tissue
   (T < 3 sigma: a soft-tissue pixel then crosses with probability above Phi(-3) = 0.13 %)
   is anything changed.  Low-noise scans (the GE-like Prodigy beam: T / sigma >= 3.16 at every
   density of the linearity series) and every noise-free truth give exactly the plain mask;
3. pixels whose value is within ``band_sigmas`` sigma of the edge level are decided on their
   **isophote average** (:func:`isophote_average`): a Gaussian-weighted mean (sigma
   ``average_mm`` = 2 mm, reach 2.5 sigma, steps of one pixel) of the pixels met by walking
   both ways along the local edge direction (the tangent of the 0.75 mm-smoothed map's
   iso-density line, re-read at every step so the walk follows a curving edge).  Each sample is
   also weighted by how close its smoothed value is to the start's (``GUIDE_SIGMAS`` noise
   sigmas of the smoothed map, :func:`smoothed_noise`): on a tilted or curved edge the nearest
   pixel of a point on the ring's iso-line can be a rim pixel, and without this weight 35 % of
   a synthetic ellipse's ring pixels averaged above T with no noise at all.  A soft-tissue ring
   pixel is then averaged with other ring pixels, not with the bone beside it, while the edge
   stays where it was: averaging *across* an edge (a Gaussian prefilter) instead moves it
   outwards by 3-4 % of the area at 0.5 mm (measured, docs/segmentation.md §8).  Pixels further
   than 3 sigma from the edge keep their per-pixel decision, which is right with probability
   > 99.87 %.

Why 2 mm: on a synthetic ellipse with sigma = T the guided walk leaves +1.6 % area at 1.25 mm,
+0.8 % at 2 mm and +0.55 % at 3 mm (the plain test +8 %); on the drawn Hologic-like series the
level spread is 2.4 / 2.0 / 2.0 %, and forced onto noise-free maps the walk moves L1-L4 area by
+0.1 to +0.3 % at 1.25 mm and up to +0.55 % at 2 mm.  2 mm is the shortest walk past which
longer ones stop paying.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from dxaspine.physics import quantiles

# Noise sample: soft tissue from this far beside the box edge, over this width, mm (the box edge
# is 7 mm beyond the widest body, so 4 mm further is clear of the bodies).
NOISE_GAP_MM = 4.0
NOISE_BAND_MM = 20.0
# Fewer difference pairs than this: no noise estimate (NaN), nothing is changed.
NOISE_MIN_SAMPLES = 200
# Smoothing of the map whose iso-density lines give the edge direction, mm.
DIRECTION_SMOOTHING_MM = 0.75
# Samples whose smoothed value differs from the start's by more than about this many noise
# sigmas of the smoothed map are off the iso-density line (guide weight, isophote_average).
GUIDE_SIGMAS = 2.0
# The isophote walk reaches this many ``average_mm`` each way.
ISOPHOTE_REACH = 2.5
# Median absolute deviation of a unit Gaussian.
_MAD_GAUSSIAN = 0.6744897501960817


def soft_tissue_noise(
    values: np.ndarray,
    valid: np.ndarray,
    box_lo: np.ndarray,
    box_hi: np.ndarray,
    column_spacing_mm: float,
) -> float:
    """Per-pixel noise sigma of the map, measured on the soft tissue beside the analysis box.

    Parameters
    ----------
    values : (M, N) ndarray
        Density map (g/cm2 or display units).
    valid : (M, N) bool ndarray
        Measured pixels.
    box_lo, box_hi : (M,) ndarray
        First/last box column per row (NaN: no box on that row).
    column_spacing_mm : float

    Returns
    -------
    float
        The robust standard deviation of one pixel, from horizontal first differences of
        pixels ``NOISE_GAP_MM``-``NOISE_GAP_MM + NOISE_BAND_MM`` beside the box:
        median |d - median d| / (0.6745 sqrt 2).  NaN with fewer than ``NOISE_MIN_SAMPLES``
        pairs.
    """
    from dxaspine.segment.kernels import noise_differences

    values = np.asarray(values, dtype=float)
    cols = values.shape[1]
    lo = np.asarray(box_lo, dtype=float)
    hi = np.asarray(box_hi, dtype=float)
    if not (np.isfinite(lo) & np.isfinite(hi)).any() or cols < 2:
        return float("nan")
    # one numba pass (numpy reference: _numpy_reference.noise_differences_reference)
    d = noise_differences(
        values, valid, lo, hi, NOISE_GAP_MM / column_spacing_mm, NOISE_BAND_MM / column_spacing_mm
    )
    if d.size < NOISE_MIN_SAMPLES:
        return float("nan")
    # np.median bit for bit, from the selection kernel (10^4-10^5 differences on iDXA)
    mad = quantiles.median(np.abs(d - quantiles.median(d)))
    return mad / (_MAD_GAUSSIAN * math.sqrt(2.0))


def smoothed_noise(noise_sigma: float, pixel_spacing_mm: tuple[float, float]) -> float:
    """Noise sigma of the ``DIRECTION_SMOOTHING_MM``-smoothed map (white per-pixel noise).

    A 2-D Gaussian of sigmas (s_r, s_c) pixels leaves sigma / sqrt(4 pi s_r s_c) of white noise.
    """
    s_r = DIRECTION_SMOOTHING_MM / float(pixel_spacing_mm[0])
    s_c = DIRECTION_SMOOTHING_MM / float(pixel_spacing_mm[1])
    return float(noise_sigma) / math.sqrt(4.0 * math.pi * max(s_r, 0.5) * max(s_c, 0.5))


def isophote_average(
    values: np.ndarray,
    valid: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    average_mm: float,
    guide_tolerance: float = float("inf"),
) -> np.ndarray:
    """Mean of each pixel's neighbours along its iso-density line (an edge-preserving smoother).

    Parameters
    ----------
    values : (M, N) ndarray
    valid : (M, N) bool ndarray
        Measured pixels; others are never sampled and come out 0.
    pixel_spacing_mm : (float, float)
        (row, column) spacing; the walk is in mm, so anisotropic pixels are handled.
    average_mm : float
        Gaussian sigma of the weights along the walk, mm.
    guide_tolerance : float
        Gaussian sigma, in value units, of a second weight on the difference between the
        smoothed map at the sample and at the start: a sample that the pixel grid puts off the
        iso-density line (on a tilted or curved edge the nearest pixel can lie across it) is
        down-weighted.  Infinite: no such weight.

    Returns
    -------
    (M, N) ndarray
        For each valid pixel, the Gaussian-weighted mean of itself and the pixels (nearest
        neighbour) met every ``min(spacing)`` mm walking both ways along the tangent of the
        ``DIRECTION_SMOOTHING_MM``-smoothed map's iso-density line through it, the direction
        re-read at every step (so the walk follows a curving edge), out to
        ``ISOPHOTE_REACH * average_mm``.
    """
    values = np.asarray(values, dtype=float)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(values)
    base = np.where(valid, values, 0.0)
    rows, cols = base.shape
    out = np.zeros_like(base)
    if base.size == 0 or average_mm <= 0:
        return np.where(valid, base, 0.0)
    smooth, tan_r, tan_c = _direction_fields(base, valid, pixel_spacing_mm)
    spacing_r, spacing_c = (float(s) for s in pixel_spacing_mm)
    step_mm = min(spacing_r, spacing_c)
    steps = int(math.ceil(ISOPHOTE_REACH * average_mm / step_mm))
    r0, c0 = np.indices(base.shape, dtype=float)
    total = base.copy()
    weights = valid.astype(float)
    for sign in (-1.0, 1.0):
        pr, pc = r0.copy(), c0.copy()
        dr, dc = sign * tan_r, sign * tan_c
        ir, ic = r0.astype(np.intp), c0.astype(np.intp)
        for k in range(1, steps + 1):
            # re-read the tangent where the walk stands, keeping the direction of travel
            nr, nc = tan_r[ir, ic], tan_c[ir, ic]
            flip = np.where(nr * dr + nc * dc < 0, -1.0, 1.0)
            dr, dc = nr * flip, nc * flip
            pr = pr + dr * (step_mm / spacing_r)
            pc = pc + dc * (step_mm / spacing_c)
            ir = np.clip(np.rint(pr), 0, rows - 1).astype(np.intp)
            ic = np.clip(np.rint(pc), 0, cols - 1).astype(np.intp)
            w = math.exp(-0.5 * (k * step_mm / average_mm) ** 2) * valid[ir, ic]
            if math.isfinite(guide_tolerance):
                w = w * np.exp(-0.5 * ((smooth[ir, ic] - smooth) / guide_tolerance) ** 2)
            total += w * base[ir, ic]
            weights += w
    np.divide(total, weights, out=out, where=weights > 0)
    return np.where(valid, out, 0.0)


def _direction_fields(base: np.ndarray, valid: np.ndarray, pixel_spacing_mm):
    """The ``DIRECTION_SMOOTHING_MM``-smoothed map and its iso-line unit tangent (mm frame)."""
    smooth = _direction_smoothed(base, valid, pixel_spacing_mm)
    # gradient in value per mm (Sobel), tangent = gradient turned by 90 degrees (unit length
    # in mm), (1, 0) where flat: one numba pass with scipy's and numpy's numbers
    # (_numpy_reference.iso_tangent_reference is the scipy form); the walk kernel makes the
    # same numbers itself (kernels.isophote_walk)
    from dxaspine.segment.kernels import iso_tangent

    tan_r, tan_c = iso_tangent(smooth, *_tangent_scales(pixel_spacing_mm))
    return smooth, tan_r, tan_c


def _tangent_scales(pixel_spacing_mm) -> tuple[float, float]:
    """The Sobel divisors that make the gradient value per mm (8 x the spacing)."""
    spacing_r, spacing_c = (float(s) for s in pixel_spacing_mm)
    return 8.0 * spacing_r, 8.0 * spacing_c


def _direction_smoothed(base: np.ndarray, valid: np.ndarray, pixel_spacing_mm) -> np.ndarray:
    """The map smoothed over ``DIRECTION_SMOOTHING_MM``, normalised by the valid pixels' weight."""
    spacing_r, spacing_c = (float(s) for s in pixel_spacing_mm)
    sigma_px = (DIRECTION_SMOOTHING_MM / spacing_r, DIRECTION_SMOOTHING_MM / spacing_c)
    # scipy's gaussian_filter(mode="nearest") with its numbers, in one vectorised numba call
    # (kernels.gaussian_nearest); divided in place, which gives the quotient's own numbers
    from dxaspine.segment.kernels import gaussian_nearest

    smooth = gaussian_nearest(base, sigma_px)
    if valid.all():
        # the filtered all-ones image is one number at every pixel (each output pixel is the
        # same sum of the same weights times 1), so it is filtered on one pixel
        weight = float(ndimage.gaussian_filter(np.ones((1, 1)), sigma_px, mode="nearest")[0, 0])
        smooth /= max(weight, 1e-9)
    else:
        weight = gaussian_nearest(valid.astype(float), sigma_px)
        smooth /= np.maximum(weight, 1e-9)
    return smooth


def isophote_average_at(
    values: np.ndarray,
    valid: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    average_mm: float,
    guide_tolerance: float,
    where: np.ndarray,
) -> np.ndarray:
    """:func:`isophote_average` at the ``where`` pixels only, ``values`` elsewhere.

    The walk runs in one numba pass over the pixels that need it
    (:func:`dxaspine.segment.kernels.isophote_walk`); :func:`isophote_average` is its numpy
    reference (tests/test_segment_edge_noise.py checks they agree).
    """
    from dxaspine.segment.kernels import isophote_walk

    values = np.asarray(values, dtype=float)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(values)
    base = np.where(valid, values, 0.0)
    out = np.array(values, dtype=float, order="C")
    if base.size == 0 or average_mm <= 0:
        return np.where(where & valid, base, out)
    # the walk makes the tangent field itself, straight into its packed fields
    smooth = _direction_smoothed(base, valid, pixel_spacing_mm)
    scale_r, scale_c = _tangent_scales(pixel_spacing_mm)
    spacing_r, spacing_c = (float(s) for s in pixel_spacing_mm)
    step_mm = min(spacing_r, spacing_c)
    steps = int(math.ceil(ISOPHOTE_REACH * average_mm / step_mm))
    weights_k = np.exp(-0.5 * (np.arange(1, steps + 1) * step_mm / average_mm) ** 2)
    isophote_walk(base, valid, smooth, scale_r, scale_c, where & valid, step_mm / spacing_r,
                  step_mm / spacing_c, weights_k, guide_tolerance, out)  # fmt: skip
    return out
