"""``dxaspine demo``: the bundled phantom scan, its ground truth and a preview picture.

Interim version (until the analysis pipeline lands): reads the bundled dual-energy phantom
with pydicom, prints the phantom's *truth* per level (area, BMC, BMD) and composites, and
writes a PNG preview (a bone-enhanced image from the two energies with the true mid-disc
lines) to ``--overlay``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw

from dxaspine.errors import InputError, describe

DEMO_CASE = "demo_prodigy"


def bundled_paths() -> tuple[Path, Path]:
    data = resources.files("dxaspine") / "data"
    return Path(str(data / f"{DEMO_CASE}.dual_energy.dcm")), Path(
        str(data / f"{DEMO_CASE}.truth.json")
    )


def truth_table(truth: dict) -> str:
    lines = [f"{'level':6s} {'area cm2':>9s} {'BMC g':>8s} {'BMD g/cm2':>10s}  notes"]
    for lv in truth["levels"]:
        notes = ", ".join(lv["lesions"] + ([] if lv["complete"] else ["partly outside the field"]))
        lines.append(
            f"{lv['label']:6s} {lv['area_cm2']:9.2f} {lv['bmc_g']:8.2f} {lv['bmd_g_cm2']:10.3f}  {notes}"
        )
    lines.append("")
    for name in ("L1-L4", "L2-L4", "L1-L3", "L1-L2"):
        comp = truth["composites"].get(name)
        if comp:
            lines.append(
                f"{name:6s} {comp['area_cm2']:9.2f} {comp['bmc_g']:8.2f} {comp['bmd_g_cm2']:10.3f}"
            )
    return "\n".join(lines)


def preview(ds: pydicom.Dataset, truth: dict) -> Image.Image:
    """Bone-enhanced picture (log low - k log high) with the true mid-disc lines in colour."""
    frames = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    i0_low, i0_high = truth["i0_counts"]
    log_low = np.log(i0_low / np.maximum(frames[0], 1.0))
    log_high = np.log(i0_high / np.maximum(frames[1], 1.0))
    k = float(np.median(log_low / log_high))
    q = log_low - k * log_high
    lo, hi = np.percentile(q, [1.0, 99.8])
    grey = np.clip((q - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    dy, dx = (float(v) for v in ds.PixelSpacing)
    zoom = 3.0  # about 0.35 mm per displayed pixel for the Prodigy geometry
    size = (
        round(grey.shape[1] * dx / 0.6 * zoom / 1.75),
        round(grey.shape[0] * dy / 0.6 * zoom / 1.75),
    )
    img = Image.fromarray(grey).convert("RGB").resize(size, Image.BILINEAR)
    sx, sy = size[0] / grey.shape[1], size[1] / grey.shape[0]
    draw = ImageDraw.Draw(img)
    for line in truth["lines"]:
        (c0, r0), (c1, r1) = line["left"], line["right"]
        draw.line([((c0 + 0.5) * sx, (r0 + 0.5) * sy), ((c1 + 0.5) * sx, (r1 + 0.5) * sy)],
                  fill=(255, 200, 0), width=2)  # fmt: skip
    for lv in truth["levels"]:
        (c0, r0), (c1, r1) = lv["upper_line_px"]
        (c2, r2), (c3, r3) = lv["lower_line_px"]
        row = (r0 + r1 + r2 + r3) / 4
        if 0 <= row < grey.shape[0]:
            draw.text(((c1 + 4) * sx, row * sy - 6), lv["label"], fill=(255, 80, 80))
    return img


def run(args) -> int:
    dcm_path, truth_path = bundled_paths()
    if not dcm_path.exists() or not truth_path.exists():
        raise InputError(describe(dcm_path, "bundled demo case missing", "reinstall dxaspine"))
    ds = pydicom.dcmread(dcm_path)
    truth = json.loads(truth_path.read_text())
    print(f"dxaspine demo: {dcm_path.name} ({ds.ManufacturerModelName}, "
          f"{ds.Rows}x{ds.Columns}, spacing {list(map(float, ds.PixelSpacing))} mm)")  # fmt: skip
    print("Phantom ground truth (the analysis pipeline is not bundled yet):")
    print(truth_table(truth))
    out = Path(args.overlay)
    out.parent.mkdir(parents=True, exist_ok=True)
    preview(ds, truth).save(out, format="PNG")
    print(f"preview written to {out}")
    return 0
