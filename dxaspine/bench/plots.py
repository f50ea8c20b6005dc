"""The report's pictures (matplotlib, Agg backend, imported only when a report is drawn).

Each function returns PNG bytes: error distributions per group, the calibration plot, and an
overlay thumbnail of one case (the image with the truth lines and a segmenter's lines).
Colours are the Okabe-Ito palette (distinguishable with colour-vision deficiency), as in the
overlay picture of ``dxaspine/report/overlay.py``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["calibration_png", "distribution_png", "thumbnail_png"]

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
_DPI = 90


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    # metadata without the matplotlib version and date keeps the page byte-stable per input
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def distribution_png(
    values: Mapping[str, Mapping[str, Sequence[float]]], title: str, unit: str
) -> bytes:
    """Box plots of ``values[segmenter][group]`` side by side per group."""
    plt = _pyplot()
    segmenters = list(values)
    groups = sorted({g for per in values.values() for g in per})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(groups) * max(1, len(segmenters)) / 2), 3.2))
    width = 0.8 / max(1, len(segmenters))
    handles = []
    for s, name in enumerate(segmenters):
        data = [np.asarray(values[name].get(g, []), dtype=float) for g in groups]
        positions = [g + (s - (len(segmenters) - 1) / 2) * width for g in range(len(groups))]
        keep = [(p, d[np.isfinite(d)]) for p, d in zip(positions, data, strict=True) if d.size]
        if not keep:
            continue
        box = ax.boxplot([d for _, d in keep], positions=[p for p, _ in keep], widths=width * 0.9,
                         patch_artist=True, showfliers=True, manage_ticks=False,
                         flierprops={"markersize": 3})  # fmt: skip
        colour = OKABE_ITO[s % len(OKABE_ITO)]
        for patch in box["boxes"]:
            patch.set_facecolor(colour)
            patch.set_alpha(0.75)
        handles.append((box["boxes"][0], name))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if handles:
        ax.legend([h for h, _ in handles], [n for _, n in handles], fontsize=7, loc="best")
    return _png(fig)


def calibration_png(calibrations: Mapping[str, Mapping]) -> bytes:
    """Reliability diagram: accuracy against stated confidence per bin, one line per segmenter."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    for s, (name, cal) in enumerate(calibrations.items()):
        conf = [c for c, a in zip(cal["mean_confidence"], cal["accuracy"], strict=True)
                if c is not None]  # fmt: skip
        acc = [a for a in cal["accuracy"] if a is not None]
        counts = [n for n in cal["counts"] if n]
        if not conf:
            continue
        ece = cal.get("ece")
        label = f"{name} (ECE {ece:.3f})" if ece is not None else name
        colour = OKABE_ITO[s % len(OKABE_ITO)]
        ax.plot(conf, acc, "-o", color=colour, label=label, lw=1.2)
        sizes = 10 + 60 * np.asarray(counts) / max(counts)
        ax.scatter(conf, acc, s=sizes, color=colour, alpha=0.4)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("stated confidence (bin mean)")
    ax.set_ylabel("share of labels right")
    ax.set_title("label confidence calibration", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _png(fig)


def _window(picture: np.ndarray) -> np.ndarray:
    finite = picture[np.isfinite(picture)]
    if finite.size == 0:
        return np.zeros_like(picture)
    lo, hi = np.percentile(finite, [1, 99.5])
    return np.clip((np.nan_to_num(picture, nan=lo) - lo) / max(hi - lo, 1e-9), 0, 1)


def thumbnail_png(
    picture: np.ndarray,
    predicted_lines: Sequence[Mapping],
    truth_lines: Sequence[Mapping],
    title: str,
    spacing_mm: Sequence[float],
) -> bytes:
    """The stored image with truth lines (dashed) and predicted lines with their names."""
    plt = _pyplot()
    rows, cols = picture.shape
    aspect = float(spacing_mm[0]) / float(spacing_mm[1])  # square millimetres on screen
    height = 4.2
    width = max(1.6, height * cols / (rows * aspect))
    fig, ax = plt.subplots(figsize=(width, height + 0.3))
    ax.imshow(_window(picture), cmap="gray", aspect=aspect, interpolation="nearest")
    for ln in truth_lines:
        (c0, r0), (c1, r1) = ln["left"], ln["right"]
        ax.plot([c0, c1], [r0, r1], ls="--", lw=1.0, color=OKABE_ITO[2])
    for ln in predicted_lines:
        (c0, r0), (c1, r1) = ln["left"], ln["right"]
        ax.plot([c0, c1], [r0, r1], lw=1.2, color=OKABE_ITO[0])
        ax.text(c1 + 2, r1, ln.get("name", ""), color=OKABE_ITO[0], fontsize=6, va="center")
    ax.set_xlim(0, cols - 1)
    ax.set_ylim(rows - 1, 0)
    ax.set_axis_off()
    ax.set_title(title, fontsize=7)
    return _png(fig)


def lines_of(row: Mapping) -> list[dict]:
    """The predicted lines a per-case row carries."""
    return json.loads(row["lines_json"]) if row.get("lines_json") else []
