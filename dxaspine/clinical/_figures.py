"""Matplotlib without global state: a new ``Figure`` per plot, rendered by Agg to PNG bytes.

matplotlib is the ``report`` extra, imported only when a plot is asked for.  Figures are built
with ``matplotlib.figure.Figure`` (never ``pyplot``), so a library call neither switches the
caller's backend nor leaks open figures.
"""

from __future__ import annotations

import io

from dxaspine.errors import MissingExtraError, describe

__all__ = ["new_figure", "png_bytes"]


def new_figure(width_in: float = 7.0, height_in: float = 4.2):
    """A fresh ``Figure`` (Agg canvas); :class:`MissingExtraError` naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise MissingExtraError(
            describe("plots", "matplotlib is not installed", "pip install 'dxaspine[report]'")
        ) from None
    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure as PNG (no timestamp or version metadata, so output is repeatable)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
