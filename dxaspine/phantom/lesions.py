"""Pathology at a chosen level, rendered as extra mineral in its own Canvas group.

- osteophyte: dense beak-like spurs at the lateral endplate margins (docs/domain.md §3: up to
  +14 % BMD);
- sclerosis: dense bands under the endplates;
- facet_arthrosis: enlarged, dense articular processes;
- fracture: the height loss is applied in anatomy.py (20-40 %); here the compacted
  trabecular bone adds mineral over the crushed body (scaled with the vertebra's density);
- aortic_calcification: linear and patchy plaques left-anterior of the spine (patient's left
  = image right) overlying the level and its neighbours;
- pedicle_screws: screws through both pedicles of the level and the level below, joined by
  rods.  Simplification: metal is rendered as hydroxyapatite-equivalent mineral of very high
  density (15 g/cm3 HA-equivalent), so it is also counted as mineral in the truth.
"""

from __future__ import annotations

import math

import numpy as np

from dxaspine.phantom.anatomy import Skeleton
from dxaspine.phantom.params import Lesion
from dxaspine.phantom.render import Body, Ellipsoid, Frame, Tube

METAL_HA_EQUIVALENT_G_CM3 = 15.0


def lesion_shapes(lesion: Lesion, sk: Skeleton, rng: np.random.Generator) -> list:
    v = sk.vertebra(lesion.level)
    sev = float(np.clip(lesion.severity, 0.0, 1.0))
    w, h, d = v.width_mm, v.height_mm, v.depth_mm
    f = v.frame
    out: list = []
    if lesion.type == "osteophyte":
        # spurs at 2-4 lateral endplate corners, beaking towards the disc
        corners = [(s, e) for s in (-1, 1) for e in (-1, 1)]
        n = 2 + int(rng.integers(0, 3))
        for idx in rng.permutation(len(corners))[:n]:
            s, e = corners[idx]
            length = 3.0 + 6.0 * sev * rng.uniform(0.8, 1.2)
            a = w / 2
            local = [
                (s * (a - 3.0), e * (h / 2 - 3.0)),
                (s * (a + 0.45 * length), e * (h / 2 + 0.05 * length)),
                (s * (a + 0.75 * length), e * (h / 2 + 0.45 * length)),
            ]
            pts = tuple(f.to_image(u, vv) for u, vv in local)
            # a spur wraps round the margin, so the beam crosses ~15-20 mm of it
            out.append(Tube(pts, (3.0, 2.2, 1.1), 0.8, 1.2, 0.7, depth_factor=4.0))
    elif lesion.type == "sclerosis":
        band = 2.0 + 2.5 * sev
        out.append(
            Body(f, w / 2, d / 2, h / 2, axial_rad=v.axial_rad, rho_end=0.05 + 0.10 * sev,
                 band_only_mm=band)
        )  # fmt: skip
    elif lesion.type == "facet_arthrosis":
        z = d / 2 + 16
        for side in (-1, 1):
            for uu, vv in ((0.19 * w, 0.5 * h + 3.0), (0.25 * w, -0.5 * h - 2.0)):
                u = side * uu * math.cos(v.axial_rad) + z * math.sin(v.axial_rad)
                cx, cy = f.to_image(u, vv)
                out.append(
                    Ellipsoid(Frame(cx, cy, f.theta), 4.0 + 1.5 * sev, 6.0 + 1.5 * sev, 8.0,
                              0.15 + 0.25 * sev)
                )  # fmt: skip
    elif lesion.type == "fracture":
        loss = 0.20 + 0.20 * sev
        extra = 0.16 * 0.6 * loss / (1.0 - loss)  # 60 % of the lost volume's mineral retained
        out.append(
            Body(f, w / 2, d / 2, h / 2, axial_rad=v.axial_rad, rho_trab=extra, rho_cort=extra,
                 rho_end=extra, shell_mm=0.0)
        )  # fmt: skip
    elif lesion.type == "aortic_calcification":
        x0 = f.cx + rng.uniform(10.0, 18.0)
        y0, y1 = f.cy - 0.8 * h, f.cy + 1.6 * h
        # a wall line (tangential view of the calcified wall) ...
        ys = np.linspace(y0, y1, 6)
        pts = tuple((x0 + rng.normal(0.0, 0.8), float(yy)) for yy in ys)
        out.append(Tube(pts, (0.9,) * 6, 0.9, 0.6 * sev + 0.3, 0.0, depth_factor=4.0))
        # ... and patches
        for _ in range(3 + int(4 * sev)):
            cx = x0 + rng.uniform(-2.0, 10.0)
            cy = rng.uniform(y0, y1)
            out.append(
                Ellipsoid(Frame(cx, cy, 0.0), rng.uniform(1.5, 4.0), rng.uniform(3.0, 9.0),
                          4.0, 0.25 + 0.35 * sev, displaces=False)
            )  # fmt: skip
    elif lesion.type == "pedicle_screws":
        names = [x.name for x in sk.vertebrae]
        pair = [v, sk.vertebrae[names.index(v.name) + 1]]
        heads = {-1: [], 1: []}
        for vt in pair:
            for side in (-1, 1):
                z = vt.depth_mm / 2 + 6
                u0 = side * 0.31 * vt.width_mm * math.cos(vt.axial_rad) + z * math.sin(vt.axial_rad)
                head = vt.frame.to_image(u0 + side * 3.0, -0.20 * vt.height_mm)
                tip = vt.frame.to_image(u0 - side * 0.22 * vt.width_mm, -0.16 * vt.height_mm)
                # the screw runs ~45 mm mostly along the beam: long path through metal
                out.append(Tube((head, tip), (3.2, 2.6), 0.0, 0.0, METAL_HA_EQUIVALENT_G_CM3,
                                depth_factor=2.5, displaces=False))  # fmt: skip
                out.append(
                    Ellipsoid(Frame(head[0], head[1], vt.frame.theta), 5.5, 5.5, 6.0,
                              METAL_HA_EQUIVALENT_G_CM3 * 0.5, displaces=False)
                )  # fmt: skip
                heads[side].append(head)
        for side in (-1, 1):
            (x0, y0), (x1, y1) = heads[side]
            ext = 6.0
            norm = math.hypot(x1 - x0, y1 - y0)
            ex, ey = (x1 - x0) / norm * ext, (y1 - y0) / norm * ext
            rod = ((x0 - ex, y0 - ey), (x1 + ex, y1 + ey))
            out.append(Tube(rod, (2.75, 2.75), 0.0, 0.0, METAL_HA_EQUIVALENT_G_CM3,
                            displaces=False))  # fmt: skip
    else:  # validated in PhantomParams.validate
        raise ValueError(f"unknown lesion type {lesion.type!r}")
    return out
