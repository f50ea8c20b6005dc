"""The BMD-versus-age chart of the report page (the chart every vendor page carries).

What it draws, all from the reference table the T- and Z-scores were computed with
(``Assessment.reference``; docs/report_page.md, "BMD versus age"):

- the **young-adult mean** of the reported region (T = 0) and the **T = −1** and **T = −2.5**
  lines (young-adult mean − 1 and − 2.5 SD), with the three WHO zones between them
  (docs/domain.md §2: normal T ≥ −1.0, low bone mass −2.5 < T < −1.0, osteoporosis T ≤ −2.5);
- the **age-matched band** (mean ± 1 SD per age band) where the table has one for the
  patient's sex (and ethnicity, chosen exactly as the Z-score chose it); the shipped NHANES
  2017–2020 bands cover ages 50–80 only, and the chart says so when the patient is outside;
- the **patient's reported region** as one point at (age, BMD).

A right-hand axis reads the same heights as T-scores.  The chart never extrapolates a band and
never places a point it cannot place (unknown age, no BMD): it says why instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["AgeBand", "ChartReference", "chart_reference", "draw_bmd_age_chart"]

# WHO zones and line styles (Okabe-Ito tints, distinguishable with the common colour-vision
# deficiencies, as in the overlay: dxaspine/report/overlay.py).
ZONE_NORMAL = (0.80, 0.92, 0.86)  # bluish green, light
ZONE_LOW = (0.99, 0.95, 0.75)  # yellow, light
ZONE_OSTEOPOROSIS = (0.98, 0.84, 0.76)  # vermillion, light
BAND_COLOUR = (0.34, 0.71, 0.91)  # sky blue
POINT_COLOUR = (0.0, 0.0, 0.0)
AGE_RANGE_YEARS = (20.0, 90.0)  # vendors' charts span young adulthood to old age


@dataclass(frozen=True)
class AgeBand:
    age_min_years: float
    age_max_years: float
    mean_g_cm2: float
    sd_g_cm2: float


@dataclass(frozen=True)
class ChartReference:
    """The reference curve of one region for one patient, as the scores used it."""

    region: str
    table_name: str
    young_adult_mean_g_cm2: float | None
    young_adult_sd_g_cm2: float | None
    bands: tuple[AgeBand, ...]
    missing: tuple[str, ...] = ()  # why a part of the curve is absent

    @property
    def band_range_years(self) -> tuple[float, float] | None:
        if not self.bands:
            return None
        return (
            min(b.age_min_years for b in self.bands),
            max(b.age_max_years for b in self.bands),
        )

    def t_to_bmd(self, t_score: float) -> float:
        return self.young_adult_mean_g_cm2 + t_score * self.young_adult_sd_g_cm2


def chart_reference(
    table, region: str, sex: str | None, ethnicity: str | None = None
) -> ChartReference:
    """The young-adult line and age bands of ``region`` in ``table`` for this patient.

    Each band is the row :meth:`ReferenceTable.z_reference` returns for an age inside it, so
    the band drawn at the patient's age is exactly the row the Z-score used.
    """
    missing: list[str] = []
    young, why = table.t_reference(region, sex)
    if young is None:
        missing.append(why)
    spans = sorted(
        {
            (r.age_min_years, r.age_max_years)
            for r in table.rows
            if r.score == "Z" and r.region == region and r.age_min_years is not None
        }
    )
    bands = []
    if sex is None:
        missing.append("sex unknown: no age-matched band")
    else:
        for lo, hi in spans:
            row, _ = table.z_reference(region, sex, (lo + hi) / 2.0, ethnicity)
            if row is not None and row.age_min_years == lo and row.age_max_years == hi:
                bands.append(AgeBand(lo, hi, row.mean_g_cm2, row.sd_g_cm2))
        if not bands:
            missing.append(f"{table.name} has no age-matched {region} rows for this sex")
    return ChartReference(
        region=region,
        table_name=table.name,
        young_adult_mean_g_cm2=young.mean_g_cm2 if young is not None else None,
        young_adult_sd_g_cm2=young.sd_g_cm2 if young is not None else None,
        bands=tuple(bands),
        missing=tuple(missing),
    )


def _y_limits(ref: ChartReference, bmd: float | None) -> tuple[float, float]:
    values = []
    if ref.young_adult_mean_g_cm2 is not None:
        values += [ref.t_to_bmd(-3.5), ref.t_to_bmd(1.5)]
    for band in ref.bands:
        values += [band.mean_g_cm2 - 1.5 * band.sd_g_cm2, band.mean_g_cm2 + 1.5 * band.sd_g_cm2]
    if bmd is not None:
        values += [bmd - 0.05, bmd + 0.05]
    if not values:
        return 0.4, 1.6
    return max(0.0, min(values)), max(values)


def _band_steps(bands: Sequence[AgeBand], k: float) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for band in bands:
        xs += [band.age_min_years, band.age_max_years]
        ys += [band.mean_g_cm2 + k * band.sd_g_cm2] * 2
    return xs, ys


def draw_bmd_age_chart(
    ax,
    ref: ChartReference | None,
    *,
    age_years: float | None,
    bmd_g_cm2: float | None,
    t_score: float | None,
    unavailable: str | None = None,
) -> list[str]:
    """Draw the chart on ``ax``; returns the notes it printed under the title.

    Parameters
    ----------
    ax : matplotlib Axes
    ref : ChartReference or None
        None (or ``unavailable``) draws an empty frame that says why.
    age_years, bmd_g_cm2, t_score : float or None
        The patient's point (the reported region).
    unavailable : str, optional
        Why there is no chart at all (e.g. a display image has no BMD).
    """
    ax.set_xlim(*AGE_RANGE_YEARS)
    ax.set_xlabel("Age (years)", fontsize=7)
    ax.set_ylabel("BMD (g/cm²)", fontsize=7)
    ax.tick_params(labelsize=6.5)
    if ref is None or unavailable or ref.young_adult_mean_g_cm2 is None:
        reason = unavailable or (ref.missing[0] if ref is not None and ref.missing else "")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.text(
            0.5, 0.5, f"No BMD-versus-age chart:\n{reason}", transform=ax.transAxes,
            ha="center", va="center", fontsize=7, wrap=True,
        )  # fmt: skip
        ax.set_title("BMD versus age", fontsize=8, loc="left")
        return [reason]
    low, high = _y_limits(ref, bmd_g_cm2)
    ax.set_ylim(low, high)
    x0, x1 = AGE_RANGE_YEARS
    t1, t25, t0 = ref.t_to_bmd(-1.0), ref.t_to_bmd(-2.5), ref.young_adult_mean_g_cm2
    ax.axhspan(t1, high, color=ZONE_NORMAL, zorder=0, lw=0)
    ax.axhspan(t25, t1, color=ZONE_LOW, zorder=0, lw=0)
    ax.axhspan(low, t25, color=ZONE_OSTEOPOROSIS, zorder=0, lw=0)
    ax.axhline(t0, color="0.15", lw=1.0, zorder=2)
    ax.axhline(t1, color="0.25", lw=0.8, ls="--", zorder=2)
    ax.axhline(t25, color="0.25", lw=0.8, ls="--", zorder=2)
    for y, text in ((t0, "young-adult mean (T = 0)"), (t1, "T = −1"), (t25, "T = −2.5")):
        ax.text(x0 + 0.8, y, text, fontsize=6, va="bottom", ha="left", color="0.1", zorder=3)
    notes = []
    if ref.bands:
        xs, mean = _band_steps(ref.bands, 0.0)
        _, lower = _band_steps(ref.bands, -1.0)
        _, upper = _band_steps(ref.bands, 1.0)
        ax.fill_between(xs, lower, upper, color=BAND_COLOUR, alpha=0.35, lw=0, zorder=1)
        ax.plot(xs, mean, color=BAND_COLOUR, lw=1.2, zorder=2)
        lo, hi = ref.band_range_years
        ax.text(
            (lo + hi) / 2, max(upper) + 0.01, "age-matched mean ± 1 SD",
            fontsize=6, ha="center", va="bottom", color=(0.0, 0.35, 0.55), zorder=3,
        )  # fmt: skip
        if age_years is not None and not lo <= age_years < hi:
            notes.append(
                f"age-matched reference covers {lo:g}–{hi:g} y only; "
                f"none at {age_years:.0f} y (not extrapolated)"
            )
    else:
        notes += list(ref.missing)
    if bmd_g_cm2 is not None and age_years is not None:
        ax.plot(
            [age_years], [bmd_g_cm2], marker="o", ms=6, color=POINT_COLOUR,
            markeredgecolor="white", zorder=5,
        )  # fmt: skip
        label = f"{ref.region}  {bmd_g_cm2:.3f}"
        if t_score is not None:
            label += f"  T {t_score:.1f}"
        side = "right" if age_years > (x0 + x1) / 2 else "left"
        dx = -2.0 if side == "right" else 2.0
        ax.text(
            age_years + dx, bmd_g_cm2, label, fontsize=6.5, ha=side, va="center",
            zorder=5, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.5", "lw": 0.5},
        )  # fmt: skip
    elif bmd_g_cm2 is not None:
        ax.axhline(bmd_g_cm2, color=POINT_COLOUR, lw=0.8, ls=":", zorder=4)
        notes.append("age unknown: the patient's BMD is the dotted line, not a point")
    twin = ax.twinx()
    twin.set_ylim((low - t0) / ref.young_adult_sd_g_cm2, (high - t0) / ref.young_adult_sd_g_cm2)
    twin.set_ylabel("T-score", fontsize=7)
    twin.tick_params(labelsize=6.5)
    ax.set_title(
        f"BMD versus age: {ref.region}, reference {ref.table_name}", fontsize=8, loc="left"
    )
    for i, note in enumerate(notes):
        ax.text(
            0.99, 0.98 - 0.07 * i, note, transform=ax.transAxes, fontsize=5.8,
            ha="right", va="top", color=(0.55, 0.2, 0.0), zorder=6,
            bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )  # fmt: skip
    return notes
