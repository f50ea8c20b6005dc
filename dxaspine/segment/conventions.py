"""The measurement conventions a DXA area depends on, named, optional and recorded in results.

Vendors do not publish how their software places the bone edge or sizes the analysis box, and
the area (so the BMD = BMC / area) depends on both.  dxaspine therefore names them, makes them
options, writes them into every result (``analysis`` block) and uses the *same* named convention
for the phantoms' ground truth, so that a figure "against truth" always says which convention
both sides used (docs/architecture.md, "Conventions"; docs/accuracy.md).

**Bone edge** (:class:`EdgeConvention`):

- ``relative:f`` (default, f = 0.10): a pixel is bone when its density exceeds the local
  soft-tissue level by f times the spine's core density (:func:`spine_core_density`).  Scaling
  every bone's density by k leaves the edge where it is, so level area does not grow with
  density (the partial-volume fringe and the transverse-process roots stay in or out together).
  0.10 is the fraction display exports already used (10 % of the body contrast) and equals the
  legacy absolute edge at a body core of 1.0 g/cm2.
- ``absolute:t`` (legacy, t = 0.1 g/cm2): "just above the soft-tissue peak" (docs/domain.md §5,
  Hologic QDR step 2) as a fixed density.  Denser bones then gain their fringes: on the drawn
  phantom L1 area grows 5 % from 0.5 to 1.4 g/cm2 under this edge.  Display exports have no
  g/cm2, so for them it falls back to the relative edge.

**Analysis box** (:class:`BoxConvention`): the spine axis +- (half the body width of
``width_level``, L4 by default, + ``margin_mm``, 7 mm by default): the spine ROI drawn a little
wider than the widest analysed body, clipping the transverse processes (docs/domain.md §1:
everything between two lines inside the box belongs to the level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "BoxConvention",
    "CORE_HALF_WIDTH_MM",
    "DEFAULT_BOX",
    "DEFAULT_EDGE",
    "EdgeConvention",
    "spine_core_density",
]

# Half-width of the central band whose median is the spine's core density, mm: inside every
# lumbar body (40-50 mm wide, docs/domain.md §4) with room for an axis a few mm off centre.
CORE_HALF_WIDTH_MM = 5.0


@dataclass(frozen=True)
class EdgeConvention:
    """Where a pixel becomes bone (module docstring)."""

    rule: Literal["relative", "absolute"] = "relative"
    value: float = 0.10

    def __post_init__(self):
        if self.rule not in ("relative", "absolute"):
            raise ValueError(f"edge rule must be 'relative' or 'absolute', got {self.rule!r}")
        if not (
            math.isfinite(self.value) and 0 < self.value < (1 if self.rule == "relative" else 5)
        ):
            raise ValueError(f"edge value {self.value!r} is out of range for a {self.rule} edge")

    @classmethod
    def parse(cls, text: str) -> EdgeConvention:
        """``"relative:0.1"``, ``"absolute:0.1"``, or a bare rule name with its default value."""
        rule, _, value = str(text).strip().lower().partition(":")
        defaults = {"relative": 0.10, "absolute": 0.1}
        if rule not in defaults:
            raise ValueError(f"edge convention {text!r}: expected relative[:f] or absolute[:g/cm2]")
        return cls(rule, float(value) if value else defaults[rule])  # type: ignore[arg-type]

    def threshold(self, core_density: float, quantitative: bool = True) -> float:
        """The bone contrast above soft tissue, in the map's units."""
        if self.rule == "absolute" and quantitative:
            return self.value
        return self.value * core_density

    def __str__(self) -> str:
        return f"{self.rule}:{self.value:g}"


@dataclass(frozen=True)
class BoxConvention:
    """The analysis box half-width: half the ``width_level`` body width + ``margin_mm``."""

    width_level: str = "L4"
    margin_mm: float = 7.0

    def __post_init__(self):
        if not (math.isfinite(self.margin_mm) and 0 <= self.margin_mm <= 30):
            raise ValueError(f"box margin {self.margin_mm!r} mm is outside 0-30 mm")

    def half_width_mm(self, body_width_mm: float) -> float:
        return body_width_mm / 2 + self.margin_mm

    def __str__(self) -> str:
        return f"{self.width_level} body width + {self.margin_mm:g} mm"


DEFAULT_EDGE = EdgeConvention()
DEFAULT_BOX = BoxConvention()


def spine_core_density(
    values: np.ndarray,
    axis_columns: np.ndarray,
    row_range: tuple[float, float],
    column_spacing_mm: float,
    field: np.ndarray | None = None,
) -> float:
    """Median density within +-5 mm of the spine axis over a span of rows.

    Parameters
    ----------
    values : (M, N) ndarray
        Density map (g/cm2, or a display map's relative index with soft tissue at 0).
    axis_columns : (M,) ndarray
        The axis column of every row.
    row_range : (float, float)
        First and last row of the span (the upper line of L1 and the lower line of L4).
    column_spacing_mm : float
    field : (M, N) bool ndarray, optional
        Measured pixels; others are left out.

    Returns
    -------
    float
        NaN when the span holds no finite pixel.
    """
    rows, cols = values.shape
    r0 = max(0, int(math.ceil(min(row_range))))
    r1 = min(rows - 1, int(math.floor(max(row_range))))
    if r1 < r0:
        return float("nan")
    half = CORE_HALF_WIDTH_MM / column_spacing_mm
    r = np.arange(r0, r1 + 1)
    centre = np.asarray(axis_columns, dtype=float)[r]
    c = np.arange(cols)[None, :]
    band = np.abs(c - centre[:, None]) <= half
    block = values[r0 : r1 + 1]
    ok = band & np.isfinite(block)
    if field is not None:
        ok &= np.asarray(field, dtype=bool)[r0 : r1 + 1]
    if not ok.any():
        return float("nan")
    return float(np.median(block[ok]))
