"""The report page: one vendor-style page (PDF or PNG) per scan, drawn with matplotlib.

What a densitometrist reads on a Hologic APEX or GE enCORE page, plus the inter-level evidence
no vendor page shows (every element and the source of its numbers: docs/report_page.md):

- header: patient (name, ID, birth date and age, sex, ethnicity, height, weight, BMI), scan
  (date, scanner, software, input, pixel spacing and its source) and analysis settings;
- the annotated scan (the overlay's picture, :func:`dxaspine.report.overlay.render_scan_picture`);
- the BMD-versus-age chart of the reported region (:mod:`.page_chart`);
- the inter-level evidence chart (:mod:`.page_evidence`);
- the level and region tables with young-adult and age-matched percentages, the WHO category
  on the reported region only (:mod:`.page_tables`);
- the reported region, the ISCD statement that applies (:mod:`.page_text`), the findings with
  their evidence in plain words, and the trend chart when follow-ups are given
  (:mod:`.page_trend`).

One writer, two formats: the ``report`` writer writes PDF, or PNG when the destination ends
in ``.png`` (:func:`write_report_page`).  matplotlib is the ``[report]`` extra.  The page is a
clinical document and shows the patient's name and ID from the source header; nothing here
logs them, and they never enter the record (:mod:`.page_facts`).
"""

from __future__ import annotations

import io
import logging
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dxaspine.atomic import atomic_write_bytes
from dxaspine.report.page_chart import chart_reference, draw_bmd_age_chart
from dxaspine.report.page_evidence import (
    draw_interlevel_chart,
    evidence_legend,
    flag_sentences,
    interlevel_evidence,
)
from dxaspine.report.page_facts import (
    PatientIdentity,
    analysis_rows,
    identity_from_header,
    patient_rows,
    scan_rows,
)
from dxaspine.report.page_tables import draw_table, level_table, region_table
from dxaspine.report.page_text import ISCD_MONITORING, interpretation_lines, reported_line
from dxaspine.report.page_trend import Trend, draw_trend_chart
from dxaspine.report.record import round_for_output
from dxaspine.report.table import is_quantitative, label_confidence_text

logger = logging.getLogger(__name__)

__all__ = ["PAGE_SIZE_IN", "PNG_DPI", "page_format", "render_report_page", "write_report_page"]

PAGE_SIZE_IN = (8.27, 11.69)  # A4 portrait (210 x 297 mm)
PNG_DPI = 150  # 1240 x 1754 px: table digits stay legible on screen and in print previews
_TEXT = "0.08"
_MUTED = "0.35"
_WARN = (0.70, 0.25, 0.0)  # darker vermillion: legible on white (as the overlay's table)
# x of each column (axes fraction): left edge of left-aligned, right edge of right-aligned ones
_TABLE_COLUMNS = (0.0, 0.155, 0.235, 0.335, 0.415, 0.485, 0.565, 0.635, 0.665)
_GEOMETRY_COLUMNS = (0.0, 0.155, 0.255, 0.355, 0.475, 0.505)


def page_format(destination: str | os.PathLike) -> str:
    """``"png"`` when the destination ends in ``.png`` (any case), else ``"pdf"``."""
    return "png" if Path(destination).suffix.lower() == ".png" else "pdf"


def _reference_table(record: Mapping[str, Any], scan_result: Any, reference: Any):
    """The table the scores used: given, the assessment's, or a built-in by name."""
    if reference is not None:
        return reference
    assessment = getattr(scan_result, "assessment", None)
    if assessment is not None and getattr(assessment, "reference", None) is not None:
        return assessment.reference
    from dxaspine.clinical.reference import BUILTIN_REFERENCES, load_reference

    name = (record.get("reference") or {}).get("name")
    return load_reference(name) if name in BUILTIN_REFERENCES else None


def _boxes(fig, plain: Mapping[str, Any], identity: PatientIdentity | None) -> None:
    boxes = (
        ("Patient", patient_rows(plain, identity), 0.035),
        ("Scan", scan_rows(plain), 0.345),
        ("Analysis", analysis_rows(plain, label_confidence_text(plain)), 0.655),
    )
    for title, rows, x in boxes:
        y = 0.947
        fig.text(x, y, title, fontsize=8, fontweight="bold", color=_TEXT, va="top")
        y -= 0.0135
        for label, value in rows:
            fig.text(x, y, f"{label}:", fontsize=6.4, color=_MUTED, va="top")
            for i, piece in enumerate(textwrap.wrap(value, 37) or [""]):
                if i > 1:  # two lines at most per fact; the JSON holds the rest
                    break
                fig.text(x + 0.098, y, piece, fontsize=6.4, color=_TEXT, va="top")
                y -= 0.0105
    fig.add_artist(
        _rule(fig, 0.845),
    )


def _rule(fig, y: float):
    from matplotlib.lines import Line2D

    return Line2D([0.03, 0.97], [y, y], transform=fig.transFigure, color="0.6", lw=0.6)


def _image(ax, plain: Mapping[str, Any], scan_result: Any) -> None:
    ax.set_axis_off()
    segmentation = getattr(scan_result, "segmentation", None)
    if scan_result is None or segmentation is None:
        ax.text(0.5, 0.5, "no image: numbers-only input", ha="center", va="center",
                fontsize=8, transform=ax.transAxes)  # fmt: skip
        return
    from dxaspine.report.overlay import render_scan_picture

    ax.imshow(np.asarray(render_scan_picture(plain, scan_result)), interpolation="lanczos")
    ax.set_title("AP lumbar spine, head up, patient's left on the right", fontsize=7, loc="left")


def _chart(ax, plain: Mapping[str, Any], table) -> None:
    patient = plain.get("patient") or {}
    if not is_quantitative(plain):
        draw_bmd_age_chart(ax, None, age_years=None, bmd_g_cm2=None, t_score=None,
                           unavailable="display image: no BMD in g/cm²")  # fmt: skip
        return
    reported = plain.get("reported_region")
    region = next((r for r in plain.get("regions", ()) if r["name"] == reported), None)
    name = reported or "L1-L4"
    if table is None:
        draw_bmd_age_chart(ax, None, age_years=None, bmd_g_cm2=None, t_score=None,
                           unavailable="reference table not available to draw")  # fmt: skip
        return
    ref = chart_reference(table, name, patient.get("sex"), patient.get("ethnicity"))
    draw_bmd_age_chart(
        ax,
        ref,
        age_years=patient.get("age_years"),
        bmd_g_cm2=region["bmd_g_cm2"] if region else None,
        t_score=region["t_score"] if region else None,
    )


class _Column:
    """Wrapped text lines written downwards in figure coordinates, stopping at a floor."""

    def __init__(self, fig, x: float, top: float, floor: float, chars: int) -> None:
        self.fig, self.x, self.y, self.floor, self.chars = fig, x, top, floor, chars
        self.dropped = 0

    def write(self, text: str, size: float = 6.5, colour=_TEXT, bold: bool = False,
              indent: float = 0.0, gap: float = 0.002) -> None:  # fmt: skip
        step = size / 72.0 / PAGE_SIZE_IN[1] * 1.3
        for piece in textwrap.wrap(text, int(self.chars * 6.5 / size)):
            if self.y - step < self.floor:
                self.dropped += 1
                return
            self.fig.text(self.x + indent, self.y, piece, fontsize=size, color=colour,
                          fontweight="bold" if bold else "normal", va="top")  # fmt: skip
            self.y -= step
        self.y -= gap


def _findings(column: _Column, record: Mapping[str, Any], evidence) -> None:
    sentences = flag_sentences(record, evidence)
    if not sentences:
        column.write("Findings: no flags (no image evidence, no inter-level or ISCD finding).")
        return
    column.write("Findings", size=7, bold=True)
    for index, sentence in enumerate(sentences):
        where = f" [{', '.join(sentence.levels)}]" if sentence.levels else ""
        before = column.dropped
        column.write(f"• {sentence.title}{where}: {sentence.detail}.", colour=_WARN)
        if sentence.plain:
            column.write(f"In words: {sentence.plain}.", indent=0.01)
        if sentence.rule:
            column.write(f"rule: {sentence.rule}", size=5.8, colour=_MUTED, indent=0.01)
        if column.dropped > before:
            left = len(sentences) - index
            column.fig.text(column.x, column.floor, f"… {left} more finding(s) in the JSON",
                            fontsize=6, color=_WARN, va="bottom")  # fmt: skip
            return


def _footer(fig, plain: Mapping[str, Any]) -> None:
    reference = plain.get("reference") or {}
    notes = list(plain.get("notes") or ())
    lines = [
        f"Reference {reference.get('name')}: {reference.get('source')}",
        "YA % = BMD / young-adult mean; AM % = BMD / age-matched mean (the rows the T- and "
        "Z-scores used). – : no reference row or no BMD.",
    ]
    if notes:
        lines.append("Notes: " + "; ".join(notes))
    software = plain.get("software") or {}
    lines.append(
        f"{software.get('name', 'dxaspine')} {software.get('version', '')}: research software, "
        "not for diagnosis. Every number on this page is in the result JSON."
    )
    y = 0.043
    for text in lines:
        for piece in textwrap.wrap(text, 175)[:2]:
            fig.text(0.035, y, piece, fontsize=5.4, color=_MUTED, va="top")
            y -= 0.0085


def render_report_page(
    record: Mapping[str, Any],
    scan_result: Any = None,
    *,
    identity: PatientIdentity | None = None,
    trend: Trend | None = None,
    reference: Any = None,
):
    """Draw the report page of one result.

    Parameters
    ----------
    record : mapping
        The Contract 2 record (full precision; rounded here exactly as the JSON is).
    scan_result : dxaspine.pipeline.ScanResult, optional
        The analysis (the picture, and the reference table the scores used).  Without it
        (a numbers-only assessment) the page has no picture.
    identity : PatientIdentity, optional
        Name, ID and birth date to show (default: none; the writer reads them from the header).
    trend : Trend, optional
        Follow-up points; the trend chart is drawn only when given.
    reference : ReferenceTable, optional
        The table for the chart (default: the assessment's).

    Returns
    -------
    matplotlib.figure.Figure
        One A4 portrait page.
    """
    from matplotlib.figure import Figure

    plain = round_for_output(record)
    fig = Figure(figsize=PAGE_SIZE_IN)
    fig.text(0.035, 0.985, "Bone densitometry: AP lumbar spine (DXA)", fontsize=13,
             fontweight="bold", va="top", color=_TEXT)  # fmt: skip
    fig.text(0.965, 0.983, "dxaspine: research software, not for diagnosis", fontsize=6.5,
             ha="right", va="top", color=_WARN)  # fmt: skip
    _boxes(fig, plain, identity)

    _image(fig.add_axes((0.02, 0.515, 0.47, 0.325)), plain, scan_result)
    table = _reference_table(plain, scan_result, reference)
    _chart(fig.add_axes((0.575, 0.675, 0.35, 0.15)), plain, table)
    evidence = interlevel_evidence(record) if is_quantitative(plain) else None
    reason = "display image: no BMD" if not is_quantitative(plain) else ""
    draw_interlevel_chart(fig.add_axes((0.575, 0.545, 0.35, 0.085)), evidence, reason)
    for i, text in enumerate(evidence_legend(evidence)):
        for j, piece in enumerate(textwrap.wrap(text, 95)):
            fig.text(0.52, 0.518 - 0.008 * (i + j), piece, fontsize=5.4, color=_MUTED, va="top")

    canvas = fig.add_axes((0.0, 0.0, 1.0, 1.0))  # axes fractions = page fractions
    canvas.set_axis_off()
    canvas.set_zorder(-1)
    levels = level_table(plain)
    columns = _TABLE_COLUMNS if len(levels.header) == len(_TABLE_COLUMNS) else _GEOMETRY_COLUMNS
    y = draw_table(canvas, levels, columns, top=0.485, left=0.035, width=0.93)
    regions = region_table(plain)
    if regions is not None:
        y = draw_table(canvas, regions, _TABLE_COLUMNS, top=y - 0.008, left=0.035, width=0.93)
    y -= 0.004
    fig.add_artist(_rule(fig, y))

    has_trend = trend is not None
    column = _Column(fig, 0.035, y - 0.008, 0.058, 92 if has_trend else 150)
    column.write(reported_line(plain), size=7.5, bold=True, gap=0.004)
    for line in interpretation_lines(plain):
        column.write(line)
    if has_trend:
        column.write(ISCD_MONITORING, size=6)
    column.y -= 0.003
    _findings(column, plain, evidence)
    if has_trend:
        ax = fig.add_axes((0.70, y - 0.11, 0.26, 0.085))
        notes = draw_trend_chart(ax, trend, plain.get("reported_region"),
                                 _study_date(plain))  # fmt: skip
        for i, note in enumerate(notes):
            for j, piece in enumerate(textwrap.wrap(note, 60)[:2]):
                fig.text(0.64, y - 0.145 - 0.008 * (2 * i + j), piece, fontsize=5.5,
                         color=_MUTED)  # fmt: skip
    fig.add_artist(_rule(fig, 0.05))
    _footer(fig, plain)
    return fig


def _study_date(plain: Mapping[str, Any]):
    import datetime as _dt

    text = (plain.get("input") or {}).get("study_date")
    try:
        return _dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def report_page_bytes(
    record: Mapping[str, Any],
    scan_result: Any = None,
    *,
    fmt: str = "pdf",
    identity: PatientIdentity | None = None,
    trend: Trend | None = None,
    reference: Any = None,
    dpi: int = PNG_DPI,
) -> bytes:
    """The page as PDF or PNG bytes (see :func:`render_report_page`)."""
    import matplotlib

    if fmt not in ("pdf", "png"):
        raise ValueError(f"report page format must be pdf or png, got {fmt!r}")
    # TrueType (42) embedding keeps the PDF's text extractable and searchable (Type 3 glyphs,
    # matplotlib's default, are drawings to pdftotext).  No creation date: the same result
    # gives the same bytes.
    with matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}):
        fig = render_report_page(record, scan_result, identity=identity, trend=trend,
                                 reference=reference)  # fmt: skip
        buffer = io.BytesIO()
        metadata = (
            {"Title": "dxaspine lumbar spine report", "CreationDate": None}
            if fmt == "pdf"
            else {"Title": "dxaspine lumbar spine report"}
        )
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def write_report_page(
    destination: str | os.PathLike,
    record: Mapping[str, Any],
    scan_result: Any = None,
    *,
    trend: Trend | None = None,
    identity: PatientIdentity | None = None,
) -> None:
    """Write the page atomically: PDF, or PNG when ``destination`` ends in ``.png``.

    The patient's name, ID and birth date come from ``scan_result.scan.header`` unless
    ``identity`` is given; they are drawn on the page and nowhere else.
    """
    if identity is None and scan_result is not None:
        identity = identity_from_header(getattr(scan_result.scan, "header", None))
    fmt = page_format(destination)
    data = report_page_bytes(record, scan_result, fmt=fmt, identity=identity, trend=trend)
    atomic_write_bytes(destination, data)
    logger.debug("wrote report page (%s)", fmt)
