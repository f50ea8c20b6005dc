"""small_stats.median / percentile are np.median / np.percentile bit for bit."""

import math

import numpy as np
import pytest

from dxaspine.segment.small_stats import SORT_MAX, median, percentile


def _arrays():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 7, 8, 9, 15, 16, 25, 60, 99, 100, SORT_MAX, SORT_MAX + 1, 1000, 5001):
        yield rng.normal(size=n)
        yield rng.integers(-3, 4, size=n).astype(float)  # ties
        yield np.round(rng.uniform(0, 1, size=n), 2) * 1e-3


def test_median_is_numpys_bit_for_bit():
    for a in _arrays():
        got = median(a)
        assert type(got) is float
        assert got == float(np.median(a)), a.size
    assert median([3, 1, 2, 10]) == 2.5  # a sequence of ints, like np.median
    assert median([4.0]) == 4.0


@pytest.mark.parametrize("q", [0, 5, 10, 25, 50, 75, 90, 95, 100, 33.3, 99.9])
def test_percentile_is_numpys_bit_for_bit(q):
    for a in _arrays():
        assert percentile(a, q) == float(np.percentile(a, q)), (a.size, q)
    block = np.random.default_rng(4).normal(size=(7, 15))
    assert percentile(block, q) == float(np.percentile(block, q))  # flattened


def test_nan_anywhere_gives_nan_and_empty_raises():
    a = np.array([1.0, np.nan, 3.0])
    assert math.isnan(median(a)) and math.isnan(percentile(a, 90))
    assert math.isnan(median(np.r_[np.arange(300.0), np.nan]))
    long = np.r_[np.arange(SORT_MAX + 10.0), np.nan]
    assert math.isnan(median(long)) and math.isnan(percentile(long, 5))
    with_inf = np.r_[np.arange(SORT_MAX + 10.0), np.inf, -np.inf]  # the selection's fallback
    assert median(with_inf) == np.median(with_inf)
    assert percentile(with_inf, 95) == np.percentile(with_inf, 95)
    with pytest.raises(ValueError):
        median(np.array([]))
    with pytest.raises(ValueError):
        percentile(np.array([]), 5)
