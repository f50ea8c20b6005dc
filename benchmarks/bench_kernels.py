"""Every numba kernel of the project against its numpy reference, as speed-up ratios in one run.

Inputs are iDXA-sized (788 x 720) unless a kernel works on the ~1 mm work image; timings are
medians of repeats after a warm-up (never asserted; docs/performance.md lists the ratios).
The physics kernels are timed here; the segment kernels come from ``bench_segment.bench_kernels``
and the measure kernel from ``bench_measure``'s inputs.

Run: ``python benchmarks/bench_kernels.py``.  Needs xraydb (the calibration table).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from dxaspine._numba import pin_single_thread
from dxaspine.physics import _calibration_kernels as _cal_kernels
from dxaspine.physics import _kernels
from dxaspine.physics import _numpy_reference as ref
from dxaspine.physics.calibration import (
    ITERATIONS,
    SOLUTION_GRIDS,
    TOLERANCE,
    _ExactSolver,
    calibrated_areal_density,
    calibrated_areal_density_reference,
    solution_grid,
)
from dxaspine.physics.log_attenuation import (
    areal_density,
    log_attenuation,
    log_attenuation_with_blocks,
)
from dxaspine.physics.resample import block_any, block_mean, upsample_linear
from dxaspine.physics.smoothing import (
    gaussian_filter_2d,
    gaussian_filter_rows,
    gaussian_half_weights,
)
from dxaspine.physics.soft_tissue import row_baselines

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_segment import _median_time  # noqa: E402  (the benchmarks' one timing helper)

SHAPE = (788, 720)


def physics_cases():
    from dxaspine.phantom import PhantomParams, generate_case

    case = generate_case(PhantomParams(seed=1, scanner="idxa"))
    scan = case.dual_energy_scan()
    low = np.ascontiguousarray(scan.frames["low"], dtype=np.float64)
    high = np.ascontiguousarray(scan.frames["high"], dtype=np.float64)
    i0 = tuple(float(v) for v in scan.i0_counts)
    a_low, a_high, _ = log_attenuation(low, high, i0)
    field_all = np.ones(low.shape, dtype=np.bool_)
    r_st = np.full(low.shape, 1.37)
    mu = (0.9877, 0.3131)
    rng = np.random.default_rng(0)
    ratio = np.ascontiguousarray(a_low / a_high)
    usable = rng.uniform(size=low.shape) > 0.3
    usable[:, low.shape[1] // 3 : 2 * low.shape[1] // 3] = False
    coarse = block_mean(a_low, (4, 4))
    mask = np.ascontiguousarray(usable)
    weights = gaussian_half_weights(8.0, 3.0)
    taps_32 = gaussian_half_weights(3.2, 3.0)
    table = case.calibration
    r_cal = np.ascontiguousarray(np.full(low.shape, 1.42))
    solver = _ExactSolver(table, (0.0, 0.0, 1.06, 0.95), ITERATIONS, TOLERANCE)
    grid = solution_grid(a_low, a_high, r_cal, solver, SOLUTION_GRIDS[0][1])
    grid_out = (
        np.empty_like(a_low),
        np.empty(a_low.shape, dtype=np.bool_),
        np.empty(a_low.size, dtype=np.int64),
    )
    sample = np.ascontiguousarray(a_low[:, ::10].ravel())
    ranks = np.array([560, 561, sample.size - 561, sample.size - 560], dtype=np.int64)
    picked = np.empty(ranks.size)
    lo, mid = float(np.quantile(sample, 0.01)), float(np.median(sample))
    scale = 256 / (float(np.quantile(sample, 0.99)) - lo)
    # one baseline iteration's mask on an iDXA-sized 1 mm grid (4 x 4 blocks of 0.25 mm)
    grid_shape = (197, 180)
    mask_args = (
        rng.uniform(size=grid_shape) > 0.05,
        np.ascontiguousarray(usable[: grid_shape[0], : grid_shape[1]] < 0.5),
        rng.normal(size=grid_shape),
        0.0,
        3.0,
        2,
        2,
        np.ascontiguousarray(coarse[: grid_shape[0], : grid_shape[1]]),
        rng.uniform(size=grid_shape) > 0.3,
        np.argsort(coarse[: grid_shape[0], : grid_shape[1]], axis=1),
        0.88,
    )
    mask_out = np.empty(grid_shape, dtype=np.bool_)
    grid_baseline = np.ascontiguousarray(ratio[: grid_shape[0], : grid_shape[1]])
    grid_weight = np.where(mask_args[1], 0.01, 1.0)
    sub = slice(0, 20)  # the literal per-pixel references are slow: time a slice and scale
    scale = low.shape[0] / 20
    return [
        (
            "log_attenuation",
            lambda: log_attenuation(low, high, i0),
            lambda: ref.log_attenuation_reference(low, high, i0[0], i0[1], 0.5),
            1.0,
        ),
        (
            "log_attenuation_blocks /4 (log + block means, all, any)",
            lambda: log_attenuation_with_blocks(low, high, i0, 0.5, 0.5, field_all, (4, 4)),
            lambda: ref.log_attenuation_blocks_reference(
                low, high, i0[0], i0[1], 0.5, 0.5, field_all, 4, 4
            ),
            1.0,
        ),
        (
            "areal_density",
            lambda: areal_density(a_low, a_high, r_st, mu),
            lambda: ref.areal_density_reference(a_low, a_high, r_st, *mu),
            1.0,
        ),
        (
            "row_baselines",
            lambda: row_baselines(ratio, usable, 20, 8.0),
            lambda: ref.row_baselines_reference(
                np.ascontiguousarray(ratio[sub]), np.ascontiguousarray(usable[sub]), 20, 8.0, 1e-3
            ),
            scale,
        ),
        (
            "block_mean /4",
            lambda: block_mean(a_low, (4, 4)),
            lambda: ref.block_mean_reference(a_low, 4, 4),
            1.0,
        ),
        (
            "block_count /4",
            lambda: block_any(mask, (4, 4)),
            lambda: ref.block_count_reference(mask, 4, 4),
            1.0,
        ),
        (
            "upsample_linear x4",
            lambda: upsample_linear(coarse, (4, 4), low.shape),
            lambda: ref.upsample_linear_reference(coarse, 4, 4, low.shape),
            1.0,
        ),
        (
            "correlate_rows (sigma 8)",
            lambda: gaussian_filter_rows(a_low, 8.0, truncate=3.0),
            lambda: ref.correlate_reference(a_low, weights, _kernels.MODE_NEAREST, 0),
            1.0,
        ),
        (
            "correlate_cols (sigma 8)",
            lambda: _cols(a_low, weights),
            lambda: ref.correlate_reference(a_low, weights, _kernels.MODE_NEAREST, 1),
            1.0,
        ),
        (
            "correlate_2d (sigma 3.2, both axes)",
            lambda: gaussian_filter_2d(a_low, (3.2, 3.2), "nearest", 3.0),
            lambda: ref.correlate_reference(
                ref.correlate_reference(a_low, taps_32, _kernels.MODE_NEAREST, 0),
                taps_32,
                _kernels.MODE_NEAREST,
                1,
            ),
            1.0,
        ),
        (
            "order_statistics (56 000 values)",
            lambda: _kernels.order_statistics_kernel(sample, ranks, picked),
            lambda: ref.order_statistics_reference(sample, ranks),
            1.0,
        ),
        (
            "order_statistics_in_range (56 000 values)",
            lambda: _kernels.order_statistics_in_range_kernel(
                sample, ranks, float(sample.min()), float(sample.max()), picked
            ),
            lambda: ref.order_statistics_reference(sample, ranks),
            1.0,
        ),
        (
            "peak_histogram (56 000 values)",
            lambda: _kernels.peak_histogram_kernel(sample, lo, scale, np.zeros(256, np.int64)),
            lambda: ref.peak_histogram_reference(sample, lo, scale, 256),
            1.0,
        ),
        (
            "values_below (56 000 values)",
            lambda: _kernels.values_below_kernel(sample, mid),
            lambda: ref.values_below_reference(sample, mid),
            1.0,
        ),
        (
            "usable_mask 197 x 180 (dilation, outliers, gas)",
            lambda: _kernels.usable_mask_kernel(*mask_args, mask_out),
            lambda: ref.usable_mask_reference(*mask_args),
            1.0,
        ),
        (
            "weighted_smooth_rows 197 x 180 (sigma 8)",
            lambda: _kernels.weighted_smooth_rows_kernel(
                grid_baseline, grid_weight, weights, np.empty(grid_shape)
            ),
            lambda: ref.weighted_smooth_rows_reference(grid_baseline, grid_weight, 8.0),
            1.0,
        ),
        (
            "neighbour_noise 788 x 720 (every 8th row)",
            lambda: _kernels.neighbour_noise_kernel(low, mask, 8),
            lambda: ref.neighbour_noise_reference(low, mask, 8),
            1.0,
        ),
        (
            "count_either_above 788 x 720 (check_i0)",
            lambda: _kernels.count_either_above_kernel(low.ravel(), high.ravel(), 3e3, 1.6e4),
            lambda: ref.count_either_above_reference(low.ravel(), high.ravel(), 3e3, 1.6e4),
            1.0,
        ),
        (
            "both_at_least 788 x 720, every 8th (plausibility)",
            lambda: _kernels.both_at_least_kernel(low.ravel(), high.ravel(), 8, 30.0),
            lambda: ref.both_at_least_reference(low.ravel(), high.ravel(), 8, 30.0),
            1.0,
        ),
        (
            "calibrated_density (exact per-pixel solve)",
            lambda: calibrated_areal_density(a_low, a_high, r_cal, table, method="exact"),
            lambda: calibrated_areal_density_reference(a_low, a_high, r_cal, table),
            1.0,
        ),
        (
            "solution_grid interpolation",
            lambda: _cal_kernels.solution_grid_kernel(
                a_low, a_high, r_cal, *grid[:3], _cal_kernels.off_cells_of(grid[3]), *grid_out
            ),
            lambda: _cal_kernels.solution_grid_reference(a_low, a_high, r_cal, *grid),
            1.0,
        ),
    ]


def _cols(image, weights):
    out = np.empty_like(image)
    _kernels.correlate_cols_kernel(image, weights, _kernels.MODE_NEAREST, out)
    return out


def main() -> None:
    pin_single_thread()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'kernel':<36} numba ms  numpy ms  speed-up")
    for name, fast, slow, scale in physics_cases():
        t_fast = _median_time(fast, 15)
        t_slow = _median_time(slow, 3) * scale
        print(f"{name:<36} {t_fast * 1e3:8.3f}  {t_slow * 1e3:8.3f}  {t_slow / t_fast:8.1f}x")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_measure
    import bench_segment

    bench_segment.bench_kernels()
    from dxaspine.segment import _numpy_reference as seg_ref
    from dxaspine.segment import kernels as seg_kernels

    rng = np.random.default_rng(3)
    mask = rng.random((197, 180)) > 0.45
    # band trace: a work image of blobs, 40 columns outward between two tilted lines
    blobs = (rng.random((197, 180)) > 0.4) * rng.uniform(0.1, 1.0, (197, 180))
    em_path = np.full(197, 90.0)
    band_cols = 60 + np.arange(40)
    band_lines = ((80.0, 0.1, 90.0), (115.0, -0.1, 90.0))
    side_offsets = np.arange(0, 60)
    # line sampling (evidence): 25 columns x 40 offsets about a tilted disc line
    from dxaspine.evidence._kernels import sample_lines_kernel
    from dxaspine.evidence._numpy_reference import sample_lines_reference

    s_cols, s_offsets = np.linspace(60.0, 120.0, 25), np.arange(-6.0, 14.0, 0.5)
    s_out = np.empty((s_offsets.size, s_cols.size))
    # lateral extent (evidence): 13 endplate rows, outward from a 12 px half-width
    from dxaspine.evidence._numpy_reference import extent_px_reference
    from dxaspine.evidence.lesion_measures import extent_px

    e_rows = np.arange(90, 103)
    # rotation profile (evidence): 30 rows, +-40 mm in 0.5 mm steps at 1 mm columns
    from dxaspine.evidence._kernels import level_profile_kernel
    from dxaspine.evidence._numpy_reference import level_profile_reference

    p_axis = 90.0 + rng.uniform(-3.0, 3.0, 197)
    p_offsets = np.arange(-40.0, 40.0 + 1e-9, 0.5)
    p_out = np.empty(p_offsets.size)
    # robust line (segment): 40 disc centres with outliers
    from dxaspine.segment.discs import robust_line

    r_x = np.arange(-20.0, 20.0)
    r_y = 50.0 + 0.1 * r_x + rng.normal(0.0, 0.4, r_x.size)
    r_y[::7] += 6.0
    e_centres = np.full(e_rows.size, 90.0) + rng.uniform(-2.0, 2.0, e_rows.size)
    # isophote walk (noise-aware edge): a noisy disc of bone on a 0.5 mm grid
    from dxaspine.segment.edge_noise import isophote_average, isophote_average_at

    yy, xx = np.indices((197, 180))
    noisy = 0.5 * (np.hypot(yy - 98, xx - 90) < 50) + rng.normal(0.0, 0.05, (197, 180))
    noisy_valid = np.ones(noisy.shape, dtype=bool)
    values = rng.normal(size=SHAPE)
    valid = rng.random(SHAPE) > 0.05
    lo, hi = np.full(SHAPE[0], 200.0), np.full(SHAPE[0], 450.0)
    left, right = rng.normal(size=SHAPE[0]), rng.normal(size=SHAPE[0])
    for name, fast, slow in (
        (
            "drop_small_components 197x180",
            lambda: seg_kernels.drop_small_components(mask, 12),
            lambda: seg_ref.drop_small_components_reference(mask, 12),
        ),
        (
            "band_trace 40 columns",
            lambda: seg_kernels.band_trace(blobs, band_cols, *band_lines, 0.3),
            lambda: seg_ref.band_trace_reference(blobs, band_cols, *band_lines, 0.3),
        ),
        (
            "sample_lines 25 x 40 (evidence)",
            lambda: sample_lines_kernel(blobs, 100.0, 0.1, 90.0, s_cols, s_offsets, 1, s_out),
            lambda: sample_lines_reference(blobs, 100.0, 0.1, 90.0, s_cols, s_offsets, 1),
        ),
        (
            "side_bone 1 level, 60 columns",
            lambda: seg_kernels.side_bone(blobs, 90.0, 1, 12.0, side_offsets, *band_lines, 0.15),
            lambda: seg_ref.side_bone_reference(
                blobs, 90.0, 1, 12.0, side_offsets, *band_lines, 0.15
            ),
        ),
        (
            "body_filter 197x180",
            lambda: seg_kernels.body_filter(blobs, 22, 12),
            lambda: seg_ref.body_filter_reference(blobs, 22, 12),
        ),
        (
            "robust_line 40 points",
            lambda: robust_line(r_x, r_y, 0.7),
            lambda: seg_ref.robust_line_reference(r_x, r_y, 0.7),
        ),
        (
            "level_profile 30 rows x 161 (evidence)",
            lambda: level_profile_kernel(blobs, p_axis, 80, 109, p_offsets, p_out),
            lambda: level_profile_reference(blobs, p_axis, 80, 109, p_offsets),
        ),
        (
            "lateral_extent 13 rows (evidence)",
            lambda: extent_px(blobs, e_rows, e_centres, 1, 12.0),
            lambda: extent_px_reference(blobs, e_rows, e_centres, 1, 12.0),
        ),
        (
            "isophote_walk 197x180, every pixel",
            lambda: isophote_average_at(noisy, noisy_valid, (0.5, 0.5), 2.0, 0.02, noisy_valid),
            lambda: isophote_average(noisy, noisy_valid, (0.5, 0.5), 2.0, 0.02),
        ),
        (
            "iso_tangent (Sobel + tangent) 788x720",
            lambda: seg_kernels.iso_tangent(values, 2.0, 2.0),
            lambda: seg_ref.iso_tangent_reference(values, 2.0, 2.0),
        ),
        (
            "gaussian_nearest sigma 3 788x720",
            lambda: seg_kernels.gaussian_nearest(values, (3.0, 3.0)),
            lambda: seg_ref.gaussian_nearest_reference(values, (3.0, 3.0)),
        ),
        (
            "edge_midpoints 197x180 (axis)",
            lambda: seg_kernels.edge_midpoints(blobs, em_path, 29, 4, 0.5, (22.0, 75.0), 1.2),
            lambda: seg_ref.edge_midpoints_reference(blobs, em_path, 29, 4, 0.5, (22.0, 75.0), 1.2),
        ),
        (
            "gaussian_rows sigma 2.86 197x180",
            lambda: seg_kernels.gaussian_rows(blobs, 2.86),
            lambda: seg_ref.gaussian_rows_reference(blobs, 2.86, "reflect"),
        ),
        (
            "near_edge 788x720",
            lambda: seg_kernels.near_edge(values, valid, lo, hi, left, right, 0.1, 0.3),
            lambda: seg_ref.near_edge_reference(values, valid, lo, hi, left, right, 0.1, 0.3),
        ),
        (
            "box_pixels 788x720",
            lambda: seg_kernels.box_pixels(SHAPE, lo, hi),
            lambda: seg_ref.box_mask_reference(SHAPE, lo, hi),
        ),
        (
            "noise_differences 788x720",
            lambda: seg_kernels.noise_differences(values, valid, lo, hi, 16.0, 80.0),
            lambda: seg_ref.noise_differences_reference(values, valid, lo, hi, 16.0, 80.0),
        ),
        (
            "above_edge_blend 788x720",
            lambda: seg_kernels.above_edge_blend(values, valid, lo, hi, left, right, 0.1),
            lambda: seg_ref.above_edge_blend_reference(values, valid, lo, hi, left, right, 0.1),
        ),
    ):
        t_fast, t_slow = _median_time(fast, 15), _median_time(slow, 5)
        print(f"{name:<36} {t_fast * 1e3:8.3f}  {t_slow * 1e3:8.3f}  {t_slow / t_fast:8.1f}x")
    from dxaspine.measure import level_sums
    from dxaspine.measure._numpy_reference import level_sums_reference

    labels, bone, density = bench_measure.make_inputs()
    n = bench_measure.N_LABELS
    t_fast = _median_time(lambda: level_sums(labels, bone, density, n), 15)
    t_slow = _median_time(lambda: level_sums_reference(labels, bone, density, n), 3)
    print(
        f"{'level_sums 788x720':<36} {t_fast * 1e3:8.3f}  {t_slow * 1e3:8.3f}  {t_slow / t_fast:8.1f}x"
    )


if __name__ == "__main__":
    main()
