"""Parity of the evidence stage's kernels with their numpy/scipy references."""

from __future__ import annotations

import numpy as np
import pytest

from dxaspine.evidence._kernels import sample_lines_kernel
from dxaspine.evidence._numpy_reference import sample_lines_reference


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("seed", range(4))
def test_sample_lines_matches_map_coordinates(order, seed):
    # a tilted line and offsets reaching beyond the image on both ends (constant 0 there);
    # bilinear agrees with scipy to rounding (the sums are taken in another order), nearest
    # exactly (scipy's halves round up, as here)
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(40, 30))
    cols = rng.uniform(-3.0, 33.0, 25)
    offsets = np.arange(-12.0, 12.0, 0.37)
    row0, slope, col0 = 20.0 + rng.uniform(-5, 5), rng.uniform(-0.4, 0.4), 15.0
    out = np.empty((offsets.size, cols.size))
    sample_lines_kernel(values, row0, slope, col0, cols, offsets, order, out)
    want = sample_lines_reference(values, row0, slope, col0, cols, offsets, order)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-13)
    assert (out == 0).any() and (out != 0).any()  # both inside and outside were sampled


def test_sample_lines_worked_example():
    # values = 10 r + c: bilinear reads the plane exactly; outside the image reads 0
    values = 10.0 * np.arange(5)[:, None] + np.arange(6)[None, :]
    out = np.empty((3, 2))
    cols = np.array([1.5, 6.0])
    sample_lines_kernel(values, 2.0, 0.5, 1.0, cols, np.array([-1.0, 0.0, 0.25]), 1, out)
    # column 1.5: line row 2.25 -> rows 1.25, 2.25, 2.5; column 6.0 is outside (cols 0-5)
    np.testing.assert_allclose(out[:, 0], [12.5 + 1.5, 22.5 + 1.5, 25.0 + 1.5])
    np.testing.assert_array_equal(out[:, 1], 0.0)


@pytest.mark.parametrize("seed", range(4))
def test_lateral_extent_matches_the_numpy_form(seed):
    # bone blobs with gaps, axis columns with halves (rounding to even) and reaching past
    # both image edges (clamped), rows with no gap at all; NaN pixels count as gaps
    from dxaspine.evidence._numpy_reference import extent_px_reference
    from dxaspine.evidence.lesion_measures import extent_px

    rng = np.random.default_rng(seed)
    values = (rng.random((50, 60)) > 0.25) * rng.uniform(0.0, 1.0, (50, 60))
    values[3, :] = 1.0  # a row of bone everywhere: no gap, the full reach
    values[rng.random(values.shape) < 0.02] = np.nan
    for half_px in (4.0, 7.5, 12.3):
        for side in (-1, 1):
            rows = np.sort(rng.choice(50, size=rng.integers(1, 12), replace=False))
            rows = np.r_[3, rows]
            centres = rng.choice([0.5, 1.5, 29.5, 30.0, 58.5], size=rows.size) + rng.choice(
                [0.0, 0.25], size=rows.size
            )
            got = extent_px(values, rows, centres, side, half_px)
            assert got == extent_px_reference(values, rows, centres, side, half_px)
    assert extent_px(values, np.array([], dtype=int), np.array([]), 1, 5.0) == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_level_profile_matches_map_coordinates(seed):
    # bilinear samples of whole rows about a wandering axis, averaged over the rows: the
    # numbers of map_coordinates(order=1, mode="nearest") and mean(axis=0), bit for bit,
    # including columns on the last column (nearest mode) and on whole columns
    from dxaspine.evidence._kernels import level_profile_kernel
    from dxaspine.evidence._numpy_reference import level_profile_reference

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(60, 90)) * 10.0 ** rng.uniform(-2, 2)
    axis = rng.uniform(30.0, 60.0, 60)
    axis[10] = 45.0
    offsets = np.arange(-30.0, 30.0 + 1e-9, 0.5) / rng.uniform(1.0, 3.0)
    axis[11] = 89.0 - offsets[-1]  # the last sample of row 11 on the last column
    for r0, r1 in ((5, 20), (10, 11), (0, 59)):
        cols = axis[r0 : r1 + 1, None] + offsets[None, :]
        if cols.min() < 0 or cols.max() > 89:
            continue
        out = np.empty(offsets.size)
        level_profile_kernel(values, axis, r0, r1, offsets, out)
        np.testing.assert_array_equal(out, level_profile_reference(values, axis, r0, r1, offsets))
