"""Parity of the segmentation kernels with their numpy references (docs/architecture.md, Kernels).

Every kernel is checked on random inputs and on the edge cases the project asks for: empty,
one pixel, NaN.  Results must agree exactly (integer outputs) or to float rounding (means:
the kernel sums in a different order than numpy's pairwise sum, so 1e-12 relative).
"""

from __future__ import annotations

import numpy as np
import pytest

from dxaspine.segment import _numpy_reference as ref
from dxaspine.segment import kernels

RNG = np.random.default_rng(20240312)


# ---------------------------------------------------------------- masked_block_mean
@pytest.mark.parametrize(
    ("shape", "factors"),
    [
        ((101, 87), (4, 3)),
        ((64, 64), (1, 1)),
        ((7, 5), (2, 2)),
        ((1, 1), (1, 1)),
        ((0, 0), (2, 2)),
        ((3, 3), (4, 4)),
    ],
)
def test_block_mean_matches_reference(shape, factors):
    image = RNG.normal(size=shape)
    valid = RNG.random(shape) > 0.2
    if image.size:
        image.flat[0] = np.nan  # NaN pixels are skipped like invalid ones
    got = kernels.masked_block_mean(image, valid, *factors)
    want = ref.masked_block_mean_reference(image, valid, *factors)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def test_block_mean_all_invalid_block_is_nan():
    image = np.ones((4, 4))
    valid = np.zeros((4, 4), dtype=bool)
    valid[:2, :2] = True
    got = kernels.masked_block_mean(image, valid, 2, 2)
    assert got[0, 0] == 1.0 and np.isnan(got[1, 1])


def test_block_mean_rejects_bad_input():
    with pytest.raises(ValueError):
        kernels.masked_block_mean(np.ones(4), np.ones(4, dtype=bool), 1, 1)
    with pytest.raises(ValueError):
        kernels.masked_block_mean(np.ones((4, 4)), np.ones((3, 4), dtype=bool), 1, 1)
    with pytest.raises(ValueError):
        kernels.masked_block_mean(np.ones((4, 4)), np.ones((4, 4), dtype=bool), 0, 1)


# ---------------------------------------------------------------- track_path
@pytest.mark.parametrize(
    ("shape", "max_step", "penalty"),
    [
        ((200, 150), 3, 0.05),
        ((50, 40), 1, 0.0),
        ((30, 30), 0, 1.0),
        ((1, 1), 2, 0.1),
        ((0, 0), 1, 0.1),
        ((5, 1), 2, 0.1),
        ((1, 9), 2, 0.1),
    ],
)
def test_track_path_matches_reference(shape, max_step, penalty):
    cost = RNG.random(shape)
    if cost.size > 3:
        cost.flat[3] = np.nan
    got = kernels.track_path(cost, max_step, penalty)
    want = ref.track_path_reference(cost, max_step, penalty)
    np.testing.assert_array_equal(got, want)


def test_track_path_all_nan_rows_and_ties():
    cost = np.zeros((6, 5))
    cost[2] = np.nan  # an impassable row: both must keep the same tie rules
    np.testing.assert_array_equal(
        kernels.track_path(cost, 1, 0.1), ref.track_path_reference(cost, 1, 0.1)
    )


def test_track_path_follows_a_bright_curve():
    rows, cols = 120, 80
    truth = (40 + 15 * np.sin(np.linspace(0, np.pi, rows))).astype(int)
    cost = np.ones((rows, cols))
    cost[np.arange(rows), truth] = 0.0
    path = kernels.track_path(cost, 2, 0.01)
    np.testing.assert_array_equal(path, truth)  # slope <= 1 px/row fits max_step 2


def test_track_path_rejects_bad_input():
    with pytest.raises(ValueError):
        kernels.track_path(np.ones(3), 1, 0.1)
    with pytest.raises(ValueError):
        kernels.track_path(np.ones((3, 3)), -1, 0.1)


# ---------------------------------------------------------------- rasterize_levels
def _random_levels(rows, cols):
    lo = RNG.random(rows) * cols * 0.3
    hi = lo + RNG.random(rows) * cols * 0.7
    if rows > 3:
        lo[3] = np.nan  # a row outside the box
    n_lines = 5
    line_row = np.sort(RNG.random(n_lines) * rows)
    line_col = RNG.random(n_lines) * cols
    slope = RNG.normal(0, 0.2, n_lines)
    return lo, hi, line_col, line_row, slope


@pytest.mark.parametrize("shape", [(120, 100), (37, 53), (1, 1), (0, 0), (1, 7)])
def test_rasterize_levels_matches_reference(shape):
    lo, hi, lc, lr, ls = _random_levels(*shape)
    got = kernels.rasterize_levels(shape, lo, hi, lc, lr, ls)
    want = ref.rasterize_levels_reference(shape[0], shape[1], lo, hi, lc, lr, ls)
    np.testing.assert_array_equal(got, want)


def test_rasterize_levels_nan_line_and_no_lines():
    shape = (20, 20)
    lo, hi = np.zeros(20), np.full(20, 19.0)
    lc = np.array([10.0, 10.0, 10.0])
    lr = np.array([2.0, np.nan, 15.0])  # a NaN line labels nothing on either side
    ls = np.zeros(3)
    got = kernels.rasterize_levels(shape, lo, hi, lc, lr, ls)
    np.testing.assert_array_equal(got, ref.rasterize_levels_reference(20, 20, lo, hi, lc, lr, ls))
    assert not got.any()
    empty = kernels.rasterize_levels(shape, lo, hi, np.zeros(0), np.zeros(0), np.zeros(0))
    assert not empty.any()


def test_rasterize_levels_semantics():
    # two horizontal lines at rows 5 and 10, box columns 2..7: level 1 = rows 5..9
    shape = (15, 10)
    got = kernels.rasterize_levels(
        shape,
        np.full(15, 2.0),
        np.full(15, 7.0),
        np.array([0.0, 0.0]),
        np.array([5.0, 10.0]),
        np.zeros(2),
    )
    want = np.zeros(shape, dtype=np.int32)
    want[5:10, 2:8] = 1
    np.testing.assert_array_equal(got, want)


def test_rasterize_levels_rejects_bad_input():
    with pytest.raises(ValueError):
        kernels.rasterize_levels(
            (3, 3), np.zeros(2), np.zeros(3), np.zeros(1), np.zeros(1), np.zeros(1)
        )
    with pytest.raises(ValueError):
        kernels.rasterize_levels(
            (3, 3), np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(1), np.zeros(1)
        )


# ---------------------------------------------------------------- disc_centres
def _disc_image(rows=60, cols=12):
    """Bodies (1.0) with a disc (0.05) between rows 25 and 35, plus noise."""
    img = np.ones((rows, cols)) + RNG.normal(0, 0.02, (rows, cols))
    img[25:35] = 0.05
    return img


@pytest.mark.parametrize("case", ["random", "disc", "nan", "one", "empty", "outside"])
def test_disc_centres_match_reference(case):
    img = _disc_image() if case != "random" else RNG.random((60, 12))
    cols = np.arange(img.shape[1])
    starts = np.full(cols.size, 15)
    guesses = np.full(cols.size, 15.0)
    if case == "nan":
        img[20, 3] = np.nan  # that column is NaN, the others are not
    if case == "one":
        cols, starts, guesses = cols[:1], starts[:1], guesses[:1]
    if case == "empty":
        cols, starts, guesses = cols[:0], starts[:0], guesses[:0]
    if case == "outside":
        starts[::2] = -1
        starts[1] = 55  # window runs past the bottom
        cols[3] = 99
    got = kernels.disc_centres(img, cols, starts, 31, guesses, 6, 0.25, 0.2)
    want = ref.disc_centres_reference(img, cols, starts, 31, guesses, 6, 0.25, 0.2)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, equal_nan=True)
    if case == "nan":
        assert np.isnan(got[0][3]) and np.isfinite(got[0][2])


def test_disc_centres_find_the_disc_middle():
    img = np.ones((60, 4))
    img[25:35] = 0.0  # disc rows 25..34: centre 29.5 (pixel centres), 10 rows thick
    centre, thickness = kernels.disc_centres(
        img, np.arange(4), np.full(4, 15), 31, np.full(4, 15.0), 6, 0.25, 0.2
    )
    # edges at the 0.25 rise: 24 + 0.75 and 34 + 0.25 -> centre 29.5, distance 9.5 rows
    np.testing.assert_allclose(centre, 29.5)
    np.testing.assert_allclose(thickness, 9.5)


# ---------------------------------------------------------------- drop_small_components
def _speckled(shape, p):
    mask = RNG.random(shape) < p
    if mask.size > 400:  # a large body with pinholes, as a bone mask has
        mask[shape[0] // 4 : shape[0] // 2, shape[1] // 4 : shape[1] // 2] = True
        mask[RNG.random(shape) < 0.02] ^= True
    return mask


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 1), (1, 9), (9, 1), (40, 60)])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("min_pixels", [1, 2, 3, 8, 32])
def test_drop_small_components_matches_reference(shape, p, min_pixels):
    # NaN does not apply: the kernel works on bool masks.  Integer outputs: exact.
    mask = _speckled(shape, p)
    before = mask.copy()
    out = kernels.drop_small_components(mask, min_pixels)
    np.testing.assert_array_equal(out, ref.drop_small_components_reference(mask, min_pixels))
    np.testing.assert_array_equal(mask, before)  # the input is left alone


def test_drop_small_components_semantics():
    mask = np.zeros((12, 12), dtype=bool)
    mask[2:10, 2:10] = True  # a 64-pixel body ...
    mask[5, 5] = False  # ... with a one-pixel pinhole
    mask[0, 11] = True  # a one-pixel speck
    mask[11, 0:3] = True  # a 3-pixel bar
    mask[1, 1] = True  # touches the body only diagonally: its own component (cross)
    out = kernels.drop_small_components(mask, 3)
    expected = np.zeros((12, 12), dtype=bool)
    expected[2:10, 2:10] = True
    expected[11, 0:3] = True  # 3 pixels is not fewer than 3
    np.testing.assert_array_equal(out, expected)
    # A hole exactly the size limit stays; a whole image of one value is one big component.
    assert not kernels.drop_small_components(mask, 1)[5, 5]
    assert kernels.drop_small_components(np.ones((3, 3), dtype=bool), 5).all()


def test_drop_small_components_rejects_bad_input():
    with pytest.raises(ValueError):
        kernels.drop_small_components(np.ones((3, 3)), 2)
    with pytest.raises(ValueError):
        kernels.drop_small_components(np.ones(3, dtype=bool), 2)


# ---------------------------------------------------------------- above_edge_blend
@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 1), (1, 9), (9, 1), (50, 70)])
def test_above_edge_blend_matches_reference(shape):
    rows, cols = shape
    values = RNG.normal(0.1, 0.1, size=shape)
    if values.size > 2:
        values.reshape(-1)[:: max(2, values.size // 5)] = np.nan  # NaN is never above
    valid = RNG.random(shape) < 0.8
    lo = RNG.uniform(-5, cols, size=rows)
    hi = lo + RNG.uniform(-2, cols, size=rows)  # hi < lo and hi - lo < 1 included
    left, right = RNG.normal(0, 0.05, size=(2, rows))
    out = kernels.above_edge_blend(values, valid, lo, hi, left, right, 0.1)
    # Same float64 operations in the same order: exact.
    expected = ref.above_edge_blend_reference(values, valid, lo, hi, left, right, 0.1)
    np.testing.assert_array_equal(out, expected)


def test_above_edge_blend_semantics():
    values = np.tile(np.arange(11, dtype=float), (2, 1)) / 10  # 0.0 .. 1.0 across columns
    lo, hi = np.array([2.0, 2.0]), np.array([8.0, 8.0])
    left, right = np.array([0.0, 0.5]), np.array([0.0, 0.5])
    out = kernels.above_edge_blend(values, np.ones((2, 11), dtype=bool), lo, hi, left, right, 0.25)
    np.testing.assert_array_equal(out[0], values[0] > 0.25)  # level 0 everywhere
    np.testing.assert_array_equal(out[1], values[1] > 0.75)  # level 0.5 everywhere
    # Level falling from 0 at column <= 2 to -1 at column >= 8: column 2 (0.2) is below 0.25,
    # column 3 (0.3) is above 0.25 - 1/6.
    out = kernels.above_edge_blend(
        values[:1], np.ones((1, 11), dtype=bool), lo[:1], hi[:1], [0.0], [-1.0], 0.25
    )
    np.testing.assert_array_equal(out[0], np.arange(11) >= 3)
    invalid = kernels.above_edge_blend(
        values, np.zeros((2, 11), dtype=bool), lo, hi, left, right, 0
    )
    assert not invalid.any()


def test_above_edge_blend_rejects_bad_input():
    one = np.ones(2)
    with pytest.raises(ValueError):
        kernels.above_edge_blend(
            np.ones((2, 3)), np.ones((2, 4), dtype=bool), one, one, one, one, 0
        )
    with pytest.raises(ValueError):
        kernels.above_edge_blend(
            np.ones((3, 3)), np.ones((3, 3), dtype=bool), one, one, one, one, 0
        )


@pytest.mark.parametrize("seed", range(6))
def test_band_trace_matches_reference(seed):
    # random blobs of bone, tilted level lines, columns running off the image on one side
    rng = np.random.default_rng(seed)
    values = (rng.uniform(size=(60, 50)) > 0.45).astype(float) * rng.uniform(0.1, 1.0, (60, 50))
    start = int(rng.integers(0, 50))
    cols = start + np.arange(40) * (1 if seed % 2 else -1)
    upper = (10.0 + rng.uniform(-3, 3), rng.uniform(-0.3, 0.3), 25.0)
    lower = (40.0 + rng.uniform(-3, 3), rng.uniform(-0.3, 0.3), 25.0)
    got = kernels.band_trace(values, cols, upper, lower, 0.3)
    want = ref.band_trace_reference(values, cols, upper, lower, 0.3)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-12)


def test_band_trace_follows_the_lower_branch():
    # a horizontal process (rows 20-22) with a rib forking off downward from column 5 on:
    # the trace starts on the longest run and follows the lower branch, one row per column
    values = np.zeros((40, 20))
    values[20:23, :] = 1.0
    for c in range(5, 20):
        values[20 + (c - 5) : 23 + (c - 5), c] = 1.0
    values[20:23, 12:] = 0.0  # the process ends at column 11
    cols = np.arange(20)
    index, edge = kernels.band_trace(values, cols, (10.0, 0.0, 0.0), (38.0, 0.0, 0.0), 0.5)
    assert list(index) == list(range(20))
    # midline row 24; the band's lowest row is 22 up to column 5, then 22 + (c - 5)
    want = [22 - 24.0 if c <= 5 else 22 + (c - 5) - 24.0 for c in range(20)]
    np.testing.assert_allclose(edge, want)
    # a gap stops the trace
    values[:, 8] = 0.0
    index, _ = kernels.band_trace(values, cols, (10.0, 0.0, 0.0), (38.0, 0.0, 0.0), 0.5)
    assert list(index) == list(range(8))


@pytest.mark.parametrize("seed", range(8))
def test_band_half_edge_matches_reference(seed):
    # a noisy falling band over a noisy floor, traced, then read at half height; columns run
    # off the image on one side, half-windows 0-2, runs ending on the level's last row
    rng = np.random.default_rng(100 + seed)
    rows, n_cols = 50, 45
    rr = np.arange(rows)[:, None]
    cc = np.arange(n_cols)[None, :]
    centre = 18 + rng.uniform(0.0, 0.6) * cc
    values = 0.4 * np.exp(-0.5 * ((rr - centre) / 2.5) ** 2) + rng.normal(0, 0.05, (rows, n_cols))
    start = int(rng.integers(0, n_cols))
    cols = start + np.arange(35) * (1 if seed % 2 else -1)
    upper = (8.0 + rng.uniform(-2, 2), rng.uniform(-0.2, 0.2), 20.0)
    lower = (40.0 + rng.uniform(-2, 2), rng.uniform(-0.2, 0.2), 20.0)
    index, edge = kernels.band_trace(values, cols, upper, lower, 0.15)
    c = cols[index]
    mid = 0.5 * (upper[0] + upper[1] * (c - upper[2]) + lower[0] + lower[1] * (c - lower[2]))
    bottom = np.rint(edge + mid).astype(np.int64)
    half, peak, floor = seed % 3, 6, int(rng.integers(0, 8))
    got = kernels.band_half_edge(values, cols, index, bottom, upper, lower, half, peak, floor)
    want = ref.band_half_edge_reference(values, cols, index, bottom, upper, lower, half, peak,
                                        floor)  # fmt: skip
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, equal_nan=True)


def test_band_half_edge_reads_half_height():
    # a bar 1.0 high on rows 20-24 over a 0.2 floor, its last row falling to 0.6 on column 2:
    # the half-height level is 0.6, reached at row 24 (exactly) and between rows 24 and 25
    # elsewhere at (1.0 - 0.6) / (1.0 - 0.2) = 0.5 of a row; midline row 20
    values = np.full((41, 5), 0.2)
    values[20:25, :] = 1.0
    values[24, 2] = 0.6
    cols = np.arange(5)
    index = np.arange(5)
    bottom = np.full(5, 24)
    edge = kernels.band_half_edge(values, cols, index, bottom, (0.0, 0.0, 0.0),
                                  (40.0, 0.0, 0.0), 0, 6, 6)  # fmt: skip
    np.testing.assert_allclose(edge, [4.5, 4.5, 4.0, 4.5, 4.5])
    # averaged over the neighbours (one each side): column 1 sees (1 + 1 + 0.6) / 3 on row 24
    edge = kernels.band_half_edge(values, cols, index, bottom, (0.0, 0.0, 0.0),
                                  (40.0, 0.0, 0.0), 1, 6, 6)  # fmt: skip
    row24 = (2.0 + 0.6) / 3
    np.testing.assert_allclose(edge[1], 4.0 + (row24 - 0.6) / (row24 - 0.2))
    # a run ending on the level's last row has no floor under it: not read
    edge = kernels.band_half_edge(values, cols, index, bottom, (0.0, 0.0, 0.0),
                                  (24.0, 0.0, 0.0), 0, 6, 6)  # fmt: skip
    assert np.isnan(edge).all()
    # empty input
    empty = np.zeros(0, dtype=np.int64)
    assert kernels.band_half_edge(values, cols, empty, empty, (0.0, 0.0, 0.0),
                                  (40.0, 0.0, 0.0), 1, 6, 6).size == 0  # fmt: skip
    with pytest.raises(ValueError):
        kernels.band_half_edge(values, cols, np.array([9]), np.array([24]), (0.0, 0.0, 0.0),
                               (40.0, 0.0, 0.0), 1, 6, 6)  # fmt: skip


def test_numpy_sum_is_numpys_order():
    # the robust line's means and sums follow numpy's pairwise summation, so they are the
    # same numbers (sizes across the plain, 8-way and split branches; magnitudes that round)
    from dxaspine.segment._kernels import _numpy_sum

    rng = np.random.default_rng(11)
    for n in list(range(0, 140)) + [255, 256, 300, 1031]:
        a = rng.normal(size=n) * 10.0 ** rng.uniform(-4, 4, size=n)
        assert _numpy_sum(a) == np.sum(a), n


@pytest.mark.parametrize("seed", range(6))
def test_robust_line_matches_reference(seed):
    # disc centres along a tilted line with outliers, repeated x (zero pairwise dx), sizes
    # from the minimum to beyond 128 columns; the same numbers bit for bit
    from dxaspine.segment.discs import robust_line

    rng = np.random.default_rng(seed)
    for n in (4, 5, 9, 17, 40, 64, 130):
        x = np.round(rng.uniform(-20, 20, n), 1)
        x[: n // 5] = x[0]  # repeated columns
        y = 50.0 + rng.uniform(-0.3, 0.3) * x + rng.normal(0, 0.4, n)
        y[rng.random(n) < 0.2] += rng.normal(0, 8.0)  # outliers
        for min_scale in (0.1, 0.7, 5.0):
            got = robust_line(x, y, min_scale)
            want = ref.robust_line_reference(x, y, min_scale)
            assert got == want, (n, min_scale)
    assert robust_line(np.ones(6), np.arange(6.0), 0.5) is None  # no distinct x
    assert ref.robust_line_reference(np.ones(6), np.arange(6.0), 0.5) is None


@pytest.mark.parametrize("seed", range(5))
def test_side_bone_matches_reference(seed):
    # blobs beside a level between two tilted lines, both sides, a level reaching past the
    # image's left and right edges and its top and bottom rows
    rng = np.random.default_rng(seed)
    values = (rng.random((60, 70)) > 0.35) * rng.uniform(0.0, 1.0, (60, 70))
    offsets = np.arange(0, 40)
    for col0, edge_px in ((35.0, 8.0), (12.5, 6.5), (60.0, 4.0)):
        for upper, lower in (
            ((20.0, 0.1, col0), (40.0, -0.1, col0)),
            ((-3.0, 0.3, col0), (70.0, 0.2, col0)),  # beyond the top and bottom rows
            ((30.0, 0.0, col0), (29.0, 0.0, col0)),  # no rows at all
        ):
            for side in (-1, 1):
                got = kernels.side_bone(values, col0, side, edge_px, offsets, upper, lower, 0.15)
                want = ref.side_bone_reference(
                    values, col0, side, edge_px, offsets, upper, lower, 0.15
                )
                assert got[0] == want[0]
                np.testing.assert_array_equal(got[1], want[1])


def test_noise_differences_match_reference():
    # bands beside a wandering box, rows without a box (NaN edges), unmeasured and NaN
    # pixels, bands cut by the image's edges
    rng = np.random.default_rng(8)
    values = rng.normal(size=(50, 80))
    values[rng.random(values.shape) < 0.03] = np.nan
    valid = rng.random(values.shape) > 0.05
    lo = 30.0 + rng.uniform(-25, 5, 50)
    hi = lo + rng.uniform(5, 40, 50)
    lo[::9] = np.nan
    hi[4::11] = np.nan
    for gap, band in ((4.0, 20.0), (3.3, 7.7), (0.0, 100.0)):
        got = kernels.noise_differences(values, valid, lo, hi, gap, band)
        want = ref.noise_differences_reference(values, valid, lo, hi, gap, band)
        np.testing.assert_array_equal(got, want)
        assert got.size > 0


@pytest.mark.parametrize(
    ("shape", "half", "flank"), [((30, 50), 5, 3), ((7, 12), 20, 12), ((1, 1), 0, 1)]
)
def test_body_filter_matches_reference(shape, half, flank):
    # windows reaching past both image edges (zeros there), a window wider than the image
    rng = np.random.default_rng(9)
    values = rng.normal(size=shape) * 10.0 ** rng.uniform(-3, 3, shape)
    np.testing.assert_array_equal(
        kernels.body_filter(values, half, flank), ref.body_filter_reference(values, half, flank)
    )


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (3, 7), (40, 50)])
def test_iso_tangent_matches_scipy_sobel_reference(shape):
    # the Sobel passes (scipy's "reflect" edges) and the tangent, bit for bit and zero signs
    # included: varied magnitudes, a constant (flat) image, flat and signed-zero regions
    rng = np.random.default_rng(10)
    images = [
        rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 3, shape),
        np.ones(shape),
        np.round(rng.normal(size=shape), 1),
    ]
    zeros = rng.normal(size=shape)
    zeros[:, : shape[1] // 2] = 0.0
    zeros[0] = -0.0
    images.append(zeros)
    for image in images:
        for scale in ((2.0, 2.0), (4.8, 8.4)):
            got = kernels.iso_tangent(image, *scale)
            want = ref.iso_tangent_reference(image, *scale)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)
                np.testing.assert_array_equal(np.signbit(g), np.signbit(w))


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (5, 40), (40, 5), (60, 70)])
@pytest.mark.parametrize("sigma", [(3.0, 3.0), (0.7, 2.5), (10.0, 1.0), (0.1, 0.2)])
def test_gaussian_nearest_matches_scipy(shape, sigma):
    # scipy's own filter bit for bit: windows longer than the image ("nearest" repeats the
    # edge), a 1-tap window, varied magnitudes, NaN and inf spreading as in scipy, zero signs
    rng = np.random.default_rng(11)
    images = [rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 3, shape), -np.zeros(shape)]
    spiky = rng.normal(size=shape)
    spiky.flat[::7] = np.nan
    spiky.flat[3::11] = np.inf
    images.append(spiky)
    for image in images:
        got = kernels.gaussian_nearest(image, sigma)
        want = ref.gaussian_nearest_reference(image, sigma)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_gaussian_nearest_edge_cases():
    assert kernels.gaussian_nearest(np.zeros((0, 4)), (1.0, 1.0)).shape == (0, 4)
    assert kernels.gaussian_nearest(np.zeros((4, 0)), (1.0, 1.0)).shape == (4, 0)
    with pytest.raises(ValueError):
        kernels.gaussian_nearest(np.zeros((4, 4)), (0.0, 1.0))
    with pytest.raises(ValueError):
        kernels.gaussian_nearest(np.zeros(4), (1.0, 1.0))
    # the weights are scipy's (its impulse response), summing to 1
    w = kernels.gaussian_weights(3.0)
    assert w.size == 25 and abs(w.sum() - 1.0) < 1e-12
    np.testing.assert_array_equal(w, w[::-1])


def test_near_edge_matches_reference():
    # the noise-aware edge's pixel selection: blends with spans below 1 px and reversed, NaN
    # values (never near), rows all before or after the blend
    rng = np.random.default_rng(13)
    rows, cols = 40, 60
    values = rng.normal(0.2, 0.1, (rows, cols))
    values[::7, ::5] = np.nan
    valid = rng.random((rows, cols)) > 0.1
    lo = rng.uniform(-10, 70, rows)
    hi = lo + rng.uniform(-5, 50, rows)
    hi[3] = lo[3] + 0.4
    left, right = rng.normal(0, 0.05, rows), rng.normal(0, 0.05, rows)
    for threshold, band in ((0.1, 0.05), (0.0, 0.0), (0.3, 1.0)):
        got = kernels.near_edge(values, valid, lo, hi, left, right, threshold, band)
        want = ref.near_edge_reference(values, valid, lo, hi, left, right, threshold, band)
        np.testing.assert_array_equal(got, want)
    assert kernels.near_edge(np.zeros((0, 3)), np.zeros((0, 3), bool), *[np.zeros(0)] * 4,
                             0.1, 0.1).shape == (0, 3)  # fmt: skip
    with pytest.raises(ValueError):
        kernels.near_edge(values, valid, lo[:-1], hi, left, right, 0.1, 0.1)


def test_box_pixels_match_reference():
    rng = np.random.default_rng(14)
    rows, cols = 50, 40
    lo = rng.uniform(-10, 45, rows)
    hi = lo + rng.uniform(-5, 30, rows)
    lo[:5] = np.nan
    hi[8] = np.nan
    lo[10], hi[10] = 3.0, 3.0  # one column
    lo[11], hi[12] = np.inf, -np.inf
    lo[13], hi[14] = -np.inf, np.inf
    got = kernels.box_pixels((rows, cols), lo, hi)
    np.testing.assert_array_equal(got, ref.box_mask_reference((rows, cols), lo, hi))
    assert kernels.box_pixels((0, 4), np.zeros(0), np.zeros(0)).shape == (0, 4)
    assert not kernels.box_pixels((3, 0), np.zeros(3), np.ones(3)).size


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (3, 5), (9, 1), (5, 40), (60, 70)])
@pytest.mark.parametrize("sigma", [2.86, 0.76, 10.0, 0.1])
@pytest.mark.parametrize("mode", ["reflect", "nearest"])
def test_gaussian_rows_matches_scipy(shape, sigma, mode):
    # scipy's gaussian_filter1d(axis=0) bit for bit: "reflect" windows reaching several
    # times past a short image (the reflection repeats), NaN and inf, zero signs
    rng = np.random.default_rng(15)
    images = [rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 3, shape), -np.zeros(shape)]
    spiky = rng.normal(size=shape)
    spiky.flat[::7] = np.nan
    spiky.flat[3::11] = -np.inf
    images.append(spiky)
    for image in images:
        got = kernels.gaussian_rows(image, sigma, mode)
        want = ref.gaussian_rows_reference(image, sigma, mode)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_gaussian_rows_edge_cases():
    assert kernels.gaussian_rows(np.zeros((0, 4)), 1.0).shape == (0, 4)
    assert kernels.gaussian_rows(np.zeros((4, 0)), 1.0).shape == (4, 0)
    with pytest.raises(ValueError):
        kernels.gaussian_rows(np.zeros((4, 4)), 0.0)
    with pytest.raises(ValueError):
        kernels.gaussian_rows(np.zeros((4, 4)), 1.0, mode="wrap")


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (40, 30), (197, 180)])
def test_edge_midpoints_matches_reference(shape):
    # bodies of varied width and contrast, paths near and beyond both image edges (clamped
    # profiles), rows with no edge on one side, flat rows (v_in == v_out), zero signs
    rng = np.random.default_rng(16)
    rows, cols = shape
    c = np.arange(cols)[None, :]
    centre = rng.uniform(-5, cols + 5, (rows, 1))
    half = rng.uniform(2, max(3, cols / 3), (rows, 1))
    values = np.where(np.abs(c - centre) <= half, rng.uniform(0.2, 1.5, (rows, 1)), 0.0)
    values = values + rng.normal(0, 0.05, shape) * (rng.random(shape) > 0.5)
    values[::5] = np.round(values[::5], 1)
    values[::7] = -0.0
    path = np.clip(centre[:, 0] + rng.normal(0, 2, rows), -1, cols + 1)
    for reach, core_half, spacing in ((12, 3, 1.2), (3, 0, 0.6), (40, 5, 0.25)):
        got = kernels.edge_midpoints(values, path, reach, core_half, 0.5, (5.0, 40.0), spacing)
        want = ref.edge_midpoints_reference(
            values, path, reach, core_half, 0.5, (5.0, 40.0), spacing
        )
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    with pytest.raises(ValueError):
        kernels.edge_midpoints(values, path[:-1], 12, 3, 0.5, (5.0, 40.0), 1.0)
