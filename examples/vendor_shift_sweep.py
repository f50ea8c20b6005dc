"""Figures for docs/vendor_results.md §8: dxaspine's display-export area error on phantoms,
and how often the second reading calls a vendor report shifted, calibrated or not.

    PYTHONPATH=. python examples/vendor_shift_sweep.py [COUNT]   # default 30 standard cases

Prints Markdown tables.  Deterministic (seeded phantoms, seeded noise).
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np

import dxaspine
from dxaspine.clinical.area_sequence import AreaModel, estimate_area_bias
from dxaspine.clinical.second_reading import our_levels, second_reading
from dxaspine.io.vendor import read_vendor_results
from dxaspine.phantom import generate_case, write_case
from dxaspine.phantom.suites import standard
from dxaspine.phantom.vendor_results import VendorReportOptions, write_vendor_results

SHIFTS = (-1, 0, 1)
NOISE_BIAS, NOISE_BIAS_SD, NOISE_LEVEL_SD = 0.016, 0.010, 0.012  # measured below


def main(count: int) -> None:
    rng = np.random.default_rng(20240312)
    errors, studies = [], {"truth + noise": [], "measured display": []}
    with tempfile.TemporaryDirectory() as tmp:
        for params in standard(seed=0, count=count):
            case = generate_case(params)
            folder = Path(tmp) / case.name
            measured = dxaspine.analyze(write_case(case, folder, kinds=("display",))["display"])
            truth = {lv["label"]: lv for lv in case.truth["levels"]}
            for lv in measured.levels:
                if (
                    lv.label in truth
                    and truth[lv.label]["complete"]
                    and lv.label in ("L1", "L2", "L3", "L4")
                ):
                    errors.append((params.scanner, lv.area_cm2 / truth[lv.label]["area_cm2"] - 1))
            bias = rng.normal(NOISE_BIAS, NOISE_BIAS_SD)
            noisy = [{"label": n, "area_cm2": t["area_cm2"] * math.exp(bias + rng.normal(0, NOISE_LEVEL_SD))}
                     for n, t in truth.items() if t["complete"]]  # fmt: skip
            for shift in SHIFTS:
                path = write_vendor_results(case, folder / f"{shift:+d}", ("ge_sr",),
                                            VendorReportOptions(label_shift=shift))["ge_sr"]  # fmt: skip
                vendor = read_vendor_results(path)
                studies["truth + noise"].append((shift, vendor, our_levels(noisy)))
                studies["measured display"].append((shift, vendor, our_levels(measured.levels)))
    e = np.array([x for _, x in errors])
    print(
        f"## dxaspine display-export level area vs truth (L1-L4, {len(e)} levels, {count} cases)\n"
    )
    print("| scanner | n | mean | SD | max abs |\n|---|---|---|---|---|")
    for scanner in ("prodigy", "idxa", "hologic", "all"):
        x = e if scanner == "all" else np.array([v for s, v in errors if s == scanner])
        print(
            f"| {scanner} | {len(x)} | {100 * x.mean():+.2f} % | {100 * x.std():.2f} % | {100 * abs(x).max():.2f} % |"
        )
    print("\n## vendor_labels_shifted over", count, "cases x shift\n")
    print(
        "| ours | bias | flagged at -1 | at 0 (false) | at +1 | wrong offset | min P(true offset) |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode, rows in studies.items():
        for calibrate in (False, True):
            flagged, wrong, worst = {s: 0 for s in SHIFTS}, 0, 1.0
            groups: dict = {}
            for row in rows:
                groups.setdefault(row[1].model, []).append(row)
            for group in groups.values():
                model = AreaModel()
                if calibrate:
                    pairs = [({lv.name: lv.area_cm2.value for lv in v.levels}, {o.label: o.area_cm2 for o in o_})
                             for _, v, o_ in group]  # fmt: skip
                    model = model.calibrated(estimate_area_bias(pairs))
                for shift, vendor, ours in group:
                    flags, summary = second_reading(vendor, ours, model)
                    hit = [f for f in flags if f.code == "vendor_labels_shifted"]
                    offset = hit[0].evidence["best_offset"] if hit else 0
                    flagged[shift] += offset != 0
                    wrong += offset not in (0, shift)
                    post = summary["area_comparison"]["offsets"][str(shift)]["posterior"] or 0.0
                    worst = min(worst, post)
            n = len(rows) // 3
            label = "calibrated per model" if calibrate else "uncalibrated"
            print(
                f"| {mode} | {label} | {flagged[-1]}/{n} | {flagged[0]}/{n} | {flagged[1]}/{n} | {wrong} | {worst:.3f} |"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
