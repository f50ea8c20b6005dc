"""Where the DXA field lies on the posed CT, kept inside what the CT actually covers.

The field has the drawn phantom's size (197 x 180 mm by default) and placement: centred
laterally on the lumbar spine, and vertically ``FIELD_OFFSET_MM`` below the midpoint between
the top of L1 and the bottom of L4 (in the drawn phantom's ``ti_standard_prodigy`` the
T12/L1 line lies 13 mm below the field top and the L4/L5 level 162 mm below it, i.e. the
field centre is 11 mm below their midpoint).  Pose shifts then move the anatomy within it.

Rays through the CT's top or bottom face see only part of the body, so the field must stay
inside the posed CT: it is moved (then, if the CT is shorter than the field, shortened; if
the CT is narrower, narrowed) until every ray stays inside the CT box.  What was done is
recorded in the truth.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from dxaspine.errors import InputError, describe
from dxaspine.phantom.ct.anatomy import Bodies
from dxaspine.phantom.ct.project import Grid, Projector
from dxaspine.phantom.ct.volume import CtVolume

log = logging.getLogger(__name__)

FIELD_OFFSET_MM = 11.0
COARSE_MM = 2.0
MIN_MARGIN_MM = 5.0  # the field must reach at least this far beyond L1 top and L4 bottom


def _body_uv(projector: Projector, bodies: Bodies, name: str):
    ijk = np.argwhere(bodies.body == bodies.names.index(name) + 1)
    return projector.uv(ijk)


def place_field(
    projector: Projector,
    volume: CtVolume,
    bodies: Bodies,
    body_mask: np.ndarray,
    spacing_mm: tuple[float, float],
    height_mm: float,
    width_mm: float,
) -> tuple[Grid, dict]:
    """The DXA grid of the field and a record of its placement.

    Raises
    ------
    InputError
        If L1 or L4 has no body, or the CT cannot hold a field reaching 5 mm beyond L1-L4.
    """
    for name in ("L1", "L4"):
        if name not in bodies.names:
            raise InputError(
                describe(
                    volume.labels_path,
                    f"no {name} vertebral body in the label map",
                    "use a CT and label map covering L1-L4",
                )
            )
    pose = projector.pose
    _, v_l1 = _body_uv(projector, bodies, "L1")
    _, v_l4 = _body_uv(projector, bodies, "L4")
    # placement from the unshifted anatomy: the shift then moves the anatomy in the field
    v_top, v_bottom = (
        v_l1.min() - pose.longitudinal_shift_mm,
        v_l4.max() - pose.longitudinal_shift_mm,
    )
    v_centre = 0.5 * (v_top + v_bottom) + FIELD_OFFSET_MM
    u_centre = 0.0
    truncated = _truncated(body_mask, volume, projector, v_centre, height_mm)
    record = {"nominal_centre_mm": [0.0, round(float(v_centre), 3)], "body_truncated": truncated}
    if truncated["lateral"] or truncated["anteroposterior"]:
        log.info("the body touches the CT's side faces near the field: rays kept inside them")
    low_v, high_v, low_u, high_u = _covered(
        projector, volume, width_mm, u_centre, truncated["lateral"]
    )
    half_h = height_mm / 2
    if high_u - low_u < width_mm:  # a narrow CT field of view: narrow the DXA field too
        width_mm = float(high_u - low_u)
        u_centre = 0.5 * (low_u + high_u)
        record["narrowed_to_width_mm"] = round(width_mm, 3)
    if high_v - low_v < height_mm:
        height_mm = float(high_v - low_v)
        half_h = height_mm / 2
        record["shortened_to_height_mm"] = round(height_mm, 3)
    clamped = float(np.clip(v_centre, low_v + half_h, high_v - half_h))
    if clamped != v_centre:
        record["moved_mm"] = round(float(clamped - v_centre), 3)
        log.info("field moved %.1f mm to stay inside the CT", clamped - v_centre)
    v_centre = clamped
    shifted_top = v_top + pose.longitudinal_shift_mm
    shifted_bottom = v_bottom + pose.longitudinal_shift_mm
    if (shifted_top < v_centre - half_h + MIN_MARGIN_MM
            or shifted_bottom > v_centre + half_h - MIN_MARGIN_MM):  # fmt: skip
        raise InputError(
            describe(
                volume.ct_path,
                "the CT does not cover L1-L4 with 5 mm to spare in the DXA field "
                f"(covered {low_v:.0f}..{high_v:.0f} mm about the spine)",
                "use a CT reaching beyond L1 and L4, or a smaller shift",
            )
        )
    dv, du = spacing_mm
    shape = (max(1, round(height_mm / dv)), max(1, round(width_mm / du)))
    grid = Grid(
        u0_mm=u_centre - shape[1] * du / 2 + du / 2,
        v0_mm=v_centre - shape[0] * dv / 2 + dv / 2,
        spacing_mm=(float(dv), float(du)),
        shape=shape,
    )
    record.update(
        centre_mm=[round(float(u_centre), 3), round(float(v_centre), 3)],
        height_mm=round(shape[0] * dv, 3),
        width_mm=round(shape[1] * du, 3),
        covered_v_mm=[round(float(low_v), 3), round(float(high_v), 3)],
    )
    return grid, record


def _truncated(body_mask, volume: CtVolume, projector: Projector, v_centre, height_mm) -> dict:
    """Whether the body touches the CT's lateral or front/back faces near the field's slices."""
    reach = height_mm / 2 + 20.0  # the field, and a margin for tilt and shifts
    ks = np.arange(volume.shape[2])
    z = volume.world_mm(np.stack([np.zeros_like(ks), np.zeros_like(ks), ks], axis=1))[:, 2]
    v = -(z - projector.centre[2])
    near = body_mask[:, :, np.abs(v - v_centre) <= reach]
    lateral = bool(near[0].any() or near[-1].any())
    ap = bool(near[:, 0].any() or near[:, -1].any())
    return {"lateral": lateral, "anteroposterior": ap}


def _covered(
    projector: Projector, volume: CtVolume, width_mm: float, u_centre: float, lateral: bool
):
    """(v_low, v_high, u_low, u_high): the posed extent whose rays stay inside the CT.

    Neither pose rotation tilts the beam against the long axis (the axial rotation is about
    it, the in-plane tilt about the beam), so a ray keeps one height z: it is inside the CT
    when z lies one voxel within the CT's top and bottom faces (the footprint's reach).
    When the body touches the CT's side faces (``lateral``) the ray must also stay within
    them over the CT's whole depth; otherwise rays leave through air and lose nothing.
    """
    ni, nj, nk = volume.shape
    corners = np.array([[i, j, k] for i in (-0.5, ni - 0.5) for j in (-0.5, nj - 0.5)
                        for k in (-0.5, nk - 0.5)])  # fmt: skip
    world = volume.world_mm(corners) - projector.centre
    sx, _, sz = projector.spacing_mm
    z_lo, z_hi = world[:, 2].min() + sz, world[:, 2].max() - sz
    x_lo, x_hi = world[:, 0].min() + sx, world[:, 0].max() - sx
    y_lo, y_hi = world[:, 1].min(), world[:, 1].max()
    pose = projector.pose
    reach = 400.0
    u = np.arange(-reach, reach + COARSE_MM, COARSE_MM)[None, :] + u_centre
    v = np.arange(-reach, reach + COARSE_MM, COARSE_MM)[:, None]
    p, t = math.radians(pose.tilt_deg), math.radians(pose.rotation_deg)
    du, dv = u - pose.lateral_shift_mm, v - pose.longitudinal_shift_mm
    u0 = du * math.cos(p) - dv * math.sin(p)  # undo the tilt (project.Projector.uv)
    v0 = du * math.sin(p) + dv * math.cos(p)
    z = -v0
    x_rot = -u0
    ok = (z >= z_lo) & (z <= z_hi)
    for y in (y_lo, y_hi) if lateral else ():  # x at the CT's front and back: x_rot = x c + y s
        x = (x_rot - y * math.sin(t)) / math.cos(t)
        ok &= (x >= x_lo) & (x <= x_hi)
    rows_v, cols_u = v[:, 0], u[0]
    in_field = np.abs(cols_u - u_centre) <= width_mm / 2
    rows_ok = ok[:, in_field].all(axis=1)
    if not rows_ok.any():  # the CT is narrower than the field: judge rows at the centre
        rows_ok = ok[:, np.argmin(np.abs(cols_u - u_centre))]
    if not rows_ok.any():
        raise InputError(describe(volume.ct_path, "no ray crosses the CT"))
    v_ok = rows_v[rows_ok]
    best_row = int(np.argmin(np.abs(rows_v - np.median(v_ok))))
    cols_ok = cols_u[ok[best_row]]
    return v_ok.min(), v_ok.max(), cols_ok.min(), cols_ok.max()
