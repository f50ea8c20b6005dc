"""Regenerate the shipped reference tables from the shared NHANES file.

Run ``python -m dxaspine.clinical.reference_data.build_tables NHANES_CSV OUTDIR``.  It writes
``dxaspine_default.csv`` (T and Z references) and ``interlevel_model.json`` (the inter-level
deviation model and its calibration).  The output is deterministic; a test reruns this script
and compares with the shipped files.  dxaspine never needs the NHANES file at run time.

How every number is made
------------------------
Input: NHANES 2017–March 2020 P_DXXSPN joined to P_DEMO (docs/domain.md §8; Hologic APEX; ages
50–80; RIDAGEYR 80 means "80 or older" — NHANES top-codes age).

Reference set: the all-valid scans (DXXOSBCC = 0, 2,121 rows) minus
  * the 63 rows whose total BMC/area is not the sum of L1–L4 (the analyst reported a subset,
    i.e. judged some level abnormal; docs/domain.md §8), and
  * rows with a zero-area level, or whose ΣBMC/ΣArea differs from DXXOSBMD by more than
    0.0015 g/cm2 (BMD printed to 3 decimals, BMC/area to 2: worst rounding ≈ 0.001),
leaving 2,056 scans.  Level BMD = DXXL?BMD; composite BMD = ΣBMC/ΣArea (docs/domain.md §1).

T (young-adult) rows — secondary source, unverified (docs/domain.md §8): White-female L1–L4 mean
1.065 g/cm2, SD 0.122 (NHANES 2005–2014).  A region's mean is 1.065 × ρ_region, where
ρ_region is the unweighted mean over the reference set of BMD_region / BMD_L1-L4 (for single
levels this reproduces docs/domain.md §3: 0.941, 0.993, 1.029, 1.026); the SD is 0.122 for every
region — the assumption under which docs/domain.md §3 reports the ~6 % ISCD-rule rate.  ISCD
(docs/domain.md §2) uses this female reference for all ethnicities and for men, so the rows have
sex ``any``.

Z (age-matched) rows: for each region, sex and age band, the NHANES exam-weighted
(WTMECPRP) mean and SD of BMD over the reference set; 5-year bands [50,55) … [75,81) for all
ethnicities together, and 10-year bands [50,60), [60,70), [70,81) per RIDRETH1 group when the
band holds at least 30 scans.  Ages outside 50–80 are not covered (no extrapolation).

Inter-level model: ρ per level as above; for each level the leave-one-out log residual
(:mod:`dxaspine.clinical.interlevel`) over the reference set gives its median (offset) and
robust SD (1.4826 × MAD).  The threshold is the smallest value on a 0.05 grid in [2, 4] whose
per-scan flag rate on the reference set does not exceed that of the ISCD adjacent-T rule on
the same set (docs/domain.md §3: an automated flag should stay near the ISCD rule's rate).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import tempfile
from itertools import combinations
from pathlib import Path

import numpy as np

from dxaspine.clinical.interlevel import InterlevelModel, deviation_scores, log_residuals

LEVELS = ("L1", "L2", "L3", "L4")
YOUNG_ADULT_L1_L4 = (1.065, 0.122)  # docs/domain.md §8, White women, NHANES 2005-2014 (unverified)
T_SOURCE = (
    "White-female young-adult L1-L4 1.065 SD 0.122 g/cm2 (NHANES 2005-2014; secondary source, "
    "unverified; docs/domain.md §8) x NHANES 2017-2020 region/L1-L4 ratio; ISCD: female reference "
    "for all sexes and ethnicities"
)
Z_SOURCE = "NHANES 2017-2020 P_DXXSPN, exam-weighted (WTMECPRP), all-valid consistent scans"
T_ROW = "young-adult white female L1-L4 (NHANES 2005-2014; unverified) x NHANES 2017-2020 ratio"
Z_ROW = "NHANES 2017-2020, WTMECPRP-weighted"
ETHNICITY = {1: "Mexican American", 2: "Other Hispanic", 3: "White", 4: "Black", 5: "Other"}
BANDS_ALL = ((50, 55), (55, 60), (60, 65), (65, 70), (70, 75), (75, 81))
BANDS_ETHNIC = ((50, 60), (60, 70), (70, 81))
MIN_N_ETHNIC = 30  # below this a weighted SD is too unstable to publish
ISCD_T_DIFFERENCE = 1.0  # docs/domain.md §2


def region_sets() -> list[tuple[str, ...]]:
    out = []
    for size in range(4, 0, -1):
        out.extend(combinations(LEVELS, size))
    return out


def region_name(levels: tuple[str, ...]) -> str:
    from dxaspine.measure.composites import region_name as name

    return name(levels)


def read_nhanes(path: Path) -> dict:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r[name] != "" else np.nan for r in rows])

    data = {k: col(k) for k in rows[0] if k != "SEQN"}
    data["n_rows"] = len(rows)
    return data


def reference_set(d: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """Boolean masks (all-valid, reference) and counts for the provenance record."""
    bmc = np.stack([d[f"DXX{lv}BMC"] for lv in LEVELS], 1)
    area = np.stack([d[f"DXX{lv}A"] for lv in LEVELS], 1)
    all_valid = d["DXXOSBCC"] == 0
    subset_total = (np.abs(bmc.sum(1) - d["DXXOSBMC"]) > 0.05) | (
        np.abs(area.sum(1) - d["DXXOSA"]) > 0.05
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mismatch = np.abs(bmc.sum(1) / area.sum(1) - d["DXXOSBMD"]) > 0.0015
    zero_area = ~(area > 0).all(1)
    ref = all_valid & ~subset_total & ~mismatch & ~zero_area
    counts = {
        "rows": int(d["n_rows"]),
        "all_valid": int(all_valid.sum()),
        "total_not_sum_of_levels": int((all_valid & subset_total).sum()),
        "zero_area_level": int((all_valid & ~subset_total & zero_area).sum()),
        "total_bmd_mismatch": int((all_valid & ~subset_total & ~zero_area & mismatch).sum()),
        "reference": int(ref.sum()),
    }
    return all_valid, ref, counts


def region_bmd(d: dict, levels: tuple[str, ...]) -> np.ndarray:
    if len(levels) == 1:
        return d[f"DXX{levels[0]}BMD"]
    bmc = sum(d[f"DXX{lv}BMC"] for lv in levels)
    area = sum(d[f"DXX{lv}A"] for lv in levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        return bmc / area


def weighted_mean_sd(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    mean = float(np.sum(w * x) / np.sum(w))
    n = len(x)
    var = float(np.sum(w * (x - mean) ** 2) / np.sum(w)) * n / (n - 1)  # Bessel-style factor
    return mean, math.sqrt(var)


def fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def build(nhanes_csv: Path) -> tuple[str, dict]:
    d = read_nhanes(nhanes_csv)
    all_valid, ref, counts = reference_set(d)
    l1l4 = region_bmd(d, LEVELS)
    ratios = {}
    for levels in region_sets():
        ratios[region_name(levels)] = float(np.mean(region_bmd(d, levels)[ref] / l1l4[ref]))
    out = io.StringIO()
    out.write("# name: dxaspine-default\n")
    out.write(f"# source: T: {T_SOURCE}. Z: {Z_SOURCE}\n")
    out.write(
        "# population: T all sexes/ethnicities (ISCD); Z US adults 50-80 (NHANES 2017-2020) "
        f"by sex, and by sex and RIDRETH1 group; {counts['reference']} scans\n"
    )
    out.write("# built by: python -m dxaspine.clinical.reference_data.build_tables\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["score", "region", "sex", "ethnicity", "age_min_years", "age_max_years",
         "mean_g_cm2", "sd_g_cm2", "n", "source"]
    )  # fmt: skip
    mean_ya, sd_ya = YOUNG_ADULT_L1_L4
    for levels in region_sets():
        name = region_name(levels)
        writer.writerow(
            ["T", name, "any", "", "", "", fmt(mean_ya * ratios[name]), fmt(sd_ya), "", T_ROW]
        )
    weights, age, sex_code, eth = d["WTMECPRP"], d["RIDAGEYR"], d["RIAGENDR"], d["RIDRETH1"]
    groups = [("", BANDS_ALL, None)] + [(n, BANDS_ETHNIC, c) for c, n in ETHNICITY.items()]
    for levels in region_sets():
        name = region_name(levels)
        bmd = region_bmd(d, levels)
        for sex, code in (("F", 2), ("M", 1)):
            for ethnicity, bands, eth_code in groups:
                for lo, hi in bands:
                    sel = ref & (sex_code == code) & (age >= lo) & (age < hi)
                    if eth_code is not None:
                        sel &= eth == eth_code
                    n = int(sel.sum())
                    if n < (MIN_N_ETHNIC if eth_code is not None else 2):
                        continue
                    mean, sd = weighted_mean_sd(bmd[sel], weights[sel])
                    writer.writerow(
                        ["Z", name, sex, ethnicity, lo, hi, fmt(mean), fmt(sd), n, Z_ROW]
                    )
    model = build_interlevel_model(d, all_valid, ref, ratios, counts)
    return out.getvalue(), model


def _iscd_flags(d: dict, ratios: dict) -> np.ndarray:
    """Per scan: does any adjacent pair differ by more than 1.0 T (docs/domain.md §2)?"""
    mean_ya, sd_ya = YOUNG_ADULT_L1_L4
    t = np.stack([(d[f"DXX{lv}BMD"] - mean_ya * ratios[lv]) / sd_ya for lv in LEVELS], 1)
    return (np.abs(np.diff(t, axis=1)) > ISCD_T_DIFFERENCE).any(1)


def build_interlevel_model(d: dict, all_valid, ref, ratios: dict, counts: dict) -> dict:
    level_ratio = {lv: ratios[lv] for lv in LEVELS}
    ok = all_valid & (np.stack([d[f"DXX{lv}A"] for lv in LEVELS], 1) > 0).all(1)
    idx = np.nonzero(ok)[0]
    bmd = [{lv: d[f"DXX{lv}BMD"][i] for lv in LEVELS} for i in range(len(ok))]
    resid = np.full((len(ok), 4), np.nan)
    for i in idx:
        r = log_residuals(bmd[i], level_ratio)
        resid[i] = [r[lv] for lv in LEVELS]
    offset = np.median(resid[ref], 0)
    scale = 1.4826 * np.median(np.abs(resid[ref] - offset), 0)
    iscd = _iscd_flags(d, ratios)
    iscd_rate_ref = float(iscd[ref].mean())

    def flags_at(k: float) -> np.ndarray:
        model = InterlevelModel(
            level_ratio,
            dict(zip(LEVELS, offset, strict=True)),
            dict(zip(LEVELS, scale, strict=True)),
            float(k),
            {},
        )
        out = np.zeros((len(ok), 4), bool)
        for i in idx:
            s = deviation_scores(bmd[i], model)
            out[i] = [abs(s.get(lv, 0.0)) > k for lv in LEVELS]
        return out

    threshold, flagged = None, None
    for k in np.round(np.arange(2.0, 4.0001, 0.05), 2):
        flagged = flags_at(k)
        if flagged[ref].any(1).mean() <= iscd_rate_ref:
            threshold = float(k)
            break
    return {
        "level_ratio": {lv: round(level_ratio[lv], 6) for lv in LEVELS},
        "offset": {lv: round(float(o), 6) for lv, o in zip(LEVELS, offset, strict=True)},
        "scale": {lv: round(float(s), 6) for lv, s in zip(LEVELS, scale, strict=True)},
        "threshold": threshold,
        "calibration": {
            "data": "NHANES 2017-2020 P_DXXSPN (shared/data/nhanes), unweighted",
            "rule": "smallest threshold (0.05 grid, 2-4) whose per-scan flag rate on the "
            "reference set <= the ISCD adjacent-T rule's rate on the same set",
            "counts": counts,
            "iscd_rule_scan_rate_all_valid": round(float(iscd[all_valid].mean()), 4),
            "iscd_rule_scan_rate_reference": round(iscd_rate_ref, 4),
            "deviation_scan_rate_reference": round(float(flagged[ref].any(1).mean()), 4),
            "deviation_scan_rate_all_valid": round(float(flagged[all_valid].any(1).mean()), 4),
            "deviation_level_rate_reference": {
                lv: round(float(r), 4) for lv, r in zip(LEVELS, flagged[ref].mean(0), strict=True)
            },
        },
    }


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nhanes_csv", type=Path)
    parser.add_argument("outdir", type=Path, nargs="?", default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    table, model = build(args.nhanes_csv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    _atomic_write(args.outdir / "dxaspine_default.csv", table)
    _atomic_write(
        args.outdir / "interlevel_model.json", json.dumps(model, indent=1, sort_keys=True) + "\n"
    )
    print(json.dumps(model["calibration"], indent=1))  # a script, not library code
    return 0


if __name__ == "__main__":
    sys.exit(main())
