"""Are the CT's lowest ribs in the projected field, and how much contrast do they have?

For each case of the ``ct`` suite (the shared TotalSegmentator CT in seeded poses,
docs/ct_phantom.md) this projects every rib of the CT separately with the case's own pose and
field, and reports per rib: the share of its mineral inside the field, its areal density
(g/cm2) on the field, its course (rows, lateral distance from the spine axis), and its contrast
on the segmenter's work image (body-contrast units: soft tissue 0, vertebral-body core 1)
against the soft tissue beside it, with the work image's pixel noise.  Ribs are the CT's
non-vertebral bone components above the L1 body (the label map holds vertebrae only; the
materials step finds the other bone, docs/ct_phantom.md); the 12th ribs are those whose medial
end lies within ``TWELFTH_MEDIAL_MM`` of the T12 body's centre.

Run: ``DXASPINE_SHARED_DATA=/path/to/shared/data python benchmarks/ct_rib_field.py
[--seeds 0,1,2,3,4] [--count 12] [--json out.json]``.  docs/segmentation.md §7 quotes it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from dxaspine import analyze
from dxaspine.phantom import write_case
from dxaspine.phantom.ct import generate_ct_case
from dxaspine.phantom.ct.case import prepare, spine_centre
from dxaspine.phantom.ct.field import place_field
from dxaspine.phantom.ct.project import Projector, project_channels
from dxaspine.phantom.suites import SUITES
from dxaspine.segment.axis import track_axis
from dxaspine.segment.bone_mask import make_work_image, refine_contrast
from dxaspine.segment.classical import segment_spine
from dxaspine.segment.landmarks import ZONE_INNER_MM

KINDS = ("dual_energy", "display")
MIN_VOXELS = 50  # a rib of the shared CT holds 137-226 voxels (3 mm); smaller is not a rib
TWELFTH_MEDIAL_MM = 40.0  # 12th ribs of the shared CT: 18-21 mm; 11th and higher: >= 65 mm


def rib_components(volume, materials) -> list[dict]:
    """Non-vertebral bone components above the L1 body: index, voxels, medial gap (mm)."""
    labels, _ = ndimage.label(materials.other_bone)
    names = materials.vertebra_names
    t12 = np.argwhere(materials.vertebra == names.index("T12") + 1)
    l1 = np.argwhere(materials.vertebra == names.index("L1") + 1)
    centre = t12[:, 0].mean()
    out = []
    for k in range(1, labels.max() + 1):
        ijk = np.argwhere(labels == k)
        if len(ijk) < MIN_VOXELS or ijk[:, 2].min() < l1[:, 2].min():
            continue
        gap = float(np.abs(ijk[:, 0] - centre).min() * volume.spacing_mm[0])
        out.append({"component": k, "ijk": ijk, "medial_gap_mm": gap,
                    "twelfth": gap <= TWELFTH_MEDIAL_MM})  # fmt: skip
    return out


def _work_image(path):
    captured = {}

    def segmenter(density_map, scan, **kw):
        captured["map"] = density_map
        return segment_spine(density_map, scan, **kw)

    result = analyze(path, segmenter=segmenter)
    work = make_work_image(captured["map"])
    axis = track_axis(work)
    core = axis.body_core[axis.body_rows]
    return refine_contrast(work, float(np.median(core))), result


def _block(image, factors, shape):
    fr, fc = factors
    rows, cols = shape
    return image[: rows * fr, : cols * fc].reshape(rows, fr, cols, fc).mean(axis=(1, 3))


def measure_case(params) -> list[dict]:
    volume, _, materials, bodies = prepare(params)
    projector = Projector(volume.affine, spine_centre(volume, bodies), params.pose)
    grid, _ = place_field(projector, volume, bodies, materials.body, params.pixel_spacing_mm,
                          params.field_height_mm, params.field_width_mm)  # fmt: skip
    case = generate_ct_case(params)
    sr, sc = params.pixel_spacing_mm
    axis_col = float(np.median(np.nonzero(case.label_image)[1]))
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_case(case, Path(tmp) / case.name, kinds=KINDS)
        works = {kind: _work_image(paths[kind]) for kind in KINDS}
    rows = []
    for rib in rib_components(volume, materials):
        ijk = rib["ijk"]
        mass = materials.mineral[tuple(ijk.T)] * volume.voxel_volume_cm3
        image = project_channels(projector, ijk, {"m": mass}, grid)["m"]  # g/cm2
        share = float(image.sum() * grid.pixel_area_cm2 / mass.sum())
        row = {"case": case.name, "seed": params.seed, "component": rib["component"],
               "twelfth": rib["twelfth"], "medial_gap_mm": round(rib["medial_gap_mm"], 1),
               "mineral_g": round(float(mass.sum()), 2),
               "in_field_share": round(share, 3)}  # fmt: skip
        if share > 0.02:
            r, c = np.nonzero(image > 0.05)
            lateral = np.abs(c - axis_col) * sc
            row.update(
                peak_g_cm2=round(float(image.max()), 3),
                rows_mm=[round(float(r.min() * sr), 1), round(float(r.max() * sr), 1)],
                lateral_mm=[round(float(lateral.min()), 1), round(float(lateral.max()), 1)],
                touches_field_top=bool(r.size and r.min() <= 1),
            )
            # beyond the transverse processes (the component search's zone, ZONE_INNER_MM)
            cols = np.abs(np.arange(image.shape[1]) - axis_col) * sc
            zone = cols >= case.truth["box_half_width_mm"] + ZONE_INNER_MM
            row["zone_peak_g_cm2"] = round(float(image[:, zone].max()), 3) if zone.any() else 0.0
            bone_all = case.bone_density_g_cm2
            for kind, (work, result) in works.items():
                shape = work.values.shape
                rib_w = _block(image, work.factors, shape)
                other = _block(bone_all, work.factors, shape) - rib_w
                core = rib_w > 0.5 * rib_w.max()
                near = ndimage.binary_dilation(rib_w > 0.02, iterations=5)
                beside = near & ~ndimage.binary_dilation(rib_w > 0.02, iterations=2)
                beside &= other < 0.02
                values = np.where(work.field, work.values, np.nan)
                free = ndimage.binary_erosion((other + rib_w < 0.01) & work.field, iterations=3)
                residual = values - ndimage.uniform_filter(np.nan_to_num(values), 5)
                on, off = np.nanmedian(values[core]), np.nanmedian(values[beside])
                row[kind] = {
                    "rib_work": round(float(on), 3),
                    "beside_work": round(float(off), 3),
                    "contrast_work": round(float(on - off), 3),
                    "noise_work_per_pixel": round(float(np.nanstd(residual[free])), 3),
                    "scale_g_cm2_per_unit": round(float(work.scale), 3),
                    "labels": list(result.segmentation.labels),
                    "confidence": [round(x, 2) for x in result.segmentation.label_confidence],
                }
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for params in SUITES["ct"](seed=seed, count=args.count):
            rows += measure_case(params)
    twelfth = [r for r in rows if r["twelfth"]]
    shares = [r["in_field_share"] for r in twelfth]
    summary = {"twelfth_ribs": len(twelfth),
               "in_field_share_min_median": [min(shares), float(np.median(shares))]}  # fmt: skip
    for kind in KINDS:
        seen = [r[kind] for r in twelfth if kind in r]
        summary[kind] = {
            "contrast_work_range": [min(s["contrast_work"] for s in seen),
                                    max(s["contrast_work"] for s in seen)],
            "noise_work_per_pixel_median": float(np.median([s["noise_work_per_pixel"]
                                                            for s in seen])),
        }  # fmt: skip
    summary["peak_g_cm2_range"] = [
        min(r["peak_g_cm2"] for r in twelfth if "peak_g_cm2" in r),
        max(r["peak_g_cm2"] for r in twelfth if "peak_g_cm2" in r),
    ]
    zone = [r["zone_peak_g_cm2"] for r in twelfth if "zone_peak_g_cm2" in r]
    summary["zone_peak_g_cm2_range"] = [min(zone), max(zone)]
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
