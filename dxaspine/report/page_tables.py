"""The report page's level and region tables, as text rows, and how they are drawn.

Every number comes from the rounded record (docs/architecture.md: one rounding table), so the
page shows the digits of the JSON, the CSV row and the terminal table.  Columns as the vendors
print them (docs/report_page.md, "Tables"): area (cm²), BMC (g), BMD (g/cm²), T-score,
young-adult %, Z-score, age-matched %, then a labelled flag column for levels and the WHO
category for regions, **on the reported region only** (ISCD, docs/domain.md §2: the
classification is made on the reported region, and only for women ≥ 50 and men ≥ 50;
``interpretation.who_category`` says whether it applies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dxaspine.report.table import WHO_TEXT, is_quantitative, shown_excluded, who_shown

__all__ = [
    "FLAG_SHORT",
    "TableRows",
    "draw_table",
    "level_table",
    "region_table",
]

# Short names for the flag column (the full sentence is in the findings below the tables).
FLAG_SHORT: dict[str, str] = {
    "adjacent_t_difference": "ΔT > 1",
    "inter_level_deviation": "deviates",
    "osteophyte_suspected": "osteophyte",
    "sclerosis_suspected": "sclerosis",
    "facet_arthrosis_suspected": "facet arthrosis",
    "fracture_suspected": "fracture",
    "metal": "metal",
    "metal_over_spine": "metal",
    "artifact": "artifact",
    "invalid_in_source": "invalid in source",
    "lumbar_rib_suspected": "rib?",
    "level_height_inconsistent": "short?",
}

_DASH = "–"  # a value that does not exist (no reference row, no BMD)


@dataclass(frozen=True)
class TableRows:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[str, ...]  # "left" | "right" per column
    emphasis: tuple[bool, ...] = ()  # per row: the reported region
    muted: tuple[bool, ...] = ()  # per row: an excluded level


def _fmt(value: Any, decimals: int) -> str:
    if value is None:
        return _DASH
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _flag_cell(result: Mapping[str, Any], level: Mapping[str, Any]) -> str:
    words = ["excluded"] if shown_excluded(result, level) else []
    for flag in level.get("flags", ()):
        word = FLAG_SHORT.get(flag["code"], flag["code"].replace("_", " "))
        if word not in words:
            words.append(word)
    return ", ".join(words)


def level_table(record: Mapping[str, Any]) -> TableRows:
    """Per level, top to bottom; geometry columns for a display input (no BMD)."""
    levels = record.get("levels", ())
    if not is_quantitative(record):
        rows = tuple(
            (
                lv["label"],
                _fmt(lv.get("area_cm2"), 2),
                _fmt(lv.get("height_mm"), 1),
                _fmt(lv.get("width_mm"), 1),
                _fmt(lv.get("density_index"), 3),
                _flag_cell(record, lv),
            )
            for lv in levels
        )
        return TableRows(
            ("Level", "Area cm²", "Height mm", "Width mm", "Density index", "Flags"),
            rows,
            ("left", "right", "right", "right", "right", "left"),
            muted=tuple(False for _ in rows),
        )
    rows = tuple(
        (
            lv["label"],
            _fmt(lv.get("area_cm2"), 2),
            _fmt(lv.get("bmc_g"), 2),
            _fmt(lv.get("bmd_g_cm2"), 3),
            _fmt(lv.get("t_score"), 1),
            _fmt(lv.get("young_adult_percent"), 0),
            _fmt(lv.get("z_score"), 1),
            _fmt(lv.get("age_matched_percent"), 0),
            _flag_cell(record, lv),
        )
        for lv in levels
    )
    return TableRows(
        ("Level", "Area cm²", "BMC g", "BMD g/cm²", "T-score", "YA %", "Z-score", "AM %",
         "Flags"),
        rows,
        ("left", *["right"] * 7, "left"),
        muted=tuple(shown_excluded(record, lv) for lv in levels),
    )  # fmt: skip


def region_table(record: Mapping[str, Any]) -> TableRows | None:
    """Every composite; the WHO category only in the reported region's row, when ISCD allows it."""
    regions = [r for r in record.get("regions", ()) if r.get("bmd_g_cm2") is not None]
    if not regions:
        return None
    reported = record.get("reported_region")
    rows, emphasis = [], []
    for region in regions:
        is_reported = region["name"] == reported
        rows.append(
            (
                region["name"],
                _fmt(region.get("area_cm2"), 2),
                _fmt(region.get("bmc_g"), 2),
                _fmt(region.get("bmd_g_cm2"), 3),
                _fmt(region.get("t_score"), 1),
                _fmt(region.get("young_adult_percent"), 0),
                _fmt(region.get("z_score"), 1),
                _fmt(region.get("age_matched_percent"), 0),
                WHO_TEXT.get(who_shown(record, region), "") if is_reported else "",
            )
        )
        emphasis.append(is_reported)
    return TableRows(
        ("Region", "Area cm²", "BMC g", "BMD g/cm²", "T-score", "YA %", "Z-score", "AM %",
         "WHO (reported region)"),
        tuple(rows),
        ("left", *["right"] * 7, "left"),
        emphasis=tuple(emphasis),
    )  # fmt: skip


def draw_table(
    ax,
    table: TableRows,
    columns: Sequence[float],
    *,
    top: float,
    left: float = 0.0,
    width: float = 1.0,
    row_height: float = 0.012,
    fontsize: float = 6.8,
) -> float:
    """Draw ``table`` on an axis-less ``ax`` (axes coordinates); returns the y below it.

    ``columns`` are x positions as fractions of ``width`` from ``left``: the left edge of a
    left-aligned column, the right edge of a right-aligned one.
    """
    xs = [left + width * c for c in columns]
    y = top
    for x, text, align in zip(xs, table.header, table.align, strict=True):
        ax.text(x, y, text, ha=align, va="top", fontsize=fontsize, color="0.3",
                fontweight="bold", transform=ax.transAxes)  # fmt: skip
    y -= row_height * 0.95
    ax.plot([left, left + width], [y + row_height * 0.15] * 2, color="0.5", lw=0.5,
            transform=ax.transAxes, clip_on=False)  # fmt: skip
    for i, row in enumerate(table.rows):
        emphasised = bool(table.emphasis and table.emphasis[i])
        muted = bool(table.muted and table.muted[i])
        if emphasised:
            ax.fill_between([left, left + width], y - row_height * 0.8, y + row_height * 0.1,
                            color=(1.0, 0.925, 0.70), lw=0, transform=ax.transAxes,
                            zorder=0)  # fmt: skip
        for x, text, align in zip(xs, row, table.align, strict=True):
            ax.text(
                x, y, text, ha=align, va="top", fontsize=fontsize,
                color="0.45" if muted else "0.05",
                fontweight="bold" if emphasised else "normal", transform=ax.transAxes,
            )  # fmt: skip
        y -= row_height
    return y
