"""The transverse-process cue (``labelling.assign_labels``: the most side bone of L1-L4 on L3)
input by input, against truth, on both families.

For each input this runs the segmenter (``dxaspine.analyze``) and records what the labelling
read: the truth vertebra under each of our levels, the side-bone area per level (smaller
side, the cue's measure before branch ``tpcue``), the process length (its measure since,
``landmarks.lateral_bone``), the two primary cues (the count from the crests and from the
lowest rib), the cue's winner and the final confidence.  ``--summary FILE`` prints, from a
``--json`` file, per family: the inputs on which the crests and the rib agree, how many of
them are wrong, how many each measure caps (its longest of L1-L4 not L3 and no 15 % tie),
and how many labellings shifted one level up or down each measure would catch.

Run: ``DXASPINE_SHARED_DATA=/path/to/shared/data python benchmarks/ct_process_cue.py
--family ct --seeds 0,1,2 [--json out.json]``; ``--family standard|hard|transitional`` for
the drawn suites (seed 0, 30 cases, as in ``tests/test_segment_accuracy.py``).
docs/segmentation.md §2 quotes it.
"""

from __future__ import annotations

import importlib.util
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

# the rib-cue benchmark beside this file: its input kinds, truth look-up and options
_spec = importlib.util.spec_from_file_location(
    "ct_top_rib", Path(__file__).with_name("ct_top_rib.py")
)
_top_rib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_top_rib)
KINDS = _top_rib.KINDS


def _truth_names(work, axis, discs, label_image, codes) -> list:
    """The truth vertebra at the middle of each level, on the axis (ct_top_rib's look-up)."""
    rows = (0.5 * (discs[i].row + discs[i + 1].row) for i in range(len(discs) - 1))
    return [_top_rib._truth_name(work, axis, row, label_image, codes) for row in rows]


def read_input(path, label_image, codes) -> dict | None:
    """What the labelling read on ``path`` (None when the analysis failed)."""
    seen: dict = {}
    bone, labels_fn = classical.lateral_bone, classical.assign_labels

    def spy_bone(work, axis, discs, *args, **kwargs):
        out = bone(work, axis, discs, *args, **kwargs)
        # (before branch tpcue lateral_bone returned no length: read as NaN)
        length = out[2] if len(out) > 2 else np.full(len(discs) - 1, np.nan)
        seen.update(work=work, axis=axis, discs=list(discs), area=out[1][0], length=length)
        return out

    def spy_labels(*args, **kwargs):
        out = labels_fn(*args, **kwargs)
        seen.update(labelling=out)
        return out

    with mock.patch.object(classical, "lateral_bone", spy_bone), \
            mock.patch.object(classical, "assign_labels", spy_labels):  # fmt: skip
        try:
            result = analyze(path)
        except DxaError:
            return None
    lab = seen["labelling"]
    ev = lab.evidence
    return {
        "labels": list(lab.labels),
        "truth": _truth_names(seen["work"], seen["axis"], seen["discs"], label_image, codes),
        "area": [round(float(a), 2) for a in seen["area"]],
        "length": [round(float(a), 1) for a in seen["length"]],
        "base_crest": ev.get("base_from_crest"), "base_rib": ev.get("base_from_ribs"),
        "longest": ev.get("longest_transverse_process"),
        "label_conf": lab.confidence[0] if lab.confidence else None,
        "final_conf": dict(zip(result.segmentation.labels,
                               (float(c) for c in result.segmentation.label_confidence),
                               strict=True)),
        "flags": [f.code for f in result.segmentation.qc_flags],
    }  # fmt: skip


def measure(family: str, seed: int, count: int, kinds: tuple[str, ...] | None = None,
            echo: bool = False) -> list[dict]:  # fmt: skip
    """One row per analysed input (:func:`read_input` and where it came from)."""
    kinds = KINDS[family] if kinds is None else kinds
    rows = []
    make = generate_case
    if family == "ct":
        from dxaspine.phantom.ct import generate_ct_case as make
    with tempfile.TemporaryDirectory() as tmp:
        for params in SUITES[family](seed=seed, count=count):
            case = make(params)
            paths = write_case(case, Path(tmp) / case.name, kinds=kinds)
            codes = {int(k): v for k, v in json.loads(paths["truth"].read_text())["label_codes"]
                     .items()}  # fmt: skip
            for kind in kinds:
                row = read_input(paths[kind], case.label_image, codes)
                if row is None:
                    continue
                row.update(family=family, seed=seed, case=case.name, kind=kind,
                           transitional=getattr(params, "transitional", None))  # fmt: skip
                rows.append(row)
                if echo:
                    print(json.dumps(row), flush=True)
    return rows


_SEQUENCE = ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")


def cue_verdict(values: dict) -> str | None:
    """The cue's longest of L1-L4 (``labelling.assign_labels``: at least three levels, every
    one read, no 15 % tie), or None when it says nothing."""
    if len(values) < 3 or not all(np.isfinite(v) for v in values.values()):
        return None
    order = sorted(values, key=values.get, reverse=True)
    if values[order[0]] - values[order[1]] < 0.15 * values[order[0]]:
        return None
    return order[0]


def _by_name(row: dict, measure: str, names: list) -> dict:
    return {n: row[measure][i] for i, n in enumerate(names) if n in ("L1", "L2", "L3", "L4")}


def primary_labellings(rows: list[dict]) -> list[dict]:
    """Each input's labelling by each primary cue alone (the count up from the crests, down
    from the lowest rib), against truth, with the verdict of each measure on it: where the
    cues disagree (transitional anatomy) one of them is wrong, and a secondary cue that
    protects must say "not L3" there and nothing (or L3) on the right one."""
    from dxaspine.segment.labelling import _names

    out = []
    for r in rows:
        for cue in ("base_crest", "base_rib"):
            if r[cue] is None:
                continue
            names = _names(r[cue], len(r["labels"]))
            lumbar = [(n, t) for n, t in zip(names, r["truth"], strict=True)
                      if n in ("L1", "L2", "L3", "L4")]  # fmt: skip
            out.append({
                "case": r["case"], "kind": r["kind"], "transitional": r["transitional"],
                "cue": cue, "right": all(n == t for n, t in lumbar),
                **{m: cue_verdict(_by_name(r, m, names)) for m in ("area", "length")},
            })  # fmt: skip
    return out


def summary(rows: list[dict]) -> list[str]:
    """Per family (and CT input kind): what each measure does where crests and rib agree."""
    groups: dict = {}
    for r in rows:
        if r["base_crest"] is not None and r["base_crest"] == r["base_rib"]:
            key = (r["family"], r["kind"] if r["family"] == "ct" else "*")
            groups.setdefault(key, []).append(r)
    out = []
    for key in sorted(groups):
        g = groups[key]
        wrong = sum(any(n != t for n, t in zip(r["labels"], r["truth"], strict=True)
                        if n in ("L1", "L2", "L3", "L4")) for r in g)  # fmt: skip
        line = f"{key}: crests and rib agree on {len(g)}, wrong {wrong}"
        for measure in ("area", "length"):
            capped = sum(cue_verdict(_by_name(r, measure, r["labels"])) not in (None, "L3")
                         for r in g)  # fmt: skip
            caught = []
            for shift in (-1, 1):
                n = 0
                for r in g:
                    names = [_SEQUENCE[_SEQUENCE.index(t) + shift] if t in _SEQUENCE[1:-1]
                             else None for t in r["truth"]]  # fmt: skip
                    n += cue_verdict(_by_name(r, measure, names)) not in (None, "L3")
                caught.append(n)
            line += f" | {measure}: caps {capped}, catches a shift up {caught[0]} down {caught[1]}"
        out.append(line)
    labellings = primary_labellings(rows)
    kinds = sorted({(x["transitional"] or "-", x["right"]) for x in labellings})
    for tr, right in kinds:
        g = [x for x in labellings if (x["transitional"] or "-") == tr and x["right"] == right]
        fired = {m: sum(x[m] not in (None, "L3") for x in g) for m in ("area", "length")}
        out.append(
            f"one primary cue's labelling, anatomy {tr}, {'right' if right else 'wrong'}:"
            f" {len(g)}; area says not L3 on {fired['area']}, length on {fired['length']}"
        )
    return out


def main() -> None:
    parser = _top_rib.family_parser(__doc__)
    parser.add_argument("--summary", nargs="+", help="print the summary of these --json files")
    args = parser.parse_args()
    if args.summary:
        rows = [r for path in args.summary for r in json.loads(Path(path).read_text())]
        print("\n".join(summary(rows)))
        return
    count = args.count or (12 if args.family == "ct" else 30)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows += measure(args.family, seed, count, echo=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
