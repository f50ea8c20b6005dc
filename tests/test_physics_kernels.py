"""Parity of the physics numba kernels with their numpy references (docs/architecture.md, Kernels),
and input validation of the public wrappers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage

from dxaspine.physics import _kernels, _numpy_reference
from dxaspine.physics.log_attenuation import LOG_TABLE_SIZE, areal_density, log_attenuation
from dxaspine.physics.quantiles import linear_quantiles, row_nanmedian
from dxaspine.physics.resample import block_all, block_any, block_mean, upsample_linear
from dxaspine.physics.smoothing import (
    gaussian_filter_2d,
    gaussian_filter_rows,
    gaussian_half_weights,
)
from dxaspine.physics.soft_tissue import row_baselines

# Same float64 operations in the same order: only libm's log may differ, by an ulp or two.
RTOL = 1e-12

SHAPES = [(0, 0), (0, 5), (5, 0), (1, 1), (1, 7), (7, 1), (13, 17)]


def _counts(shape, rng):
    counts = rng.uniform(-5.0, 2e4, size=shape)
    if counts.size:
        flat = counts.reshape(-1)
        flat[:: max(1, flat.size // 5)] = 0.0  # zero counts (photon starvation)
        flat[1 :: max(1, flat.size // 4)] = np.nan
        flat[2 :: max(1, flat.size // 3)] = np.inf
    return counts


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_log_attenuation_matches_reference(shape, offset):
    rng = np.random.default_rng(1)
    low, high = _counts(shape, rng), _counts(shape, rng)
    a_low, a_high, starved = log_attenuation(low, high, (3e4, 5e4), 0.5, offset)
    ref_low, ref_high, ref_starved = _numpy_reference.log_attenuation_reference(
        low, high, 3e4, 5e4, 0.5, offset
    )
    assert_allclose(a_low, ref_low, rtol=RTOL)
    assert_allclose(a_high, ref_high, rtol=RTOL)
    assert_array_equal(starved, ref_starved)
    # The floor guarantees finite output whatever the counts.
    assert np.isfinite(a_low).all() and np.isfinite(a_high).all()


def test_log_attenuation_values_and_flags():
    low = np.array([[1000.0, 0.0, -3.0, np.nan]])
    high = np.array([[1000.0, 10.0, 10.0, 10.0]])
    a_low, _, starved = log_attenuation(low, high, (1e4, 1e4))
    # ln(1e4/1e3); zero/negative/NaN counts are clipped to 0.5 counts: ln(2e4).
    assert_allclose(a_low[0], [np.log(10.0), np.log(2e4), np.log(2e4), np.log(2e4)], rtol=RTOL)
    assert_array_equal(starved[0], [False, True, True, True])


def test_poisson_offset_removes_log_bias():
    # E[ln N] for Poisson N of mean 50 is ln 50 - 1/(2*50) - ...; ln(N + 1/2) is unbiased to
    # first order.  2e6 samples: the standard error of the mean log is 0.14/1414 = 1e-4.
    counts = np.random.default_rng(5).poisson(50.0, size=(1000, 2000)).astype(float)
    plain, _, _ = log_attenuation(counts, counts, (50.0, 50.0))
    corrected, _, _ = log_attenuation(counts, counts, (50.0, 50.0), count_offset=0.5)
    assert abs(plain.mean() - 0.01) < 5e-4  # the bias is real: +1/(2*50) in A
    assert abs(corrected.mean()) < 5e-4


@pytest.mark.parametrize("shape", SHAPES)
def test_areal_density_matches_reference(shape):
    rng = np.random.default_rng(2)
    a_low = rng.uniform(0, 8, shape)
    a_high = rng.uniform(0, 5, shape)
    r_st = rng.uniform(1.2, 1.5, shape)
    if r_st.size:
        r_st.reshape(-1)[0] = np.nan  # NaN propagates, it is never hidden
    got = areal_density(a_low, a_high, r_st, (0.9877, 0.3131))
    ref = _numpy_reference.areal_density_reference(a_low, a_high, r_st, 0.9877, 0.3131)
    assert_allclose(got, ref, rtol=RTOL, equal_nan=True)
    if r_st.size:
        assert np.isnan(got.reshape(-1)[0])
    # clipped R_st: np.clip's values, bit for bit (also with an empty range: the maximum)
    for r_range in ((1.3, 1.4), (1.45, 1.25)):
        clipped = areal_density(a_low, a_high, r_st, (0.9877, 0.3131), r_range=r_range)
        plain = areal_density(
            a_low, a_high, np.ascontiguousarray(np.clip(r_st, *r_range)), (0.9877, 0.3131)
        )
        assert_array_equal(clipped, plain)


def test_areal_density_recovers_beer_lambert_bone():
    # One pixel of 20 g/cm2 lean tissue over 1.2 g/cm2 HA at 40/70 keV (docs/domain.md §5 table):
    # the decomposition with the true R_st must return the HA areal density exactly.
    mu_st, mu_b = (0.2688, 0.1916), (0.9877, 0.3131)
    a_low = np.array([[mu_st[0] * 20 + mu_b[0] * 1.2]])
    a_high = np.array([[mu_st[1] * 20 + mu_b[1] * 1.2]])
    r = np.array([[mu_st[0] / mu_st[1]]])
    assert_allclose(areal_density(a_low, a_high, r, mu_b), [[1.2]], rtol=1e-12)


def _usable(shape, rng):
    usable = rng.uniform(size=shape) > 0.4
    if usable.size:
        rows, cols = shape
        usable[: max(1, rows // 3), cols // 3 : 2 * cols // 3 + 1] = False  # a bone span
        usable[-1, :] = False  # a row with no soft tissue at all
    return usable


@pytest.mark.parametrize("shape", SHAPES + [(9, 64)])
@pytest.mark.parametrize("half_window", [0, 1, 4, 100])
@pytest.mark.parametrize("curved", [True, False])
def test_row_baselines_matches_reference(shape, half_window, curved):
    rng = np.random.default_rng(3)
    values = rng.normal(1.38, 0.02, shape)
    if values.size:
        values.reshape(-1)[1 :: max(1, values.size // 4)] = np.nan  # NaN counts as unusable
    usable = _usable(shape, rng)
    got, weight = row_baselines(values, usable, half_window, 3.0, 1e-3, curved=curved)
    ref, ref_weight = _numpy_reference.row_baselines_reference(
        values, usable, half_window, 3.0, 1e-3, curved
    )
    assert_allclose(got, ref, rtol=1e-12, atol=1e-14, equal_nan=True)
    assert_allclose(weight, ref_weight, rtol=1e-15)


def test_row_baselines_interpolates_linear_profile_across_gap():
    # A linear soft-tissue profile across a row is reproduced exactly inside a bone gap,
    # because each side window's mean sits at its centroid column.
    cols = np.arange(60, dtype=float)
    values = np.tile(1.30 + 0.001 * cols, (3, 1))
    usable = np.ones((3, 60), dtype=bool)
    usable[:, 20:40] = False
    got, weight = row_baselines(values, usable, 5)
    assert_allclose(got[:, 20:40], values[:, 20:40], rtol=1e-12)
    assert (weight == 1.0).all()  # default gap scale: infinite, every bridge fully trusted
    _, weight = row_baselines(values, usable, 5, gap_scale_px=4.0)
    distance = np.minimum(np.arange(20, 40) - 19, 40 - np.arange(20, 40))
    assert_allclose(weight[0, 20:40], 1 / (1 + (distance / 4.0) ** 2))


def test_row_baselines_empty_row_is_nan_and_one_sided_is_weighted():
    values = np.ones((2, 6))
    usable = np.zeros((2, 6), dtype=bool)
    usable[1, 0] = True
    got, weight = row_baselines(values, usable, 2, extrapolated_weight=0.25)
    assert np.isnan(got[0]).all() and (weight[0] == 0).all()
    assert_allclose(got[1], 1.0)
    assert_array_equal(weight[1], [1.0, 0.25, 0.25, 0.25, 0.25, 0.25])


@pytest.mark.parametrize(
    "bad",
    [
        np.ones((4, 4), dtype=np.float32),  # dtype
        np.ones((4, 4, 1)),  # ndim
        np.ones((8, 8))[::2, ::2],  # not contiguous
    ],
)
def test_wrappers_validate_arrays(bad):
    good = np.ones((4, 4))
    with pytest.raises((TypeError, ValueError)):
        log_attenuation(bad, good, (1.0, 1.0))
    with pytest.raises((TypeError, ValueError)):
        areal_density(good, good, bad, (1.0, 0.5))
    with pytest.raises((TypeError, ValueError)):
        row_baselines(bad, np.ones((4, 4), dtype=bool), 2)


def test_wrappers_validate_shapes_and_scalars():
    good = np.ones((4, 4))
    with pytest.raises(ValueError):
        log_attenuation(good, np.ones((4, 5)), (1.0, 1.0))
    with pytest.raises(ValueError):
        log_attenuation(good, good, (0.0, 1.0))
    with pytest.raises(ValueError):
        log_attenuation(good, good, (1.0, 1.0), count_offset=-1.0)
    with pytest.raises(TypeError):
        row_baselines(good, np.ones((4, 4), dtype=np.uint8), 2)
    with pytest.raises(ValueError):
        row_baselines(good, np.ones((4, 4), dtype=bool), -1)
    with pytest.raises(ValueError):
        row_baselines(good, np.ones((4, 4), dtype=bool), 1, gap_scale_px=0.0)


def _integer_counts(shape, rng):
    """Integer-valued counts (as detectors give), straddling the log table's end."""
    counts = rng.integers(0, 2 * LOG_TABLE_SIZE, size=shape).astype(np.float64)
    if counts.size:
        flat = counts.reshape(-1)
        flat[:: max(1, flat.size // 3)] = LOG_TABLE_SIZE - 1  # last table entry
        flat[1 :: max(1, flat.size // 4)] = np.nan
        flat[2 :: max(1, flat.size // 5)] = 7.5  # not an integer: computed directly
    return counts


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_log_table_matches_direct_logarithm(shape, offset):
    rng = np.random.default_rng(5)
    low, high = _integer_counts(shape, rng), _integer_counts(shape, rng)
    a_low, a_high, starved = log_attenuation(low, high, (3e5, 5e5), 0.5, offset)
    ref_low, ref_high, ref_starved = _numpy_reference.log_attenuation_reference(
        low, high, 3e5, 5e5, 0.5, offset
    )
    assert_allclose(a_low, ref_low, rtol=RTOL)
    assert_allclose(a_high, ref_high, rtol=RTOL)
    assert_array_equal(starved, ref_starved)
    # The table holds the kernel's own expression: bit-identical to computing every log.
    empty = np.empty(0)
    direct = np.empty_like(a_low), np.empty_like(a_low), np.empty(shape, dtype=bool)
    _kernels.log_attenuation_kernel(
        low, high, 3e5, 5e5, 0.5, offset, empty, empty, *direct, 1.0, 1.0
    )
    assert_array_equal(a_low, direct[0])
    assert_array_equal(a_high, direct[1])


@pytest.mark.parametrize("slope", [2.0, 3.0, 4.0])
@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_strided_log_table_matches_direct_logarithm(slope, offset):
    """Counts of a RescaleSlope above 1 exceed the 16-bit table: the strided table (every
    step-th count) gives the directly computed logarithm bit for bit, whether or not the
    counts are multiples of its step."""
    rng = np.random.default_rng(7)
    shape = (23, 31)
    low = slope * rng.integers(0, LOG_TABLE_SIZE, size=shape).astype(np.float64)
    high = slope * rng.integers(0, LOG_TABLE_SIZE, size=shape).astype(np.float64)
    low[0, :3] = (0.0, slope * (LOG_TABLE_SIZE - 1), 7.5)
    a_low, a_high, starved = log_attenuation(low, high, (3e5, 5e5), 0.5, offset)
    empty = np.empty(0)
    direct = np.empty_like(a_low), np.empty_like(a_low), np.empty(shape, dtype=bool)
    _kernels.log_attenuation_kernel(
        low, high, 3e5, 5e5, 0.5, offset, empty, empty, *direct, 1.0, 1.0
    )
    assert_array_equal(a_low, direct[0])
    assert_array_equal(a_high, direct[1])
    assert_array_equal(starved, direct[2])
    ref_low, _, _ = _numpy_reference.log_attenuation_reference(low, high, 3e5, 5e5, 0.5, offset)
    assert_allclose(a_low, ref_low, rtol=RTOL)


BLOCK_SHAPES = [(1, 1), (1, 7), (7, 1), (8, 8), (13, 17)]


@pytest.mark.parametrize("shape", BLOCK_SHAPES)
@pytest.mark.parametrize("factors", [(1, 1), (2, 3), (4, 4), (9, 2)])
def test_block_reductions_match_reference(shape, factors):
    rng = np.random.default_rng(6)
    image = rng.normal(size=shape)
    image.reshape(-1)[::5] = np.nan  # NaN propagates into its block's mean, as in numpy
    mask = rng.random(shape) > 0.4
    # Summation order differs from numpy's reduction: a few ulp.
    assert_allclose(
        block_mean(image, factors),
        _numpy_reference.block_mean_reference(image, *factors),
        rtol=RTOL,
    )
    count = _numpy_reference.block_count_reference(mask, *factors)
    assert_array_equal(block_all(mask, factors), count == factors[0] * factors[1])
    assert_array_equal(block_any(mask, factors), count > 0)


def test_block_mean_replicates_edges():
    image = np.array([[1.0, 2.0, 3.0]])
    # Blocks of 2 x 2: [[1, 2], [1, 2]] and [[3, 3], [3, 3]] (edge row and column repeated).
    assert_array_equal(block_mean(image, (2, 2)), [[1.5, 3.0]])


@pytest.mark.parametrize("coarse_shape", [(1, 1), (1, 4), (3, 1), (5, 6)])
@pytest.mark.parametrize("factors", [(1, 2), (4, 4), (3, 2)])
def test_upsample_linear_matches_reference(coarse_shape, factors):
    rng = np.random.default_rng(7)
    coarse = rng.normal(size=coarse_shape)
    shape = (coarse_shape[0] * factors[0] - 1 + (factors[0] == 1), coarse_shape[1] * factors[1])
    got = upsample_linear(coarse, factors, shape)
    assert_allclose(
        got, _numpy_reference.upsample_linear_reference(coarse, *factors, shape), rtol=RTOL
    )


def test_upsample_linear_reproduces_a_plane():
    # Linear interpolation between block centres is exact for a plane (away from the held
    # edges): block centre (i, j) of 4 x 4 blocks lies at fine (4 i + 1.5, 4 j + 1.5).
    rows, cols = np.mgrid[0:5, 0:6].astype(np.float64)
    fine = upsample_linear(2.0 * rows - 0.5 * cols, (4, 4), (20, 24))
    r, c = np.mgrid[0:20, 0:24].astype(np.float64)
    plane = 2.0 * (r - 1.5) / 4 - 0.5 * (c - 1.5) / 4
    inner = (slice(2, 18), slice(2, 22))
    assert_allclose(fine[inner], plane[inner], atol=1e-12)


def test_resample_wrappers_validate():
    with pytest.raises(TypeError):
        block_mean(np.ones((4, 4, 1)), (2, 2))
    with pytest.raises(ValueError):
        block_mean(np.ones((4, 4)), (0, 2))
    with pytest.raises(ValueError):
        block_all(np.ones((0, 4), dtype=bool), (2, 2))


def test_quantiles_are_numpy_quantiles_bit_for_bit():
    rng = np.random.default_rng(8)
    quantiles = (0.0, 0.01, 0.1587 / 0.5, 0.5, 0.75, 0.99, 1.0)
    for size in (1, 2, 3, 10, 999, 50_000):
        values = rng.normal(size=size) * 10.0 ** rng.uniform(-3, 3)
        expected = np.quantile(values, quantiles)
        assert_array_equal(linear_quantiles(values.copy(), quantiles), expected)
        assert linear_quantiles(values.copy(), (0.99,))[0] == np.percentile(values, 99.0)


def test_row_nanmedian_is_numpy_nanmedian():
    rng = np.random.default_rng(9)
    for rows, cols in ((1, 1), (3, 2), (6, 7), (20, 300)):
        values = rng.normal(size=(rows, cols))
        values[rng.random((rows, cols)) < 0.4] = np.nan
        values[0] = np.nan  # an all-NaN row: NaN, and no warning (pytest makes them errors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's all-NaN slice warning
            expected = np.nanmedian(values, axis=1)
        assert_array_equal(row_nanmedian(values), expected)
    assert row_nanmedian(np.empty((2, 0))).shape == (2,)


# ---------------------------------------------------------------- Gaussian smoothing
# The kernels repeat scipy.ndimage.correlate1d's float64 operations in its order, so results
# are compared for exact equality (NaN where NaN), with the numpy reference and with scipy.
FILTER_SHAPES = [(0, 0), (0, 4), (4, 0), (1, 1), (1, 9), (9, 1), (3, 40), (37, 23)]


def _noisy(shape, rng):
    image = rng.normal(size=shape) * 10.0 ** rng.uniform(-3, 3)
    if image.size > 2:
        image.reshape(-1)[:: max(2, image.size // 3)] = np.nan
    return image


@pytest.mark.parametrize("shape", FILTER_SHAPES)
@pytest.mark.parametrize("mode", ["nearest", "reflect"])
@pytest.mark.parametrize("sigma", [0.3, 3.2, 8.0])  # radius 1, 10, 24 at truncate 3
def test_correlate_kernels_match_reference(shape, mode, sigma):
    rng = np.random.default_rng(10)
    image = _noisy(shape, rng)
    taps = gaussian_half_weights(sigma, 3.0)
    code = {"nearest": _kernels.MODE_NEAREST, "reflect": _kernels.MODE_REFLECT}
    for axis, kernel in (
        (0, _kernels.correlate_rows_kernel),
        (1, _kernels.correlate_cols_kernel),
    ):
        out = np.full(shape, -1.0)
        kernel(image, taps, code[mode], out)
        expected = _numpy_reference.correlate_reference(image, taps, code[mode], axis)
        assert_array_equal(out, expected)


@pytest.mark.parametrize("shape", FILTER_SHAPES[3:])  # scipy wants at least one pixel
@pytest.mark.parametrize("mode", ["nearest", "reflect"])
@pytest.mark.parametrize("sigma", [(0.3, 3.2), (3.2, 3.2), (7.6, 1.3), (8.0, 0.0), (0.0, 2.0)])
@pytest.mark.parametrize("truncate", [3.0, 4.0])
def test_gaussian_filters_are_scipy_bit_for_bit(shape, mode, sigma, truncate):
    rng = np.random.default_rng(11)
    image = _noisy(shape, rng)
    expected = ndimage.gaussian_filter(image, sigma, mode=mode, truncate=truncate)
    assert_array_equal(gaussian_filter_2d(image, sigma, mode, truncate), expected)
    if sigma[0] > 0:
        expected = ndimage.gaussian_filter1d(image, sigma[0], axis=0, mode=mode, truncate=truncate)
        assert_array_equal(gaussian_filter_rows(image, sigma[0], mode, truncate), expected)


def test_gaussian_filter_smooths_a_step_and_keeps_constants():
    # A constant stays constant to rounding (taps sum to 1); a step is spread symmetrically.
    flat = np.full((20, 30), 2.5)
    assert_allclose(gaussian_filter_2d(flat, (2.0, 3.0), "reflect"), 2.5, rtol=1e-14)
    step = np.zeros((40, 3))
    step[20:] = 1.0
    smooth = gaussian_filter_rows(step, 2.0, "nearest")
    assert smooth[19, 0] < 0.5 < smooth[20, 0]
    assert_allclose(smooth[19, 0] + smooth[20, 0], 1.0, rtol=1e-12)  # odd symmetry of a step
    assert_array_equal(gaussian_filter_2d(step, (0.0, 0.0)), step)


def test_gaussian_wrappers_validate():
    with pytest.raises(TypeError):
        gaussian_filter_2d(np.ones(5), (1.0, 1.0))
    with pytest.raises(ValueError):
        gaussian_filter_2d(np.ones((4, 4)), (1.0, 1.0), mode="wrap")
    with pytest.raises(ValueError):
        gaussian_filter_rows(np.ones((4, 4)), 0.0)


@pytest.mark.parametrize("size", [1, 2, 3, 17, 1000, 60_000])
def test_order_statistics_kernel_matches_partition(size):
    rng = np.random.default_rng(size)
    cases = [
        rng.normal(size=size) * 10.0 ** rng.uniform(-3, 3),
        np.round(rng.normal(size=size), 1),  # many ties
        np.full(size, 2.5),  # all equal
        np.concatenate([rng.normal(size=size - 1), [1e6]]) if size > 1 else np.zeros(1),  # skew
    ]
    for values in cases:
        ranks = np.unique(rng.integers(0, size, 5)).astype(np.int64)
        ranks = np.unique(np.concatenate([ranks, [0, size - 1]])).astype(np.int64)
        out = np.empty(ranks.size)
        assert _kernels.order_statistics_kernel(values, ranks, out)
        assert_array_equal(out, _numpy_reference.order_statistics_reference(values, ranks))
        # the same given numpy's range (quantiles._select), bit for bit
        given = np.empty(ranks.size)
        lo, hi = float(values.min()), float(values.max())
        assert _kernels.order_statistics_in_range_kernel(values, ranks, lo, hi, given)
        assert_array_equal(given, out)


def test_order_statistics_kernel_edge_cases():
    out = np.empty(1)
    empty = np.empty(0, dtype=np.int64)
    assert _kernels.order_statistics_kernel(np.empty(0), empty, np.empty(0))
    for bad in (np.array([1.0, np.inf]), np.array([np.nan, 1.0]), np.array([0.0, 5e-324])):
        assert not _kernels.order_statistics_kernel(bad, np.array([0], dtype=np.int64), out)
    # the wrapper falls back to numpy's partition, bit for bit
    values = np.array([3.0, -np.inf, 1.0, 4.0, 2.0])
    quantiles = (0.5, 0.6, 0.75, 1.0)
    assert linear_quantiles(values.copy(), quantiles) == list(np.quantile(values, quantiles))


@pytest.mark.parametrize("size", [0, 1, 7, 5000])
def test_peak_histogram_and_values_below_match_numpy(size):
    rng = np.random.default_rng(size + 11)
    values = rng.normal(size=size)
    if size:
        values[0] = -0.3  # (v - lo) * scale in (-1, 0): numpy's astype(intp) puts it in bin 0
    lo, scale, bins = -0.1, 256 / 2.3, 256
    counts = np.zeros(bins, dtype=np.int64)
    _kernels.peak_histogram_kernel(values, lo, scale, counts)
    assert_array_equal(counts, _numpy_reference.peak_histogram_reference(values, lo, scale, bins))
    for limit in (-np.inf, 0.0, 0.5, np.inf):
        assert_array_equal(
            _kernels.values_below_kernel(values, limit),
            _numpy_reference.values_below_reference(values, limit),
        )


def test_quantiles_leave_the_values_alone_when_asked():
    values = np.array([1e-323, 0.0, 5e-324, 1.5e-323, 0.0])  # subnormal range: the fallback
    kept = values.copy()
    assert linear_quantiles(values, (0.5,), may_reorder=False) == [np.quantile(kept, 0.5)]
    assert_array_equal(values, kept)


def test_median_is_numpy_median_bit_for_bit():
    from dxaspine.physics.quantiles import median

    rng = np.random.default_rng(12)
    for size in (1, 2, 3, 10, 999, 1000, 65_000):
        values = rng.normal(size=size) * 10.0 ** rng.uniform(-3, 3)
        kept = values.copy()
        assert median(values) == np.median(kept)
        assert_array_equal(values, kept)
    assert median(np.array([1.0, np.inf, 3.0])) == 3.0  # the numpy fallback


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 4), (37, 23), (60, 150)])
@pytest.mark.parametrize("radius", [(0, 0), (1, 1), (1, 2), (2, 2), (5, 30)])
@pytest.mark.parametrize("with_gas", [False, True])
def test_usable_mask_kernel_matches_reference(shape, radius, with_gas):
    from dxaspine.physics.soft_tissue import GasExclusion, usable_pixels

    rng = np.random.default_rng(shape[0] * 31 + shape[1] + radius[1])
    candidate = rng.random(shape) > 0.1
    bone = rng.random(shape) > 0.85
    excess = rng.normal(size=shape)
    excess[rng.random(shape) < 0.05] = np.nan
    values = rng.normal(3.0, 0.3, size=shape)
    values[0, :2] = 1.0  # gas-like
    values[-1, -1] = np.nan  # left out of the median, as np.nanmedian does
    soft = rng.random(shape) > 0.2
    if shape[0] > 2:
        soft[1] = False  # a row without soft tissue: no gas there
    gas = GasExclusion(values, soft, 0.88) if with_gas else None
    got = usable_pixels(candidate, bone, excess, 0.1, 1.5, radius, gas)
    expected = _numpy_reference.usable_mask_reference(
        candidate, bone, excess, 0.1, 1.5, *radius,
        values if with_gas else np.empty((0, 0)), soft, None, 0.88,
    )  # fmt: skip
    assert_array_equal(got, expected)
    if with_gas:  # the order formed once for all iterations gives the same mask
        order = np.argsort(values, axis=1)
        again = usable_pixels(
            candidate, bone, excess, 0.1, 1.5, radius, GasExclusion(values, soft, 0.88, order)
        )
        assert_array_equal(again, expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (5, 3), (60, 40), (188, 150)])
@pytest.mark.parametrize("sigma", [0.0, 0.7, 7.6, 40.0])
def test_weighted_smooth_rows_kernel_is_scipy_bit_for_bit(shape, sigma):
    from dxaspine.physics.soft_tissue import smooth_along_rows

    rng = np.random.default_rng(shape[0] + 7 * shape[1])
    baseline = rng.normal(1.4, 0.05, size=shape)
    weight = np.where(rng.random(shape) < 0.3, 1e-3 * rng.random(shape), 1.0)
    baseline[rng.random(shape) < 0.1] = np.nan
    weight[rng.random(shape) < 0.1] = 0.0
    if shape[0] > 30:
        weight[: shape[0] // 2] = 0.0  # far from any usable row: NaN, then filled
    taps = gaussian_half_weights(sigma, 3.0) if sigma > 0 else np.ones(1)
    out = np.empty(shape)
    _kernels.weighted_smooth_rows_kernel(baseline, weight, taps, out)
    expected = _numpy_reference.weighted_smooth_rows_reference(baseline, weight, sigma)
    assert_array_equal(out, expected)
    smoothed = smooth_along_rows(baseline, weight, sigma)
    assert np.isfinite(smoothed).all() or not (np.isfinite(baseline) & (weight > 0)).any()


@pytest.mark.parametrize("shape", FILTER_SHAPES)
@pytest.mark.parametrize("mode", ["nearest", "reflect"])
@pytest.mark.parametrize("sigma", [(0.3, 3.2), (3.2, 3.2), (7.6, 1.3)])
def test_correlate_2d_kernel_is_rows_then_cols(shape, mode, sigma):
    rng = np.random.default_rng(13)
    image = _noisy(shape, rng)
    taps = [gaussian_half_weights(s, 3.0) for s in sigma]
    code = {"nearest": _kernels.MODE_NEAREST, "reflect": _kernels.MODE_REFLECT}[mode]
    out = np.full(shape, -1.0)
    _kernels.correlate_2d_kernel(image, taps[0], taps[1], code, out)
    expected = _numpy_reference.correlate_reference(
        _numpy_reference.correlate_reference(image, taps[0], code, 0), taps[1], code, 1
    )
    assert_array_equal(out, expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (3, 1), (20, 31), (300, 188)])
@pytest.mark.parametrize("row_step", [1, 3])
def test_neighbour_noise_kernel_matches_reference(shape, row_step):
    rng = np.random.default_rng(shape[0] + row_step)
    counts = rng.poisson(400.0, size=shape).astype(np.float64)
    counts[rng.random(shape) < 0.05] = 0.0  # starved: not a pair
    field = rng.random(shape) > 0.1
    got = _kernels.neighbour_noise_kernel(counts, field, row_step)
    assert_array_equal(got, _numpy_reference.neighbour_noise_reference(counts, field, row_step))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (8, 8), (13, 17), (30, 41)])
@pytest.mark.parametrize("factors", [(1, 1), (1, 2), (2, 2), (4, 4), (3, 5)])
def test_log_attenuation_with_blocks_is_log_then_blocks_bit_for_bit(shape, factors):
    from dxaspine.physics.log_attenuation import log_attenuation_with_blocks

    rng = np.random.default_rng(shape[0] * 7 + factors[1])
    low, high = _integer_counts(shape, rng), _counts(shape, rng)
    field = rng.random(shape) > 0.1
    got = log_attenuation_with_blocks(low, high, (3e5, 5e5), 0.5, 0.5, field, factors)
    a_low, a_high, starved = log_attenuation(low, high, (3e5, 5e5), 0.5, 0.5)
    for value, expected in zip(
        got,
        (
            a_low,
            a_high,
            starved,
            block_mean(a_low, factors),
            block_mean(a_high, factors),
            block_all(field, factors),
            block_any(starved, factors),
        ),
        strict=True,
    ):
        assert_array_equal(value, expected)
    reference = _numpy_reference.log_attenuation_blocks_reference(
        low, high, 3e5, 5e5, 0.5, 0.5, field, *factors
    )
    for value, expected in zip(got, reference, strict=True):
        assert_allclose(value, expected, rtol=RTOL)


def test_soft_tissue_peak_drops_non_finite_values():
    from dxaspine.physics.soft_tissue import soft_tissue_peak

    rng = np.random.default_rng(6)
    for size in (5_000, 70_000, 200_000):  # below and above the subsampling threshold
        values = np.concatenate([rng.normal(0, 0.02, size), rng.uniform(0.2, 1.2, size // 6)])
        rng.shuffle(values)
        dirty = values.copy()
        dirty[::97] = np.nan
        dirty[5::101] = np.inf
        assert soft_tissue_peak(dirty) == soft_tissue_peak(dirty[np.isfinite(dirty)])
        assert soft_tissue_peak(values.reshape(-1, 1)) == soft_tissue_peak(values)


def test_count_either_above_kernel_and_fraction_match_numpy():
    from dxaspine.physics.plausibility import _fraction_above

    rng = np.random.default_rng(14)
    for size in (1, 7, 1000, 65_537):
        low, high = rng.uniform(0, 10, size), rng.uniform(0, 10, size)
        low[::11] = np.nan
        count = _kernels.count_either_above_kernel(low, high, 8.0, 9.5)
        assert count == _numpy_reference.count_either_above_reference(low, high, 8.0, 9.5)
        expected = np.mean((low > 8.0) | (high > 9.5))
        got = _fraction_above(low, high, 8.0, 9.5)
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("size", [0, 1, 9, 1000, 70_001])
@pytest.mark.parametrize("step", [1, 3])
def test_both_at_least_kernel_matches_reference(size, step):
    rng = np.random.default_rng(size + step)
    low, high = rng.uniform(-5, 60, size), rng.uniform(-5, 60, size)
    low[::13] = np.nan
    for minimum in (1.0, 30.0):
        got = _kernels.both_at_least_kernel(low, high, step, minimum)
        want = _numpy_reference.both_at_least_reference(low, high, step, minimum)
        assert_array_equal(got[0], want[0])
        assert_array_equal(got[1], want[1])
