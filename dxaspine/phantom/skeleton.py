"""Render the skeleton (vertebrae with posterior elements, ribs, pelvis, sacrum) to a Canvas.

Each vertebra is drawn in its own local frame (u lateral, v caudal) from:
- the body (waisted elliptic cylinder with shell and endplates; render.Body);
- pedicles: cortical tubes seen end-on as ovals over the upper lateral body;
- laminae from the pedicles to the midline; the spinous process over the lower body and disc;
- transverse processes (L3 longest) and superior/inferior articular processes (facets).
Posterior elements sit at a posterior depth z behind the body centre; an axial rotation phi
moves their projection laterally by z*sin(phi) relative to the body, which is how patient
rotation and scoliotic rotation show on a PA image.

Volumetric HA densities (g/cm3) are relative: the calibration in case.py rescales each
vertebra so the truth hits the target BMD.  Each vertebra (with its ribs) is one Canvas group.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine.phantom.anatomy import Skeleton, Vertebra
from dxaspine.phantom.render import Body, Canvas, Ellipsoid, Frame, OvalRing, Tube, smooth_step


def _posterior(v: Vertebra, u: float, z_mm: float) -> float:
    """Projected lateral offset of a posterior element at local (u, depth z)."""
    return u * math.cos(v.axial_rad) + z_mm * math.sin(v.axial_rad)


def vertebra_shapes(v: Vertebra, rng: np.random.Generator) -> list:
    w, h, d = v.width_mm, v.height_mm, v.depth_mm
    f = v.frame
    # trabecular texture: a few plane waves of 1.5-4 mm wavelength (projected trabeculae)
    texture = tuple(
        (2 * math.pi / rng.uniform(1.5, 4.0), rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi))
        for _ in range(16)
    )
    shapes: list = [
        Body(
            f,
            w / 2,
            d / 2,
            h / 2,
            axial_rad=v.axial_rad,
            waist=0.0 if v.is_sacrum else 0.07,
            texture=texture,
            texture_amplitude=0.12,
        )
    ]
    if v.is_sacrum:
        return shapes + _sacral_ala(v)
    thoracic = v.name.startswith("T")
    sub = 0.85 if thoracic else 1.0

    def at(u, vv, z):
        return f.to_image(_posterior(v, u, z), vv)

    # pedicles: ovals over the upper lateral body
    z_ped = d / 2 + 6
    for side in (-1, 1):
        cx, cy = at(side * 0.31 * w, -0.20 * h, z_ped)
        shapes.append(
            OvalRing(Frame(cx, cy, f.theta), 0.10 * w * sub, 0.26 * h, 1.5, 14.0, 0.5, 0.2)
        )
    # laminae: pedicle base to spinous base
    z_lam = d / 2 + 20
    for side in (-1, 1):
        p0 = at(side * 0.24 * w, 0.05 * h, z_lam)
        p1 = at(side * 0.04 * w, 0.32 * h, z_lam)
        shapes.append(Tube((p0, p1), (4.5, 4.0), 1.2, 0.45, 0.18, depth_factor=1.0))
    # spinous process: teardrop over the lower body and the disc below
    cx, cy = at(0.0, 0.42 * h, d / 2 + 38)
    shapes.append(Ellipsoid(Frame(cx, cy, f.theta), 0.085 * w, 0.36 * h, 14.0 * sub, 0.22))
    # transverse processes: lumbar ones lateral and slightly caudal; L5 stout, rising
    z_tp = d / 2 + 12
    rise = -0.25 if v.name in ("L5", "L6") else (-0.35 if thoracic else 0.08)
    base_r = 6.5 if v.name in ("L5", "L6") else 5.5
    for side in (-1, 1):
        p0 = at(side * 0.30 * w, -0.08 * h, z_tp)
        tip_u = side * (w / 2 + v.tp_mm)
        pm = at(0.5 * (side * 0.30 * w + tip_u), -0.08 * h + 0.5 * rise * v.tp_mm, z_tp)
        p1 = at(tip_u, -0.08 * h + rise * v.tp_mm, z_tp)
        shapes.append(Tube((p0, pm, p1), (base_r, 4.2, 3.2), 1.1, 0.6, 0.15, depth_factor=1.3))
    # articular processes: superior near the disc above, inferior into the disc below
    z_fac = d / 2 + 16
    for side in (-1, 1):
        for uu, vv in ((0.25 * w, -0.5 * h - 2.0), (0.19 * w, 0.5 * h + 3.0)):
            cx, cy = at(side * uu, vv, z_fac)
            shapes.append(Ellipsoid(Frame(cx, cy, f.theta), 3.5, 6.5, 6.0, 0.22))
    if v.ribs > 0:
        shapes += rib_shapes(v, rng)
    return shapes


def rib_shapes(v: Vertebra, rng: np.random.Generator) -> list:
    """Ribs from the costovertebral junction, running inferolaterally and curving down."""
    w, h = v.width_mm, v.height_mm
    out = []
    for side in (-1, 1):
        k = v.ribs * (1.0 + 0.06 * rng.standard_normal())
        local = [
            (w / 2 - 3, -0.05 * h),
            (w / 2 + 18 * min(k, 1.0) + 2, 2.0 + 4 * k),
            (w / 2 + 45 * k, 20 * k),
            (w / 2 + 68 * k, 44 * k),
            (w / 2 + 84 * k, 72 * k),
        ]
        n = 3 if k < 0.5 else len(local)  # a lumbar rib is a short stub
        pts = tuple(v.frame.to_image(side * u, vv) for u, vv in local[:n])
        radii = (4.0, 4.5, 4.2, 3.8, 3.0)[:n]
        out.append(Tube(pts, radii, 1.2, 0.75, 0.08, depth_factor=1.2))
    return out


def _sacral_ala(v: Vertebra) -> list:
    """Sacral alae: plates from the S1 body out to the sacroiliac joints, with a dense rim."""
    w, h = v.width_mm, v.height_mm
    f = v.frame
    out = []
    for side in (-1, 1):
        pts = tuple(
            f.to_image(side * u, -h / 2 + 3 + 0.004 * (u - 0.4 * w) ** 2)
            for u in np.linspace(0.4 * w, 0.4 * w + 34, 6)
        )
        out.append(Tube(pts, (4.5,) * 6, 1.4, 0.6, 0.15, depth_factor=1.5))

    def ala(x, y, f=f, w=w, h=h):
        u, vv = f.local(x, y)
        a = np.abs(u)
        top = -h / 2 + 3 + 0.004 * (a - 0.4 * w) ** 2
        lateral = 0.4 * w + 36 - 0.35 * np.maximum(vv - top, 0)
        inside = smooth_step(vv - top, 2.0) * smooth_step(lateral - a, 2.0) * (a > 0.35 * w)
        chord = 22.0 * inside
        return 0.2 * chord / 10.0, chord / 10.0

    out.append(_Custom(f.bbox(0.4 * w + 40, h / 2 + 50), ala))
    return out


class _Custom:
    """A shape given by a bbox and a function (plate-like bones)."""

    def __init__(self, bbox, fn):
        self._bbox, self._fn = bbox, fn

    def bbox(self):
        return self._bbox

    def __call__(self, x, y):
        return self._fn(x, y)


def pelvis_shapes(sk: Skeleton) -> list:
    """Iliac wings with the crests at crest_frame height (the L4/L5 disc), both sides."""
    f = sk.crest_frame
    peak_a, k = 72.0, 0.016  # crest highest 72 mm from the midline; parabola (mm^-1)
    medial = 38.0
    out = []

    def crest_v(a):
        return k * (a - peak_a) ** 2

    for side in (-1, 1):
        a_vals = np.linspace(medial + 2, 130.0, 12)
        pts = tuple(f.to_image(side * a, crest_v(a)) for a in a_vals)
        radii = tuple(5.5 + 1.5 * math.exp(-(((a - 95.0) / 15.0) ** 2)) for a in a_vals)
        out.append(Tube(pts, radii, 1.8, 0.75, 0.18, depth_factor=1.4))
        v_m = crest_v(medial)
        out.append(
            Tube(
                (f.to_image(side * (medial - 1), v_m + 9), f.to_image(side * 29.0, v_m + 80)),
                (6.0, 6.0),
                1.6,
                0.6,
                0.2,
                depth_factor=1.5,
            )
        )

        def wing(x, y, side=side, v_m=v_m):
            u, vv = f.local(x, y)
            a = side * u
            border = medial - 0.12 * np.maximum(vv - v_m, 0.0)
            inside = smooth_step(vv - crest_v(np.maximum(a, medial)), 3.0)
            inside = inside * smooth_step(a - border, 3.0)
            chord = 15.0 * inside
            return 0.25 * chord / 10.0, chord / 10.0

        cx, cy = f.to_image(side * 90.0, 60.0)
        out.append(_Custom(Frame(cx, cy, f.theta).bbox(62.0, 75.0), wing))
    return out


def render_skeleton(canvas: Canvas, sk: Skeleton, rng: np.random.Generator) -> None:
    """Render every vertebra into its own group and the pelvis into ``"pelvis"``."""
    for v in sk.vertebrae:
        for shape in vertebra_shapes(v, rng):
            canvas.add(v.name, shape.bbox(), shape)
    for shape in pelvis_shapes(sk):
        canvas.add("pelvis", shape.bbox(), shape)
