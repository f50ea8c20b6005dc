"""How much the pixel noise moves the bone area on the CT family, per edge estimator.

For each case of the ``ct`` suite (``--beam mono`` or ``auto``), the same case is generated with
and without noise and segmented with ``edge_noise="none"`` (the plain per-pixel edge test) and
``"isophote"`` (the default, docs/segmentation.md §8).  Printed per case: the L1-L4 bone area
and BMC inside the *truth's* level regions (so the segmenter's lines do not enter) against the
truth mask, noise-free and noisy, and the noise's own part (noisy minus noise-free, the same
estimator) for each estimator; and what the estimator did on the noisy scan.  An accuracy
measurement, not a speed benchmark.

Run: ``DXASPINE_SHARED_DATA=/path/to/shared/data python benchmarks/edge_noise_bias.py
[--seed 3] [--count 12] [--beam mono|auto]``.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from dxaspine.phantom.ct import generate_ct_case
from dxaspine.phantom.suites import SUITES
from dxaspine.physics import decompose
from dxaspine.segment import segment_spine
from dxaspine.segment.conventions import EdgeNoise

LUMBAR = ("L1", "L2", "L3", "L4")
ESTIMATORS = ("none", "isophote")


def _errors(case) -> tuple[dict, str]:
    """Per estimator: (area, BMC) error in % in the truth's L1-L4 regions; the estimator's note."""
    scan = case.dual_energy_scan()
    density = decompose(scan)
    codes = [int(k) for k, name in case.truth["label_codes"].items() if name in LUMBAR]
    region = np.isin(case.label_image, codes)
    truth = region & case.bone_mask
    out, note = {}, ""
    for name in ESTIMATORS:
        seg = segment_spine(density, scan, edge_noise=EdgeNoise.parse(name))
        mask = seg.bone_mask & region
        out[name] = (
            100 * (mask.sum() / truth.sum() - 1),
            100 * (density.values[mask].sum() / density.values[truth].sum() - 1),
        )
        if name != "none":
            note = seg.conventions["edge_noise"]
    return out, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--beam", default="mono")
    args = parser.parse_args()
    bias = {name: [] for name in ESTIMATORS}
    bmc_bias = {name: [] for name in ESTIMATORS}
    for params in SUITES["ct"](seed=args.seed, count=args.count):
        clean, _ = _errors(
            generate_ct_case(dataclasses.replace(params, beam=args.beam, noise=False))
        )
        noisy, note = _errors(generate_ct_case(dataclasses.replace(params, beam=args.beam)))
        parts = []
        for name in ESTIMATORS:
            bias[name].append(noisy[name][0] - clean[name][0])
            bmc_bias[name].append(noisy[name][1] - clean[name][1])
            parts.append(
                f"{name}: area {clean[name][0]:+.2f} -> {noisy[name][0]:+.2f} "
                f"(noise {bias[name][-1]:+.2f}), BMC noise {bmc_bias[name][-1]:+.2f}"
            )
        print(f"{params.case_name} {args.beam}: " + "; ".join(parts) + f" [{note}]", flush=True)
    print(f"\nnoise's part of the L1-L4 area / BMC error in the truth regions, % ({args.beam})")
    for name in ESTIMATORS:
        a, b = np.abs(bias[name]), np.abs(bmc_bias[name])
        print(f"  {name:9s} area mean |.| {a.mean():.2f} (max {a.max():.2f})   "
              f"BMC mean |.| {b.mean():.2f} (max {b.max():.2f})")  # fmt: skip
    closer = sum(abs(i) < abs(n) for i, n in zip(bias["isophote"], bias["none"], strict=True))
    print(f"  isophote closer to its noise-free area than none on {closer} of {len(bias['none'])}")


if __name__ == "__main__":
    main()
