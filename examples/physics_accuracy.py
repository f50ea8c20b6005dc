"""The physics figures of docs/physics.md: L1-L4 BMC/BMD error and BMC linearity.

Runs the pipeline stages (load from the in-memory interchange dataset -> decompose ->
classical segmenter -> measure) on drawn phantoms and compares L1-L4 with the phantom truth:

- accuracy: 12-35 cm of soft tissue, fat marrow (age/sex PDFF), GE-like and Hologic-like
  beams, decomposed with and without the file's calibration table, marrow "none" and "lean";
  and the old monoenergetic lean-marrow phantom for comparison;
- linearity: one anatomy at eight densities 0.5-1.4 g/cm2, per-level BMC against truth.

    PYTHONPATH=$PWD python examples/physics_accuracy.py [--quick]

It takes a few minutes (one core); ``--quick`` runs a third of the cases.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from dxaspine.io import load
from dxaspine.measure import measure_levels
from dxaspine.phantom import PhantomParams, generate_case
from dxaspine.phantom.dicom_writer import dual_energy_dataset
from dxaspine.physics import decompose
from dxaspine.segment import segment_spine

LUMBAR = ("L1", "L2", "L3", "L4")
VARIANTS = (("none", "auto"), ("none", "none"), ("lean", "auto"))


def l1_l4_errors(case, marrow: str, calibration: str) -> tuple[float, float, dict, float]:
    """(BMC error, BMD error, per-level measured BMC, BMC error on the truth mask) of L1-L4.

    The first three go through the pipeline stages (the segmenter's lines and bone mask);
    the last sums the same density map over the truth's level regions and bone pixels, so it
    measures the decomposition alone.
    """
    scan = load(dual_energy_dataset(case))
    density = decompose(scan, marrow=marrow, calibration=calibration)
    levels = {m.label: m for m in measure_levels(density, segment_spine(density, scan))}
    truth = {lv["label"]: lv for lv in case.truth["levels"]}
    bmc = sum(levels[k].bmc_g for k in LUMBAR)
    area = sum(levels[k].area_cm2 for k in LUMBAR)
    true = case.truth["composites"]["L1-L4"]
    per_level = {k: (levels[k].bmc_g, truth[k]["bmc_g"]) for k in LUMBAR}
    # measured and true level areas, for "area does not grow with density" (linearity)
    per_level_area = {k: (levels[k].area_cm2, truth[k]["area_cm2"]) for k in LUMBAR}
    code = {name: int(c) for c, name in case.truth["label_codes"].items()}
    in_truth = np.isin(case.label_image, [code[k] for k in LUMBAR]) & case.bone_mask
    truth_mask_bmc = density.values[in_truth].sum() * density.pixel_area_cm2
    return (
        bmc / true["bmc_g"] - 1,
        (bmc / area) / true["bmd_g_cm2"] - 1,
        per_level,
        truth_mask_bmc / true["bmc_g"] - 1,
        per_level_area,
    )


def accuracy(quick: bool) -> None:
    thicknesses = (12.0, 24.0, 35.0) if quick else (12.0, 18.0, 24.0, 30.0, 35.0)
    seeds = (1,) if quick else (1, 2, 3)
    setups = [
        ("GE-like, fat marrow", {"beam": "ge", "scanner": "prodigy"}, VARIANTS),
        ("Hologic-like, fat marrow", {"beam": "hologic", "scanner": "hologic"}, VARIANTS),
        ("GE-like, no marrow (mineral added)", {"beam": "ge", "marrow": "none"}, VARIANTS[:2]),
        (
            "old mono lean-marrow phantom",
            {"beam": "mono", "marrow": "lean", "midline_fat_excess": 0.0},
            (("none", "auto"), ("lean", "auto")),
        ),
    ]
    print("L1-L4 error against truth, % (mean [min, max] over cases)")
    for title, fields, variants in setups:
        print(f"\n{title}")
        for marrow, calibration in variants:
            row = []
            for thickness in thicknesses:
                bmc, bmd, decomposition = [], [], []
                for seed in seeds:
                    params = PhantomParams(
                        seed=seed, soft_tissue_thickness_cm=thickness, suite="figures", **fields
                    )
                    e_bmc, e_bmd, _, e_truth, _ = l1_l4_errors(
                        generate_case(params), marrow, calibration
                    )
                    bmc.append(100 * e_bmc)
                    bmd.append(100 * e_bmd)
                    decomposition.append(100 * e_truth)
                row.append(
                    f"{thickness:4.0f} cm | truth-mask BMC {np.mean(decomposition):+6.2f} "
                    f"[{min(decomposition):+.2f},{max(decomposition):+.2f}] | pipeline BMC "
                    f"{np.mean(bmc):+6.2f} [{min(bmc):+.2f},{max(bmc):+.2f}] BMD {np.mean(bmd):+6.2f}"
                )
            print(f"  marrow={marrow:4s} calibration={calibration:4s}")
            for line in row:
                print("    " + line)
            sys.stdout.flush()


def linearity(quick: bool) -> None:
    print("\nBMC linearity over 0.5-1.4 g/cm2 (one anatomy, L1-L4 levels; slope, intercept g, r)")
    targets = np.linspace(0.5, 1.4, 4 if quick else 8)
    for title, fields in (
        ("GE-like", {"beam": "ge", "scanner": "prodigy"}),
        ("Hologic-like", {"beam": "hologic", "scanner": "hologic"}),
    ):
        for marrow, calibration in VARIANTS[:2]:
            true, measured, bmd_true, bmd_measured = [], [], [], []
            areas = {k: [] for k in LUMBAR}  # measured level area at each density
            for target in targets:
                params = PhantomParams(
                    seed=41, target_bmd_g_cm2=float(target), suite="lin", **fields
                )
                case = generate_case(params)
                _, e_bmd, levels, _, level_areas = l1_l4_errors(case, marrow, calibration)
                for k, (got_area, _) in level_areas.items():
                    areas[k].append(got_area)
                for got, want in levels.values():
                    measured.append(got)
                    true.append(want)
                bmd_true.append(case.truth["composites"]["L1-L4"]["bmd_g_cm2"])
                bmd_measured.append(bmd_true[-1] * (1 + e_bmd))
            slope, intercept = np.polyfit(true, measured, 1)
            r = np.corrcoef(true, measured)[0, 1]
            bmd_slope = np.polyfit(bmd_true, bmd_measured, 1)[0]
            ratio = np.array(measured) / np.array(true)
            # largest relative spread of one level's measured area over the density range
            area_spread = max((max(a) - min(a)) / np.mean(a) for a in areas.values())
            print(
                f"  {title:13s} marrow={marrow} calibration={calibration:4s}: BMC slope {slope:.4f} "
                f"intercept {intercept:+.3f} g r {r:.5f}; BMC/truth {ratio.min():.3f}-{ratio.max():.3f}; "
                f"L1-L4 BMD slope {bmd_slope:.4f}; level area spread {100 * area_spread:.2f} %"
            )
            sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("accuracy", "linearity"))
    args = parser.parse_args()
    if args.only != "linearity":
        accuracy(args.quick)
    if args.only != "accuracy":
        linearity(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
