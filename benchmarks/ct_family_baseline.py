"""Accuracy baseline of the pipeline on the CT family (an accuracy measurement, not speed).

Generates the ``ct`` suite (the shared TotalSegmentator CT in 12 seeded poses, tissues,
doses and scanner geometries; docs/ct_phantom.md), writes each case as DICOM, runs
``dxaspine.analyze`` on the dual-energy, BMD-map and display files, and compares with the
CT-derived truth:

- labels: each complete truth L1-L4 level must be found under its own name (the truth level
  under most of our region), with its label confidence;
- line midpoints: Euclidean distance (mm) between our intervertebral line midpoints and the
  truth mid-disc lines of the same name, in stored-image coordinates;
- L1-L4 BMD: our composite against the truth composite (quantitative inputs only);
- lesion flags: per-level evidence flags raised on levels the truth calls lesion-free.

Run: ``DXASPINE_SHARED_DATA=/path/to/shared/data python benchmarks/ct_family_baseline.py
[--count 12] [--json out.json] [--figure docs/images/ct_phantom_overlay.png]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from dxaspine import analyze
from dxaspine.bench.metrics import CONFIDENT
from dxaspine.errors import DxaError
from dxaspine.phantom import write_case
from dxaspine.phantom.ct import generate_ct_case
from dxaspine.phantom.suites import SUITES

CLINICAL = ("L1", "L2", "L3", "L4")
KINDS = ("dual_energy", "bmd_map", "display")
# The lines that bound L1-L4 (those the clinical regions use; L5/S1 is seen very obliquely)
L1_L4_BOUNDS = ("T12/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5")
# lesion evidence (dxaspine/evidence/lesions.py); labelling flags such as lumbar_rib are not
LESION_CODES = ("osteophyte_suspected", "sclerosis_suspected", "facet_arthrosis_suspected",
                "fracture_suspected")  # fmt: skip


def evaluate(case, paths, kind) -> dict:
    truth = json.loads(paths["truth"].read_text())
    out = {"case": case.name, "kind": kind, "scanner": case.params.scanner}
    try:
        result = analyze(paths[kind])
    except DxaError as exc:
        out["error"] = str(exc)
        return out
    seg, scan = result.segmentation, result.scan
    codes = {int(k): v for k, v in truth["label_codes"].items()}
    levels = {}
    for i, name in enumerate(seg.labels):
        under = case.label_image[seg.label_image == i + 1]
        under = under[under > 0]
        true_name = codes[int(np.bincount(under).argmax())] if under.size else None
        levels[name] = {"truth": true_name, "confidence": float(seg.label_confidence[i])}
    complete = [lv["label"] for lv in truth["levels"] if lv["complete"] and lv["label"] in CLINICAL]
    out["labels_right"] = all(levels.get(n, {}).get("truth") == n for n in complete)
    out["min_confidence"] = min(
        (levels[n]["confidence"] for n in CLINICAL if n in levels), default=0
    )
    out["ours"] = {n: levels[n]["truth"] for n in levels}
    out["level_confidence"] = {n: levels[n]["confidence"] for n in levels}
    truth_lines = {ln["name"]: ln for ln in truth["lines"]}
    errors, row_errors = {}, {}
    sr, sc = truth["pixel_spacing_mm"]
    for line in seg.lines:
        t = truth_lines.get(line.name)
        if t is None:
            continue
        tc, tr = (t["left"][0] + t["right"][0]) / 2, (t["left"][1] + t["right"][1]) / 2
        mc, mr = scan.to_stored_xy(*line.midpoint)
        errors[line.name] = float(np.hypot((mc - tc) * sc, (mr - tr) * sr))
        row_errors[line.name] = float((mr - tr) * sr)
    out["line_errors_mm"] = errors
    out["line_row_errors_mm"] = row_errors  # signed, + = ours below the truth
    # position alone, whatever the names: each truth line to the nearest of ours (mm)
    ours = [scan.to_stored_xy(*line.midpoint) for line in seg.lines]
    nearest = {}
    for name, t in truth_lines.items():
        tc, tr = (t["left"][0] + t["right"][0]) / 2, (t["left"][1] + t["right"][1]) / 2
        if ours:
            nearest[name] = float(min(np.hypot((c - tc) * sc, (r - tr) * sr) for c, r in ours))
    out["nearest_line_errors_mm"] = nearest
    measured = {lv.label: lv for lv in result.levels}
    if all(n in measured and measured[n].bmc_g is not None for n in CLINICAL):
        bmc = sum(measured[n].bmc_g for n in CLINICAL)
        area = sum(measured[n].area_cm2 for n in CLINICAL)
        want = truth["composites"]["L1-L4"]["bmd_g_cm2"]
        out["l1_l4_bmd"] = bmc / area
        out["l1_l4_bmd_error_pct"] = 100 * (bmc / area / want - 1)
        out["level_bmd_error_pct"] = {
            n: 100 * (measured[n].bmd_g_cm2 / lv["bmd_g_cm2"] - 1)
            for lv in truth["levels"]
            for n in [lv["label"]]
            if n in CLINICAL
        }
    lesion_free = {lv["label"] for lv in truth["levels"] if lv["lesion_free"]}
    flags = [(f.code, f.level) for f in result.image_flags if f.level is not None]
    out["level_flags"] = [f"{c}@{lvl}" for c, lvl in flags]
    # L1-L4 only, like the assessed levels they are counted against
    out["flagged_lesion_free_levels"] = sorted(
        {lvl for c, lvl in flags if c in LESION_CODES and lvl in lesion_free and lvl in CLINICAL}
    )
    out["assessed_levels"] = sorted(set(seg.labels) & lesion_free & set(CLINICAL))
    out["scan_flags"] = [f.code for f in result.image_flags if f.level is None]
    return out


def bound_line_errors(rows: list[dict]) -> list[float]:
    """Midpoint errors (mm) of the lines that bound L1-L4, pooled over ``rows``."""
    return [e for r in rows for n, e in r["line_errors_mm"].items() if n in L1_L4_BOUNDS]


def confident_levels(rows: list[dict]) -> tuple[int, int]:
    """(levels labelled with confidence >= CONFIDENT, of which named wrong), over ``rows``."""
    confident = [
        (name, r["ours"][name])
        for r in rows
        for name, conf in r.get("level_confidence", {}).items()
        if conf >= CONFIDENT
    ]
    return len(confident), sum(truth != name for name, truth in confident)


def lesion_flag_rate(rows: list[dict]) -> tuple[int, int]:
    """(lesion-free L1-L4 levels with a lesion flag, lesion-free L1-L4 levels), over ``rows``."""
    flagged = sum(len(r["flagged_lesion_free_levels"]) for r in rows)
    return flagged, sum(len(r["assessed_levels"]) for r in rows)


def summarise(rows: list[dict]) -> dict:
    summary = {}
    for kind in KINDS:
        mine = [r for r in rows if r["kind"] == kind and "error" not in r]
        errors = [e for r in mine for e in r["line_errors_mm"].values()]
        bounds = bound_line_errors(mine)
        nearest = [e for r in mine for e in r["nearest_line_errors_mm"].values()]
        right = [e for r in mine if r["labels_right"] for e in r["line_errors_mm"].values()]
        rows_right = [abs(e) for r in mine if r["labels_right"]
                      for e in r["line_row_errors_mm"].values()]  # fmt: skip
        bmd = [r["l1_l4_bmd_error_pct"] for r in mine if "l1_l4_bmd_error_pct" in r]
        flagged, levels = lesion_flag_rate(mine)
        codes = Counter(f.split("@")[0] for r in mine for f in r["level_flags"])
        # confidence must mean something: of the levels we call confident, how many are wrong
        confident, confident_wrong = confident_levels(mine)
        summary[kind] = {
            "cases": len(mine),
            "failed": sum(1 for r in rows if r["kind"] == kind and "error" in r),
            "labels_right": sum(r["labels_right"] for r in mine),
            "labels_right_conf_ge_0.9": sum(
                r["labels_right"] and r["min_confidence"] >= 0.9 for r in mine
            ),  # fmt: skip
            "min_confidence_median": float(np.median([r["min_confidence"] for r in mine]))
            if mine
            else None,
            "line_error_median_mm": float(np.median(errors)) if errors else None,
            "line_error_p95_mm": float(np.percentile(errors, 95)) if errors else None,
            "lines": len(errors),
            "l1_l4_bound_line_error_median_mm": float(np.median(bounds)) if bounds else None,
            "l1_l4_bound_line_error_p95_mm": float(np.percentile(bounds, 95)) if bounds else None,
            "line_error_median_mm_when_labels_right": float(np.median(right)) if right else None,
            "line_error_p95_mm_when_labels_right": float(np.percentile(right, 95))
            if right
            else None,
            "row_error_median_mm_when_labels_right": float(np.median(rows_right))
            if rows_right
            else None,
            "nearest_line_error_median_mm": float(np.median(nearest)) if nearest else None,
            "nearest_line_error_p95_mm": float(np.percentile(nearest, 95)) if nearest else None,
            "l1_l4_bmd_error_pct_median": float(np.median(bmd)) if bmd else None,
            "l1_l4_bmd_error_pct_range": [float(min(bmd)), float(max(bmd))] if bmd else None,
            "lesion_free_levels": levels,
            "lesion_free_levels_flagged": flagged,
            "level_flag_codes": dict(codes),
            "levels_conf_ge_0.9": confident,
            "levels_conf_ge_0.9_wrong": confident_wrong,
        }
    return summary


def figure(case, paths, out: Path) -> None:
    """The pipeline's overlay (``dxaspine analyze FILE --overlay``) beside the truth labels."""
    from PIL import Image, ImageDraw, ImageFont

    from dxaspine.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        overlay_png = Path(tmp) / "overlay.png"
        cli(["analyze", str(paths["dual_energy"]), "--overlay", str(overlay_png), "--quiet"])
        overlay = Image.open(overlay_png).convert("RGB")
    truth = json.loads(paths["truth"].read_text())
    rows, cols = case.label_image.shape
    dy, dx = case.pixel_spacing_mm
    bone = np.clip(case.bone_density_g_cm2 / 1.6, 0, 1)
    rgb = np.repeat((bone * 255).astype(np.uint8)[..., None], 3, axis=2)
    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
               (140, 86, 75), (227, 119, 194)]  # fmt: skip
    for code in range(1, int(case.label_image.max()) + 1):
        mask = case.label_image == code
        colour = np.array(palette[(code - 1) % len(palette)], dtype=float)
        rgb[mask] = (0.45 * rgb[mask] + 0.55 * colour).astype(np.uint8)
    scale = overlay.height / (rows * dy)  # same height in mm as the overlay
    size = (round(cols * dx * scale), overlay.height)
    labels = Image.fromarray(rgb).resize(size, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(labels)
    font = ImageFont.load_default(size=max(12, overlay.height // 40))
    sx, sy = size[0] / cols, size[1] / rows
    for line in truth["lines"]:
        (c0, r0), (c1, r1) = line["left"], line["right"]
        draw.line([((c0 + 0.5) * sx, (r0 + 0.5) * sy), ((c1 + 0.5) * sx, (r1 + 0.5) * sy)],
                  fill=(255, 255, 0), width=2)  # fmt: skip
    for level in truth["levels"]:
        (c0, r0), (_, r1) = level["upper_line_px"][0], level["lower_line_px"][0]
        row = max(0.0, (r0 + r1) / 2)
        x = max(2, c0 * sx - 3 * font.size)
        draw.text((x, row * sy), level["label"], fill=(255, 255, 255), font=font)
    draw.text((6, size[1] - 2 * font.size), "truth from the CT labels: levels, mid-disc lines",
              fill=(255, 255, 0), font=font)  # fmt: skip
    both = Image.new("RGB", (overlay.width + labels.width + 8, overlay.height), (255, 255, 255))
    both.paste(overlay, (0, 0))
    both.paste(labels, (overlay.width + 8, 0))
    width = 1600  # the docs picture stays under 500 kB: scaled, 256-colour palette
    both = both.resize((width, round(both.height * width / both.width)), Image.Resampling.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    both.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every row and the summary here")
    parser.add_argument("--figure", help="write the overlay-beside-truth picture of --figure-case")
    parser.add_argument("--figure-case", default="ct_001")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for params in SUITES["ct"](seed=args.seed, count=args.count):
            case = generate_ct_case(params)
            paths = write_case(case, Path(tmp) / case.name, kinds=KINDS)
            for kind in KINDS:
                rows.append(evaluate(case, paths, kind))
            if args.figure and case.name == args.figure_case:
                figure(case, paths, Path(args.figure))
    summary = summarise(rows)
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
