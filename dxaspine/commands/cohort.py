"""``dxaspine cohort TABLE [--a L1-L4 --b L2-L4]``: the L1–L4 against L2–L4 question on a cohort.

TABLE is the NHANES file (``shared/data/nhanes/P_DXXSPN_with_demo.csv``), a ``dxaspine
batch`` results.csv/.parquet, or a tabular-mode CSV (the ``assess`` layout).  Prints the
paired difference, the WHO reclassification table, the level gradient and the exclusion
headline; ``--out DIR`` writes the report (Markdown, self-contained HTML with the plots, and a
CSV of every table).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["HELP", "configure", "run"]

HELP = "cohort statistics: region a vs b (paired, WHO reclassification), level gradient, exclusion"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", metavar="TABLE", help="NHANES CSV, batch results, or tabular CSV")
    parser.add_argument("--a", default="L1-L4", help="first region (default L1-L4)")
    parser.add_argument("--b", default="L2-L4", help="second region (default L2-L4)")
    parser.add_argument("--out", metavar="DIR", help="write report.md, report.html, tables/*.csv")
    parser.add_argument("--reference", metavar="NAME|CSV", help="T-score reference table")
    parser.add_argument(
        "--weights",
        default="auto",
        metavar="COLUMN|none",
        help="survey weight column (auto: WTMECPRP on NHANES; none: unweighted)",
    )
    parser.add_argument("--prefix", default="", help="batch tables: read {prefix}L1_bmc_g ...")
    parser.add_argument(
        "--age-bands",
        default="50,60,70,81",
        metavar="EDGES",
        help="age band edges, half-open (default 50,60,70,81)",
    )
    parser.add_argument("--no-plots", action="store_true", help="report without figures")


def _bands(text: str) -> tuple[float, ...]:
    from dxaspine.errors import InputError, describe

    try:
        edges = tuple(float(x) for x in text.split(","))
    except ValueError:
        edges = ()
    if len(edges) < 2 or list(edges) != sorted(set(edges)):
        raise InputError(
            describe("--age-bands", f"{text!r} is not increasing edges", "write e.g. 50,60,70,81")
        )
    return edges


def _print(r, out) -> None:
    p, rc = r.paired[0], r.reclassification[0]
    w = " (weighted)" if r.weighted else ""
    print(f"{r.cohort.source}: {rc.n} scans ({r.population.name}){w}", file=out)
    d = p.difference_g_cm2
    print(
        f"{r.b} - {r.a}: {d.value:+.4f} g/cm2 [{d.ci_low:+.4f}, {d.ci_high:+.4f}], "
        f"{p.difference_percent.value:+.2f} %, limits of agreement "
        f"{p.limits_of_agreement_g_cm2[0]:+.3f} to {p.limits_of_agreement_g_cm2[1]:+.3f}",
        file=out,
    )
    names = ("normal", "low bone mass", "osteoporosis")
    pct = "weighted %" if r.weighted else "%"
    print(f"\nWHO category, {r.a} (rows) vs {r.b} (columns), n ({pct}):", file=out)
    print(f"  {'':16}" + "".join(f"{n:>22}" for n in names), file=out)
    for i, name in enumerate(names):
        cells = "".join(f"{f'{rc.counts[i, j]} ({rc.percent[i, j]:.1f} %)':>22}" for j in range(3))
        print(f"  {name:16}{cells}", file=out)
    for x in r.reclassification:
        c = x.changed
        print(
            f"  {x.group:18} n {x.n:5}  change category {100 * c.value:4.1f} % "
            f"[{100 * c.ci_low:.1f}, {100 * c.ci_high:.1f}]",
            file=out,
        )
    print(f"\nLevel gradient (level / L1-L4){w}, unweighted, and published:", file=out)
    unweighted = {g.level: g.ratio.value for g in r.gradient_unweighted}
    for g in r.gradient:
        man = f"   Manitoba {g.manitoba_percent:+.1f} %" if g.manitoba_percent is not None else ""
        print(
            f"  {g.level} {g.ratio.value:.4f} [{g.ratio.ci_low:.4f}, {g.ratio.ci_high:.4f}] "
            f"({g.percent_vs_l1l4:+.1f} %)  unweighted {unweighted[g.level]:.4f}   "
            f"NHANES (domain.md §3) {g.nhanes_domain:.3f}{man}",
            file=out,
        )
    print(
        "\nOsteoporosis % by the levels used (population all_valid, women 70-80 | all):", file=out
    )
    for s in dict.fromkeys(x.scenario for x in r.exclusion):
        cells = []
        for group in ("women 70-80", "all"):
            x = next(
                (
                    y
                    for y in r.exclusion
                    if y.scenario == s and y.group == group and y.population == "all_valid"
                ),
                None,
            )
            cells.append(
                "-"
                if x is None or not x.n_evaluable
                else f"{100 * x.osteoporosis.value:5.1f} (n {x.n_evaluable})"
            )
        print(f"  {s:11} " + " | ".join(cells), file=out)


def run(args: argparse.Namespace) -> int:
    from dxaspine.clinical.cohort import analyze_cohort, read_cohort

    weights = None if args.weights.lower() == "none" else args.weights
    cohort = read_cohort(args.table, weights=weights, prefix=args.prefix)
    result = analyze_cohort(
        cohort,
        args.a,
        args.b,
        reference=args.reference,
        age_bands=_bands(args.age_bands),
        weighted=weights is not None,
    )
    _print(result, sys.stdout)
    if args.out:
        from dxaspine.clinical.cohort.report import write_report

        paths = write_report(result, args.out, figures=not args.no_plots)
        print(f"\nreport: {paths['html']}", file=sys.stdout)
    return 0
