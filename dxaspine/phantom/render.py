"""Rasterise analytic bone shapes into projected areal density with partial volume.

Every shape is a function of image coordinates (mm) returning two projections along the
PA beam: the hydroxyapatite areal density (g/cm2) and the chord length through bone (cm,
used to displace soft tissue).  A :class:`Canvas` evaluates a shape on ``sr x sc`` sub-samples
of every pixel in the shape's bounding box and averages them, which gives analytic partial
volume at edges.  Blocks are kept per *group* (one vertebra, the pelvis, one lesion...) so
that the density calibration can rescale groups without re-rendering.

Image coordinates: x (mm) from the left edge of column 0 to the right (patient's left),
y (mm) from the top edge of row 0 to the feet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

ShapeFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Canvas:
    shape: tuple[int, int]
    spacing_mm: tuple[float, float]  # (row, column)
    supersample: tuple[int, int]
    blocks: dict[str, list] = field(default_factory=dict)

    def add(self, group: str, bbox_mm: tuple[float, float, float, float], fn: ShapeFn) -> None:
        """Render ``fn`` over ``bbox_mm = (xmin, xmax, ymin, ymax)`` into ``group``."""
        rows, cols = self.shape
        dy, dx = self.spacing_mm
        xmin, xmax, ymin, ymax = bbox_mm
        c0, c1 = max(int(np.floor(xmin / dx)), 0), min(int(np.ceil(xmax / dx)), cols)
        r0, r1 = max(int(np.floor(ymin / dy)), 0), min(int(np.ceil(ymax / dy)), rows)
        if c1 <= c0 or r1 <= r0:
            return
        sr, sc = self.supersample
        xs = (c0 + (np.arange((c1 - c0) * sc) + 0.5) / sc) * dx
        ys = (r0 + (np.arange((r1 - r0) * sr) + 0.5) / sr) * dy
        mineral, chord = fn(xs[None, :], ys[:, None])
        shape4 = (r1 - r0, sr, c1 - c0, sc)
        mineral = np.broadcast_to(mineral, (len(ys), len(xs))).reshape(shape4).mean(axis=(1, 3))
        chord = np.broadcast_to(chord, (len(ys), len(xs))).reshape(shape4).mean(axis=(1, 3))
        self.blocks.setdefault(group, []).append((r0, r1, c0, c1, mineral, chord))

    def compose(self, scales: dict[str, float] | None = None, groups=None):
        """Sum the groups (times their density scale) into full (mineral, chord) images."""
        mineral = np.zeros(self.shape)
        chord = np.zeros(self.shape)
        for group, blocks in self.blocks.items():
            if groups is not None and group not in groups:
                continue
            scale = 1.0 if scales is None else scales.get(group, 1.0)
            for r0, r1, c0, c1, m, c in blocks:
                mineral[r0:r1, c0:c1] += scale * m
                chord[r0:r1, c0:c1] += c
        return mineral, chord


@dataclass(frozen=True)
class Frame:
    """A local frame: origin (cx, cy) in image mm, rotated by ``theta`` in the image plane.

    Local u runs along the rotated x axis (image direction (cos, -sin)), v along the rotated
    y axis (image direction (sin, cos)), so a vertebra tilted by theta has its long axis on v.
    """

    cx: float
    cy: float
    theta: float = 0.0

    def local(self, x, y):
        dx, dy = x - self.cx, y - self.cy
        c, s = np.cos(self.theta), np.sin(self.theta)
        return dx * c - dy * s, dx * s + dy * c

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        c, s = np.cos(self.theta), np.sin(self.theta)
        return self.cx + u * c + v * s, self.cy - u * s + v * c

    def bbox(self, half_u: float, half_v: float) -> tuple[float, float, float, float]:
        c, s = abs(np.cos(self.theta)), abs(np.sin(self.theta))
        ex, ey = c * half_u + s * half_v, s * half_u + c * half_v
        return (self.cx - ex, self.cx + ex, self.cy - ey, self.cy + ey)


def ellipse_chord_mm(u, half_width_mm, half_depth_mm, axial_rad: float):
    """Chord along the beam through an elliptic section rotated axially by ``axial_rad``.

    For semi-axes a (lateral), b (AP) rotated by phi the projected half-width is
    w = sqrt(a^2 cos^2 phi + b^2 sin^2 phi) and the chord at lateral u is 2ab sqrt(w^2-u^2)/w^2.
    """
    a, b = half_width_mm, half_depth_mm
    w2 = (a * np.cos(axial_rad)) ** 2 + (b * np.sin(axial_rad)) ** 2
    return 2.0 * a * b * np.sqrt(np.maximum(w2 - u * u, 0.0)) / w2


@dataclass(frozen=True)
class Body:
    """Vertebral body: a waisted elliptic cylinder with a cortical shell and endplates.

    Densities are volumetric HA densities (g/cm3).  The lateral half-width narrows by
    ``waist`` at mid-height (concave sides) and the corners are rounded.
    """

    frame: Frame
    half_width_mm: float
    half_depth_mm: float
    half_height_mm: float
    axial_rad: float = 0.0
    waist: float = 0.07
    shell_mm: float = 1.0
    endplate_mm: float = 1.0
    rho_trab: float = 0.16
    rho_cort: float = 1.1
    rho_end: float = 0.55
    band_only_mm: float | None = None  # render only the endplate bands of this thickness
    # trabecular texture: plane waves (wavenumber rad/mm, angle rad, phase) in the local frame
    texture: tuple[tuple[float, float, float], ...] = ()
    texture_amplitude: float = 0.0

    def bbox(self):
        return self.frame.bbox(self.half_width_mm + 2, self.half_height_mm + 2)

    def __call__(self, x, y):
        u, v = self.frame.local(x, y)
        s = np.clip(np.abs(v) / self.half_height_mm, 0.0, 1.0)
        inside = np.abs(v) < self.half_height_mm
        corner = np.power(np.maximum(1.0 - s**12, 0.0), 1.0 / 12.0)
        a = self.half_width_mm * (1.0 - self.waist * (1.0 - s * s)) * corner
        b = self.half_depth_mm * np.ones_like(a)
        outer = ellipse_chord_mm(u, a, b, self.axial_rad) * inside
        t = self.shell_mm
        inner = ellipse_chord_mm(u, np.maximum(a - t, 0.1), np.maximum(b - t, 0.1), self.axial_rad)
        inner = np.minimum(inner * inside, outer)
        edge_mm = self.half_height_mm - np.abs(v)
        if self.band_only_mm is not None:
            band = edge_mm < self.band_only_mm
            mineral = self.rho_end * outer * band
            return mineral / 10.0, np.zeros_like(mineral)
        endplate = edge_mm < self.endplate_mm
        rho_trab = self.rho_trab
        if self.texture:
            waves = sum(np.cos(k * (u * np.cos(a) + v * np.sin(a)) + p) for k, a, p in self.texture)
            # zero-mean, SD ~ texture_amplitude: the pattern changes BMC by < 0.5 %
            rho_trab = rho_trab * (
                1.0 + self.texture_amplitude * waves * np.sqrt(2.0 / len(self.texture))
            )
        mineral = np.where(
            endplate, self.rho_end * outer, rho_trab * inner + self.rho_cort * (outer - inner)
        )
        return mineral / 10.0, outer / 10.0


@dataclass(frozen=True)
class OvalRing:
    """A tube running along the beam seen end-on (a pedicle): cortical ring, trabecular core."""

    frame: Frame
    half_u_mm: float
    half_v_mm: float
    wall_mm: float
    length_mm: float
    rho_cort: float
    rho_trab: float

    def bbox(self):
        return self.frame.bbox(self.half_u_mm + 1, self.half_v_mm + 1)

    def __call__(self, x, y):
        u, v = self.frame.local(x, y)
        r = np.sqrt((u / self.half_u_mm) ** 2 + (v / self.half_v_mm) ** 2)
        inner = 1.0 - self.wall_mm / min(self.half_u_mm, self.half_v_mm)
        inside = r < 1.0
        rho = np.where(r < inner, self.rho_trab, self.rho_cort) * inside
        return rho * self.length_mm / 10.0, inside * self.length_mm / 10.0


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid of uniform density: chord 2 d sqrt(1 - r^2) (spinous process, facet...)."""

    frame: Frame
    half_u_mm: float
    half_v_mm: float
    half_depth_mm: float
    rho: float
    displaces: bool = True

    def bbox(self):
        return self.frame.bbox(self.half_u_mm + 1, self.half_v_mm + 1)

    def __call__(self, x, y):
        u, v = self.frame.local(x, y)
        r2 = (u / self.half_u_mm) ** 2 + (v / self.half_v_mm) ** 2
        chord = 2.0 * self.half_depth_mm * np.sqrt(np.maximum(1.0 - r2, 0.0))
        return self.rho * chord / 10.0, (chord / 10.0) if self.displaces else np.zeros_like(chord)


@dataclass(frozen=True)
class Tube:
    """A tube along a polyline (rib, transverse process, lamina, crest, rod).

    Radii are given per vertex and interpolated; the tube has a cortical wall ``wall_mm``
    around a trabecular core.  ``depth_factor`` stretches the chord along the beam for bones
    whose AP extent exceeds their projected width.
    """

    points: tuple[tuple[float, float], ...]
    radii_mm: tuple[float, ...]
    wall_mm: float
    rho_cort: float
    rho_trab: float
    depth_factor: float = 1.0
    displaces: bool = True

    def bbox(self):
        pts = np.asarray(self.points)
        r = max(self.radii_mm) + 1
        return (pts[:, 0].min() - r, pts[:, 0].max() + r, pts[:, 1].min() - r, pts[:, 1].max() + r)

    def __call__(self, x, y):
        # x is a (1, nx) row and y a (ny, 1) column of increasing sample positions (Canvas);
        # each segment is evaluated only inside its own bounding box, where it can matter.
        xs, ys = np.ravel(x), np.ravel(y)
        best_gap = np.full((ys.size, xs.size), np.inf)
        dist = np.full_like(best_gap, np.inf)
        radius = np.zeros_like(best_gap)
        for (x0, y0), (x1, y1), ra, rb in zip(
            self.points[:-1], self.points[1:], self.radii_mm[:-1], self.radii_mm[1:], strict=True
        ):
            reach = max(ra, rb) + 1.0
            c0, c1 = np.searchsorted(xs, [min(x0, x1) - reach, max(x0, x1) + reach])
            r0, r1 = np.searchsorted(ys, [min(y0, y1) - reach, max(y0, y1) + reach])
            if c1 <= c0 or r1 <= r0:
                continue
            sx, sy = xs[None, c0:c1], ys[r0:r1, None]
            ex, ey = x1 - x0, y1 - y0
            t = np.clip(((sx - x0) * ex + (sy - y0) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
            d = np.hypot(sx - x0 - t * ex, sy - y0 - t * ey)
            r = ra + (rb - ra) * t
            gap = d - r
            window = (slice(r0, r1), slice(c0, c1))
            take = gap < best_gap[window]
            best_gap[window] = np.where(take, gap, best_gap[window])
            dist[window] = np.where(take, d, dist[window])
            radius[window] = np.where(take, r, radius[window])
        outer = 2.0 * np.sqrt(np.maximum(radius**2 - dist**2, 0.0))
        rin = np.maximum(radius - self.wall_mm, 0.0)
        inner = 2.0 * np.sqrt(np.maximum(rin**2 - dist**2, 0.0))
        k = self.depth_factor
        mineral = k * (self.rho_trab * inner + self.rho_cort * (outer - inner))
        chord = k * outer if self.displaces else np.zeros_like(outer)
        return mineral / 10.0, chord / 10.0


def smooth_step(d_mm, width_mm: float):
    """0 -> 1 over ``width_mm`` around d = 0 (a soft edge for plate-like bones)."""
    return np.clip(0.5 + d_mm / width_mm, 0.0, 1.0)
