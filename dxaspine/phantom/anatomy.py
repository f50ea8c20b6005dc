"""Where the bones are: vertebra sizes per level, the spine curve, disc lines, the pelvis.

Sizes follow docs/domain.md §4: body height 20-30 mm growing caudally, width 40-50 mm, AP depth
30-35 mm, discs 8-12 mm, a vertebra+disc period of about 37 mm; the iliac crests at the
L4/L5 disc (at the lowest lumbar disc with six lumbar vertebrae); the scan from about
mid-T12 to mid-L5.  The field is placed the way a technologist does it, from the pelvis up,
so with six lumbar vertebrae the top of the field falls on L1 and T12 is not seen.

Coordinates are image mm (see render.py); geometry is first built in patient coordinates
centred on the field and then tilted in-plane by ``tilt_deg`` about the field centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dxaspine.phantom.params import PhantomParams
from dxaspine.phantom.render import Frame

# level -> (body height, endplate width, AP depth) in mm; docs/domain.md §4 ranges.
_SIZES_MM = {
    "T10": (20.0, 34.0, 26.0),
    "T11": (21.5, 36.0, 27.0),
    "T12": (23.0, 38.5, 28.5),
    "L1": (25.5, 41.0, 30.0),
    "L2": (26.5, 43.0, 31.5),
    "L3": (27.5, 45.5, 33.0),
    "L4": (28.0, 47.5, 34.0),
    "L5": (27.0, 50.0, 34.0),
    "L6": (26.5, 50.0, 34.0),
    "S1": (24.0, 50.0, 32.0),
}
# disc below each level (mm); docs/domain.md §4: 8-12 mm, growing caudally.
_DISC_BELOW_MM = {
    "T10": 6.0, "T11": 7.0, "T12": 8.5, "L1": 9.5, "L2": 10.0,
    "L3": 10.5, "L4": 11.0, "L5": 10.5, "L6": 10.0,
}  # fmt: skip
# transverse process length beyond the body edge (mm): L3 longest (docs/domain.md §4).
_TP_MM = {"T10": 9, "T11": 8, "T12": 6, "L1": 13, "L2": 20, "L3": 27, "L4": 21, "L5": 19, "L6": 19}

# Vertebrae rotate axially towards the convexity of a scoliotic curve; 0.5 deg per mm of
# lateral deviation (about 12 deg at a 25 mm apex) is a modelling choice.
_SCOLIOSIS_ROTATION_DEG_PER_MM = 0.5


@dataclass(frozen=True)
class Vertebra:
    name: str
    frame: Frame  # body centre, in-plane tilt
    axial_rad: float
    height_mm: float
    width_mm: float
    depth_mm: float
    tp_mm: float
    ribs: float = 0.0  # rib length factor; 0 = no ribs
    is_sacrum: bool = False


@dataclass(frozen=True)
class Disc:
    name: str  # "T12/L1"
    upper: str
    lower: str
    frame: Frame  # centre of the disc, mean tilt of the two neighbours


@dataclass
class Skeleton:
    vertebrae: list[Vertebra]
    discs: list[Disc]
    axis_y_mm: np.ndarray  # dense samples of the spine axis, image mm, increasing
    axis_x_mm: np.ndarray
    crest_frame: Frame  # centred between the crests at crest height
    tilt_rad: float
    field_size_mm: tuple[float, float]  # (height, width) actually covered by the matrix
    extras: dict = field(default_factory=dict)

    def vertebra(self, name: str) -> Vertebra:
        for v in self.vertebrae:
            if v.name == name:
                return v
        raise KeyError(name)

    def axis_x_at(self, y_mm):
        return np.interp(y_mm, self.axis_y_mm, self.axis_x_mm)


def level_names(params: PhantomParams) -> list[str]:
    lumbar = ["L1", "L2", "L3", "L4", "L5"]
    if params.transitional == "six_lumbar":
        lumbar.append("L6")
    return ["T10", "T11", "T12", *lumbar, "S1"]


def build_skeleton(params: PhantomParams, rng: np.random.Generator, shape, spacing_mm) -> Skeleton:
    """Place every vertebra, disc and the pelvis for ``params`` in image mm."""
    names = level_names(params)
    jit = params.anatomy_jitter
    scale = params.body_scale * (1.0 + 0.03 * jit * rng.standard_normal())
    fracture = {les.level: les.severity for les in params.lesions if les.type == "fracture"}

    # 1. sizes and stacking along y (patient coords, top vertebra at 0)
    sizes = {}
    for name in names:
        h, w, d = _SIZES_MM[name]
        j = 1.0 + 0.025 * jit * rng.standard_normal(3)
        h, w, d = h * scale * j[0], w * scale * j[1], d * scale * j[2]
        if name in fracture:
            # DOMAIN-style crush: 20-40 % height loss with severity 0-1.
            h *= 1.0 - (0.20 + 0.20 * min(max(fracture[name], 0.0), 1.0))
        sizes[name] = (h, w, d)
    centers_y = [0.0]
    for upper, lower in zip(names[:-1], names[1:], strict=True):
        nominal = _SIZES_MM[upper][0] * scale / 2 + _SIZES_MM[lower][0] * scale / 2
        disc = _DISC_BELOW_MM[upper] * scale * (1.0 + 0.05 * jit * rng.standard_normal())
        centers_y.append(centers_y[-1] + nominal + disc)
    centers_y = np.asarray(centers_y)

    # 2. field placement, from the pelvis up
    crest_upper = names[-3]  # L4 normally, L5 with six lumbar
    i_low = names.index(crest_upper) + 1
    crest_y = 0.5 * (centers_y[i_low - 1] + centers_y[i_low])
    # between mid-L5 and the L5/S1 disc (docs/domain.md §4: the scan covers about mid-T12 to mid-L5), so the top
    # of the 197 mm field falls on the upper half of T12
    bottom_y = centers_y[i_low] + 11.0 + rng.uniform(-5.0, 5.0) * jit
    field_h, field_w = shape[0] * spacing_mm[0], shape[1] * spacing_mm[1]
    y_offset = bottom_y - field_h / 2  # patient y of the field centre

    # 3. the curve: x(y) = shift + A sin(pi t) over T12..S1 (a C curve, apex mid-lumbar)
    y_top, y_bot = centers_y[names.index("T12")], centers_y[-1]
    shift = params.lateral_shift_mm + rng.normal(0.0, 2.0) * jit
    amp = params.scoliosis_mm

    def curve(yp):
        t = np.clip((yp - y_top) / (y_bot - y_top), 0.0, 1.0)
        return shift + amp * np.sin(np.pi * t)

    def slope(yp):
        t = (yp - y_top) / (y_bot - y_top)
        inside = (t >= 0) & (t <= 1)
        return np.where(inside, amp * np.pi / (y_bot - y_top) * np.cos(np.pi * t), 0.0)

    tilt = math.radians(params.tilt_deg)
    ribs = {"T10": 1.15, "T11": 1.1, "T12": 0.85}
    if params.transitional == "no_t12_rib":
        ribs["T12"] = 0.0
    if params.transitional == "lumbar_rib":
        ribs["L1"] = 0.35

    def place(xp, yp):
        """Patient coords (field centre origin) -> image mm, with the in-plane tilt."""
        c, s = math.cos(tilt), math.sin(tilt)
        return field_w / 2 + xp * c + yp * s, field_h / 2 - xp * s + yp * c

    vertebrae = []
    thetas = {}
    for name, yc in zip(names, centers_y, strict=True):
        h, w, d = sizes[name]
        xc = float(curve(yc))
        theta = math.atan(float(slope(yc)))
        deviation = xc - shift
        axial = params.rotation_deg + _SCOLIOSIS_ROTATION_DEG_PER_MM * deviation
        axial += 0.8 * jit * rng.standard_normal()
        cx, cy = place(xc, yc - y_offset)
        thetas[name] = theta + tilt
        vertebrae.append(
            Vertebra(
                name=name,
                frame=Frame(cx, cy, theta + tilt),
                axial_rad=math.radians(axial),
                height_mm=h,
                width_mm=w,
                depth_mm=d,
                tp_mm=_TP_MM.get(name, 0.0) * scale * (1 + 0.08 * jit * rng.standard_normal()),
                ribs=ribs.get(name, 0.0),
                is_sacrum=name == "S1",
            )
        )

    discs = []
    for up, lo in zip(vertebrae[:-1], vertebrae[1:], strict=True):
        ux, uy = up.frame.to_image(0.0, up.height_mm / 2)
        lx, ly = lo.frame.to_image(0.0, -lo.height_mm / 2)
        theta = 0.5 * (up.frame.theta + lo.frame.theta)
        discs.append(
            Disc(
                f"{up.name}/{lo.name}", up.name, lo.name, Frame((ux + lx) / 2, (uy + ly) / 2, theta)
            )
        )

    yy = np.arange(centers_y[0] - 400.0, centers_y[-1] + 400.0, 0.5)
    ax, ay = place(curve(yy), yy - y_offset)
    order = np.argsort(ay)
    crest_x, crest_yimg = place(shift, crest_y - y_offset + rng.uniform(-3.0, 3.0) * jit)
    return Skeleton(
        vertebrae=vertebrae,
        discs=discs,
        axis_y_mm=np.asarray(ay)[order],
        axis_x_mm=np.asarray(ax)[order],
        crest_frame=Frame(crest_x, crest_yimg, tilt + math.radians(rng.normal(0.0, 1.0) * jit)),
        tilt_rad=tilt,
        field_size_mm=(field_h, field_w),
    )
