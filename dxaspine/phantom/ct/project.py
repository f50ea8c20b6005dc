"""PA line integrals of a posed CT, at DXA resolution, conserving mass exactly.

Model: each material's density field is the trilinear interpolant of its voxel values (the
usual continuous model of sampled CT data).  Its projection along the beam is then a sum of
per-voxel footprints: the projection of one trilinear basis function.  Each voxel's mass is
splatted (bilinear weights) at its projected centre on a fine grid, the fine grid is
convolved with the footprint kernels (normalised to 1), and fine pixels are summed in blocks
into DXA pixels.  Splatting, a normalised kernel and block sums each conserve mass, so the
projected mass equals the voxel mass for everything whose footprint lies in the grid
(tests/test_phantom_ct.py checks it); no resampling of the volume is involved.

Pose (the patient on the DXA table relative to the CT; signs as PhantomParams):
``rotation_deg`` about the long axis, positive moving the posterior elements towards the
patient's left; ``tilt_deg`` in the image plane, positive moving the feet towards the
patient's left; shifts move the anatomy in the image (+ to the patient's left / the feet).

Frame: RAS+ world (x right, y anterior, z superior).  Image columns run to the patient's
left (u = -x), rows to the feet (v = -z), the beam along y (DESIGN.md Contract 1, L\\F).
The footprint assumes voxel axes along the world axes (``as_closest_canonical`` leaves at
most a small obliquity; its footprint is then approximate, its mass still exact) and is
separable (:meth:`Projector.kernels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import convolve1d

FINE_STEP_MM = 0.35  # fine-grid step: below the DXA pixel and ~1/9 of a 3 mm voxel
_KERNEL_SAMPLES_PER_MM = 40


@dataclass(frozen=True)
class Pose:
    """Where the patient lies on the DXA table, relative to the CT (module docstring)."""

    rotation_deg: float = 0.0
    tilt_deg: float = 0.0
    lateral_shift_mm: float = 0.0
    longitudinal_shift_mm: float = 0.0


@dataclass(frozen=True)
class Grid:
    """A DXA pixel grid in the posed frame: pixel (0, 0) centred at (u0, v0) mm."""

    u0_mm: float
    v0_mm: float
    spacing_mm: tuple[float, float]  # (row, column)
    shape: tuple[int, int]  # (rows, columns)

    def window(self, r0: int, r1: int, c0: int, c1: int) -> Grid:
        dv, du = self.spacing_mm
        return Grid(self.u0_mm + c0 * du, self.v0_mm + r0 * dv, self.spacing_mm, (r1 - r0, c1 - c0))

    @property
    def pixel_area_cm2(self) -> float:
        return self.spacing_mm[0] * self.spacing_mm[1] / 100.0


class Projector:
    """Posed projection of voxels of one CT grid (see the module docstring).

    Parameters
    ----------
    affine : (4, 4) ndarray
        Voxel index -> RAS+ mm.
    centre_ras_mm : (3,) array
        The rotation and tilt centre (the lumbar spine's centre).
    pose : Pose
    """

    def __init__(self, affine: np.ndarray, centre_ras_mm, pose: Pose):
        self.affine = np.asarray(affine, dtype=float)
        self.centre = np.asarray(centre_ras_mm, dtype=float)
        self.pose = pose
        self.spacing_mm = np.linalg.norm(self.affine[:3, :3], axis=0)
        # the pose is affine, so (u, v) = M [x, y, z, 1]: one matrix for world and for voxels
        t, p = math.radians(pose.rotation_deg), math.radians(pose.tilt_deg)
        # axial rotation: a posterior point (y < 0) moves to the patient's left (x down)
        u0 = np.array([-math.cos(t), -math.sin(t), 0.0])  # u0 = -(x c + y s)
        v0 = np.array([0.0, 0.0, -1.0])  # v0 = -z
        u = u0 * math.cos(p) + v0 * math.sin(p)
        v = -u0 * math.sin(p) + v0 * math.cos(p)
        linear = np.stack([u, v])
        offset = -linear @ self.centre + [pose.lateral_shift_mm, pose.longitudinal_shift_mm]
        self._world = np.column_stack([linear, offset])  # (2, 4)
        self._voxel = np.column_stack(
            [linear @ self.affine[:3, :3], linear @ self.affine[:3, 3] + offset]
        )

    def uv(self, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posed image coordinates (u, v) in mm of voxel centres ``ijk`` (N, 3)."""
        ijk = np.asarray(ijk)
        m = self._voxel
        u = ijk @ m[0, :3] + m[0, 3]
        v = ijk @ m[1, :3] + m[1, 3]
        return u, v

    def uv_of_world(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posed image coordinates (u, v) in mm of RAS+ points ``xyz`` (..., 3)."""
        xyz = np.asarray(xyz, dtype=float)
        m = self._world
        return xyz @ m[0, :3] + m[0, 3], xyz @ m[1, :3] + m[1, 3]

    def kernels(self, fine_step_mm: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The voxel footprint as (row kernel, column kernel) on the fine grid, each sum 1.

        Separable footprints (Long, Fessler & Balter, IEEE TMI 2010): each image axis gets
        the projection of the voxel's trilinear basis onto it, the convolution of one tent
        per voxel axis, each scaled by that axis's direction cosine in the posed frame.  Exact
        without tilt; with a tilt the true footprint is the product's rotation, which differs
        by far less than a pixel at the few degrees a patient lies tilted.
        """
        sx, sy, sz = self.spacing_mm
        t, p = math.radians(self.pose.rotation_deg), math.radians(self.pose.tilt_deg)
        cu = (sx * abs(math.cos(t)) * abs(math.cos(p)), sy * abs(math.sin(t)) * abs(math.cos(p)),
              sz * abs(math.sin(p)))  # fmt: skip
        cv = (sz * abs(math.cos(p)), sx * abs(math.cos(t)) * abs(math.sin(p)),
              sy * abs(math.sin(t)) * abs(math.sin(p)))  # fmt: skip
        return _sampled(cv, fine_step_mm[0]), _sampled(cu, fine_step_mm[1])

    def project(
        self, ijk: np.ndarray, weights: np.ndarray, grid: Grid, fine_step_mm: float = FINE_STEP_MM
    ) -> np.ndarray:
        """Sum of ``weights`` (C, N) of voxels ``ijk`` (N, 3) per pixel of ``grid``: (C, R, Cols).

        The result is the weight per pixel (e.g. grams per pixel for voxel masses); divide by
        ``grid.pixel_area_cm2`` for areal density.  ``fine_step_mm`` bounds the fine grid's
        step (coarse overviews may use a larger one).
        """
        weights = np.atleast_2d(np.asarray(weights, dtype=float))
        rows, cols = grid.shape
        out = np.zeros((weights.shape[0], rows, cols))
        if len(ijk) == 0 or rows == 0 or cols == 0:
            return out
        dv, du = grid.spacing_mm
        fr, fc = max(1, math.ceil(dv / fine_step_mm)), max(1, math.ceil(du / fine_step_mm))
        fine = (dv / fr, du / fc)
        k_rows, k_cols = self.kernels(fine)
        pad_r, pad_c = len(k_rows) // 2 + 2, len(k_cols) // 2 + 2
        nr, nc = rows * fr + 2 * pad_r, cols * fc + 2 * pad_c
        # fine pixel (0, 0) of the padded canvas is centred here
        v_first = grid.v0_mm - dv / 2 + fine[0] / 2 - pad_r * fine[0]
        u_first = grid.u0_mm - du / 2 + fine[1] / 2 - pad_c * fine[1]
        u, v = self.uv(ijk)
        pr, pc = (v - v_first) / fine[0], (u - u_first) / fine[1]
        r0, c0 = np.floor(pr).astype(np.int64), np.floor(pc).astype(np.int64)
        wr, wc = pr - r0, pc - c0
        corners = []
        for dr, dc, w in ((0, 0, (1 - wr) * (1 - wc)), (0, 1, (1 - wr) * wc),
                          (1, 0, wr * (1 - wc)), (1, 1, wr * wc)):  # fmt: skip
            rr, cc = r0 + dr, c0 + dc
            ok = (rr >= 0) & (rr < nr) & (cc >= 0) & (cc < nc)
            corners.append((rr[ok] * nc + cc[ok], w[ok], ok))
        live = [ch for ch in range(weights.shape[0]) if np.any(weights[ch])]
        if not live:
            return out
        canvas = np.zeros((len(live), nr * nc))
        for slot, channel in enumerate(live):
            for index, w, ok in corners:
                canvas[slot] += np.bincount(
                    index, weights=w * weights[channel][ok], minlength=nr * nc
                )
        blurred = canvas.reshape(len(live), nr, nc)
        blurred = convolve1d(blurred, k_rows, axis=1, mode="constant")
        blurred = convolve1d(blurred, k_cols, axis=2, mode="constant")
        core = blurred[:, pad_r : pad_r + rows * fr, pad_c : pad_c + cols * fc]
        out[live] = core.reshape(len(live), rows, fr, cols, fc).sum(axis=(2, 4))
        return out


def _sampled(half_widths_mm, step_mm: float) -> np.ndarray:
    """The convolution of tents of the given half-widths, sampled every ``step_mm``, sum 1."""
    fine = 1.0 / _KERNEL_SAMPLES_PER_MM
    reach = sum(half_widths_mm)
    n = max(2, int(math.ceil(reach / fine)) + 1)
    x = np.arange(-n, n + 1) * fine
    profile = np.zeros_like(x)
    profile[n] = 1.0
    for h in half_widths_mm:
        if h >= fine:  # a narrower tent is a delta at this sampling
            profile = np.convolve(profile, np.clip(1.0 - np.abs(x) / h, 0.0, None), mode="same")
    m = int(math.ceil(reach / step_mm)) + 1
    taps = np.interp(np.arange(-m, m + 1) * step_mm, x, profile, left=0.0, right=0.0)
    if taps.sum() <= 0:  # every tent below the fine step: a delta
        taps = np.zeros(2 * m + 1)
        taps[m] = 1.0
    return taps / taps.sum()


def bounding_window(u: np.ndarray, v: np.ndarray, grid: Grid, margin_mm: float):
    """(r0, r1, c0, c1) of ``grid`` covering the points ``(u, v)`` plus ``margin_mm``, clipped."""
    dv, du = grid.spacing_mm
    rows, cols = grid.shape
    r0 = int(np.floor((v.min() - margin_mm - grid.v0_mm) / dv))
    r1 = int(np.ceil((v.max() + margin_mm - grid.v0_mm) / dv)) + 1
    c0 = int(np.floor((u.min() - margin_mm - grid.u0_mm) / du))
    c1 = int(np.ceil((u.max() + margin_mm - grid.u0_mm) / du)) + 1
    return max(r0, 0), min(r1, rows), max(c0, 0), min(c1, cols)


def project_channels(
    projector: Projector, ijk: np.ndarray, masses_g: dict[str, np.ndarray], grid: Grid
) -> dict[str, np.ndarray]:
    """Areal densities (g/cm2) on ``grid`` of per-voxel masses (g) of voxels ``ijk``."""
    names = list(masses_g)
    stacked = np.stack([masses_g[n] for n in names])
    out = projector.project(ijk, stacked, grid) / grid.pixel_area_cm2
    return dict(zip(names, out, strict=True))


def project_windowed(
    projector: Projector, ijk: np.ndarray, weights: np.ndarray, grid: Grid, margin_mm: float
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Project a compact object on the part of ``grid`` it reaches: ``(window, image)``.

    ``image`` is the weight per pixel divided by the pixel area (cm2); None when the object
    does not reach the grid.
    """
    u, v = projector.uv(ijk)
    window = bounding_window(u, v, grid, margin_mm)
    r0, r1, c0, c1 = window
    if r1 <= r0 or c1 <= c0:
        return None
    image = projector.project(ijk, weights, grid.window(*window))[0] / grid.pixel_area_cm2
    return window, image
