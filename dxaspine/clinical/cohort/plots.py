"""Figures of the cohort report (PNG bytes; matplotlib ``Figure`` objects, Agg, no pyplot).

- Bland–Altman of region b against region a (difference against mean, limits of agreement);
- the level gradient with 95 % CIs beside the NHANES (docs/domain.md §3) and Manitoba figures;
- the WHO reclassification table as a heat map of counts;
- the osteoporosis rate per exclusion scenario and age band (women), with CIs.
"""

from __future__ import annotations

import numpy as np

from dxaspine.clinical._figures import new_figure, png_bytes
from dxaspine.clinical.cohort.exclusion import SCENARIOS, TENNE_2013, ExclusionRate
from dxaspine.clinical.cohort.gradient import LevelRatio
from dxaspine.clinical.cohort.paired import PairedComparison
from dxaspine.clinical.cohort.reclassification import Reclassification
from dxaspine.clinical.cohort.scores import CATEGORIES

__all__ = ["bland_altman_png", "exclusion_png", "gradient_png", "reclassification_png"]

_LABELS = {"normal": "normal", "low_bone_mass": "low bone mass", "osteoporosis": "osteoporosis"}


def bland_altman_png(p: PairedComparison) -> bytes:
    """Difference (b − a) against the mean of a and b, with bias and 95 % limits."""
    fig = new_figure(6.5, 4.2)
    ax = fig.subplots()
    a, b = p.pairs_g_cm2[:, 0], p.pairs_g_cm2[:, 1]
    ax.scatter((a + b) / 2, b - a, s=6, alpha=0.35, color="#1f77b4", linewidths=0)
    lo, hi = p.limits_of_agreement_g_cm2
    ax.axhline(
        p.difference_g_cm2.value,
        color="#d62728",
        label=f"mean difference {p.difference_g_cm2.value:+.4f} g/cm²",
    )
    for y in (lo, hi):
        ax.axhline(y, color="#d62728", ls="--", lw=1)
    ax.axhline(0, color="grey", lw=0.8)
    ax.plot([], [], color="#d62728", ls="--", label=f"95 % limits {lo:+.3f} to {hi:+.3f}")
    ax.set_xlabel(f"mean of {p.a} and {p.b} BMD (g/cm²)")
    ax.set_ylabel(f"{p.b} − {p.a} (g/cm²)")
    ax.set_title(f"Bland–Altman: {p.b} against {p.a} (n = {p.n})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def gradient_png(gradient: tuple[LevelRatio, ...]) -> bytes:
    """Level / L1–L4 BMD ratio per level with CIs, NHANES (docs/domain.md §3) and Manitoba."""
    fig = new_figure(6.0, 4.0)
    ax = fig.subplots()
    x = np.arange(len(gradient))
    values = np.array([g.ratio.value for g in gradient])
    err = np.array(
        [[g.ratio.value - g.ratio.ci_low, g.ratio.ci_high - g.ratio.value] for g in gradient]
    ).T
    sd = np.array([g.sd for g in gradient])
    ax.bar(x, values - 0.9, bottom=0.9, color="#9ecae1", width=0.55, label="this cohort")
    ax.errorbar(x, values, yerr=err, fmt="none", color="black", capsize=6, label="95 % CI")
    ax.errorbar(
        x + 0.2, values, yerr=sd, fmt="none", color="grey", capsize=3, lw=0.8, label="± 1 SD"
    )
    ax.scatter(
        x - 0.15,
        [g.nhanes_domain for g in gradient],
        marker="D",
        color="#2ca02c",
        zorder=3,
        label="NHANES 2017-2020 (domain.md §3)",
    )
    man = [
        (i, 1 + g.manitoba_percent / 100)
        for i, g in enumerate(gradient)
        if g.manitoba_percent is not None
    ]
    if man:
        ax.scatter(
            [i + 0.15 for i, _ in man],
            [v for _, v in man],
            marker="s",
            color="#d62728",
            zorder=3,
            label="Manitoba (Leslie 2023)",
        )
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(x, [g.level for g in gradient])
    ax.set_ylabel("level BMD / L1–L4 BMD")
    ax.set_ylim(0.88, 1.10)
    ax.set_title("Level gradient")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3, axis="y")
    return png_bytes(fig)


def reclassification_png(r: Reclassification) -> bytes:
    """The 3 × 3 WHO table (rows: region a; columns: region b) as a heat map."""
    fig = new_figure(5.0, 4.2)
    ax = fig.subplots()
    ax.imshow(np.log1p(r.counts), cmap="Blues")
    for i in range(3):
        for j in range(3):
            ax.text(
                j,
                i,
                f"{r.counts[i, j]}\n{r.percent[i, j]:.1f} %",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if i == j else "black",
            )
    names = [_LABELS[c] for c in CATEGORIES]
    ax.set_xticks(range(3), names)
    ax.set_yticks(range(3), names)
    ax.set_xlabel(f"WHO category at {r.b}")
    ax.set_ylabel(f"WHO category at {r.a}")
    ax.set_title(f"{r.changed.value * 100:.1f} % change category (n = {r.n})")
    return png_bytes(fig)


def exclusion_png(rows: tuple[ExclusionRate, ...], population: str) -> bytes:
    """Osteoporosis % per scenario, women by age band, with CIs; Tenne 2013 beside them."""
    bands = sorted({r.group for r in rows if r.group.startswith("women ")})
    scenarios = [
        s for s in SCENARIOS if any(r.scenario == s and r.population == population for r in rows)
    ]
    fig = new_figure(7.5, 4.2)
    ax = fig.subplots()
    width = 0.8 / max(1, len(scenarios))
    colors = {}
    for k, s in enumerate(scenarios):
        vals, errs = [], []
        for band in bands:
            r = next(
                (
                    x
                    for x in rows
                    if x.scenario == s and x.group == band and x.population == population
                ),
                None,
            )
            e = r.osteoporosis if r else None
            ok = e is not None and np.isfinite(e.value)
            vals.append(100 * e.value if ok else np.nan)
            errs.append([100 * (e.value - e.ci_low), 100 * (e.ci_high - e.value)] if ok else [0, 0])
        bars = ax.bar(
            np.arange(len(bands)) + k * width,
            vals,
            width,
            yerr=np.array(errs).T,
            capsize=2,
            label=s,
        )
        colors[s] = bars.patches[0].get_facecolor() if bars.patches else None
    # Tenne 2013 (docs/domain.md §3, women aged 75) as its own group, hatched: published, no CI
    x0 = len(bands)
    for k, s in enumerate(scenarios):
        if s in TENNE_2013:
            ax.bar(
                x0 + k * width,
                TENNE_2013[s],
                width,
                color=colors.get(s),
                hatch="//",
                edgecolor="white",
            )
    ax.set_xticks(
        np.arange(len(bands) + 1) + 0.4 - width / 2, [*bands, "Tenne 2013\nwomen aged 75"]
    )
    ax.set_ylabel("osteoporosis (T ≤ −2.5), %")
    ax.set_title(f"Osteoporosis by the levels used ({population})")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, axis="y")
    return png_bytes(fig)
