"""Vertebral bodies separated from their posterior elements, from the label map alone.

Disc lines run between vertebral *bodies*: the pedicles, laminae, facets and spinous process
overlap the disc space in a PA projection and must not move the line.  A label holds the
whole vertebra, so the body is cut off at its posterior wall, found on the midline:

1. take the label's voxels within 3 mm of its own lateral centre (the midline band);
2. count them per anteroposterior index: the body is the anterior-most run of non-empty
   indices, the spinal canal the empty gap behind it, the arch and spinous process behind
   that;
3. the body is every label voxel anterior to the run's posterior end (the posterior wall),
   which keeps the pedicle roots (they join the body at its posterior wall).

When the midline shows no gap (the canal is not resolved, or the label is a sacrum), the body
is the anterior ``depth`` of the label, ``depth`` the median body depth of the vertebrae that
showed a gap (33 mm if none did: docs/domain.md §4 gives an AP depth of 30-35 mm).  A body under
``MIN_BODY_CM3`` (a label holding only the edge of a vertebra, such as T11 at the top of the
shared CT) counts as absent.  The cut is along the CT's anteroposterior axis: a vertebra
rotated in the CT keeps a little more pedicle on one side (docs/ct_phantom.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dxaspine.phantom.ct.materials import Materials
from dxaspine.phantom.ct.volume import CtVolume

MIDLINE_HALF_WIDTH_MM = 3.0
MIN_BODY_RUN_MM = 15.0  # a lumbar or thoracic body is 25-35 mm deep; an arch is thinner
FALLBACK_DEPTH_MM = 33.0  # docs/domain.md §4: AP depth 30-35 mm
MIN_BODY_CM3 = 5.0  # a lumbar body is ~30-40 cm3; half of a small thoracic body still passes


@dataclass(frozen=True)
class Bodies:
    """``body`` holds ``i + 1`` for voxels of the body of ``names[i]`` (cranio-caudal)."""

    names: tuple[str, ...]
    body: np.ndarray
    method: dict[str, str]  # per vertebra: "canal_gap" or "depth_fallback"
    clipped: dict[str, bool]  # the body touches the CT's top or bottom face


def _posterior_wall(mask: np.ndarray, spacing_mm) -> int | None:
    """Index (axis 1) of the body's posterior wall from the midline profile, or None."""
    ii = np.nonzero(mask.any(axis=(1, 2)))[0]
    weights = mask.sum(axis=(1, 2))[ii]
    centre = float(np.average(ii, weights=weights))
    half = max(1, round(MIDLINE_HALF_WIDTH_MM / spacing_mm[0]))
    lo, hi = max(0, round(centre) - half), round(centre) + half + 1
    profile = mask[lo:hi].sum(axis=(0, 2))
    filled = np.nonzero(profile)[0]
    if filled.size == 0:
        return None
    front = filled[-1]
    start = front
    while start - 1 >= 0 and profile[start - 1] > 0:
        start -= 1
    has_gap = start > filled[0]
    if not has_gap or (front - start + 1) * spacing_mm[1] < MIN_BODY_RUN_MM:
        return None
    return int(start)


def vertebral_bodies(volume: CtVolume, materials: Materials) -> Bodies:
    """Split each labelled vertebra into its body (kept) and posterior elements (module doc)."""
    spacing = volume.spacing_mm
    nk = volume.shape[2]
    walls: dict[str, tuple[int, int]] = {}  # name -> (wall index, front index)
    boxes = {}
    for i, name in enumerate(materials.vertebra_names):
        code = i + 1
        where = np.nonzero(materials.vertebra == code)
        lo = [int(w.min()) for w in where]
        hi = [int(w.max()) + 1 for w in where]
        sub = materials.vertebra[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] == code
        boxes[name] = (lo, hi, sub)
        wall = _posterior_wall(sub, spacing)
        front = int(np.nonzero(sub.any(axis=(0, 2)))[0][-1])
        if wall is not None:
            walls[name] = (wall, front)
    depths = [(front - wall + 1) * spacing[1] for wall, front in walls.values()]
    depth_mm = float(np.median(depths)) if depths else FALLBACK_DEPTH_MM
    body = np.zeros(volume.shape, dtype=np.int16)
    names, method, clipped = [], {}, {}
    for name in materials.vertebra_names:
        lo, hi, sub = boxes[name]
        front = int(np.nonzero(sub.any(axis=(0, 2)))[0][-1])
        if name in walls:
            wall, how = walls[name][0], "canal_gap"
        else:
            wall = front - max(1, round(depth_mm / spacing[1])) + 1
            how = "depth_fallback"
        part = sub.copy()
        part[:, : max(wall, 0), :] = False
        if part.sum() * volume.voxel_volume_cm3 < MIN_BODY_CM3:
            continue
        names.append(name)
        method[name] = how
        ks = np.nonzero(part.any(axis=(0, 1)))[0] + lo[2]
        clipped[name] = bool(ks.min() == 0 or ks.max() == nk - 1)
        view = body[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        view[part] = len(names)
    return Bodies(tuple(names), body, method, clipped)
