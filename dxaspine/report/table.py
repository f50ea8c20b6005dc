"""The results table of one scan: as terminal text, and as the overlay's picture panel.

The terminal form is what ``dxaspine analyze`` prints; the picture form is the vendor-style
report beside the scan in the overlay PNG (Pillow only).

It formats a Contract 2 result dict: per-level area, BMC, BMD, T, Z and flags; then the
composites, the reported region and the WHO category.  A display input has no BMD
(docs/architecture.md, Contract 1), so its table shows geometry only and says why.  The function returns
text; only the CLI prints it.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "format_report",
    "label_confidence_text",
    "LABEL_CONFIDENCE_LEGEND",
    "merged_flags",
    "render_table_panel",
    "shown_excluded",
    "font",
    "WHO_TEXT",
    "who_shown",
]

WHO_TEXT = {
    "normal": "normal",
    "low_bone_mass": "low bone mass (osteopenia)",
    "osteoporosis": "osteoporosis",
    None: "not determined",
}

# Display inputs carry no g/cm2 (docs/architecture.md, Contract 1); this is said when the loader gave no
# more specific reason.
_DEFAULT_NO_BMD = (
    "display image: its grey values have no quantitative meaning, so BMC, BMD, T- and "
    "Z-scores cannot be measured (geometry only)"
)


def _num(value: Any, decimals: int, width: int) -> str:
    text = "-" if value is None else f"{value:.{decimals}f}"
    return text.rjust(width)


def _flag_text(flags: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f["code"] for f in flags)


def _level_marker(level: Mapping[str, Any]) -> str:
    return str(level["label"])


# What a label confidence means, said once wherever it is shown (issue 18: a bare "(0.95)"
# after every label had no legend).  The values are the classical labeller's outcome classes
# (dxaspine/segment/labelling.py): one number for the whole labelling, so every level of a
# scan normally carries the same one.
LABEL_CONFIDENCE_LEGEND = (
    "how sure the labeller is of the vertebra names, one value for the whole count "
    "(classical labeller: 0.95 iliac crests and lowest rib agree, 0.6 crests alone, "
    "below 0.5 cues missing or in conflict: check the labels on the picture)"
)


def label_confidence_text(result: Mapping[str, Any]) -> str | None:
    """One line on the label confidences of a result, or None when no level has one.

    ``"label confidence 0.95 (all levels)"`` when the levels share one value (the
    classical labeller's case), else ``"label confidence L1 0.95, L2 0.60 ..."``.
    """
    values = [
        (lv["label"], lv.get("label_confidence"))
        for lv in result.get("levels", ())
        if lv.get("label_confidence") is not None
    ]
    if not values:
        return None
    distinct = {round(float(c), 2) for _, c in values}
    if len(distinct) == 1:
        return f"label confidence {distinct.pop():.2f} (all levels)"
    return "label confidence " + ", ".join(f"{label} {c:.2f}" for label, c in values)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]

    def fmt(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


def _input_line(result: Mapping[str, Any]) -> str:
    info = result["input"]
    paths = info.get("paths") or [info.get("path") or "<dataset>"]
    if info.get("pixel_spacing_mm") is None:  # a study with vendor results and no image
        return f"{' + '.join(str(p) for p in paths)}  [{info['kind']}; vendor results, no image]"
    row_mm, col_mm = info["pixel_spacing_mm"]
    return (
        f"{' + '.join(str(p) for p in paths)}  [{info['kind']}; pixel spacing "
        f"{row_mm:.3f} x {col_mm:.3f} mm from {info['pixel_spacing_source']}]"
    )


def _patient_line(result: Mapping[str, Any]) -> str:
    patient = result["patient"]
    sex = {"F": "female", "M": "male"}.get(patient.get("sex"), "sex unknown")
    age = patient.get("age_years")
    age_text = f"{age:.0f} y" if age is not None else "age unknown"
    ethnicity = patient.get("ethnicity") or "ethnicity unknown"
    reference = result["reference"]["name"]
    return f"patient: {sex}, {age_text}, {ethnicity}; reference: {reference}"


def _quantitative_rows(levels: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for level in levels:
        status = "EXCLUDED" if level["excluded"] else ""
        flags = _flag_text(level["flags"])
        rows.append(
            [
                _level_marker(level),
                _num(level["area_cm2"], 2, 0),
                _num(level["bmc_g"], 2, 0),
                _num(level["bmd_g_cm2"], 3, 0),
                _num(level["t_score"], 1, 0),
                _num(level["z_score"], 1, 0),
                " ".join(x for x in (status, flags) if x),
            ]
        )
    return rows


def _geometry_rows(levels: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for level in levels:
        rows.append(
            [
                _level_marker(level),
                _num(level.get("area_cm2"), 2, 0),
                _num(level.get("height_mm"), 1, 0),
                _num(level.get("width_mm"), 1, 0),
                _num(level.get("density_index"), 3, 0),
                # No "EXCLUDED": a display input has no composites to exclude a level from.
                _flag_text(level["flags"]),
            ]
        )
    return rows


def format_report(result: Mapping[str, Any]) -> str:
    """Readable multi-line table of one Contract 2 result.

    Parameters
    ----------
    result : mapping
        A Contract 2 result (full precision or already rounded).

    Returns
    -------
    str
        The table, without a trailing newline.  The labels' confidence is one line below
        the tables, with its legend.
    """
    lines = [_input_line(result), _patient_line(result), ""]
    levels = result["levels"]
    quantitative = is_quantitative(result)
    if quantitative:
        header = ["level", "area cm2", "BMC g", "BMD g/cm2", "T", "Z", "flags"]
        lines += _table(header, _quantitative_rows(levels), right={1, 2, 3, 4, 5})
    else:
        header = ["level", "area cm2", "height mm", "width mm", "density index", "flags"]
        lines += _table(header, _geometry_rows(levels), right={1, 2, 3, 4})
        reason = result["input"].get("bmd_unavailable_reason") or _DEFAULT_NO_BMD
        lines += ["", f"no BMD: {reason}"]
    if quantitative and result["regions"]:
        lines.append("")
        rows = [
            [
                region["name"],
                _num(region["area_cm2"], 2, 0),
                _num(region["bmc_g"], 2, 0),
                _num(region["bmd_g_cm2"], 3, 0),
                _num(region["t_score"], 1, 0),
                _num(region["z_score"], 1, 0),
                _who_text(result, region, WHO_TEXT),
            ]
            for region in result["regions"]
        ]
        header = ["region", "area cm2", "BMC g", "BMD g/cm2", "T", "Z", "WHO (reported)"]
        lines += _table(header, rows, right={1, 2, 3, 4, 5})
    lines.append("")
    confidence = label_confidence_text(result)
    if confidence is not None:
        lines += textwrap.wrap(f"{confidence}: {LABEL_CONFIDENCE_LEGEND}", 100)
    lines.append(_reported_line(result))
    for code, where, detail in merged_flags(result):
        at = f" [{', '.join(where)}]" if where else ""
        lines.append(f"flag {code}{at}: {detail}")
    for block in result.get("vendor") or ():
        lines += vendor_lines(block)
    return "\n".join(lines)


def vendor_lines(block: Mapping[str, Any]) -> list[str]:
    """The table of one vendor results object of the study: its numbers, what the ISCD rules
    make of them (with dxaspine's image evidence), and the second reading's flags."""
    device = block.get("device") or {}
    made_by = " ".join(str(v) for v in (device.get("manufacturer"), device.get("model")) if v)
    name = os.path.basename(str(block.get("path") or ""))
    lines = ["", f"vendor results: {block['kind']} {name} ({made_by or 'device unknown'})"]
    assessment = block.get("assessment") or {}
    assessed = {lv["label"]: lv for lv in assessment.get("levels", ())}
    rows = []
    for level in block.get("levels", ()):
        ours = assessed.get(level["name"], {})
        status = "EXCLUDED" if ours.get("excluded") else ""
        if level.get("excluded"):
            status = (status + " (vendor excluded)").strip()
        rows.append([
            level["name"], _num(level.get("area_cm2"), 2, 0), _num(level.get("bmc_g"), 2, 0),
            _num(level.get("bmd_g_cm2"), 3, 0), _num(level.get("t_score"), 1, 0),
            _num(level.get("z_score"), 1, 0), status,
        ])  # fmt: skip
    header = ["level", "area cm2", "BMC g", "BMD g/cm2", "T", "Z", ""]
    lines += _table(header, rows, right={1, 2, 3, 4, 5})
    if assessment:
        lines.append(
            "ISCD rules on the vendor's numbers with dxaspine's image evidence: "
            + _reported_line(assessment)
        )
    if block.get("reported_region"):
        lines.append(f"the vendor reported: {block['reported_region']}")
    for flag in (block.get("second_reading") or {}).get("flags", ()):
        at = f" [{flag['level']}]" if flag.get("level") else ""
        lines.append(f"second reading {flag['code']}{at}: {flag['detail']}")
    return lines


def merged_flags(result: Mapping[str, Any]) -> list[tuple[str, list[str], str]]:
    """Scan and level flags as ``(code, levels, detail)``, one entry per distinct finding.

    The clinical layer reports a pair rule (e.g. adjacent T difference) on the scan and on
    each level of the pair with the same detail; a reader needs it once, naming the levels.
    """
    merged: dict[tuple[str, str], list[str]] = {}
    sources = [(f, f.get("level")) for f in result["flags"]]
    sources += [(f, lv["label"]) for lv in result["levels"] for f in lv["flags"]]
    for flag, level in sources:
        where = merged.setdefault((flag["code"], flag["detail"]), [])
        if level and level not in where:
            where.append(level)
    return [(code, where, detail) for (code, detail), where in merged.items()]


def _reported_line(result: Mapping[str, Any]) -> str:
    name = result.get("reported_region")
    if name is None:
        return "reported region: none (fewer than 2 evaluable vertebrae, or no BMD)"
    region = next((r for r in result["regions"] if r["name"] == name), None)
    if region is None:
        return f"reported region: {name}"
    bmd = _num(region["bmd_g_cm2"], 3, 0)
    t = _num(region["t_score"], 1, 0)
    who = _who_text(result, region, WHO_TEXT) or WHO_TEXT[None]
    return f"reported region: {name}  BMD {bmd} g/cm2  T {t}  WHO category: {who}"


def who_shown(result: Mapping[str, Any], region: Mapping[str, Any]) -> str | None:
    """The WHO category to show beside ``region``: on the reported region only (None else).

    ISCD classifies the reported region, and only for women >= 50 and men >= 50
    (docs/domain.md §2); the clinical layer's ``interpretation.who_category`` says whether it
    applies.  Records without an interpretation block fall back to the region's own field.
    """
    if region.get("name") != result.get("reported_region"):
        return None
    interpretation = result.get("interpretation")
    if interpretation is not None:
        return interpretation.get("who_category")
    return region.get("who_category")


def _who_text(result: Mapping[str, Any], region: Mapping[str, Any], words: Mapping) -> str:
    who = who_shown(result, region)
    return words.get(who, str(who)) if who is not None else ""


def is_quantitative(result: Mapping[str, Any]) -> bool:
    """Whether the record's input gives BMD (``input.quantitative``; when a record does not
    say, whether any level has a BMD)."""
    stated = (result.get("input") or {}).get("quantitative")
    if stated is not None:
        return bool(stated)
    return any(lv.get("bmd_g_cm2") is not None for lv in result.get("levels", ()))


def shown_excluded(result: Mapping[str, Any], level: Mapping[str, Any]) -> bool:
    """Whether to mark a level excluded: never for display inputs (see comment)."""
    # A display input has no composites to exclude a level from (Contract 1): marking every
    # level "excluded" would only hide the geometry the picture is for.
    return bool(level.get("excluded")) and is_quantitative(result)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font: no system fonts needed on a bare CI machine."""
    return ImageFont.load_default(size=size)


def _fmt(value: Any, decimals: int) -> str:
    if value is None:
        return "-"
    text = f"{value:.{decimals}f}"
    return "0." + "0" * decimals if text == "-0." + "0" * decimals else text


_WHO = {"normal": "normal", "low_bone_mass": "low bone mass", "osteoporosis": "osteoporosis"}


class _Panel:
    """A column of text rows drawn top to bottom (the vendor-style report side)."""

    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (width, height), (250, 250, 247))
        self.draw = ImageDraw.Draw(self.image)
        self.y = 18
        self.width = width

    def text(self, text: str, size: int = 16, fill=(20, 20, 20), x: int = 18, gap: int = 6) -> None:
        self.draw.text((x, self.y), text, fill=fill, font=font(size))
        self.y += size + gap

    def wrapped(self, text: str, size: int = 14, fill=(20, 20, 20), indent: int = 18) -> None:
        chars = max(20, int((self.width - indent - 18) / (0.55 * size)))
        for piece in textwrap.wrap(text, chars):
            self.text(piece, size, fill, x=indent, gap=3)

    def row(
        self,
        cells: Sequence[str],
        columns: Sequence[int],
        size: int = 16,
        fill=(20, 20, 20),
        highlight=None,
    ) -> None:
        if highlight is not None:
            self.draw.rectangle(
                [10, self.y - 3, self.width - 10, self.y + size + 3], fill=highlight
            )
        face = font(size)
        for cell, right_x in zip(cells, columns, strict=True):
            anchor = "la" if right_x < 0 else "ra"
            self.draw.text((abs(right_x), self.y), cell, fill=fill, font=face, anchor=anchor)
        self.y += size + 7

    def rule(self) -> None:
        self.draw.line([(14, self.y), (self.width - 14, self.y)], fill=(120, 120, 120), width=1)
        self.y += 8


def _vendor_panel_rows(panel, result: Mapping[str, Any], dark_grey, warn) -> None:
    """On a display image's panel: the vendor's numbers of the study, as the rules read them."""
    block = next((b for b in result.get("vendor") or () if b.get("assessment")), None)
    if block is None:
        return
    assessment = block["assessment"]
    panel.text(f"Vendor's numbers ({block['kind']})", size=15, fill=dark_grey)
    columns = (-38, 200, 290, -330)
    panel.row(["Level", "BMD g/cm2", "T-score", ""], columns, size=15, fill=dark_grey)
    panel.rule()
    for level in assessment.get("levels", ()):
        mark = "excl." if level.get("excluded") else ""
        panel.row([level["label"], _fmt(level.get("bmd_g_cm2"), 3), _fmt(level.get("t_score"), 1),
                   mark], columns)  # fmt: skip
    name = assessment.get("reported_region")
    region = next((r for r in assessment.get("regions", ()) if r["name"] == name), None)
    if region is not None:
        panel.text(
            f"Reported (ISCD rules, vendor numbers): {name}  BMD {_fmt(region['bmd_g_cm2'], 3)}"
            f"  T {_fmt(region['t_score'], 1)}",
            size=15,
            gap=4,
        )
    for flag in (block.get("second_reading") or {}).get("flags", ()):
        panel.wrapped(f"{flag['code']}: {flag['detail']}", size=14, fill=warn)
    panel.y += 8


def render_table_panel(
    result: Mapping[str, Any], height: int, colours: Mapping[str, tuple], width: int = 600
) -> Image.Image:
    """The results table as a picture panel (the right side of the overlay).

    Parameters
    ----------
    result : mapping
        The Contract 2 result.
    height : int
        Panel height in pixels (the overlay's height).
    colours : mapping of level label to RGB
        Each level's tint on the scan, shown as a swatch beside its row.
    width : int
        Panel width in pixels.
    """
    panel = _Panel(width, height)
    info, patient = result["input"], result["patient"]
    quantitative = is_quantitative(result)
    panel.text("dxaspine  -  AP lumbar spine", size=24, gap=10)
    name = os.path.basename(str(info.get("path") or "<dataset>"))
    panel.text(f"{name}   [{info['kind']}]", size=14)
    sex = {"F": "female", "M": "male"}.get(patient.get("sex"), "sex unknown")
    age = patient.get("age_years")
    panel.text(
        f"patient: {sex}, {_fmt(age, 0) + ' y' if age is not None else 'age unknown'}"
        f"   reference: {result['reference']['name']}",
        size=14,
        gap=12,
    )
    dark_grey, warn = (110, 110, 110), (170, 60, 0)  # darker vermillion: legible on white
    columns = (-38, 160, 240, 350, 425, 500, -520)
    if quantitative:
        header = ["Level", "Area cm2", "BMC g", "BMD g/cm2", "T-score", "Z-score", ""]
        keys = (("area_cm2", 2), ("bmc_g", 2), ("bmd_g_cm2", 3), ("t_score", 1), ("z_score", 1))
    else:  # display input: geometry only (docs/architecture.md, Contract 1)
        header = ["Level", "Area cm2", "Height mm", "Width mm", "Index", "", ""]
        keys = (("area_cm2", 2), ("height_mm", 1), ("width_mm", 1), ("density_index", 3), ("", 0))
    panel.row(header, columns, size=15, fill=dark_grey)
    panel.rule()
    for level in result["levels"]:
        excluded = shown_excluded(result, level)
        mark = "excl." if excluded else ("!" if level["flags"] else "")
        fill = dark_grey if excluded else (20, 20, 20)
        if level["label"] in colours:  # the level's tint on the scan, to link row and region
            panel.draw.rectangle([18, panel.y + 1, 30, panel.y + 14], fill=colours[level["label"]])
        cells = [_fmt(level.get(key), d) if key else "" for key, d in keys]
        panel.row([level["label"], *cells, mark], columns, fill=fill)
    panel.y += 8
    if not quantitative:
        reason = info.get("bmd_unavailable_reason") or (
            "display image: grey values are not calibrated, so there is no BMD, T or Z "
            "(geometry only)"
        )
        panel.wrapped("No BMD: " + reason, size=15, fill=warn)
        panel.y += 8
        _vendor_panel_rows(panel, result, dark_grey, warn)
    reported = result.get("reported_region")
    if quantitative and result["regions"]:
        columns = (-18, 250, 330, 400, -425)
        panel.row(
            ["Region", "BMD g/cm2", "T", "Z", "WHO (reported)"], columns, size=15, fill=dark_grey
        )
        panel.rule()
        for region in result["regions"]:
            highlight = (255, 236, 179) if region["name"] == reported else None
            panel.row(
                [
                    region["name"],
                    _fmt(region["bmd_g_cm2"], 3),
                    _fmt(region["t_score"], 1),
                    _fmt(region["z_score"], 1),
                    _who_text(result, region, _WHO),
                ],
                columns,
                size=15,
                highlight=highlight,
            )
        panel.y += 8
    panel.rule()
    region = next((r for r in result["regions"] if r["name"] == reported), None)
    if region is not None:
        panel.text(
            f"Reported: {reported}   BMD {_fmt(region['bmd_g_cm2'], 3)} g/cm2   "
            f"T {_fmt(region['t_score'], 1)}",
            size=17,
            gap=4,
        )
        panel.text(
            f"WHO category: {_who_text(result, region, _WHO) or 'not determined'}",
            size=20,
            gap=12,
        )
    else:
        why = "no BMD in a display image" if not quantitative else "fewer than 2 evaluable levels"
        panel.text(f"Reported: none ({why})", size=16, fill=warn)
    flags = merged_flags(result)
    for code, where, detail in flags:
        if panel.y > height - 100:
            panel.text(f"... see the JSON for all {len(flags)} flags", size=13, fill=warn)
            break
        at = f" [{', '.join(where)}]" if where else ""
        panel.wrapped(f"! {code.replace('_', ' ')}{at}: {detail}", size=13, fill=warn)
    panel.y = max(panel.y + 6, height - 72)
    panel.text(
        "Hatched: excluded from composites.  Vermillion box: excluded or flagged.",
        size=12,
        fill=dark_grey,
        gap=3,
    )
    panel.text(
        "A number after a label: its labelling confidence (below 1).", size=12, fill=dark_grey
    )
    software = result["software"]
    panel.y = height - 26
    panel.text(
        f"{software['name']} {software['version']} - research software, not for diagnosis",
        size=12,
        fill=dark_grey,
    )
    return panel.image
