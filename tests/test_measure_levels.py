"""measure_levels on images with known answers, composites against vendor reports."""

import itertools

import numpy as np
import pytest

from dxaspine.errors import InputError
from dxaspine.measure import (
    composite,
    measure_levels,
    region_levels,
    region_name,
    standard_region_sets,
)
from dxaspine.physics.density_map import DensityMap
from dxaspine.segment.segmentation import IntervertebralLine, Segmentation

SPACING = (0.5, 0.25)  # (row, col) mm -> 0.00125 cm2 per pixel


def _segmentation(labels_img, bone, lines, labels):
    return Segmentation(
        bone_mask=bone,
        axis_rows=np.arange(bone.shape[0], dtype=float),
        axis_columns=np.full(bone.shape[0], bone.shape[1] / 2),
        box_mask=labels_img > 0,
        lines=tuple(lines),
        labels=tuple(labels),
        label_confidence=(0.9,) * len(labels),
        label_image=labels_img,
    )


def _two_blocks(quantitative=True):
    # Two levels: rows 10-29 and 30-49 between horizontal lines at rows 10, 30, 50.
    img = np.zeros((60, 40), np.int32)
    img[10:30, 5:35] = 1
    img[30:50, 5:35] = 2
    bone = np.zeros((60, 40), bool)
    bone[12:28, 10:30] = True  # level 1: 16 rows x 20 cols
    bone[32:48, 8:32] = True  # level 2: 16 rows x 24 cols
    values = np.where(bone, 0.8, 0.0)
    values[32:48, 8:32] = 1.1
    lines = [IntervertebralLine((5, r), (35, r)) for r in (10, 30, 50)]
    dm = DensityMap(
        values, quantitative, "g/cm2" if quantitative else "relative", SPACING, np.ones_like(bone)
    )
    return dm, _segmentation(img, bone, lines, ["L1", "L2"])


def test_known_blocks():
    dm, seg = _two_blocks()
    l1, l2 = measure_levels(dm, seg)
    pixel_cm2 = 0.5 * 0.25 / 100
    assert l1.pixel_count == 16 * 20 and l2.pixel_count == 16 * 24
    assert l1.area_cm2 == pytest.approx(320 * pixel_cm2, rel=1e-12)
    assert l1.bmc_g == pytest.approx(0.8 * 320 * pixel_cm2, rel=1e-12)
    assert l1.bmd_g_cm2 == pytest.approx(0.8, rel=1e-12)
    assert l2.bmd_g_cm2 == pytest.approx(1.1, rel=1e-12)
    assert l1.width_mm == pytest.approx(20 * 0.25) and l2.width_mm == pytest.approx(24 * 0.25)
    assert l1.height_mm == pytest.approx(20 * 0.5)  # lines 20 rows apart
    assert l1.density_index == pytest.approx(0.8)
    assert (l1.label, l2.label) == ("L1", "L2") and l1.lower_line is l2.upper_line


def test_tilted_lines_height_at_bone_centroid():
    dm, seg = _two_blocks()
    # Lines tilted by 4 rows over 30 columns; centroid column of level 1 bone is 19.5.
    lines = (
        IntervertebralLine((5, 8), (35, 12)),
        IntervertebralLine((5, 28), (35, 36)),
        IntervertebralLine((5, 50), (35, 50)),
    )
    seg2 = _segmentation(seg.label_image, seg.bone_mask, lines, ["L1", "L2"])
    l1 = measure_levels(dm, seg2)[0]
    c = 19.5
    expect_rows = (28 + 8 * (c - 5) / 30) - (8 + 4 * (c - 5) / 30)
    assert l1.height_mm == pytest.approx(expect_rows * 0.5, rel=1e-12)


def test_display_input_has_no_bmd():
    dm, seg = _two_blocks(quantitative=False)
    l1, _ = measure_levels(dm, seg)
    assert l1.bmc_g is None and l1.bmd_g_cm2 is None
    assert l1.density_index == pytest.approx(0.8) and l1.area_cm2 > 0


def test_nan_density_makes_bmc_unknown_not_smaller():
    dm, seg = _two_blocks()
    values = dm.values.copy()
    values[15, 15] = np.nan
    dm2 = DensityMap(values, True, "g/cm2", SPACING, dm.field_mask)
    l1, l2 = measure_levels(dm2, seg)
    assert l1.bmc_g is None and l1.bmd_g_cm2 is None and l1.nonfinite_pixel_count == 1
    assert l1.pixel_count == 320  # still bone area
    assert l2.bmd_g_cm2 == pytest.approx(1.1)


def test_empty_level():
    dm, seg = _two_blocks()
    bone = seg.bone_mask.copy()
    bone[:30] = False
    l1, _ = measure_levels(dm, _segmentation(seg.label_image, bone, seg.lines, seg.labels))
    assert l1.pixel_count == 0 and l1.bmd_g_cm2 is None and l1.width_mm is None


def test_inconsistent_segmentation_raises():
    dm, seg = _two_blocks()
    bad = _segmentation(seg.label_image, seg.bone_mask, seg.lines[:2], seg.labels)
    with pytest.raises(InputError):
        measure_levels(dm, bad)


# Hologic APEX 13.6 report, docs/domain.md §1: (area cm2, BMC g)
HOLOGIC = {"L1": (11.58, 13.26), "L2": (12.94, 13.72), "L3": (13.93, 14.81), "L4": (13.40, 13.97)}


def test_hologic_report_l1_l4():
    c = composite(HOLOGIC, ["L1", "L2", "L3", "L4"])
    assert c.name == "L1-L4"
    assert c.bmc_g == pytest.approx(51.85, abs=0.005)  # report prints 2 decimals
    # The report prints 55.77; the printed level areas sum to 55.76 (each rounded to 0.01).
    assert c.area_cm2 == pytest.approx(55.77, abs=0.015)
    assert round(c.bmd_g_cm2, 3) == 0.930
    mean_of_levels = np.mean([round(b / a, 3) for b, a in HOLOGIC.values()])
    assert round(mean_of_levels, 3) == 0.929  # the wrong method misses (docs/domain.md §1)


def test_ge_encore_composite():
    # GE enCORE report (docs/domain.md §1): 40.36 g / 39.47 cm2 printed as 1.022.  Split the totals
    # over two levels: the composite must be the ratio of sums.
    c = composite({"L1": (20.0, 19.0), "L2": (20.36, 20.47)}, ["L1", "L2"])
    assert c.bmc_g == pytest.approx(40.36) and c.area_cm2 == pytest.approx(39.47)
    # Printed BMC/area carry +-0.005 (relative 2.5e-4 together, 0.00026 g/cm2) and the printed
    # BMD +-0.0005: the unrounded ratio may sit up to 0.00076 from 1.022.
    assert c.bmd_g_cm2 == pytest.approx(1.022, abs=0.00076)
    assert c.bmd_g_cm2 != pytest.approx((20.0 / 19.0 + 20.36 / 20.47) / 2, abs=1e-4)


def test_eleven_region_sets_and_names():
    sets = standard_region_sets()
    assert len(sets) == 11 == sum(1 for k in (2, 3, 4) for _ in itertools.combinations(range(4), k))
    names = {region_name(s) for s in sets}
    assert {"L1-L4", "L2-L4", "L1,L3", "L1-L2,L4", "L1,L3-L4", "L1,L4", "L2,L4"} <= names
    for s in sets:
        assert region_levels(region_name(s)) == s
    assert all("–" not in n for n in names)  # ASCII hyphen only (Contract 2)


def test_composite_missing_level_raises():
    with pytest.raises(InputError):
        composite(HOLOGIC, ["L1", "L5"])
