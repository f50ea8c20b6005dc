"""The cohort report: Markdown, self-contained HTML, the figures, and a CSV of every table.

``write_report(result, outdir)`` writes::

    outdir/report.md  report.html  figures/*.png
    outdir/tables/paired.csv  reclassification.csv  gradient.csv  exclusion.csv  quality.csv

every file atomically (:mod:`dxaspine.atomic`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from dxaspine.atomic import atomic_write_bytes, atomic_write_text
from dxaspine.clinical.cohort.analysis import CohortResult
from dxaspine.clinical.cohort.exclusion import (
    ISCD_RULE_RATE_NHANES,
    SCENARIOS,
    TENNE_2013,
)
from dxaspine.clinical.cohort.render import Figure, Section, Table, to_html, to_markdown

__all__ = ["report_sections", "write_report"]

DOMAIN_INVALID_BY_AGE = {"50-59": 36.0, "60-69": 45.0, "70-80": 57.0}  # docs/domain.md §3, %


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _ci(e, digits: int = 3, scale: float = 1.0) -> str:
    if not math.isfinite(e.value):
        return "–"
    return f"{scale * e.value:.{digits}f} [{scale * e.ci_low:.{digits}f}, {scale * e.ci_high:.{digits}f}]"


def _p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _headline(r: CohortResult, figures: bool) -> Section:
    paired = Table(
        (
            "group",
            "n",
            f"{r.a} g/cm²",
            f"{r.b} g/cm²",
            f"{r.b} − {r.a} g/cm² [95 % CI]",
            "% [95 % CI]",
            "ΔT [95 % CI]",
            "95 % limits of agreement",
            "paired p",
        ),
        tuple(
            (
                p.group,
                str(p.n),
                _f(p.mean_a_g_cm2.value),
                _f(p.mean_b_g_cm2.value),
                _ci(p.difference_g_cm2, 4),
                _ci(p.difference_percent, 2),
                _ci(p.difference_t, 3),
                f"{p.limits_of_agreement_g_cm2[0]:+.3f} to {p.limits_of_agreement_g_cm2[1]:+.3f}",
                _p(p.p_value),
            )
            for p in r.paired
        ),
        f"Paired differences {r.b} − {r.a}",
    )
    overall = r.reclassification[0]
    names = ("normal", "low bone mass", "osteoporosis")
    matrix = Table(
        (f"{r.a} \\ {r.b}", *names, "total"),
        tuple(
            (
                names[i],
                *(f"{overall.counts[i, j]} ({overall.percent[i, j]:.1f} %)" for j in range(3)),
                str(overall.counts[i].sum()),
            )
            for i in range(3)
        ),
        f"WHO category at {r.a} (rows) against {r.b} (columns): n ({'weighted ' if overall.weighted else ''}%)",
    )
    by_group = Table(
        (
            "group",
            "n",
            "change category %",
            f"worse at {r.b} %",
            f"better at {r.b} %",
            f"osteoporosis {r.a} %",
            f"osteoporosis {r.b} %",
            "κ",
            "McNemar p",
        ),
        tuple(
            (
                x.group,
                str(x.n),
                _ci(x.changed, 1, 100),
                _ci(x.worse, 1, 100),
                _ci(x.better, 1, 100),
                _ci(x.osteoporosis_a, 1, 100),
                _ci(x.osteoporosis_b, 1, 100),
                _f(x.kappa, 3),
                _p(x.mcnemar_p),
            )
            for x in r.reclassification
        ),
        "Reclassification by group",
    )
    changed = overall.changed
    n_changed = int(overall.counts.sum() - overall.counts.trace())
    text = (
        f"On {overall.n} scans ({r.population.name}: {r.population.rule}), {n_changed} people "
        f"({100 * changed.value:.1f} % [{100 * changed.ci_low:.1f}, {100 * changed.ci_high:.1f}]"
        f"{', weighted' if overall.weighted else ''}) fall in a different WHO category at "
        f"{r.b} than at {r.a}."
    )
    figs = ()
    if figures:
        from dxaspine.clinical.cohort.plots import bland_altman_png, reclassification_png

        figs = (
            Figure(
                "bland_altman.png",
                bland_altman_png(r.paired[0]),
                f"Bland–Altman plot of {r.b} against {r.a}",
            ),
            Figure(
                "reclassification.png",
                reclassification_png(overall),
                f"WHO reclassification {r.a} → {r.b}",
            ),
        )
    return Section(f"{r.a} against {r.b}", (text,), (paired, matrix, by_group), figs)


def _gradient(r: CohortResult, figures: bool) -> Section:
    un = {g.level: g for g in r.gradient_unweighted}
    t = Table(
        (
            "level",
            "n",
            f"ratio{' (weighted)' if r.weighted else ''} [95 % CI]",
            "SD",
            "% vs L1–L4",
            "ratio (unweighted)",
            "NHANES (domain.md §3)",
            "Manitoba % vs L1–L4",
        ),
        tuple(
            (
                g.level,
                str(g.n),
                _ci(g.ratio, 4),
                _f(g.sd, 3),
                f"{g.percent_vs_l1l4:+.1f}",
                _f(un[g.level].ratio.value, 4),
                _f(g.nhanes_domain, 3),
                "–" if g.manitoba_percent is None else f"{g.manitoba_percent:+.1f}",
            )
            for g in r.gradient
        ),
        "Level BMD as a ratio of L1–L4",
    )
    text = (
        "Each level's BMD divided by the L1–L4 composite of the same scan (ΣBMC/ΣArea), "
        "averaged over scans. domain.md §3's NHANES figures are the unweighted means over the "
        "2,058 all-valid rows whose total is the sum of L1–L4; Manitoba (Leslie 2023, "
        "70,762 people) gives L1 −7.6 % and L4 +3.6 % only."
    )
    figs = ()
    if figures:
        from dxaspine.clinical.cohort.plots import gradient_png

        figs = (Figure("gradient.png", gradient_png(r.gradient), "Level gradient with 95 % CIs"),)
    return Section("Level gradient", (text,), (t,), figs)


def _exclusion(r: CohortResult, figures: bool) -> Section:
    tables = []
    for pop in ("all_valid", "scanned"):
        rows = [x for x in r.exclusion if x.population == pop]
        groups = list(dict.fromkeys(x.group for x in rows if x.group.startswith("women "))) + [
            "women",
            "men",
            "all",
        ]
        body = []
        for s in SCENARIOS:
            cells = []
            for g in groups:
                x = next((y for y in rows if y.scenario == s and y.group == g), None)
                cells.append(
                    "–"
                    if x is None or not x.n_evaluable
                    else f"{_ci(x.osteoporosis, 1, 100)} (n {x.n_evaluable})"
                )
            if any(c != "–" for c in cells):
                body.append((f"{s}: {SCENARIOS[s]}", *cells))
        tables.append(
            Table(
                ("levels used", *groups),
                tuple(body),
                f"Osteoporosis % [95 % CI] (n evaluable), population {pop}",
            )
        )
    quality = Table(
        ("measure", "this cohort", "domain.md §3"),
        tuple(
            (
                f"≥ 1 level invalid in the source, age {band}",
                _ci(e, 1, 100),
                f"{DOMAIN_INVALID_BY_AGE[band]:g} %" if band in DOMAIN_INVALID_BY_AGE else "–",
            )
            for band, e in r.invalid_by_age
        )
        + tuple(
            (
                f"ISCD adjacent-T rule fires ({pop}, unweighted)",
                _ci(e, 1, 100),
                f"about {100 * ISCD_RULE_RATE_NHANES:g} % (2,121 all-valid)",
            )
            for pop, e in r.iscd_rule
        ),
        "Data quality against domain.md §3",
    )
    text = (
        "Tenne 2013 (women aged 75; domain.md §3): osteoporosis "
        + ", ".join(f"{k} {v:g} %" for k, v in TENNE_2013.items())
        + " (automatic = after excluding degenerate levels). In all_valid every scan has "
        "all four levels, so the scenarios are compared on the same people; in scanned "
        "each scan counts where the scenario can be evaluated, including the levels the "
        "source (NHANES analysts) invalidated."
    )
    figs = ()
    if figures:
        from dxaspine.clinical.cohort.plots import exclusion_png

        figs = tuple(
            Figure(
                f"exclusion_{pop}.png",
                exclusion_png(r.exclusion, pop),
                f"Osteoporosis by the levels used, women by age band ({pop})",
            )
            for pop in ("all_valid", "scanned")
        )
    return Section("The exclusion question", (text,), (*tables, quality), figs)


def _cohort(r: CohortResult) -> Section:
    c = r.cohort
    rows = tuple((p.name, str(p.n), p.rule) for p in c.populations.values())
    bullets = (
        f"source: {c.source} ({c.layout} layout), {c.n} rows",
        f"weights: {c.weight_name if r.weighted else 'none (unweighted)'}",
        f"T-score reference: {r.reference}",
        "CIs: t (means) and Wilson (proportions); weighted ones by linearisation without "
        "the survey's strata and PSUs (not in the file), so they are too narrow by the "
        "design effect",
        *c.notes,
        *r.notes,
    )
    return Section(
        "Cohort", (), (Table(("population", "n", "rule"), rows, "Populations"),), (), bullets
    )


def report_sections(result: CohortResult, figures: bool = True) -> list[Section]:
    """The report's sections in order (headline first)."""
    return [
        _headline(result, figures),
        _gradient(result, figures),
        _exclusion(result, figures),
        _cohort(result),
    ]


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def write_report(result: CohortResult, outdir: str | os.PathLike, figures: bool = True) -> dict:
    """Write the report and its tables into ``outdir``; returns ``{name: path}``.

    Examples
    --------
    >>> paths = write_report(result, "nhanes_report/")  # doctest: +SKIP
    >>> paths["html"]  # doctest: +SKIP
    PosixPath('nhanes_report/report.html')
    """
    out = Path(outdir)
    title = f"dxaspine cohort report: {result.a} against {result.b}"
    sections = report_sections(result, figures)
    paths = {"markdown": out / "report.md", "html": out / "report.html"}
    for s in sections:
        for f in s.figures:
            atomic_write_bytes(out / "figures" / f.name, f.png)
    tables = {
        "paired": [p.row() for p in result.paired],
        "reclassification": [x.row() for x in result.reclassification],
        "gradient": [g.row() for g in result.gradient]
        + ([g.row() for g in result.gradient_unweighted] if result.weighted else []),
        "exclusion": [x.row() for x in result.exclusion],
        "quality": [
            {
                "measure": f"invalid_in_source_age_{band}",
                "percent": 100 * e.value,
                "ci_low": 100 * e.ci_low,
                "ci_high": 100 * e.ci_high,
                "n": e.n,
                "domain_percent": DOMAIN_INVALID_BY_AGE.get(band),
            }
            for band, e in result.invalid_by_age
        ]
        + [
            {
                "measure": f"iscd_rule_fires_{pop}",
                "percent": 100 * e.value,
                "ci_low": 100 * e.ci_low,
                "ci_high": 100 * e.ci_high,
                "n": e.n,
                "domain_percent": 100 * ISCD_RULE_RATE_NHANES,
            }
            for pop, e in result.iscd_rule
        ],
    }
    for name, rows in tables.items():
        paths[name] = out / "tables" / f"{name}.csv"
        atomic_write_text(paths[name], _csv(rows))
    atomic_write_text(paths["markdown"], to_markdown(title, sections))
    atomic_write_text(paths["html"], to_html(title, sections))
    return paths
