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

**Edge under noise** (:class:`EdgeNoise`): how the edge convention is *estimated* on a noisy
map.  The convention says which pixels of the noise-free map are bone (so the phantoms' truth
needs no noise option); the estimator decides how a noisy pixel near the edge is classified:

- ``isophote:3,2mm`` (default): when the edge contrast is less than 3 noise sigmas of the
  soft tissue beside the box, pixels within 3 sigmas of the edge level are decided on their
  2 mm average along the local iso-density line (:mod:`dxaspine.segment.edge_noise`);
  otherwise, and on every low-noise scan, nothing changes;
- ``none``: the plain per-pixel test (biased outwards when the edge is near the noise:
  +2.7 % L1-L4 area at 0.5 g/cm2 on the drawn Hologic-like phantom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dxaspine.physics import quantiles

__all__ = [
    "BoxConvention",
    "CORE_HALF_WIDTH_MM",
    "DEFAULT_BOX",
    "DEFAULT_EDGE",
    "DEFAULT_EDGE_NOISE",
    "EdgeConvention",
    "EdgeNoise",
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


@dataclass(frozen=True)
class EdgeNoise:
    """How the bone edge is estimated on a noisy map (module docstring).

    ``rule`` is ``"isophote"`` or ``"none"``; ``band_sigmas`` is both the gate (the estimator
    acts only when the edge contrast is below ``band_sigmas`` noise sigmas) and the band of
    pixels it re-decides (within ``band_sigmas`` sigmas of the edge level); ``average_mm`` is the
    Gaussian sigma of the isophote average.
    """

    rule: Literal["isophote", "none"] = "isophote"
    band_sigmas: float = 3.0
    average_mm: float = 2.0

    def __post_init__(self):
        if self.rule not in ("isophote", "none"):
            raise ValueError(f"edge noise rule must be 'isophote' or 'none', got {self.rule!r}")
        if not (math.isfinite(self.band_sigmas) and 0 < self.band_sigmas <= 10):
            raise ValueError(f"edge noise band {self.band_sigmas!r} sigmas is outside (0, 10]")
        if not (math.isfinite(self.average_mm) and 0 < self.average_mm <= 10):
            raise ValueError(f"isophote average {self.average_mm!r} mm is outside (0, 10]")

    @classmethod
    def parse(cls, text: str) -> EdgeNoise:
        """``"isophote"``, ``"isophote:3"``, ``"isophote:3,2mm"`` or ``"none"``."""
        rule, _, rest = str(text).strip().lower().partition(":")
        if rule == "none" and not rest:
            return cls("none")
        if rule != "isophote":
            raise ValueError(f"edge noise {text!r}: expected isophote[:sigmas[,mm]] or none")
        sigmas, _, mm = rest.partition(",")
        try:
            band = float(sigmas) if sigmas else cls.band_sigmas
            average = float(mm.removesuffix("mm")) if mm else cls.average_mm
        except ValueError:
            raise ValueError(
                f"edge noise {text!r}: expected isophote[:sigmas[,mm]] or none"
            ) from None
        return cls("isophote", band, average)

    def applies(self, noise_sigma: float, edge_contrast: float) -> bool:
        """True when the estimator acts: the edge is within ``band_sigmas`` noise sigmas."""
        return (
            self.rule == "isophote"
            and math.isfinite(noise_sigma)
            and noise_sigma > 0
            and edge_contrast < self.band_sigmas * noise_sigma
        )

    def describe(self, noise_sigma: float, edge_contrast: float) -> str:
        """The option and whether it acted on one scan, for the result's ``analysis`` block.

        ``"isophote:3,2mm (applied)"``, ``"… (not needed)"`` (the edge is ``band_sigmas`` noise
        sigmas or more), ``"… (no noise measure)"`` or ``"none"``.  The value is the same for
        every scan of one protocol and noise regime, so follow-up comparisons
        (``clinical.monitoring``) warn only when the estimator acted on one visit and not on
        another; the measured ratio itself is logged (debug), not recorded.
        """
        if self.rule == "none":
            return "none"
        if not (math.isfinite(noise_sigma) and noise_sigma > 0 and edge_contrast > 0):
            return f"{self} (no noise measure)"
        return f"{self} ({'applied' if self.applies(noise_sigma, edge_contrast) else 'not needed'})"

    def __str__(self) -> str:
        if self.rule == "none":
            return "none"
        return f"isophote:{self.band_sigmas:g},{self.average_mm:g}mm"


DEFAULT_EDGE = EdgeConvention()
DEFAULT_BOX = BoxConvention()
DEFAULT_EDGE_NOISE = EdgeNoise()


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
    finite = centre[np.isfinite(centre)]
    if finite.size == 0:
        return float("nan")
    # only the columns the band can reach are read (the same pixels, in the same order)
    c0 = max(0, int(math.floor(finite.min() - half)))
    c1 = min(cols, int(math.ceil(finite.max() + half)) + 1)
    c = np.arange(c0, c1)[None, :]
    band = np.abs(c - centre[:, None]) <= half
    block = values[r0 : r1 + 1, c0:c1]
    ok = band & np.isfinite(block)
    if field is not None:
        ok &= np.asarray(field, dtype=bool)[r0 : r1 + 1, c0:c1]
    if not ok.any():
        return float("nan")
    return quantiles.median(block[ok])  # np.median bit for bit, one selection pass
