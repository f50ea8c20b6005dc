"""The benchmark report: a Markdown file and a self-contained HTML page (docs/benchmark.md, "Report").

Both are built from one list of sections (tables and pictures), so they say the same thing:
the leaderboard, figures per group and per input kind, per-level labelling, the error
distributions and the calibration plot, a per-level confusion table, thumbnails of each
segmenter's worst cases, every failure and everything skipped.  The HTML page inlines its
pictures as base64 PNG and its style sheet, so it opens from disk in any browser with no
server; the Markdown file links the same pictures, written into ``figures/``.  Without
matplotlib (the ``report`` extra) both are written without pictures and say so.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dxaspine.atomic import atomic_write_bytes, atomic_write_text
from dxaspine.levels import CLINICAL_LEVELS, level_index

__all__ = ["LEADERBOARD", "build_sections", "html_page", "markdown_page", "write_report"]

logger = logging.getLogger(__name__)

# (aggregate key, column header, format): "%" rate, "mm"/"deg"/"s" 2 decimals, "3" 3 decimals
LEADERBOARD = (
    ("cases_n", "cases", "int"),
    ("failed_n", "failed", "int"),
    ("scan_labels_correct_rate", "scans all right", "%"),
    ("level_label_accuracy", "levels right", "%"),
    ("wrong_labels_warned_share", "wrong labels warned", "%"),
    ("silent_wrong_scans_n", "silent wrong scans", "int"),
    ("ece", "ECE", "3"),
    ("line_midpoint_error_median_mm", "line err. median mm", "2"),
    ("line_midpoint_error_p95_mm", "line err. p95 mm", "2"),
    ("line_tilt_error_median_deg", "tilt err. median °", "2"),
    ("dice_median", "Dice median", "3"),
    ("dice_min", "Dice min", "3"),
    ("boundary_assd_median_mm", "ASSD median mm", "2"),
    ("level_bmd_abs_error_p95_percent", "level BMD |err| p95 %", "2"),
    ("l1l4_bmd_abs_error_p95_percent", "L1-L4 BMD |err| p95 %", "2"),
    ("reported_region_agreement", "reported region agrees", "%"),
    ("who_category_agreement", "WHO agrees", "%"),
    ("segment_median_s", "segment s (median)", "3"),
)
GROUP_COLUMNS = (
    ("cases_n", "cases", "int"),
    ("failed_n", "failed", "int"),
    ("scan_labels_correct_rate", "scans all right", "%"),
    ("line_midpoint_error_median_mm", "line err. median mm", "2"),
    ("line_midpoint_error_p95_mm", "line err. p95 mm", "2"),
    ("dice_median", "Dice median", "3"),
    ("dice_min", "Dice min", "3"),
    ("l1l4_bmd_abs_error_p95_percent", "L1-L4 BMD |err| p95 %", "2"),
)
WORST_PER_SEGMENTER = 3


@dataclass
class Section:
    title: str
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    images: list[tuple[str, str, bytes]] = field(default_factory=list)  # (file, caption, png)


def fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if kind == "int":
        return str(int(value))
    if kind == "%":
        return f"{100 * value:.1f} %"
    return f"{value:.{int(kind)}f}"


def _level_order(name: str) -> tuple[int, int]:
    """Cranial to caudal, with "not found" last."""
    try:
        return (0, level_index(name))
    except ValueError:
        return (1, 0)


def _label(name: str, results: dict) -> str:
    ref = {s["name"]: s["reference"] for s in results["segmenters"]}
    return f"{name} (reference)" if ref.get(name) else name


def _figures(rows: Sequence[dict], results: dict) -> list[tuple[str, str, bytes]]:
    from dxaspine.bench import plots
    from dxaspine.bench.results import json_column

    def per_group(extract) -> dict:
        out: dict = {}
        for r in rows:
            if r["status"] == "ok":
                out.setdefault(r["segmenter"], {}).setdefault(r["group"], []).extend(extract(r))
        return out

    lines = per_group(lambda r: [ln["midpoint_mm"] for ln in json_column(r, "lines_json")
                                 if ln.get("midpoint_mm") is not None])  # fmt: skip
    dice = per_group(lambda r: [m["dice"] for m in (json_column(r, "masks_json") or {}).values()])
    bmd = per_group(lambda r: [r["L1-L4_bmd_error_percent"]]
                    if r.get("L1-L4_bmd_error_percent") is not None else [])  # fmt: skip
    figures = [
        ("line_errors.png", "Intervertebral line midpoint error per group",
         plots.distribution_png(lines, "line midpoint error", "mm")),
        ("dice.png", "Level Dice per group (correctly named L1-L4 levels)",
         plots.distribution_png(dice, "level Dice", "Dice")),
    ]  # fmt: skip
    if any(v for per in bmd.values() for v in per.values()):
        figures.append(("l1l4_bmd_error.png", "L1-L4 BMD error per group (quantitative inputs)",
                        plots.distribution_png(bmd, "L1-L4 BMD error", "%")))  # fmt: skip
    figures.append(("calibration.png", "Label confidence calibration (reliability diagram)",
                    plots.calibration_png(results["calibration"])))  # fmt: skip
    return figures


def _worst(rows: Sequence[dict], segmenter: str) -> list[dict]:
    """Failures first, then wrong labels, then the largest line error."""
    own = [r for r in rows if r["segmenter"] == segmenter]

    def badness(r):
        return (r["status"] != "ok", r["labels_scan_correct"] is False,
                r.get("line_midpoint_error_max_mm") or 0.0)  # fmt: skip

    return sorted(own, key=badness, reverse=True)[:WORST_PER_SEGMENTER]


def _thumbnails(rows, results, cases) -> list[tuple[str, str, bytes]]:
    """Overlay thumbnails of each non-oracle segmenter's worst cases."""
    from dxaspine.bench import plots
    from dxaspine.bench.truth import load_truth
    from dxaspine.io import load
    from dxaspine.physics import decompose

    by_id = {c.id: c for c in cases}
    out, pictures = [], {}
    for seg in results["segmenters"]:
        if seg["target"] == "oracle":
            continue
        for r in _worst(rows, seg["name"]):
            case = by_id.get(r["case"])
            if case is None:
                continue
            try:
                if case.id not in pictures:
                    scan = load(case.source)
                    picture = scan.picture if scan.picture is not None else decompose(scan).values
                    for axis, flip in ((0, "rows"), (1, "columns")):
                        if flip in scan.orientation_flips:
                            picture = picture[::-1] if axis == 0 else picture[:, ::-1]
                    pictures[case.id] = (picture, load_truth(case.truth), scan.pixel_spacing_mm)
                picture, truth, spacing = pictures[case.id]
            except Exception as exc:  # a picture is a nicety; the report goes on without it
                logger.warning("no thumbnail for %s: %s", case.id, exc)
                continue
            status = r["error_class"] if r["status"] != "ok" else (
                "labels right" if r["labels_scan_correct"] else "labels WRONG")  # fmt: skip
            title = f"{seg['name']}: {case.id}\n{status}"
            truth_lines = [{"left": t.left, "right": t.right, "name": t.name} for t in truth.lines]
            png = plots.thumbnail_png(picture, plots.lines_of(r), truth_lines, title, spacing)
            name = f"worst_{len(out):02d}.png"
            caption = (
                f"{seg['name']} on {case.id}: {status} (dashed green: truth; orange: prediction)"
            )
            out.append((name, caption, png))
    return out


def build_sections(
    results: dict, rows: Sequence[dict], cases=(), pictures: bool = True
) -> list[Section]:
    """The report's content (see the module docstring)."""
    aggregates = results["aggregates"]
    names = [s["name"] for s in results["segmenters"] if s["name"] in aggregates]
    suite = results["suite"]
    sections = [Section(
        f"Segmentation benchmark: suite {suite['name']}",
        f"{suite['cases_n']} inputs in groups {', '.join(suite['groups'])}; "
        f"dxaspine {results['software']['dxaspine']}; {results['workers']} worker(s), "
        f"{results['elapsed_s']:.0f} s. Metric definitions: docs/benchmark.md.",
    )]  # fmt: skip
    board = Section("Leaderboard", "All inputs. Oracle = truth lines and masks (its BMD error is "
                    "the physics-only error); naive = equal-height levels (a floor to beat).",
                    ["segmenter", *(h for _, h, _ in LEADERBOARD)])  # fmt: skip
    for name in names:
        a = aggregates[name]["all"]
        board.rows.append([_label(name, results), *(fmt(a.get(k), f) for k, _, f in LEADERBOARD)])
    sections.append(board)
    for scope, title in (("groups", "By group"), ("kinds", "By input kind")):
        table = Section(
            title, "", [title.split()[-1], "segmenter", *(h for _, h, _ in GROUP_COLUMNS)]
        )
        keys = sorted({g for n in names for g in aggregates[n][scope]})
        for g in keys:
            for name in names:
                a = aggregates[name][scope].get(g)
                if a is not None:
                    table.rows.append([g, _label(name, results),
                                       *(fmt(a.get(k), f) for k, _, f in GROUP_COLUMNS)])  # fmt: skip
        sections.append(table)
    levels = Section("Labels per level", "Share of cases in which each L1-L4 level (wholly in "
                     "the image) carries its own name.",
                     ["segmenter", *CLINICAL_LEVELS, "wrong labels", "of them warned"])  # fmt: skip
    for name in names:
        a = aggregates[name]["all"]
        levels.rows.append([_label(name, results), *(fmt(a.get(f"{n}_label_accuracy"), "%")
                            for n in CLINICAL_LEVELS), fmt(a["wrong_labels_n"], "int"),
                            fmt(a["wrong_labels_warned_share"], "%")])  # fmt: skip
    sections.append(levels)
    plotting = pictures and importlib.util.find_spec("matplotlib") is not None
    if plotting:
        sections.append(Section("Figures", images=_figures(rows, results)))
    else:
        sections.append(Section("Figures", "matplotlib is not installed: no pictures "
                                "(pip install 'dxaspine[report]')."))  # fmt: skip
    for name in names:
        table = results["confusion"].get(name, {})
        predicted = sorted({p for cells in table.values() for p in cells}, key=_level_order)
        confusion = Section(f"Confusion: {_label(name, results)}", "Rows: truth level; columns: "
                            "the name the segmenter gave the region over it.",
                            ["truth \\ predicted", *predicted])  # fmt: skip
        for true in sorted(table, key=_level_order):
            confusion.rows.append([true, *(str(table[true].get(p, 0)) for p in predicted)])
        sections.append(confusion)
    if plotting and cases:
        sections.append(Section("Worst cases", "Each segmenter's worst inputs: failures, then "
                                "wrong labels, then the largest line error.",
                                images=_thumbnails(rows, results, cases)))  # fmt: skip
    failures = [r for r in rows if r["status"] != "ok"]
    fail = Section("Failures", f"{len(failures)} failed (segmenter, input) pairs"
                   + (" (first 100 listed)." if len(failures) > 100 else "."),
                   ["segmenter", "input", "stage", "error"])  # fmt: skip
    for r in failures[:100]:
        fail.rows.append([r["segmenter"], r["case"], r["stage"] or "", r["error"] or ""])
    sections.append(fail)
    skipped = Section("Skipped", "Inputs and segmenters that did not run, and why.",
                      ["what", "reason"])  # fmt: skip
    for s in results["skipped_segmenters"]:
        skipped.rows.append([f"segmenter {s['name']}", s["reason"]])
    for s in results["skipped_inputs"]:
        skipped.rows.append([s["item"], s["reason"]])
    sections.append(skipped)
    return sections


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_page(sections: Sequence[Section], figure_dir: str = "figures") -> str:
    out = []
    for i, s in enumerate(sections):
        out.append(("# " if i == 0 else "## ") + s.title + "\n")
        if s.text:
            out.append(s.text + "\n")
        if s.header:
            out.append("| " + " | ".join(_md_cell(h) for h in s.header) + " |")
            out.append("|" + "---|" * len(s.header))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in s.rows]
            out.append("")
        for file, caption, _ in s.images:
            out.append(f"![{caption}]({figure_dir}/{file})\n")
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1800px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}
figure{display:inline-block;margin:6px;vertical-align:top;text-align:center}
figcaption{font-size:11px;color:#555;max-width:420px}
p{font-size:13px}
"""


def html_page(sections: Sequence[Section]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(sections[0].title)}</title><style>{_CSS}</style></head><body>"]  # fmt: skip
    for i, s in enumerate(sections):
        out.append(f"<h{1 if i == 0 else 2}>{e(s.title)}</h{1 if i == 0 else 2}>")
        if s.text:
            out.append(f"<p>{e(s.text)}</p>")
        if s.header:
            out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in s.header)
                       + "</tr></thead><tbody>")  # fmt: skip
            out += [
                "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in s.rows
            ]
            out.append("</tbody></table>")
        for _, caption, png in s.images:
            data = base64.b64encode(png).decode("ascii")
            out.append(f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{e(caption)}</figcaption></figure>")  # fmt: skip
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(out: Path, results: dict, rows: Sequence[dict], cases=()) -> list[str]:
    """``report.md`` (+ ``figures/``) and ``report.html`` in ``out``; returns the files written."""
    sections = build_sections(results, rows, cases)
    written = []
    for s in sections:
        for file, _, png in s.images:
            atomic_write_bytes(out / "figures" / file, png)
            written.append(f"figures/{file}")
    atomic_write_text(out / "report.md", markdown_page(sections))
    atomic_write_text(out / "report.html", html_page(sections))
    return [*written, "report.md", "report.html"]
