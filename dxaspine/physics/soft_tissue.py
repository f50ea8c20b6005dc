"""Soft-tissue baseline by the iterative threshold -> bone mask -> baseline recipe.

docs/domain.md §5 (Hologic QDR recipe): form the bone excess (Q = L - kH), histogram it, put the
bone threshold just above the soft-tissue peak, fit a per-scan-line baseline from the non-bone
points, iterate until it converges, smooth.  Here the baseline is the soft-tissue ratio
R_st = A_L / A_H of bone-free pixels, and the excess is sigma_b itself (Q divided by the
bone-basis denominator, so the threshold has units of g/cm2).  The same machinery, applied to
grey values, gives the soft-tissue background of display images (``display_density``).

Bone-free means: in the scan field, not bone, not within ``bone_dilation_mm`` of bone (the
partial-volume fringe of the spine, ribs and pelvis), not gas, not photon-starved, and not a
gross outlier.  Each scan line's baseline comes from those pixels and is bridged across the
bone span from side windows beside it, a line plus the curvature the next windows out show
(numba kernel ``row_baselines_kernel``); it is then smoothed along the spine (rows), where
rows with soft tissue close to the bone outweigh rows bridged over long spans.

Accuracy limit: the soft tissue under the spine is never measured.  Fat that varies on the
scale of the spine's width (the phantom uses 60-220 mm wavelengths) leaves a per-level error
of about 1 % that no side-window method removes (tests/test_physics_phantom.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxaspine.physics import _kernels
from dxaspine.physics.log_attenuation import _check_2d_float, areal_density
from dxaspine.physics.quantiles import linear_quantiles
from dxaspine.physics.smoothing import gaussian_filter_2d, gaussian_half_weights

logger = logging.getLogger(__name__)

# Fraction of soft tissue below mode - sigma for a normal peak, among the values below the mode
# (0.1587 / 0.5): lets the lower half of the peak, which bone never reaches, give its width.
_LOWER_HALF_ONE_SIGMA = 0.1587 / 0.5

# Trust in a one-sided extrapolation relative to measured soft tissue when smoothing along the
# spine: measured rows within about 3.7 smoothing sigmas (exp(-3.7**2 / 2) = 1e-3) win.
EXTRAPOLATED_WEIGHT = 1e-3


BRIDGES = ("curved", "straight")


@dataclass(frozen=True)
class BaselineOptions:
    """Tuning of the baseline iteration; lengths in mm so that they hold on every scanner."""

    # Half-width of the soft-tissue averaging window.  Short, because the soft tissue closest
    # to the bone predicts what lies under it best (fat varies on 60-220 mm scales); the
    # smoothing along the spine supplies the averaging that beats quantum noise.
    side_window_mm: float = 5.0
    bone_dilation_mm: float = 1.5  # partial-volume fringe excluded around bone (>= 1 pixel)
    row_smoothing_mm: float = 8.0  # Gaussian sigma of the smoothing along the spine
    # Rows where soft tissue comes close to the spine (discs, between transverse processes)
    # outweigh rows bridged over long bone spans: weight halves this far from soft tissue.
    gap_scale_mm: float = 5.0
    detect_smoothing_mm: float = 0.8  # Gaussian sigma applied before thresholding (noise)
    threshold_sigmas: float = 4.0  # bone threshold = peak + this many peak widths
    outlier_sigmas: float = 5.0  # |excess| beyond this many pixel noise widths: not baseline
    gas_fraction: float = 0.12  # A_H this far below its row's median: gas (dual energy only)
    max_iterations: int = 10
    # The iteration runs on blocks of about this size (R_st varies over tens of mm); finer
    # scans are block-averaged in the log domain and R_st is interpolated back.
    baseline_grid_mm: float = 1.0
    min_changed_fraction: float = 5e-4  # converged when fewer mask pixels change than this
    # How a scan line's baseline crosses the bone: "curved" (a line between the side windows
    # plus the curvature the next windows out show, for fat varying on 60-220 mm scales) or
    # "straight" (the line alone).  Option, not default: docs/physics.md §7, "Noise guard".
    bridge: str = "curved"
    # Noise guard (option, off by default; docs/physics.md §7): noise raises the bone
    # threshold above its floor, and the bone fainter than it (edges, processes) then counts
    # as soft tissue and pulls R_st up.  With the guard the dilation grows by the distance over
    # which the bone edge, continued at its median slope on the mask's edge, falls from the
    # threshold to the floor (at most ``noise_guard_max_mm``).  Noise-free maps: no change.
    noise_guard: bool = False
    noise_guard_max_mm: float = 5.0

    def __post_init__(self) -> None:
        if self.bridge not in BRIDGES:
            raise ValueError(f"bridge must be one of {BRIDGES}, got {self.bridge!r}")


DEFAULT_OPTIONS = BaselineOptions()


@dataclass(frozen=True)
class GasExclusion:
    """Gas replaces tissue: its pixels attenuate abnormally little for their row.

    A pixel is gas when ``values`` (A_H) lies below ``factor`` times the median of its row's
    soft tissue, the ``soft`` pixels that are not bone (no soft tissue in the row: no gas).
    """

    values: np.ndarray  # (rows, cols) float64, C-contiguous
    soft: np.ndarray  # (rows, cols) bool, C-contiguous: where soft tissue may be
    factor: float  # 1 - BaselineOptions.gas_fraction
    # np.argsort(values, axis=1), formed once for all iterations (None: per call)
    order: np.ndarray | None = None


_NO_GAS = np.empty((0, 0))
_NO_ORDER = np.empty((0, 0), dtype=np.int64)


def _row_order(gas: GasExclusion) -> np.ndarray:
    order = gas.order if gas.order is not None else np.argsort(gas.values, axis=1)
    return np.ascontiguousarray(order, dtype=np.int64)


def usable_pixels(
    candidate: np.ndarray,
    bone: np.ndarray,
    excess: np.ndarray,
    peak: float,
    outlier_limit: float,
    dilation_px: tuple[int, int],
    gas: GasExclusion | None = None,
) -> np.ndarray:
    """Bone-free pixels: candidates away from bone, not outliers, not gas.

    Parameters
    ----------
    candidate, bone : (M, N) ndarray of bool, C-contiguous
        The pixels allowed into the baseline, and the bone mask of this iteration.
    excess : (M, N) ndarray of float64, C-contiguous
        The bone excess; ``|excess - peak| > outlier_limit`` (or NaN) is an outlier.
    peak, outlier_limit : float
        Soft-tissue peak of the smoothed excess and the outlier guard's half-width.
    dilation_px : (int, int)
        Bone is dilated by this many pixels along rows and columns (>= 0).
    gas : GasExclusion, optional
        The gas test (dual energy only).

    Returns
    -------
    (M, N) ndarray of bool
        ``candidate & ~dilate(bone) & (|excess - peak| <= outlier_limit) & ~gas``, from one
        numba kernel (``_kernels.usable_mask_kernel``) instead of a maximum filter, a row sort
        and five full-size temporaries.
    """
    out = np.empty(bone.shape, dtype=np.bool_)
    _kernels.usable_mask_kernel(
        np.ascontiguousarray(candidate, dtype=np.bool_),
        np.ascontiguousarray(bone, dtype=np.bool_),
        np.ascontiguousarray(excess, dtype=np.float64),
        float(peak),
        float(outlier_limit),
        int(dilation_px[0]),
        int(dilation_px[1]),
        _NO_GAS if gas is None else gas.values,
        np.ascontiguousarray(candidate if gas is None else gas.soft, dtype=np.bool_),
        _NO_ORDER if gas is None else _row_order(gas),
        1.0 if gas is None else float(gas.factor),
        out,
    )
    return out


@dataclass(frozen=True)
class BaselineResult:
    baseline: np.ndarray  # (rows, cols) float64, finite inside the field
    excess: np.ndarray  # (rows, cols) the signal above baseline (sigma_b, or grey units)
    bone_mask: np.ndarray  # bool, converged bone mask (undilated)
    usable: np.ndarray  # bool, the bone-free pixels the last baseline came from
    iterations: int
    converged: bool


def row_baselines(
    values: np.ndarray,
    usable: np.ndarray,
    half_window_px: int,
    gap_scale_px: float = np.inf,
    extrapolated_weight: float = EXTRAPOLATED_WEIGHT,
    curved: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row soft-tissue baseline of ``values`` from its ``usable`` pixels.

    Parameters
    ----------
    values : (M, N) ndarray of float64, C-contiguous
    usable : (M, N) ndarray of bool, C-contiguous
        Bone-free pixels; non-finite values count as unusable.
    half_window_px : int
        Half-width (columns) of the averaging window; side windows are ``2 h + 1`` wide.
    gap_scale_px : float
        Distance from soft tissue (columns) at which a bridged value's weight halves.
    extrapolated_weight : float
        Extra weight factor of one-sided extrapolations (see ``weight``).
    curved : bool
        Add the curvature term (``BaselineOptions.bridge="curved"``); False: straight bridges.

    Returns
    -------
    baseline : (M, N) ndarray of float64
        Windowed mean over usable pixels; across runs of unusable pixels, interpolation
        between the side-window means plus (``curved``) a least-squares curvature term from
        the next windows out (constant beyond the last usable pixel); NaN on rows without
        usable pixels.
    weight : (M, N) ndarray of float64
        1 for usable pixels, ``1 / (1 + (d / gap_scale_px)**2)`` for a bridged pixel ``d``
        columns from soft tissue, times ``extrapolated_weight`` if one-sided, 0 for NaN; the
        weights of :func:`smooth_along_rows`.
    """
    _check_2d_float("values", values)
    if not isinstance(usable, np.ndarray) or usable.dtype != np.bool_:
        raise TypeError("usable must be a numpy bool array")
    if usable.shape != values.shape or not usable.flags.c_contiguous:
        raise ValueError(f"usable must be C-contiguous with shape {values.shape}")
    half_window_px = int(half_window_px)
    if half_window_px < 0:
        raise ValueError(f"half_window_px must be >= 0, got {half_window_px}")
    gap_scale_px = float(gap_scale_px)
    if not gap_scale_px > 0:
        raise ValueError(f"gap_scale_px must be > 0, got {gap_scale_px}")
    extrapolated_weight = float(extrapolated_weight)
    if not 0.0 <= extrapolated_weight <= 1.0:
        raise ValueError(f"extrapolated_weight must be in [0, 1], got {extrapolated_weight}")
    out = np.empty_like(values)
    weight = np.empty_like(values)
    _kernels.row_baselines_kernel(
        values, usable, half_window_px, gap_scale_px, extrapolated_weight, bool(curved), out, weight
    )
    return out, weight


def soft_tissue_peak(values: np.ndarray) -> tuple[float, float]:
    """Mode and width (one sigma, from its lower half) of the soft-tissue histogram peak.

    Bone only adds to the excess, so the lower half of the peak is pure soft tissue (noise and
    any residual baseline error); its width is what the threshold must clear.
    """
    values = np.ravel(values)
    if values.size == 0:
        return 0.0, 0.0
    # numpy's vectorised min and max say whether every value is finite (a NaN or an infinity
    # shows in them) at a fraction of an isfinite mask's cost, and give the quantiles' range.
    v_min, v_max = float(values.min()), float(values.max())
    all_finite = np.isfinite(v_min) and np.isfinite(v_max)
    finite = None if all_finite else np.isfinite(values)
    # The peak does not need every pixel of a large scan: every k-th finite value, k chosen to
    # keep ~40 000.  When all values are finite (the usual case) a strided view, which the
    # quantiles below leave in place (may_reorder=False), and no copy.
    n = values.size if all_finite else int(np.count_nonzero(finite))
    step = n // 40_000 if n > 60_000 else 1
    values = values[::step] if all_finite else values[finite][::step]
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.size == 0:
        return 0.0, 0.0
    value_range = (v_min, v_max) if all_finite and step == 1 else None
    lo, hi = linear_quantiles(values, (0.01, 0.99), may_reorder=False, value_range=value_range)
    if not hi > lo:
        return float(lo), 0.0
    # 256-bin histogram over [p1, p99] in one pass (numba; bincount of the same indices).
    bins = 256
    counts = np.zeros(bins, dtype=np.int64)
    _kernels.peak_histogram_kernel(values, lo, bins / (hi - lo), counts)
    counts = np.convolve(counts, np.ones(5) / 5, mode="same")
    peak = int(np.argmax(counts))
    mode = lo + (peak + 0.5) * (hi - lo) / bins
    below = _kernels.values_below_kernel(values, mode)
    if below.size < 10:
        return float(mode), 0.0
    sigma = mode - linear_quantiles(below, (_LOWER_HALF_ONE_SIGMA,))[0]
    return float(mode), max(sigma, 0.0)


def smooth_along_rows(baseline: np.ndarray, weight: np.ndarray, sigma_px: float) -> np.ndarray:
    """Weighted (normalised) Gaussian smoothing along axis 0, i.e. along the spine.

    Where a row only has a one-sided extrapolation (low weight) the rows above and below
    that do have soft tissue in that column take over; NaN entries (weight 0) are filled.
    """
    baseline = np.ascontiguousarray(baseline, dtype=np.float64)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    # scipy.ndimage.gaussian_filter1d(..., axis=0) of both, bit for bit (physics.smoothing),
    # in one numba pass without the masks and products as full-size temporaries; a zero sigma
    # is the single tap 1.0 (x * 1.0 == x: no smoothing, as scipy is then skipped).
    taps = gaussian_half_weights(float(sigma_px), 3.0) if sigma_px > 0 else _IDENTITY_TAP
    out = np.empty_like(baseline)
    n_finite, n_bad = _kernels.weighted_smooth_rows_kernel(baseline, weight, taps, out)
    if n_finite == 0:
        return baseline.copy()
    if n_bad:  # rows far from any usable row: nearest valid value in the column
        out = _fill_nan_nearest_row(out)
    return out


_IDENTITY_TAP = np.ones(1)


def _fill_nan_nearest_row(values: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    if not missing.any():
        return values
    _, (rows_idx, cols_idx) = ndimage.distance_transform_edt(missing, return_indices=True)
    return values[rows_idx, cols_idx]


def _smooth_in_field(values: np.ndarray, field: np.ndarray, sigma_px: tuple[float, float]):
    """Gaussian smoothing that only averages field pixels (normalised convolution)."""
    if max(sigma_px) <= 0:
        return np.where(field, values, 0.0)
    # Three sigmas hold 99.7 % of the kernel: enough for a detection threshold, and a third
    # cheaper than scipy's default four.
    # (scipy.ndimage.gaussian_filter, bit for bit: physics.smoothing)
    if field.all():
        return gaussian_filter_2d(values, sigma_px, mode="nearest", truncate=3.0)
    weight = gaussian_filter_2d(field.astype(np.float64), sigma_px, mode="reflect", truncate=3.0)
    total = gaussian_filter_2d(np.where(field, values, 0.0), sigma_px, mode="reflect", truncate=3.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(field & (weight > 1e-6), total / weight, 0.0)


def threshold_bone(
    excess: np.ndarray,
    field: np.ndarray,
    candidate: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    threshold_floor: float,
    options: BaselineOptions = DEFAULT_OPTIONS,
) -> tuple[np.ndarray, float, float]:
    """Bone mask: lightly smoothed excess above the soft-tissue peak plus a margin.

    docs/domain.md §5 (QDR step 2): threshold just above the soft-tissue peak; the margin is
    ``threshold_sigmas`` peak widths but at least ``threshold_floor``.  Returns
    ``(bone_mask, peak, threshold)``.
    """
    bone, peak, threshold, _ = _threshold_smoothed(
        excess, field, candidate, pixel_spacing_mm, threshold_floor, options
    )
    return bone, peak, threshold


def _threshold_smoothed(excess, field, candidate, pixel_spacing_mm, threshold_floor, options):
    """:func:`threshold_bone`, and the smoothed excess it thresholded."""
    row_mm, col_mm = pixel_spacing_mm
    sigma = (options.detect_smoothing_mm / row_mm, options.detect_smoothing_mm / col_mm)
    smoothed = _smooth_in_field(excess, field, sigma)
    # (all candidates: skip a full-size copy; soft_tissue_peak flattens)
    peak, width = soft_tissue_peak(smoothed if candidate.all() else smoothed[candidate])
    threshold = peak + max(options.threshold_sigmas * width, threshold_floor)
    return field & (smoothed > threshold), peak, threshold, smoothed


def noise_guard_mm(
    bone: np.ndarray,
    smoothed: np.ndarray,
    peak: float,
    threshold: float,
    threshold_floor: float,
    pixel_spacing_mm: tuple[float, float],
    limit_mm: float,
) -> float:
    """Extra bone guard (mm) for the faint fringe that the noise's threshold leaves out.

    The threshold sits ``threshold - peak`` above soft tissue, of which everything above
    ``threshold_floor`` is the noise's doing (noise-free maps: the floor).  Bone between the
    floor and the threshold lies beside the mask; continued at the edge's median slope
    (g/cm2 per mm of the smoothed excess, on the mask's one-pixel edge) it spans
    ``(threshold - peak - floor) / slope`` mm.  0 without an edge or excess; at most
    ``limit_mm``.
    """
    excess = threshold - peak - threshold_floor
    if not excess > 0 or not bone.any():
        return 0.0
    # the mask's own edge; where it meets the image border (the spine runs off the top and
    # bottom of the field) is not an edge of the bone
    edge = bone & ~ndimage.binary_erosion(bone, border_value=1)
    grad_r, grad_c = np.gradient(smoothed, *pixel_spacing_mm)
    slope = float(np.median(np.hypot(grad_r[edge], grad_c[edge])))
    if not slope > 0:
        return float(limit_mm)
    return float(min(limit_mm, excess / slope))


def iterate_baseline(
    signal: np.ndarray,
    excess_of: Callable[[np.ndarray], np.ndarray],
    field: np.ndarray,
    candidate: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    threshold_floor: float,
    options: BaselineOptions = DEFAULT_OPTIONS,
    gas: GasExclusion | None = None,
) -> BaselineResult:
    """Iterate threshold -> bone mask -> per-row baseline until the bone mask settles.

    Parameters
    ----------
    signal : (M, N) float64
        The quantity whose soft-tissue baseline is wanted (R = A_L/A_H, or grey value).
    excess_of : callable
        ``excess_of(baseline)`` -> (M, N) bone excess (sigma_b in g/cm2, or grey above baseline).
    field, candidate : (M, N) bool
        The scan field, and the pixels allowed into the baseline at all (e.g. not starved).
    threshold_floor : float
        Smallest bone threshold in excess units, for noise-free data whose peak has no width.
    gas : GasExclusion, optional
        Gas pixels to keep out of the baseline (dual energy).
    """
    row_mm, col_mm = pixel_spacing_mm
    half_window = max(1, int(round(options.side_window_mm / col_mm)))
    gap_scale = options.gap_scale_mm / col_mm
    dilation = (
        max(1, int(round(options.bone_dilation_mm / row_mm))),
        max(1, int(round(options.bone_dilation_mm / col_mm))),
    )
    row_sigma = options.row_smoothing_mm / row_mm
    n_field = max(int(field.sum()), 1)

    # Iteration 0 is the Hologic start: one constant k, the mode of the signal in the field.
    k0, _ = soft_tissue_peak(signal[candidate])
    baseline = np.full(signal.shape, k0)
    bone = np.zeros(signal.shape, dtype=bool)
    usable = candidate.copy()
    converged = False
    iteration = 0
    curved = options.bridge == "curved"
    for iteration in range(1, options.max_iterations + 1):
        excess = excess_of(baseline)
        new_bone, peak, threshold, smoothed = _threshold_smoothed(
            excess, field, candidate, pixel_spacing_mm, threshold_floor, options
        )
        # Pixel-level noise width of the raw excess, for the outlier guard.
        _, pixel_width = soft_tissue_peak(excess[candidate & ~new_bone])
        outlier_limit = max(options.outlier_sigmas * pixel_width, 2 * threshold_floor)
        guard = dilation
        if options.noise_guard:
            extra_mm = noise_guard_mm(
                new_bone, smoothed, peak, threshold, threshold_floor, pixel_spacing_mm,
                options.noise_guard_max_mm,
            )  # fmt: skip
            guard = (
                dilation[0] + int(round(extra_mm / row_mm)),
                dilation[1] + int(round(extra_mm / col_mm)),
            )
        usable = usable_pixels(candidate, new_bone, excess, peak, outlier_limit, guard, gas)
        raw, weight = row_baselines(signal, usable, half_window, gap_scale, curved=curved)
        baseline = smooth_along_rows(raw, weight, row_sigma)
        changed = int(np.count_nonzero(new_bone != bone))
        bone = new_bone
        if logger.isEnabledFor(logging.DEBUG):  # (the bone count is a full pass)
            logger.debug(
                "baseline iteration %d: threshold %.4g, bone %d px, changed %d px",
                iteration,
                threshold,
                int(bone.sum()),
                changed,
            )
        if iteration > 1 and changed <= options.min_changed_fraction * n_field:
            converged = True
            break
    excess = excess_of(baseline)
    if not converged:
        logger.warning("soft-tissue baseline did not converge in %d iterations", iteration)
    return BaselineResult(baseline, excess, bone, usable, iteration, converged)


def estimate_soft_tissue_ratio(
    a_low: np.ndarray,
    a_high: np.ndarray,
    field: np.ndarray,
    starved: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    bone_mu_cm2_g: tuple[float, float],
    options: BaselineOptions = DEFAULT_OPTIONS,
    threshold_floor_g_cm2: float = 0.03,
) -> BaselineResult:
    """R_st map of the soft tissue overlying every pixel, from bone-free pixels (docs/domain.md §5).

    ``threshold_floor_g_cm2``: the bone threshold never drops below 0.03 g/cm2 (3 % of a
    typical vertebral BMD, docs/domain.md §4), so bone edges are caught even on noise-free data
    whose soft-tissue peak has no width; the dilation then removes the fainter fringe.

    Returns a :class:`BaselineResult` whose ``baseline`` is R_st and ``excess`` is sigma_b.
    """
    mu_low, mu_high = bone_mu_cm2_g
    # Pixels too thin to define a ratio (air, collimator edge) stay out of the baseline.
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(a_high > 0.05, a_low / a_high, np.nan)
    candidate = field & ~starved & np.isfinite(ratio)
    # R_st must stay below mu_bL/mu_bH or the denominator changes sign; and above 1, since
    # attenuation of any tissue falls with energy between 30 and 100 keV (docs/domain.md §5 table).
    r_max = 0.9 * mu_low / mu_high

    def excess_of(r_st: np.ndarray) -> np.ndarray:
        r_st = np.ascontiguousarray(r_st, dtype=np.float64)
        return areal_density(a_low, a_high, r_st, bone_mu_cm2_g, r_range=(1.0, r_max))

    signal = np.ascontiguousarray(ratio)
    result = iterate_baseline(
        signal,
        excess_of,
        field,
        candidate,
        pixel_spacing_mm,
        threshold_floor_g_cm2,
        options,
        gas=GasExclusion(
            np.ascontiguousarray(a_high, dtype=np.float64),
            np.ascontiguousarray(field & ~starved),
            1.0 - options.gas_fraction,
            np.argsort(a_high, axis=1),
        ),
    )
    r_st = np.clip(result.baseline, 1.0, r_max)
    return BaselineResult(
        r_st, excess_of(r_st), result.bone_mask, result.usable, result.iterations, result.converged
    )
