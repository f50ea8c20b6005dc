"""The trend picture of a comparison: BMD on the common levels against date, with the LSC band.

- one point per visit on the compared region (same levels at every visit);
- a band of ± LSC around the baseline (the change a follow-up must exceed to count);
- follow-ups whose change from the baseline is significant drawn filled red, the others open;
- the vendor's own trend points (when a vendor report carried them) in grey, for context.
"""

from __future__ import annotations

from dxaspine.clinical._figures import new_figure, png_bytes
from dxaspine.clinical.monitoring.comparison import Comparison

__all__ = ["trend_png"]


def trend_png(comparison: Comparison) -> bytes:
    """PNG of the trend picture.

    Parameters
    ----------
    comparison : Comparison
        A comparable result of :func:`dxaspine.clinical.monitoring.compare`.

    Returns
    -------
    bytes
        PNG image.

    Raises
    ------
    ValueError
        The comparison is not comparable (there is no common region to draw).

    Examples
    --------
    >>> png = trend_png(comparison)  # doctest: +SKIP
    >>> open("trend.png", "wb").write(png)  # doctest: +SKIP
    """
    if not comparison.comparable:
        raise ValueError(f"nothing to draw: {comparison.reason}")
    visits = comparison.visits
    dated = all(v.date is not None for v in visits)
    xs = [v.date if dated else v.index + 1 for v in visits]
    ys = [v.bmd_g_cm2 for v in visits]
    base = visits[0].bmd_g_cm2
    lsc = comparison.lsc.g_cm2(base)
    significant = {c.visit: c.significant for c in comparison.changes if c.reference == "baseline"}
    fig = new_figure(7.0, 4.0)
    ax = fig.subplots()
    ax.axhspan(
        base - lsc,
        base + lsc,
        color="#9ecae1",
        alpha=0.35,
        label=f"baseline ± LSC ({lsc:.3f} g/cm²)",
    )
    ax.plot(xs, ys, color="#444444", lw=1, zorder=2)
    ax.scatter(xs[:1], ys[:1], s=60, color="black", zorder=3, label="baseline")
    sig = [i for i in range(1, len(visits)) if significant.get(i)]
    other = [i for i in range(1, len(visits)) if not significant.get(i)]
    if sig:
        ax.scatter(
            [xs[i] for i in sig],
            [ys[i] for i in sig],
            s=70,
            color="#d62728",
            zorder=4,
            label="significant change (|Δ| ≥ LSC)",
        )
    if other:
        ax.scatter(
            [xs[i] for i in other],
            [ys[i] for i in other],
            s=70,
            facecolors="white",
            edgecolors="#1f77b4",
            linewidths=1.5,
            zorder=4,
            label="within LSC / not judged",
        )
    for c in comparison.changes:
        if c.reference == "baseline":
            ax.annotate(
                f"{c.delta_percent:+.1f} %",
                (xs[c.visit], ys[c.visit]),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
            )
    if comparison.trend and dated:
        ax.scatter(
            [p.date for p in comparison.trend],
            [p.bmd_g_cm2 for p in comparison.trend],
            marker="x",
            color="grey",
            zorder=1,
            label="vendor trend (as reported)",
        )
    ax.set_ylabel("BMD (g/cm²)")
    ax.set_xlabel("study date" if dated else "visit")
    ax.set_title(f"{comparison.region}: the same levels at every visit")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if dated:
        fig.autofmt_xdate()
    return png_bytes(fig)
