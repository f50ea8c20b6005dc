"""Where the DXA field lies on the posed CT, kept inside what the CT actually covers.

The field has the drawn phantom's size (197 x 180 mm by default) and placement: centred
laterally on the lumbar spine, and vertically ``FIELD_OFFSET_MM`` below the midpoint between
the top of L1 and the bottom of L4 (in the drawn phantom's ``ti_standard_prodigy`` the
T12/L1 line lies 13 mm below the field top and the L4/L5 level 162 mm below it, i.e. the
field centre is 11 mm below their midpoint).  Pose shifts then move the anatomy within it.

Rays through the CT's top or bottom face see only part of the body, so the field must stay
inside the posed CT: the CT box is projected on a coarse grid, and the field is moved (then,
if the CT is shorter than the field, shortened) until every ray's path through the CT box is
at least ``MIN_COVERAGE`` of the full path.  What was done is recorded in the truth.
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
MIN_COVERAGE = 0.98  # of the full path: rays clipped by more would miss tissue
COARSE_MM = 2.0
MIN_MARGIN_MM = 5.0  # the field must reach at least this far beyond L1 top and L4 bottom


def _body_uv(projector: Projector, bodies: Bodies, name: str):
    ijk = np.argwhere(bodies.body == bodies.names.index(name) + 1)
    return projector.uv(ijk)


def place_field(
    projector: Projector,
    volume: CtVolume,
    bodies: Bodies,
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
    low_v, high_v, low_u, high_u = _covered(projector, volume, width_mm, u_centre)
    record = {"nominal_centre_mm": [0.0, round(float(v_centre), 3)]}
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
        record["moved_mm"] = round(clamped - v_centre, 3)
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


def _covered(projector: Projector, volume: CtVolume, width_mm: float, u_centre: float):
    """(v_low, v_high, u_low, u_high): the posed extent where rays cross the whole CT."""
    ni, nj, nk = volume.shape
    corners = np.array([[i, j, k] for i in (0, ni - 1) for j in (0, nj - 1) for k in (0, nk - 1)])
    u, v = projector.uv(corners)
    margin = 10.0
    grid = Grid(
        u0_mm=float(u.min() - margin),
        v0_mm=float(v.min() - margin),
        spacing_mm=(COARSE_MM, COARSE_MM),
        shape=(
            int(math.ceil((v.max() - v.min() + 2 * margin) / COARSE_MM)) + 1,
            int(math.ceil((u.max() - u.min() + 2 * margin) / COARSE_MM)) + 1,
        ),
    )
    # every voxel of the CT box, weight 1: the path length of each ray through the box
    ii, jj, kk = np.meshgrid(np.arange(ni), np.arange(nj), np.arange(nk), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)
    path = projector.project(ijk, np.ones(len(ijk)), grid, fine_step_mm=1.0)[0]
    full = np.percentile(path[path > 0], 99) if (path > 0).any() else 0.0
    ok = path >= MIN_COVERAGE * full
    rows_v = grid.v0_mm + np.arange(grid.shape[0]) * COARSE_MM
    cols_u = grid.u0_mm + np.arange(grid.shape[1]) * COARSE_MM
    centre_row = ok[:, np.argmin(np.abs(cols_u - u_centre))]
    in_field = np.abs(cols_u - u_centre) <= width_mm / 2
    rows_ok = ok[:, in_field].all(axis=1) if in_field.any() else centre_row
    if not rows_ok.any():  # the CT is narrower than the field: judge rows at the centre
        rows_ok = centre_row
    if not rows_ok.any():
        raise InputError(describe(volume.ct_path, "no ray crosses the whole CT"))
    v_ok = rows_v[rows_ok]
    best_row = int(np.argmin(np.abs(rows_v - np.median(v_ok))))
    cols_ok = cols_u[ok[best_row]]
    half = COARSE_MM / 2
    return v_ok.min() - half, v_ok.max() + half, cols_ok.min() - half, cols_ok.max() + half
