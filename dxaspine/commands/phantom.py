"""``dxaspine phantom OUTDIR [--suite NAME] [--seed N] [--count N] [--list]``: ground-truth phantoms.

``dxaspine phantom OUTDIR --from-ct CT.nii.gz --labels LABELS.nii.gz [--label-layout L]
[--count N] [--seed S] [--scanner S]`` writes a CT family instead: seeded PA DXA scans
projected from a CT and its vertebra label map (docs/ct_phantom.md).
"""

from __future__ import annotations

import argparse

HELP = "write ground-truth DXA spine phantoms (drawn suites, or projected from a CT)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", nargs="?", help="folder to write the suite into")
    parser.add_argument("--suite", default="standard", help="suite name (see --list)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--count", type=int, default=None, help="cases per suite (default: the suite's)"
    )
    parser.add_argument("--list", action="store_true", help="list suites and exit")
    ct = parser.add_argument_group("projected CT (docs/ct_phantom.md)")
    ct.add_argument("--from-ct", metavar="CT", help="a CT in HU (NIfTI) to project")
    ct.add_argument("--labels", metavar="LABELS", help="its vertebra label map (same grid)")
    ct.add_argument(
        "--label-layout",
        default="auto",
        help="totalseg_v2, totalseg_v1, verse, ctspine1k, a JSON file {value: vertebra}, "
        "or auto (default: detected from the values present)",
    )
    ct.add_argument(
        "--scanner", default=None, help="prodigy, idxa or hologic (default: cycle through all)"
    )
    ct.add_argument("--sex", default="F", help="patient sex for the header and marrow model")
    ct.add_argument("--age", type=float, default=61.0, help="patient age in years")
    ct.add_argument("--marrow", default="fat", help="fat (default), lean or none")
    ct.add_argument(
        "--beam",
        default="mono",
        help="X-ray physics: mono (default: the two effective energies the decomposition "
        "assumes), auto (polyenergetic by scanner vendor), ge or hologic (docs/accuracy.md)",
    )
    ct.add_argument(
        "--finding",
        action="append",
        default=[],
        metavar="LEVEL:TEXT",
        help="a known finding on the CT (e.g. L4:osteophyte); its level is not lesion-free",
    )


def run(args: argparse.Namespace) -> int:
    from dxaspine.errors import DxaError, describe
    from dxaspine.phantom.suite_files import write_suite
    from dxaspine.phantom.suites import SUITES

    if args.list:
        for name, fn in SUITES.items():
            print(f"{name:14s} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if not args.outdir:
        raise DxaError("dxaspine phantom: no OUTDIR given; name the folder to write the suite into")
    if args.count is not None and args.count < 1:
        raise DxaError(
            describe(args.suite, f"--count {args.count} is not positive", "give 1 or more")
        )
    if getattr(args, "from_ct", None) or getattr(args, "labels", None):  # a Namespace may lack them
        manifest = _write_ct_family(args)
    else:
        if args.suite not in SUITES:
            raise DxaError(
                describe(args.suite, "no such phantom suite", f"use one of {', '.join(SUITES)}")
            )
        manifest = write_suite(args.suite, args.outdir, seed=args.seed, count=args.count)
    print(f"wrote {len(manifest['cases'])} cases, {len(manifest['files'])} files to {args.outdir}")
    return 0


def _write_ct_family(args: argparse.Namespace) -> dict:
    from pathlib import Path

    from dxaspine.errors import DxaError, describe
    from dxaspine.levels import LEVEL_ORDER
    from dxaspine.phantom.ct.family import SCANNER_CYCLE, ct_family
    from dxaspine.phantom.ct.labels import layout_from_option
    from dxaspine.phantom.ct.materials import MARROW_MODELS
    from dxaspine.phantom.params import BEAMS, SCANNERS
    from dxaspine.phantom.suite_files import write_cases

    if not (args.from_ct and args.labels):
        raise DxaError(
            "dxaspine phantom: --from-ct and --labels go together; give the CT and its label map"
        )
    if args.scanner is not None and args.scanner not in SCANNERS:
        raise DxaError(
            describe(args.scanner, "no such scanner", f"use one of {', '.join(SCANNERS)}")
        )
    if args.marrow not in MARROW_MODELS:
        raise DxaError(
            describe(args.marrow, "no such marrow model", f"use one of {', '.join(MARROW_MODELS)}")
        )
    if args.beam not in BEAMS:
        raise DxaError(describe(args.beam, "no such beam", f"use one of {', '.join(BEAMS)}"))
    findings = []
    for item in args.finding:
        level, _, text = item.partition(":")
        if not level or not text:
            raise DxaError(describe(item, "--finding is not LEVEL:TEXT", "e.g. L4:osteophyte"))
        if level.strip() not in LEVEL_ORDER:
            raise DxaError(
                describe(item, f"--finding level {level!r} is not a vertebra",
                         f"use one of {', '.join(LEVEL_ORDER)}")
            )  # fmt: skip
        findings.append((level.strip(), text.strip()))
    layout = args.label_layout if args.label_layout != "auto" else None
    layout_from_option(layout)  # a bad name or file fails now, before any work
    scanners = (args.scanner,) if args.scanner else SCANNER_CYCLE
    family = ct_family(
        str(Path(args.from_ct).resolve()),
        str(Path(args.labels).resolve()),
        count=args.count,
        seed=args.seed,
        scanners=scanners,
        label_layout=layout,
        sex=args.sex,
        age_years=args.age,
        marrow=args.marrow,
        beam=args.beam,
        findings=tuple(findings),
    )
    regenerate = (
        f"dxaspine phantom {Path(args.outdir).name} --from-ct {args.from_ct} "
        f"--labels {args.labels} --label-layout {args.label_layout} --seed {args.seed}"
        + (f" --count {args.count}" if args.count is not None else "")
        + (f" --scanner {args.scanner}" if args.scanner else "")
        + f" --sex {args.sex} --age {args.age:g} --marrow {args.marrow} --beam {args.beam}"
        + "".join(f" --finding {level}:{text}" for level, text in findings)
    )
    params = list(family)
    for p in params:
        try:
            p.validate()
        except ValueError as exc:
            raise DxaError(describe(args.from_ct, f"bad CT phantom option: {exc}")) from None
    return write_cases(params, args.outdir, "ct", args.seed, args.count, regenerate)
