"""Parity of the numba level-sum kernel with the plain numpy reference (docs/architecture.md Kernels)."""

import numpy as np
import pytest

from dxaspine.errors import InputError
from dxaspine.measure import level_sums
from dxaspine.measure._numpy_reference import level_sums_reference

FIELDS = ("count", "nonfinite", "density_sum", "column_sum", "first_col", "last_col")


def assert_parity(labels, mask, density, n):
    got = level_sums(labels, mask, density, n)
    want = level_sums_reference(labels, mask, density, n)
    for name, w in zip(FIELDS, want, strict=False):
        g = getattr(got, name)
        if name == "density_sum":
            # Summation order differs (sequential vs numpy pairwise): allow ~1e-12 relative.
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)
    assert want[-1] == 0


@pytest.mark.parametrize("seed", range(5))
def test_random_parity(seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(1, 80, size=2)
    n = int(rng.integers(1, 8))
    labels = rng.integers(0, n + 1, (rows, cols)).astype(np.int32)
    mask = rng.random((rows, cols)) > 0.4
    density = rng.normal(1.0, 0.3, (rows, cols))
    density[rng.random((rows, cols)) < 0.02] = np.nan
    density[rng.random((rows, cols)) < 0.01] = np.inf
    assert_parity(labels, mask, density, n)


@pytest.mark.parametrize(
    "shape, n", [((0, 0), 3), ((0, 5), 1), ((5, 0), 2), ((1, 1), 1), ((1, 1), 0), ((3, 4), 0)]
)
def test_edge_shapes(shape, n):
    labels = np.ones(shape, np.int32) if n else np.zeros(shape, np.int32)
    assert_parity(labels, np.ones(shape, bool), np.full(shape, 0.7), n)


def test_one_pixel_values():
    s = level_sums(np.array([[2]]), np.array([[True]]), np.array([[0.5]]), 2)
    assert s.count.tolist() == [0, 1]
    assert s.density_sum.tolist() == [0.0, 0.5]
    assert s.first_col[1].tolist() == [0] and s.first_col[0].tolist() == [-1]


def test_nan_semantics():
    # NaN is bone area but not mineral: counted in count and nonfinite, left out of the sum.
    labels = np.array([[1, 1, 1]])
    density = np.array([[1.0, np.nan, 2.0]])
    s = level_sums(labels, np.ones((1, 3), bool), density, 1)
    assert s.count[0] == 3 and s.nonfinite[0] == 1 and s.density_sum[0] == 3.0
    assert_parity(labels, np.ones((1, 3), bool), density, 1)


def test_non_bone_and_label_zero_ignored():
    labels = np.array([[0, 1], [1, 1]])
    mask = np.array([[True, False], [True, True]])
    s = level_sums(labels, mask, np.full((2, 2), 3.0), 1)
    assert s.count[0] == 2 and s.density_sum[0] == 6.0


@pytest.mark.parametrize(
    "labels, mask, density, n",
    [
        (np.zeros((2, 2), float), np.zeros((2, 2), bool), np.zeros((2, 2)), 1),  # float labels
        (np.zeros((2, 2), int), np.zeros((2, 2), np.uint8), np.zeros((2, 2)), 1),  # uint8 mask
        (np.zeros((2, 2), int), np.zeros((2, 2), bool), np.zeros((2, 2), int), 1),  # int density
        (np.zeros((2, 2), int), np.zeros((2, 3), bool), np.zeros((2, 2)), 1),  # shape
        (np.zeros(4, int), np.zeros(4, bool), np.zeros(4), 1),  # 1-D
        (np.full((2, 2), 3), np.zeros((2, 2), bool), np.zeros((2, 2)), 2),  # label > n
        (np.full((2, 2), -1), np.zeros((2, 2), bool), np.zeros((2, 2)), 2),  # negative label
    ],
)
def test_bad_input_raises_input_error(labels, mask, density, n):
    with pytest.raises(InputError, match="measure_levels"):
        level_sums(labels, mask, density, n)


def test_non_contiguous_and_int16_accepted():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 4, (40, 30)).astype(np.int16)[:, ::2]
    mask = (rng.random((40, 30)) > 0.5)[:, ::2]
    density = rng.random((40, 30)).astype(np.float32)[:, ::2]
    assert_parity(labels.astype(np.int32), mask, density.astype(np.float64), 3)
    got = level_sums(labels, mask, density, 3)
    assert got.count.sum() == np.count_nonzero((labels > 0) & mask)
