"""Where the polyenergetic CT family's L1-L4 BMC error comes from (an accuracy measurement).

For each case of the ``ct`` suite with ``beam="auto"`` (GE-like on Prodigy/iDXA geometry,
Hologic-like on Hologic geometry), the truth-mask L1-L4 BMC error of ``decompose`` (the
decomposition alone: the map summed over the truth's level regions and bone pixels), and the
same calibrated decomposition with the ray's *true* non-mineral ratio instead of the
soft-tissue baseline R (``PhantomCase.r_st_truth``; this also removes the two-material model's
marrow and midline fat error).  Also printed: the baseline's mean R error under the truth
bone, the sensitivity A_H / (mu_bL - R mu_bH) of sigma_b to R (g/cm2 per unit of R), and the
baseline's bone mask against the truth's bone pixels.  docs/accuracy.md §4 has the figures.

Run: ``DXASPINE_SHARED_DATA=/path/to/shared/data python benchmarks/ct_baseline_sensitivity.py
[--seed 3] [--count 12] [--dose-sweep CASE] [--noise-free] [--options JSON]`` (``--options``:
baseline options for ``decompose``, e.g. the noise guard, docs/physics.md §7).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from dxaspine.io import load
from dxaspine.phantom.ct import generate_ct_case
from dxaspine.phantom.dicom_writer import dual_energy_dataset
from dxaspine.phantom.suites import SUITES
from dxaspine.physics import decompose
from dxaspine.physics.calibration import calibrated_areal_density
from dxaspine.physics.log_attenuation import COUNT_FLOOR, POISSON_LOG_OFFSET, log_attenuation

LUMBAR = ("L1", "L2", "L3", "L4")


def measure(case, noisy: bool = True, options: dict | None = None) -> dict:
    code = {name: int(c) for c, name in case.truth["label_codes"].items()}
    in_truth = np.isin(case.label_image, [code[k] for k in LUMBAR]) & case.bone_mask
    true_bmc = case.truth["composites"]["L1-L4"]["bmc_g"]
    scan = load(dual_energy_dataset(case))
    density = decompose(scan, poisson_counts=noisy, **(options or {}))
    i0 = (float(scan.i0_counts[0]), float(scan.i0_counts[1]))
    a_low, a_high, _ = log_attenuation(
        np.asarray(scan.frames["low"], dtype=np.float64),
        np.asarray(scan.frames["high"], dtype=np.float64),
        i0,
        COUNT_FLOOR,
        POISSON_LOG_OFFSET if noisy else 0.0,
    )
    r_true = np.ascontiguousarray(case.r_st_truth, dtype=np.float64)
    with_true_r, _ = calibrated_areal_density(a_low, a_high, r_true, scan.calibration)

    def error(values):
        return 100 * (values[in_truth].sum() * density.pixel_area_cm2 / true_bmc - 1)

    r = density.soft_tissue_ratio
    dense = in_truth & (density.values > 0.3)
    sensitivity = a_high[dense] * density.values[dense] / (a_low - r * a_high)[dense]
    return {
        "baseline": error(density.values),
        "true_r": error(with_true_r),
        "r_error": float(np.mean((r - r_true)[in_truth])),
        "sensitivity": float(np.median(sensitivity)),
        "mask_px": int(density.bone_mask_hint.sum()),
        "truth_bone_px": int(case.bone_mask.sum()),
    }


def row(label: str, m: dict) -> str:
    return (
        f"{label:34s} BMC {m['baseline']:+7.2f} %   with true R {m['true_r']:+6.2f} %   "
        f"R error {m['r_error']:+.5f}   dsigma/dR {m['sensitivity']:5.1f} g/cm2   "
        f"mask {m['mask_px']} of {m['truth_bone_px']} bone px"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--dose-sweep", type=int, help="also sweep the dose of this case")
    parser.add_argument(
        "--options",
        default="{}",
        help='baseline options as JSON, e.g. \'{"noise_guard": true, "bridge": "straight"}\'',
    )
    parser.add_argument("--noise-free", action="store_true", help="noise-free counts")
    args = parser.parse_args()
    options = json.loads(args.options)
    noisy = not args.noise_free
    cases = list(SUITES["ct"](seed=args.seed, count=args.count))
    for i, params in enumerate(cases):
        case = generate_ct_case(dataclasses.replace(params, beam="auto", noise=noisy))
        label = f"{i:2d} {case.beam.name} {params.scanner} dose {params.dose_factor:.3f}"
        print(row(label, measure(case, noisy, options)), flush=True)
    if args.dose_sweep is not None:
        params = cases[args.dose_sweep]
        for dose, noise in ((0.5, True), (params.dose_factor, True), (4.0, True), (16.0, True),
                            (params.dose_factor, False)):  # fmt: skip
            case = generate_ct_case(
                dataclasses.replace(params, beam="auto", dose_factor=dose, noise=noise)
            )
            label = f"case {args.dose_sweep} dose {dose:g}" + ("" if noise else " noise-free")
            print(row(label, measure(case, noisy=noise)), flush=True)


if __name__ == "__main__":
    main()
