"""``dxaspine compare BASELINE FOLLOWUP [FOLLOWUP…]``: serial monitoring on the same levels.

Inputs (any mix, baseline first, oldest first): images (analysed now), result JSON files
(one object or JSON Lines), and rows of a batch table (``results.csv``, ``results.parquet``,
``results.csv#3,7`` for chosen 1-based rows).  A table or JSON Lines file contributes all its
visits in order.

The change is judged against the site LSC (``--lsc`` in g/cm², or ``--lsc-from`` a
``dxaspine precision --json`` file); without either, against the ISCD maximal acceptable
5.3 %, labelled as such.  ``--exclude-at 2=L4`` excludes levels at one visit (1 = baseline).
Prints the comparison; ``--json``, ``--csv`` (one row per visit) and ``--plot`` (PNG) write
it.  Exit 0 also when the visits are not comparable (the output says why); 1 on bad input.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

__all__ = ["HELP", "configure", "run"]

HELP = "compare follow-up scans with a baseline on the same levels, against the LSC"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="VISIT",
        help="baseline then follow-ups: images, result JSON, table rows",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--lsc", type=float, metavar="G_CM2", help="the site LSC in g/cm2")
    group.add_argument(
        "--lsc-from", metavar="PRECISION.json", help="LSC from a dxaspine precision --json file"
    )
    parser.add_argument(
        "--dates",
        metavar="D1,D2,...",
        help="study dates (YYYY-MM-DD) of the visits in order, when the inputs "
        "lack them or to override",
    )
    parser.add_argument(
        "--exclude-at",
        action="append",
        default=[],
        metavar="N=L4[,L3]",
        help="exclude levels at visit N (1 = baseline); repeatable",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="compare even when the visits cannot be confirmed to be one patient",
    )
    parser.add_argument("--json", metavar="PATH|-")
    parser.add_argument("--csv", metavar="PATH", help="the trend: one row per visit")
    parser.add_argument("--plot", metavar="PNG", help="the trend picture (needs matplotlib)")


def _exclusions(specs: list[str]) -> dict[int, list[str]]:
    from dxaspine.errors import InputError, describe

    out: dict[int, list[str]] = {}
    for spec in specs:
        number, sep, levels = spec.partition("=")
        if not sep or not number.strip().isdigit():
            raise InputError(
                describe(
                    "--exclude-at",
                    f"{spec!r} is not N=LEVELS",
                    "write e.g. --exclude-at 2=L4 or 3=L3,L4",
                )
            )
        out.setdefault(int(number), []).extend(x.strip() for x in levels.split(",") if x.strip())
    return out


def _image_visit(path: str, exclude):
    """Analyse an image and make its visit (the tool layer drives the pipeline)."""
    from dxaspine.pipeline import analyze
    from dxaspine.report.visit import visit_from_scan

    return visit_from_scan(analyze(path, exclude=list(exclude) if exclude else None), path)


def _load(args):
    from dataclasses import replace

    from dxaspine.clinical.monitoring.sources import is_image, read_visits
    from dxaspine.clinical.monitoring.visits import exclude_levels, parse_date
    from dxaspine.errors import InputError, describe

    excl = _exclusions(args.exclude_at)
    visits = []
    for spec in args.inputs:
        if is_image(spec):  # one visit: exclusions are applied by the analysis itself
            visits += read_visits(spec, excl.get(len(visits) + 1), image_reader=_image_visit)
            continue
        # a table or JSON Lines file may hold several visits: --exclude-at numbers through them
        for v in read_visits(spec):
            number = len(visits) + 1
            visits.append(exclude_levels(v, excl[number]) if number in excl else v)
    if args.dates:
        dates = [d.strip() for d in args.dates.split(",")]
        if len(dates) != len(visits):
            raise InputError(
                describe(
                    "--dates",
                    f"{len(dates)} dates for {len(visits)} visits",
                    "give one date per visit, in order",
                )
            )
        visits = [
            replace(v, date=parse_date(d, "--dates") if d else v.date)
            for v, d in zip(visits, dates, strict=True)
        ]
    return visits


def _print(c, stream) -> None:
    print(f"region: {c.region or '-'}   {c.reason}", file=stream)
    print(f"LSC: {c.lsc.source}", file=stream)
    for v in c.visits:
        extra = f"  sBMD {v.sbmd_g_cm2:.3f}" if v.sbmd_g_cm2 is not None else ""
        print(
            f"  visit {v.index + 1}  {v.date or 'no date'}  {v.bmd_g_cm2:.3f} g/cm2"
            f"{'  (recomputed)' if v.recomputed else ''}{extra}  {v.source}",
            file=stream,
        )
    for ch in c.changes:
        rate = f", {ch.per_year_percent:+.1f} %/y" if ch.per_year_percent is not None else ""
        print(
            f"  visit {ch.visit + 1} vs {ch.reference}: {ch.delta_g_cm2:+.3f} g/cm2 "
            f"({ch.delta_percent:+.1f} %{rate}): {ch.verdict}",
            file=stream,
        )
    for note in c.notes:
        print(f"note: {note}", file=stream)
    for w in c.warnings:
        print(f"warning: {w}", file=stream)
    print("T-scores are not compared (ISCD: compare BMD in g/cm2)", file=stream)


def run(args: argparse.Namespace) -> int:
    from dxaspine.atomic import atomic_write_bytes, atomic_write_text
    from dxaspine.clinical.monitoring.compare import compare

    visits = _load(args)
    comparison = compare(visits, lsc=args.lsc, precision=args.lsc_from, force=args.force)
    _print(comparison, sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        text = json.dumps(comparison.to_dict(), indent=2, default=str) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(args.json, text)
    if args.csv:
        rows = comparison.trend_rows()
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        atomic_write_text(args.csv, buf.getvalue())
    if args.plot and comparison.comparable:
        from dxaspine.clinical.monitoring.trend_plot import trend_png

        atomic_write_bytes(args.plot, trend_png(comparison))
    return 0
