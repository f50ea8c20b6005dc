"""Validated public wrappers around the segmentation kernels (scikit-image pattern).

Each wrapper checks dtype, shape and contiguity, converts where that is cheap and safe, and
calls the compiled kernel in :mod:`dxaspine.segment._kernels`.  ``warm_up`` compiles (or loads
from the on-disk cache) every kernel on tiny inputs.
"""

from __future__ import annotations

import functools

import numpy as np

from dxaspine.segment import _kernels


def _as_2d_float(name: str, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float64)


def _as_1d_float(name: str, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float64)


def masked_block_mean(
    image: np.ndarray, valid: np.ndarray, factor_rows: int, factor_cols: int
) -> np.ndarray:
    """Mean of the valid finite pixels in each block of ``factor_rows x factor_cols``.

    Parameters
    ----------
    image : (M, N) ndarray
    valid : (M, N) bool ndarray
        Pixels to use (e.g. the scanned field).
    factor_rows, factor_cols : int
        Block size, >= 1.

    Returns
    -------
    (M // factor_rows, N // factor_cols) ndarray
        NaN where a block holds no valid finite pixel.
    """
    image = _as_2d_float("image", image)
    valid = np.ascontiguousarray(np.asarray(valid, dtype=bool))
    if valid.shape != image.shape:
        raise ValueError(f"valid has shape {valid.shape}, image has {image.shape}")
    if int(factor_rows) < 1 or int(factor_cols) < 1:
        raise ValueError(f"block factors must be >= 1, got {factor_rows}, {factor_cols}")
    return _kernels.masked_block_mean_kernel(image, valid, int(factor_rows), int(factor_cols))


def track_path(cost: np.ndarray, max_step: int, step_penalty: float) -> np.ndarray:
    """Column per row of the minimum-cost path (dynamic programming over rows).

    Parameters
    ----------
    cost : (M, N) ndarray
        Cost of passing through each pixel; NaN counts as +inf.
    max_step : int
        Largest column change between consecutive rows, >= 0.
    step_penalty : float
        Cost added per column of change, >= 0.

    Returns
    -------
    (M,) int64 ndarray
    """
    cost = _as_2d_float("cost", cost)
    if int(max_step) < 0 or not step_penalty >= 0:
        raise ValueError(f"max_step and step_penalty must be >= 0, got {max_step}, {step_penalty}")
    return _kernels.track_path_kernel(cost, int(max_step), float(step_penalty))


def rasterize_levels(
    shape: tuple[int, int],
    box_lo: np.ndarray,
    box_hi: np.ndarray,
    line_col: np.ndarray,
    line_row: np.ndarray,
    line_slope: np.ndarray,
) -> np.ndarray:
    """Label image of the levels between consecutive lines inside the box.

    Parameters
    ----------
    shape : (int, int)
        ``(rows, cols)`` of the output.
    box_lo, box_hi : (rows,) ndarray
        First and last column of the box per row (NaN: row outside the box).
    line_col, line_row, line_slope : (L,) ndarray
        Line ``k`` passes through ``(line_col[k], line_row[k])`` with ``d row / d column =
        line_slope[k]``; lines ordered top to bottom.

    Returns
    -------
    (rows, cols) int32 ndarray
        ``k + 1`` between line ``k`` and ``k + 1`` inside the box, 0 elsewhere.
    """
    n_rows, n_cols = (int(shape[0]), int(shape[1]))
    box_lo = _as_1d_float("box_lo", box_lo)
    box_hi = _as_1d_float("box_hi", box_hi)
    if box_lo.size != n_rows or box_hi.size != n_rows:
        raise ValueError(f"box bounds need {n_rows} rows, got {box_lo.size}, {box_hi.size}")
    line_col = _as_1d_float("line_col", line_col)
    line_row = _as_1d_float("line_row", line_row)
    line_slope = _as_1d_float("line_slope", line_slope)
    if not (line_col.size == line_row.size == line_slope.size):
        raise ValueError("line_col, line_row and line_slope must have the same length")
    return _kernels.rasterize_levels_kernel(
        n_rows, n_cols, box_lo, box_hi, line_col, line_row, line_slope
    )


def disc_centres(
    smoothed: np.ndarray,
    cols: np.ndarray,
    starts: np.ndarray,
    length: int,
    guesses: np.ndarray,
    search: int,
    rise_max: float,
    min_depth: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Disc centre row and endplate distance per column window (see the kernel's notes).

    Parameters
    ----------
    smoothed : (M, N) ndarray
        Work image smoothed along the rows.
    cols, starts : (K,) int ndarray
        Column and first row of each window (``starts < 0``: skip the column).
    length : int
        Rows per window.
    guesses : (K,) ndarray
        Expected disc row within each window.
    search : int
        Rows either side of the guess searched for the disc floor.
    rise_max, min_depth : float
        Edge rise above the floor (capped at half the depth) and the least disc depth.

    Returns
    -------
    centre, thickness : (K,) ndarray
        Absolute centre rows and edge-to-edge distances in rows; NaN where none.
    """
    smoothed = _as_2d_float("smoothed", smoothed)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    guesses = _as_1d_float("guesses", guesses)
    if not (cols.ndim == starts.ndim == 1 and cols.size == starts.size == guesses.size):
        raise ValueError("cols, starts and guesses must be 1-D of the same length")
    return _kernels.disc_centres_kernel(
        smoothed, cols, starts, int(length), guesses, int(search), float(rise_max), float(min_depth)
    )


def drop_small_components(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """Remove specks and fill holes of fewer than ``min_pixels`` pixels (4-connected).

    Parameters
    ----------
    mask : (M, N) bool ndarray
    min_pixels : int
        Components of True and of False pixels of ``mask`` smaller than this are inverted.

    Returns
    -------
    (M, N) bool ndarray
        A new mask; ``mask`` is not modified.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.bool_:
        raise ValueError(f"mask must be a 2-D bool array, got {mask.dtype} {mask.shape}")
    if mask.size >= 2**31:
        raise ValueError(f"mask of {mask.size} pixels is too large for int32 labels")
    out = np.array(mask, dtype=np.bool_, order="C")  # a copy, modified in place below
    _kernels.flip_small_components_kernel(out, int(min_pixels))
    return out


def _edge_blend_inputs(values, valid, lo, hi, left, right):
    """Checked ``(values, valid, [lo, hi, left, right])`` of the edge-level blend kernels."""
    values = _as_2d_float("values", values)
    valid = np.ascontiguousarray(np.asarray(valid, dtype=bool))
    if valid.shape != values.shape:
        raise ValueError(f"valid has shape {valid.shape}, values has {values.shape}")
    rows = values.shape[0]
    per_row = [
        _as_1d_float(name, a)
        for name, a in (("lo", lo), ("hi", hi), ("left", left), ("right", right))
    ]
    if any(a.size != rows for a in per_row):
        raise ValueError(f"lo, hi, left and right need {rows} rows")
    return values, valid, per_row


def above_edge_blend(
    values: np.ndarray,
    valid: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    offset: float,
) -> np.ndarray:
    """Valid pixels above ``offset`` plus a level blended linearly across each row.

    Parameters
    ----------
    values : (M, N) ndarray
    valid : (M, N) bool ndarray
    lo, hi : (M,) ndarray
        Columns where the blend starts and ends on each row (finite).
    left, right : (M,) ndarray
        The level at and before ``lo`` and at and after ``hi``.
    offset : float

    Returns
    -------
    (M, N) bool ndarray
        ``valid & (values > offset + left * (1 - t) + right * t)``, with ``t = clip((column -
        lo) / max(hi - lo, 1), 0, 1)``; NaN values are never above.
    """
    values, valid, per_row = _edge_blend_inputs(values, valid, lo, hi, left, right)
    out = np.empty(values.shape, dtype=bool)
    _kernels.above_edge_blend_kernel(values, valid, *per_row, float(offset), out)
    return out


def band_trace(
    values: np.ndarray,
    cols: np.ndarray,
    upper: tuple[float, float, float],
    lower: tuple[float, float, float],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Trace the bone band beside one level outward (see the kernel's notes).

    Parameters
    ----------
    values : (M, N) ndarray
        Work image (outside the field at 0).
    cols : (K,) int ndarray
        Column of each trace step, from the body edge outward.
    upper, lower : (row, slope, column)
        The level's bounding lines on the work grid.
    threshold : float
        Bone above this (body-contrast units).

    Returns
    -------
    index : (n,) int ndarray
        Positions in ``cols`` traced, ``0 .. n - 1``.
    edge_rows : (n,) ndarray
        Lower edge of the band in rows below the level's midline, per traced column.
    """
    values = _as_2d_float("values", values)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    index = np.empty(cols.size, dtype=np.int64)
    edge = np.empty(cols.size)
    n = _kernels.band_trace_kernel(
        values,
        cols,
        np.asarray(upper, dtype=np.float64),
        np.asarray(lower, dtype=np.float64),
        float(threshold),
        index,
        edge,
    )
    return index[:n], edge[:n]


def band_half_edge(
    values: np.ndarray,
    cols: np.ndarray,
    index: np.ndarray,
    bottom_rows: np.ndarray,
    upper: tuple[float, float, float],
    lower: tuple[float, float, float],
    half_cols: int,
    peak_px: int,
    floor_px: int,
) -> np.ndarray:
    """Half-maximum lower edge of a band traced by :func:`band_trace` (see the kernel's notes).

    Parameters
    ----------
    values : (M, N) ndarray
        Work image (outside the field at 0).
    cols : (K,) int ndarray
        Column of each trace step, as given to :func:`band_trace`.
    index : (n,) int ndarray
        Traced positions in ``cols`` (:func:`band_trace`'s ``index``).
    bottom_rows : (n,) int ndarray
        Last row of the band run in each traced column.
    upper, lower : (row, slope, column)
        The level's bounding lines on the work grid.
    half_cols : int
        Trace columns averaged on each side of a traced column (0: the column alone).
    peak_px, floor_px : int
        Rows above the run's last row searched for the band's peak, and below it for the
        floor (the background under the band).

    Returns
    -------
    edge_rows : (n,) ndarray
        Sub-pixel lower edge, rows below the level's midline, NaN where not read.
    """
    values = _as_2d_float("values", values)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    index = np.ascontiguousarray(index, dtype=np.int64)
    bottom_rows = np.ascontiguousarray(bottom_rows, dtype=np.int64)
    if index.shape != bottom_rows.shape or index.ndim != 1:
        raise ValueError(f"index {index.shape} and bottom_rows {bottom_rows.shape} must match")
    if index.size and (index.min() < 0 or index.max() >= cols.size):
        raise ValueError("index must point into cols")
    if min(half_cols, peak_px, floor_px) < 0:
        raise ValueError("half_cols, peak_px and floor_px must be >= 0")
    out = np.empty(index.size)
    _kernels.band_half_edge_kernel(
        values,
        cols,
        index,
        bottom_rows,
        np.asarray(upper, dtype=np.float64),
        np.asarray(lower, dtype=np.float64),
        int(half_cols),
        int(peak_px),
        int(floor_px),
        out,
    )
    return out


def side_bone(
    values: np.ndarray,
    col0: float,
    side: int,
    edge_px: float,
    offsets: np.ndarray,
    upper: tuple[float, float, float],
    lower: tuple[float, float, float],
    threshold: float,
) -> tuple[int, np.ndarray]:
    """Bone beside one level on one side, column by column outward (see the kernel's notes).

    Parameters
    ----------
    values : (M, N) ndarray
        Work image (outside the field at 0).
    col0 : float
        The level's axis column.
    side : int
        -1 (image left) or 1.
    edge_px : float
        The body's half-width, work columns.
    offsets : (K,) int ndarray
        Columns beyond the body edge, outward.
    upper, lower : (row, slope, column)
        The level's bounding lines on the work grid.
    threshold : float
        Bone above this (body-contrast units).

    Returns
    -------
    reach : int
        Index of the first offset without bone in the level's rows, or beyond the image
        (``K`` when there is none).
    counts : (K,) int ndarray
        Bone pixels in the level's rows per offset (0 outside the image).
    """
    values = _as_2d_float("values", values)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if offsets.ndim != 1:
        raise ValueError("side_bone: offsets must be 1-D")
    counts = np.empty(offsets.size, dtype=np.int64)
    reach = _kernels.side_bone_kernel(
        values, float(col0), int(side), float(edge_px), offsets,
        np.asarray(upper, dtype=np.float64), np.asarray(lower, dtype=np.float64),
        float(threshold), counts,
    )  # fmt: skip
    return int(reach), counts


def noise_differences(
    values: np.ndarray, valid: np.ndarray, lo: np.ndarray, hi: np.ndarray, gap: float, band: float
) -> np.ndarray:
    """Horizontal first differences of the pixels beside the box (see the kernel's notes).

    Parameters
    ----------
    values : (M, N) ndarray
    valid : (M, N) bool ndarray
        Measured pixels (non-finite values are left out too).
    lo, hi : (M,) ndarray
        First/last box column per row (NaN: no box on that row).
    gap, band : float
        The sampled band starts ``gap`` columns beyond each box edge and is ``band`` wide.

    Returns
    -------
    (K,) ndarray
        ``values[r, c + 1] - values[r, c]`` for each pair of neighbours both in a band,
        row by row, left to right.
    """
    values = _as_2d_float("values", values)
    valid = np.ascontiguousarray(valid, dtype=np.bool_)
    if valid.shape != values.shape:
        raise ValueError("noise_differences: valid must have the shape of values")
    lo = _as_1d_float("lo", lo)
    hi = _as_1d_float("hi", hi)
    if lo.size != values.shape[0] or hi.size != values.shape[0]:
        raise ValueError("noise_differences: one box edge per row")
    out = np.empty(values.size)
    n = _kernels.noise_differences_kernel(values, valid, lo, hi, float(gap), float(band), out)
    return out[:n]


def body_filter(values: np.ndarray, half: int, flank: int) -> np.ndarray:
    """Body-window mean minus the larger flank mean, per pixel (see the kernel's notes).

    Parameters
    ----------
    values : (M, N) ndarray
        Work image (outside the field at 0).
    half : int
        Half-width of the body window, columns (the window is ``2 half + 1`` wide).
    flank : int
        Width of each flank window, columns (>= 1).

    Returns
    -------
    (M, N) ndarray
    """
    values = _as_2d_float("values", values)
    if half < 0 or flank < 1:
        raise ValueError("body_filter: half >= 0 and flank >= 1 are needed")
    out = np.empty(values.shape)
    _kernels.body_filter_kernel(values, int(half), int(flank), out)
    return out


def near_edge(
    values: np.ndarray,
    valid: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    threshold: float,
    band: float,
) -> np.ndarray:
    """Valid pixels within ``band`` of the edge level blended across each row.

    Parameters
    ----------
    values : (M, N) ndarray
    valid : (M, N) bool ndarray
    lo, hi : (M,) ndarray
        Columns where the blend starts and ends on each row (finite).
    left, right : (M,) ndarray
        The soft-tissue level at and before ``lo`` and at and after ``hi``.
    threshold, band : float
        The bone contrast added to the level, and the half-width of the band about it.

    Returns
    -------
    (M, N) bool ndarray
        ``valid & (|values - (threshold + left * (1 - t) + right * t)| <= band)``, with ``t =
        clip((column - lo) / max(hi - lo, 1), 0, 1)``; NaN values are never near.
    """
    values, valid, per_row = _edge_blend_inputs(values, valid, lo, hi, left, right)
    out = np.empty(values.shape, dtype=bool)
    _kernels.near_edge_kernel(values, valid, *per_row, float(threshold), float(band), out)
    return out


def box_pixels(shape: tuple[int, int], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``ceil(lo[r]) <= column <= floor(hi[r])`` on every row of an image of ``shape``.

    Parameters
    ----------
    shape : (int, int)
    lo, hi : (shape[0],) ndarray
        First and last column per row (fractional; NaN: an empty row).

    Returns
    -------
    (shape[0], shape[1]) bool ndarray
    """
    lo, hi = _as_1d_float("lo", lo), _as_1d_float("hi", hi)
    rows, cols = (int(n) for n in shape)
    if lo.size != rows or hi.size != rows:
        raise ValueError(f"lo and hi need {rows} rows")
    out = np.empty((rows, cols), dtype=bool)
    _kernels.box_mask_kernel(lo, hi, out)
    return out


def edge_midpoints(
    values: np.ndarray,
    path: np.ndarray,
    reach: int,
    core_half: int,
    core_min: float,
    width_range_mm: tuple[float, float],
    spacing_c: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body's half-contrast edges on each row about a path (see the kernel's notes).

    Parameters
    ----------
    values : (M, N) ndarray
        The work image with unmeasured pixels 0.
    path : (M,) ndarray
        Column per row (truncated to an integer, as ``astype(int)``).
    reach, core_half : int
        Profile half-length and core half-width, in columns (``core_half`` >= 0).
    core_min : float
        Core value a body row must exceed.
    width_range_mm : (float, float)
        Accepted body widths.
    spacing_c : float
        Column spacing, mm.

    Returns
    -------
    centre, width, core : (M,) ndarray
        Edge midpoint column and width (mm; both NaN off body rows) and the core median.
    """
    values = _as_2d_float("values", values)
    path = _as_1d_float("path", path)
    if path.size != values.shape[0]:
        raise ValueError(f"path needs {values.shape[0]} rows, got {path.size}")
    reach, core_half = int(reach), int(core_half)
    if reach < 1 or not 0 <= core_half < reach:
        raise ValueError("edge_midpoints: 0 <= core_half < reach needed")
    out = tuple(np.empty(values.shape[0]) for _ in range(3))
    _kernels.edge_midpoints_kernel(
        values, path, reach, core_half, float(core_min), float(width_range_mm[0]),
        float(width_range_mm[1]), float(spacing_c), *out,
    )  # fmt: skip
    return out


def iso_tangent(
    smooth: np.ndarray, scale_r: float, scale_c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Unit tangent of the iso-density lines from the Sobel gradient (see the kernel's notes).

    Parameters
    ----------
    smooth : (M, N) ndarray
        The smoothed map.
    scale_r, scale_c : float
        Divisors that turn the Sobel responses into value per mm (8 x the spacing).

    Returns
    -------
    tan_r, tan_c : (M, N) ndarray
        The tangent's row and column components (unit length in mm; (1, 0) where flat).
    """
    smooth = _as_2d_float("smooth", smooth)
    tan_r = np.empty(smooth.shape)
    tan_c = np.empty(smooth.shape)
    _kernels.iso_tangent_kernel(smooth, float(scale_r), float(scale_c), tan_r, tan_c)
    return tan_r, tan_c


def isophote_walk(
    base: np.ndarray,
    valid: np.ndarray,
    smooth: np.ndarray,
    scale_r: float,
    scale_c: float,
    where: np.ndarray,
    step_r: float,
    step_c: float,
    weights_k: np.ndarray,
    guide: float,
    out: np.ndarray,
) -> None:
    """In place: ``out`` at the ``where`` pixels = their isophote average (kernel notes).

    Parameters
    ----------
    base, smooth : (M, N) ndarray
        Map (0 off ``valid``) and its smoothed copy.
    scale_r, scale_c : float
        The Sobel divisors of the iso-line tangent (:func:`iso_tangent`'s), which the kernel
        makes itself.
    valid, where : (M, N) bool ndarray
        Measured pixels; pixels to average.
    step_r, step_c : float
        Rows and columns per step per unit of tangent.
    weights_k : (K,) ndarray
        Weight of step k = 1..K along the walk.
    guide : float
        Tolerance of the smoothed-value guide weight (inf: none).
    out : (M, N) float64 ndarray, C-contiguous
        Written at ``where`` only.
    """
    arrays = [_as_2d_float(n, a) for n, a in (("base", base), ("smooth", smooth))]
    masks = [np.ascontiguousarray(np.asarray(m, dtype=bool)) for m in (valid, where)]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays + masks) or out.shape != shape:
        raise ValueError("isophote_walk: every image must have the same shape")
    if out.dtype != np.float64 or not out.flags.c_contiguous:
        raise TypeError("isophote_walk: out must be a C-contiguous float64 array")
    base, smooth = arrays
    _kernels.isophote_walk_kernel(
        base, masks[0], smooth, float(scale_r), float(scale_c), masks[1], float(step_r),
        float(step_c), len(weights_k), _as_1d_float("weights_k", weights_k), float(guide), out,
    )  # fmt: skip


def gaussian_weights(sigma: float) -> np.ndarray:
    """The correlation weights ``scipy.ndimage.gaussian_filter1d(x, sigma)`` applies (its
    default ``truncate=4``): read off its response to a unit impulse, which it forms as
    ``1 * w`` plus zeros, so they are its weights bit for bit whatever its version computes.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels (> 0).

    Returns
    -------
    (2 r + 1,) ndarray
        ``w[j]`` weighs the sample ``j - r`` places on.
    """
    return _gaussian_weights(float(sigma)).copy()


@functools.lru_cache(maxsize=32)
def _gaussian_weights(sigma: float) -> np.ndarray:
    """:func:`gaussian_weights`, made once per sigma (a scan uses a handful); shared, so
    never written to."""
    from scipy import ndimage

    radius = int(4.0 * sigma + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    # correlation: out[i] = sum_j w[j] x[i + j - r], so the impulse gives w reversed
    weights = ndimage.gaussian_filter1d(impulse, sigma, mode="constant")[::-1].copy()
    if np.max(np.abs(weights - weights[::-1])) > np.finfo(float).eps:
        # scipy would take its general loop, which the kernels do not have
        raise ValueError("gaussian weights are not symmetric")
    return weights


def gaussian_nearest(image: np.ndarray, sigma: tuple[float, float]) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, sigma, mode="nearest")``, the same numbers, in
    one numba call (``_kernels.gaussian_nearest_kernel``; its reference is scipy itself,
    ``_numpy_reference.gaussian_nearest_reference``).

    Parameters
    ----------
    image : (M, N) ndarray
        Converted to float64.
    sigma : (float, float)
        Standard deviation in pixels down the rows and along them (each > 0).

    Returns
    -------
    (M, N) ndarray
    """
    image = _as_2d_float("image", image)
    sigma_r, sigma_c = (float(s) for s in sigma)
    if not (sigma_r > 0 and sigma_c > 0):
        raise ValueError("gaussian_nearest: both sigmas must be positive")
    # scipy takes the symmetric loop only for weights symmetric within DBL_EPSILON (a
    # Gaussian's always are; _gaussian_weights checks), and the kernel has no other loop
    weights = [_gaussian_weights(s) for s in (sigma_r, sigma_c)]
    out = np.empty(image.shape)
    _kernels.gaussian_nearest_kernel(image, weights[0], weights[1], out)
    return out


def gaussian_rows(image: np.ndarray, sigma: float, mode: str = "reflect") -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(image, sigma, axis=0, mode=mode)``, the same numbers,
    in one numba call (``_kernels.gaussian_rows_kernel``; its reference is scipy itself,
    ``_numpy_reference.gaussian_rows_reference``).

    Parameters
    ----------
    image : (M, N) ndarray
        Converted to float64.
    sigma : float
        Standard deviation in pixels down the rows (> 0).
    mode : {"reflect", "nearest"}
        scipy's boundary mode (its default is "reflect").

    Returns
    -------
    (M, N) ndarray
    """
    image = _as_2d_float("image", image)
    if not float(sigma) > 0:
        raise ValueError("gaussian_rows: sigma must be positive")
    if mode not in ("reflect", "nearest"):
        raise ValueError(f"gaussian_rows: mode {mode!r} is not 'reflect' or 'nearest'")
    weights = _gaussian_weights(float(sigma))  # symmetric, as scipy's symmetric loop needs
    out = np.empty(image.shape)
    _kernels.gaussian_rows_kernel(image, weights, mode == "reflect", out)
    return out
