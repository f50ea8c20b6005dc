"""Render a report (sections of text, tables and figures) as Markdown and self-contained HTML.

The HTML carries its CSS inline and every figure as a base64 PNG ``data:`` URI: one file,
nothing external, readable offline and safe to mail.  The Markdown points to the PNG files
written beside it (``figures/``).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

__all__ = ["Figure", "Section", "Table", "to_html", "to_markdown"]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # file name under figures/
    png: bytes
    caption: str


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    bullets: tuple[str, ...] = field(default_factory=tuple)


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;border-bottom:2px solid #1f77b4;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.6em;color:#1f4e79}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #c8d3df;padding:.25em .55em;text-align:right}
th{background:#eaf1f8} td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
figure{margin:1em 0;display:inline-block;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:640px}
img{max-width:100%;border:1px solid #ddd}
.note{font-size:.85em;color:#555}
"""


def _md_table(t: Table) -> str:
    lines = []
    if t.caption:
        lines.append(f"**{t.caption}**\n")
    lines.append("| " + " | ".join(t.header) + " |")
    lines.append("|" + "|".join("---" for _ in t.header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in t.rows]
    return "\n".join(lines) + "\n"


def to_markdown(title: str, sections: list[Section]) -> str:
    """Markdown text; figures as ``![caption](figures/<name>)``."""
    out = [f"# {title}\n"]
    for s in sections:
        out.append(f"## {s.title}\n")
        out += [p + "\n" for p in s.paragraphs]
        if s.bullets:
            out.append("\n".join(f"- {b}" for b in s.bullets) + "\n")
        out += [_md_table(t) for t in s.tables]
        out += [f"![{f.caption}](figures/{f.name})\n\n*{f.caption}*\n" for f in s.figures]
    return "\n".join(out)


def _html_table(t: Table) -> str:
    e = html.escape
    cap = f"<caption>{e(t.caption)}</caption>" if t.caption else ""
    head = "".join(f"<th>{e(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(title: str, sections: list[Section]) -> str:
    """One self-contained HTML page (inline CSS, figures as base64 PNG data URIs)."""
    e = html.escape
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
    ]
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        if s.bullets:
            parts.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in s.bullets) + "</ul>")
        parts += [_html_table(t) for t in s.tables]
        for f in s.figures:
            data = base64.b64encode(f.png).decode("ascii")
            parts.append(
                f"<figure><img alt='{e(f.caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{e(f.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>\n")
    return "\n".join(parts)
