"""The working image and the bone mask: one scale for g/cm2 maps and display exports.

The segmenter does its searches (axis, discs, landmarks) on a *work image*: the density map
block-averaged to about 1 mm pixels and rescaled so that soft tissue reads 0 and the
vertebral-body core reads about 1.  That makes every threshold a fraction of the body
contrast, valid both for quantitative maps (g/cm2) and for display exports, whose grey values
are an unknown monotone transform of density (docs/domain.md §6).

The bone mask itself is computed at full resolution, because DXA area is a count of bone
pixels (docs/domain.md §5, Hologic recipe step 6).
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage

from dxaspine.physics.density_map import DensityMap
from dxaspine.physics.quantiles import linear_quantiles
from dxaspine.segment.conventions import EdgeConvention, EdgeNoise
from dxaspine.segment.edge_noise import GUIDE_SIGMAS, isophote_average_at, smoothed_noise
from dxaspine.segment.kernels import (
    above_edge_blend,
    drop_small_components,
    masked_block_mean,
    near_edge,
)

# Work-grid pixel size: ~1 mm resolves discs (8-12 mm, docs/domain.md §4) with margin and keeps the
# searches cheap on 0.25 mm iDXA images.
WORK_PIXEL_MM = 1.0
# DXA bone threshold on quantitative maps, g/cm2: "just above the soft-tissue peak" (docs/domain.md
# §5, Hologic step 2); 0.1 g/cm2 is ~10 % of a typical body (docs/domain.md §4: ~1 g/cm2).
QUANTITATIVE_BONE_THRESHOLD_G_CM2 = 0.1
# The same fraction of the body contrast on display exports, whose scale is unknown.
RELATIVE_BONE_THRESHOLD = 0.1
# The bone mask is thresholded on the unsmoothed map: DXA area is a count of pixels whose
# bone density is above the threshold (docs/domain.md §5, Hologic step 6), and any smoothing
# spreads the dense cortical rim outward, adding a ring of soft tissue (+2-4 % area on phantoms
# against truth).  Quantum noise (~0.04 g/cm2 per 0.25 mm pixel, docs/domain.md §5) then only flips
# isolated pixels, which the clean-up below removes: specks and pinholes smaller than this.
# When the noise is comparable to the edge contrast, the pixels near the edge are decided on an
# average *along* the edge instead (segment/edge_noise.py), which does not move it.
MASK_SPECK_MM2 = 2.0
# Work-image values are capped at this many body contrasts (a cortical overlap reaches ~2.5;
# metal, far above, is recognised at 4 by qc.METAL_LEVEL).
WORK_VALUE_CAP = 5.0


@dataclass(frozen=True)
class WorkImage:
    """The density map on a ~1 mm grid, soft tissue at 0 and vertebral bodies near 1."""

    values: np.ndarray  # float (rows, cols), NaN outside the field
    field: np.ndarray  # bool (rows, cols)
    pixel_spacing_mm: tuple[float, float]  # (row, column) of the work grid, mm
    factors: tuple[int, int]  # block sizes (row, column) in full-resolution pixels
    background: float  # full-resolution value mapped to 0
    scale: float  # full-resolution value range mapped to 1

    @cached_property
    def derived(self) -> dict[str, object]:
        """Arrays computed from this work image alone, by the name of what computed them
        (``axis.body_response``, ``discs.row_smoothed``), made once per work image: the
        segmenter and the evidence stage read the same work image of a map (see
        :func:`make_work_image`) and would otherwise filter it again.  Never written to."""
        return {}

    @cached_property
    def _refined(self) -> dict[float, WorkImage]:
        """:func:`refine_contrast` results by body-core value (see there)."""
        return {}

    @cached_property
    def zeroed(self) -> np.ndarray:
        """``values`` with every pixel outside the field (or NaN) at 0, made once per work
        image: the axis, disc, landmark and evidence measures all read it (each used to make
        its own copy).  Shared, so never written to."""
        return np.nan_to_num(np.where(self.field, self.values, 0.0), nan=0.0)

    def to_full_rows(self, rows: np.ndarray | float) -> np.ndarray | float:
        """Work-grid row coordinate -> full-resolution row coordinate (pixel centres)."""
        return (np.asarray(rows) + 0.5) * self.factors[0] - 0.5

    def to_full_cols(self, cols: np.ndarray | float) -> np.ndarray | float:
        return (np.asarray(cols) + 0.5) * self.factors[1] - 0.5

    def to_work_rows(self, rows: np.ndarray | float) -> np.ndarray | float:
        return (np.asarray(rows) + 0.5) / self.factors[0] - 0.5

    def to_work_cols(self, cols: np.ndarray | float) -> np.ndarray | float:
        return (np.asarray(cols) + 0.5) / self.factors[1] - 0.5


# The last map's work image, kept by the identity of the map's arrays (weak references, so
# the map is not kept alive): the classical segmenter and then the evidence stage each make
# the work image of the same map, and the second gets the first's (with what was derived
# from it: WorkImage.derived, zeroed, refine_contrast).  A DensityMap is frozen and no stage
# writes to its arrays; a caller still could, in place, so the sum of the values and the
# field's pixel count are checked too (one pass, a few percent of making the image afresh).
_last_work: tuple | None = None


def _fingerprint(values: np.ndarray, field: np.ndarray) -> tuple[float, int]:
    """What an in-place change of a map's arrays would change (NaN never matches)."""
    return float(np.sum(values)), int(np.count_nonzero(field))


def make_work_image(density_map: DensityMap) -> WorkImage:
    """Block-average to ~1 mm and normalise soft tissue to 0, the body core to ~1.

    Parameters
    ----------
    density_map : DensityMap

    Returns
    -------
    WorkImage
        Shared (frozen; its arrays never written to): the same object again for the same
        map's arrays, as long as no other map was made into a work image in between.
    """
    global _last_work
    values, field = density_map.values, density_map.field_mask
    spacing = tuple(float(s) for s in density_map.pixel_spacing_mm)
    quantitative = bool(density_map.quantitative)
    last = _last_work  # one read: another thread may replace it
    if (
        last is not None
        and last[0]() is values
        and last[1]() is field
        and last[2] == spacing
        and last[3] == quantitative
        and last[4] == _fingerprint(values, field)
    ):
        return last[5]
    work = _make_work_image(density_map)
    try:
        refs = (weakref.ref(values), weakref.ref(field))
        _last_work = (*refs, spacing, quantitative, _fingerprint(values, field), work)
    except TypeError:  # an array-like that cannot be weakly referenced: no reuse
        _last_work = None
    return work


def forget_work_image() -> None:
    """Drop the kept work image (:func:`make_work_image`), so the next map's is made afresh:
    for benchmarks that time the segmenter on one map again and again."""
    global _last_work
    _last_work = None


def _make_work_image(density_map: DensityMap) -> WorkImage:
    spacing_r, spacing_c = density_map.pixel_spacing_mm
    factor_r = max(1, int(round(WORK_PIXEL_MM / spacing_r)))
    factor_c = max(1, int(round(WORK_PIXEL_MM / spacing_c)))
    field = np.asarray(density_map.field_mask, dtype=bool)
    coarse = masked_block_mean(density_map.values, field, factor_r, factor_c)
    inside = np.isfinite(coarse)
    if inside.sum() < 16:
        return WorkImage(
            coarse,
            inside,
            (spacing_r * factor_r, spacing_c * factor_c),
            (factor_r, factor_c),
            0.0,
            1.0,
        )
    background, scale = _contrast_range(coarse[inside], density_map.quantitative)
    # Metal and dense overlaps (up to ~20x a body in g/cm2) must not dominate the searches,
    # which only need "bone or not"; cap at a few bodies.
    normalised = np.minimum((coarse - background) / scale, WORK_VALUE_CAP)
    return WorkImage(
        values=normalised,
        field=inside,
        pixel_spacing_mm=(spacing_r * factor_r, spacing_c * factor_c),
        factors=(factor_r, factor_c),
        background=background,
        scale=scale,
    )


def _contrast_range(values: np.ndarray, quantitative: bool) -> tuple[float, float]:
    """(value of soft tissue, value span soft tissue -> body core) of the field's pixels.

    ``values`` (a 1-D copy the caller made) is reordered in place.
    """
    # Soft tissue fills most of the field beside the spine (the spine is ~50 mm of 180 mm), so
    # the lower third is bone-free.  The vertebral bodies fill ~15-25 % of the field, so the
    # 92nd percentile lies inside them even when metal (a few %) or dense overlap takes the
    # top; the refinement on the found spine then sets the body core to exactly 1.
    # np.percentile(values, 30) and (values, 92) bit for bit, from one selection pass
    soft, core = linear_quantiles(values, (30 / 100, 92 / 100))
    if quantitative:
        # g/cm2 already has a true zero; keep it so the DXA threshold stays absolute.
        soft = 0.0
    return soft, max(core - soft, 1e-6)


def refine_contrast(work: WorkImage, body_core_value: float) -> WorkImage:
    """Rescale so that ``body_core_value`` (work units, measured on the found spine) reads 1."""
    if not np.isfinite(body_core_value) or body_core_value <= 0.05:
        return work
    # the segmenter and the evidence stage refine the same work image, mostly by the same
    # value: the same refined image (and what is derived from it) serves both
    refined = work._refined.get(body_core_value)
    if refined is None:
        refined = work._refined[body_core_value] = _refined(work, body_core_value)
    return refined


def _refined(work: WorkImage, body_core_value: float) -> WorkImage:
    return WorkImage(
        values=np.minimum(work.values / body_core_value, WORK_VALUE_CAP),
        field=work.field,
        pixel_spacing_mm=work.pixel_spacing_mm,
        factors=work.factors,
        background=work.background,
        scale=work.scale * body_core_value,
    )


def bone_threshold(
    density_map: DensityMap,
    work: WorkImage,
    edge: EdgeConvention | None = None,
    core_density: float = float("nan"),
) -> tuple[float, float]:
    """(bone contrast, soft-tissue level) in the map's units, by the edge convention.

    Quantitative maps have a true zero (soft tissue 0 g/cm2); display maps their field's
    soft-tissue level.  ``core_density`` is the spine's core density
    (:func:`dxaspine.segment.conventions.spine_core_density`); without it (NaN) the legacy rules
    apply: 0.1 g/cm2 on quantitative maps, 10 % of the work image's body contrast on displays.
    """
    soft = 0.0 if density_map.quantitative else work.background
    if edge is None or not np.isfinite(core_density) or core_density - soft <= 0:
        if density_map.quantitative:
            return QUANTITATIVE_BONE_THRESHOLD_G_CM2, 0.0
        return RELATIVE_BONE_THRESHOLD * work.scale, work.background
    return edge.threshold(core_density - soft, density_map.quantitative), soft


def bone_mask(
    density_map: DensityMap,
    threshold: float,
    background: float = 0.0,
    box_lo: np.ndarray | None = None,
    box_hi: np.ndarray | None = None,
    noise: EdgeNoise | None = None,
    noise_sigma: float = float("nan"),
) -> np.ndarray:
    """Bone pixels: density above ``threshold`` + the local soft-tissue level.

    Parameters
    ----------
    density_map : DensityMap
    threshold, background : float
        Bone contrast above soft tissue and the global soft-tissue level, in the map's units
        (see :func:`bone_threshold`).
    box_lo, box_hi : (rows,) ndarray, optional
        First/last column of the analysis box per row (NaN: no box on that row).  When given,
        only the box's column span (plus a margin) is computed, and the soft-tissue level is
        measured per row in bands straddling the box edges (beside the bodies) and
        interpolated across: a decomposition whose soft-tissue baseline is off by a few
        hundredths of g/cm2 next to the spine would otherwise add or drop a rim of "bone".
    noise : EdgeNoise, optional
        The edge estimator under noise (:mod:`dxaspine.segment.edge_noise`); None or
        ``"none"``: the plain per-pixel test.
    noise_sigma : float
        The map's per-pixel noise (:func:`dxaspine.segment.edge_noise.soft_tissue_noise`);
        NaN: the estimator does not act.

    Returns
    -------
    (M, N) bool ndarray
    """
    values = density_map.values
    rows, cols = values.shape
    field = np.asarray(density_map.field_mask, dtype=bool)
    out = np.zeros(values.shape, dtype=bool)
    if values.size == 0:
        return out
    spacing_r, spacing_c = density_map.pixel_spacing_mm
    first, stop = 0, cols
    if box_lo is not None and box_hi is not None and np.isfinite(box_lo).any():
        pad = int(np.ceil(BACKGROUND_BAND_MM / spacing_c)) + 2
        first = max(0, int(np.floor(np.nanmin(box_lo))) - pad)
        stop = min(cols, int(np.ceil(np.nanmax(box_hi))) + pad + 1)
    if stop <= first:
        return out
    ok = field[:, first:stop] & np.isfinite(values[:, first:stop])
    smooth = np.where(ok, values[:, first:stop], 0.0)
    local = None
    if box_lo is not None and box_hi is not None and np.isfinite(box_lo).any():
        local = _local_background(
            smooth, ok, box_lo - first, box_hi - first, spacing_r, spacing_c, threshold, background
        )
    if noise is not None and noise.applies(noise_sigma, threshold):
        smooth = _noise_aware_values(
            smooth, ok, local, threshold, background, noise, noise_sigma, (spacing_r, spacing_c)
        )
    if local is None:
        above = (smooth > threshold + background) & ok
    else:  # threshold + the level blended across each row, in one pass (numba kernel)
        above = above_edge_blend(smooth, ok, *local, threshold)
    out[:, first:stop] = _drop_specks(above, spacing_r * spacing_c) & ok
    return out


def _noise_aware_values(values, ok, local, threshold, background, noise, sigma, spacing):
    """``values`` with the pixels near the edge level replaced by their isophote average."""
    band = noise.band_sigmas * sigma
    if local is None:
        near = ok & (np.abs(values - (threshold + background)) <= band)
    else:  # the blend of kernels.above_edge_blend, in one numba pass
        near = near_edge(values, ok, *local, threshold, band)
    if not near.any():
        return values
    guide = GUIDE_SIGMAS * smoothed_noise(sigma, spacing)
    # the walk only where it is used (edge_noise.isophote_average is its numpy reference)
    return isophote_average_at(values, ok, spacing, noise.average_mm, guide, near)


def _drop_specks(mask: np.ndarray, pixel_area_mm2: float) -> np.ndarray:
    """Remove bone specks and fill pinholes smaller than ``MASK_SPECK_MM2`` (noise flips)."""
    min_pixels = max(1, int(round(MASK_SPECK_MM2 / pixel_area_mm2)))
    if min_pixels <= 1:
        return mask
    # one run-length union-find pass for specks and pinholes alike (numba kernel; numpy
    # reference with two scipy.ndimage.label passes in segment._numpy_reference)
    return drop_small_components(mask, min_pixels)


# Half-width of the bands straddling each box edge where soft tissue is sampled, mm: the box
# edge is 7 mm beyond the widest body (box.BOX_MARGIN_MM), so +-6 mm stays off the bodies.
BACKGROUND_BAND_MM = 6.0
# Rows pooled for the soft-tissue level, mm: longer than a transverse process or rib is tall
# (~10 mm), so a low quantile over the window is soft tissue.
BACKGROUND_WINDOW_MM = 30.0
BACKGROUND_QUANTILE = 25


def _local_background(smooth, ok, lo, hi, spacing_r, spacing_c, threshold, background):
    """Soft-tissue level beside each box edge per row: ``(lo, hi, left, right)`` or None.

    ``lo``/``hi`` are the box edges and ``left``/``right`` the levels there, all (rows,); the
    level across a row is blended linearly between them (``kernels.above_edge_blend``).
    None when fewer than two rows have a box: the global ``background`` applies.
    """
    rows, cols = smooth.shape
    have = np.isfinite(lo) & np.isfinite(hi)
    if have.sum() < 2:
        return None
    # one sampled row per ~1 mm is plenty for a level pooled over 30 mm
    step = max(1, int(round(1.0 / spacing_r)))
    r_idx = np.flatnonzero(have)
    r_idx = np.unique(np.concatenate([r_idx[::step], r_idx[-1:]]))
    band = max(1, int(round(BACKGROUND_BAND_MM / spacing_c)))
    offsets = np.arange(-band, band + 1)
    sides = []
    for edge in (lo, hi):
        c = np.clip(np.round(edge[r_idx])[:, None].astype(int) + offsets[None, :], 0, cols - 1)
        inside = ok[r_idx[:, None], c]
        vals = smooth[r_idx[:, None], c]
        if inside.all():
            med = np.median(vals, axis=1)
        else:
            with warnings.catch_warnings():  # rows whose band is all outside the field
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(np.where(inside, vals, np.nan), axis=1)
            med = np.where(np.isfinite(med), med, background)
        size = max(3, int(round(BACKGROUND_WINDOW_MM / (spacing_r * step))) | 1)
        level = ndimage.percentile_filter(med, BACKGROUND_QUANTILE, size=size, mode="nearest")
        # never let a bone-filled band (ribs, ilium) lift the threshold by more than itself
        level = np.clip(level, background - threshold, background + threshold)
        sides.append(np.interp(np.arange(rows), r_idx, level))
    left, right = sides
    lo_full = np.interp(np.arange(rows), r_idx, lo[r_idx])
    hi_full = np.interp(np.arange(rows), r_idx, hi[r_idx])
    return lo_full, hi_full, left, right
