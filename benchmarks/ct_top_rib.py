"""The rib cue beside the vertebra cut by the field top, against truth, on both families.

For each input this runs the segmenter (``dxaspine.analyze``) and reads the band beside the
partial top level (the vertebra between the field top and the first disc, when at least
``TOP_LEVEL_MIN_PERIOD`` of a period of it is in the field) two ways:

- ``threshold``: the fall of the band's lower edge at the bone threshold
  (``landmarks.lateral_band_fall``; the rule before branch ``ribcue``: a rib when >= 0.15);
- ``half_height``: the fall of its half-height edge with its standard error
  (``landmarks.top_level_band_fall``; a rib when fall - 2 SE >= 0.15, ``top_level_rib_sides``).

The truth is the vertebra under the top level (the truth label image at its middle, on the
axis) and whether it carries a rib: on the CT family its 12th rib (the CT's T12 carries both,
in the field on every pose, ``benchmarks/ct_rib_field.py``); on the drawn phantom T10-T12
carry ribs except T12 in the transitional ``no_t12_rib`` anatomy, and L1 only in
``lumbar_rib``.  ``--crop`` adds a rib-less control on every input: the field top moved down
to 0.6 period above the second disc, so the vertebra below the first disc (L1, or T12 in the
``no_t12_rib`` and ``lumbar_rib`` cases where the field starts at T11) is the cut top level.
``--levels`` also reads every level between two disc lines (transverse processes, and the
drawn rib stubs on L1), the same two ways.  ``--no-noise`` renders the CT without quantum
noise (the same case otherwise).

Run: ``DXASPINE_SHARED_DATA=/path/to/shared/data python benchmarks/ct_top_rib.py --family ct
--seeds 0,1,2 [--no-noise] [--crop] [--json out.json]``; ``--family standard|hard|transitional``
for the drawn suites (seed 0, 30 cases, as in ``tests/test_segment_accuracy.py``).
docs/segmentation.md §2 quotes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np

from dxaspine import analyze
from dxaspine.errors import DxaError
from dxaspine.phantom import generate_case, write_case
from dxaspine.phantom.suites import SUITES
from dxaspine.segment import classical
from dxaspine.segment import landmarks as lm
from dxaspine.segment.small_stats import median

KINDS = {"ct": ("dual_energy", "bmd_map", "display"), "standard": ("dual_energy", "bmd_map",
         "display"), "hard": ("dual_energy", "display"), "transitional": ("dual_energy",
         "display")}  # fmt: skip
# the synthetic rib-less top level: this many periods of the vertebra above the second disc
# stay in the field (over TOP_LEVEL_MIN_PERIOD, so the cue reads it)
CROP_PERIOD = 0.6


def segmenter_inputs(path) -> dict | None:
    """The work image, axis and disc lines the segmenter labelled ``path`` from (None when
    it failed)."""
    seen = {}
    original = classical.lateral_bone

    def spy(work, axis, discs, *args, **kwargs):
        seen.update(work=work, axis=axis, discs=list(discs))
        return original(work, axis, discs, *args, **kwargs)

    with mock.patch.object(classical, "lateral_bone", spy):
        try:
            analyze(path)
        except DxaError:
            return None
    return seen or None


def _top(work, axis, first) -> float | None:
    r = int(np.clip(round(first.row), 0, work.values.shape[0] - 1))
    col = int(np.clip(round(axis.columns[r]), 0, work.values.shape[1] - 1))
    rows = np.flatnonzero(work.field[:, col])
    return float(rows[0]) if rows.size else None


def _truth_name(work, axis, row, label_image, codes) -> str | None:
    full_r = int(round(float(work.to_full_rows(row))))
    full_c = int(round(float(work.to_full_cols(axis.columns[int(round(row))]))))
    if not (0 <= full_r < label_image.shape[0] and 0 <= full_c < label_image.shape[1]):
        return None
    code = int(label_image[full_r, full_c])
    return codes.get(code) if code > 0 else None


def carries_rib(family: str, transitional: str | None, name: str | None) -> bool | None:
    """Whether the truth vertebra ``name`` carries a rib (None when unknown)."""
    if name is None:
        return None
    if family == "ct":
        return name.startswith("T")  # the CT starts at the bottom of T11; T12 has its ribs
    if name in ("T10", "T11"):
        return True
    if name == "T12":
        return transitional != "no_t12_rib"
    return name == "L1" and transitional == "lumbar_rib"


def read_top_level(inputs, crop: bool = False):
    """(truth row, threshold fall, half-height fall, its SE, rib sides) of the top level of
    ``inputs`` (:func:`segmenter_inputs`), or of the synthetic cut one with ``crop``; None
    when it is not read (less than TOP_LEVEL_MIN_PERIOD in view)."""
    work, axis, discs = inputs["work"], inputs["axis"], inputs["discs"]
    if len(discs) < 3:
        return None
    period = median(np.diff([d.row for d in discs]))
    if crop:
        cut = int(np.ceil(discs[1].row - CROP_PERIOD * period))
        if cut <= 0:
            return None
        field = work.field.copy()
        field[:cut] = False
        values = np.where(field, work.values, np.nan)
        work = dataclasses.replace(work, values=values, field=field)
        discs = discs[1:]
    fall, fall_se, top = lm.top_level_band_fall(work, axis, discs, period)
    if fall is None:
        return None
    upper = type(discs[0])(top, discs[0].column, 0.0, 0.0, False, 0.0)
    threshold = lm.lateral_band_fall(work, axis, [upper, discs[0]])[0]
    return (0.5 * (top + discs[0].row), work, axis, threshold, fall, fall_se,
            lm.top_level_rib_sides(fall, fall_se))  # fmt: skip


def read_levels(inputs) -> list:
    """:func:`read_top_level`'s tuple for every level between two disc lines."""
    work, axis, discs = inputs["work"], inputs["axis"], inputs["discs"]
    threshold = lm.lateral_band_fall(work, axis, discs)
    fall, fall_se = lm.band_edge_fall(work, axis, discs)
    return [(0.5 * (discs[i].row + discs[i + 1].row), work, axis, threshold[i], fall[i],
             fall_se[i], lm.top_level_rib_sides(fall[i], fall_se[i]))
            for i in range(len(discs) - 1)]  # fmt: skip


def measure(family: str, seed: int, count: int, noise: bool = True, crop: bool = False,
            kinds: tuple[str, ...] | None = None, levels: bool = False):  # fmt: skip
    """One row per input whose top level is read: truth, both falls, the decisions."""
    kinds = KINDS[family] if kinds is None else kinds
    rows = []
    cases = SUITES[family](seed=seed, count=count)
    if family == "ct":
        from dxaspine.phantom.ct import generate_ct_case as make
    else:
        make = generate_case
    with tempfile.TemporaryDirectory() as tmp:
        for params in cases:
            if not noise:
                params = dataclasses.replace(params, noise=False)
            case = make(params)
            paths = write_case(case, Path(tmp) / case.name, kinds=kinds)
            codes = {int(k): v for k, v in json.loads(paths["truth"].read_text())["label_codes"]
                     .items()}  # fmt: skip
            transitional = getattr(params, "transitional", None)
            for kind in kinds:
                inputs = segmenter_inputs(paths[kind])
                if inputs is None:
                    continue
                reads = [(p, read_top_level(inputs, crop=p == "cropped"))
                         for p in (("top", "cropped") if crop else ("top",))]  # fmt: skip
                if levels:
                    reads += [("level", r) for r in read_levels(inputs)]
                for part, read in reads:
                    if read is None:
                        continue
                    row, work, axis, threshold, fall, fall_se, sides = read
                    name = _truth_name(work, axis, row, case.label_image, codes)
                    nan = np.nan_to_num(threshold, nan=-np.inf)
                    rows.append({
                        "family": family, "seed": seed, "case": case.name, "kind": kind,
                        "noise": noise, "part": part, "cropped": part == "cropped",
                        "transitional": transitional,
                        "truth": name, "rib": carries_rib(family, transitional, name),
                        "threshold_fall": [float(x) for x in threshold],
                        "threshold_rib": bool(np.any(nan >= lm.RIB_FALL_MIN)),
                        "fall": [float(x) for x in fall], "fall_se": [float(x) for x in fall_se],
                        "rib_sides": sides,
                    })  # fmt: skip
    return rows


def _steepest(values) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else np.nan


def summary(rows: list[dict]) -> list[str]:
    """One line per (family, kind, part: top level, cropped or level, truth vertebra, rib)."""
    groups: dict = {}
    for r in rows:
        kind = r["kind"] if r["family"] == "ct" else "*"
        key = (r["family"], kind, r["part"], r["truth"], r["rib"])
        groups.setdefault(key, []).append(r)
    out = []
    for key in sorted(groups, key=str):
        g = groups[key]
        old = np.array([_steepest(r["threshold_fall"]) for r in g])
        bound = np.array([_steepest(np.subtract(r["fall"], lm.RIB_FALL_Z * np.array(r["fall_se"])))
                          for r in g])  # fmt: skip
        new = np.array([_steepest(r["fall"]) for r in g])

        def span(a):
            a = a[np.isfinite(a)]
            return f"{a.min():+.2f}..{a.max():+.2f}" if a.size else "not read"

        out.append(
            f"{key}: n={len(g)}  threshold {span(old)} rib {sum(r['threshold_rib'] for r in g)}"
            f"  |  half-height {span(new)}, fall - 2 SE {span(bound)} rib "
            f"{sum(r['rib_sides'] > 0 for r in g)}"
        )
    return out


def family_parser(doc: str) -> argparse.ArgumentParser:
    """The options every per-input benchmark over both families takes (``--family``,
    ``--seeds``, ``--count``, ``--json``); ``ct_process_cue.py`` uses it too."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--family", default="ct", choices=sorted(KINDS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--count", type=int, default=None, help="12 CT cases, 30 drawn")
    parser.add_argument("--json")
    return parser


def main() -> None:
    parser = family_parser(__doc__)
    parser.add_argument("--no-noise", action="store_true")
    parser.add_argument("--crop", action="store_true")
    parser.add_argument("--levels", action="store_true")
    args = parser.parse_args()
    count = args.count or (12 if args.family == "ct" else 30)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows += measure(
            args.family, seed, count, noise=not args.no_noise, crop=args.crop, levels=args.levels
        )
    print("\n".join(summary(rows)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
