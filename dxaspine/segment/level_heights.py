"""Each level's height against its neighbours: a line in the wrong place makes a short level.

Vertebral height changes little from one level to the next: bodies are 20-30 mm and grow
caudally, the vertebra + disc period is ~37 mm (docs/domain.md §4).  A level clearly shorter
than *both* its neighbours is therefore either crushed or cut by a line that is not a disc
(a dip inside a body, the iliac-crest tops, an obliquely seen lordotic disc found in the
wrong place).  A crushed body is compacted, so it reads denser than its neighbours
(docs/domain.md §2-3; the evidence stage's ``fracture_suspected`` uses the same sign); a
level that is short *without* raised density gets the QC flag ``level_height_inconsistent``
and its labels lose confidence, because a spurious line shifts every count that crosses it.

The threshold is the one used to grade vertebral height loss: Genant's semiquantitative
method calls a vertebra deformed (grade 1) from a 20-25 % loss of height against the
expected (neighbours') height (Genant et al., J Bone Miner Res 1993;8:1137-48).  The end
levels of the field (top and bottom) have one neighbour in view; it is their reference.
"""

from __future__ import annotations

import numpy as np

from dxaspine.segment.segmentation import QcFlag

__all__ = ["FRACTURE_DENSITY_RATIO", "HEIGHT_SHORTFALL", "height_flags"]

# Genant grade 1: >= 20 % shorter than expected (module docstring).
HEIGHT_SHORTFALL = 0.20
# A crushed body is compacted: at least this much denser than its neighbours' mean counts as
# fracture evidence (docs/domain.md §2-3).  The one definition: the evidence stage's
# fracture_suspected (dxaspine/evidence/lesions.py) uses it too.
FRACTURE_DENSITY_RATIO = 1.05
# Confidence of the labels when a short level sits among them (below 0.5: "check the labels",
# the classical segmenter's scale in dxaspine/segment/labelling.py).
CONF_HEIGHT_INCONSISTENT = 0.45


def height_flags(
    line_rows_mm: np.ndarray, core_density: np.ndarray, labels: tuple[str, ...]
) -> list[tuple[int, QcFlag]]:
    """``(level index, flag)`` for each level >= 20 % shorter than its neighbours, not denser.

    Parameters
    ----------
    line_rows_mm : (L + 1,) ndarray
        Rows of the intervertebral lines at the axis, mm, top to bottom.
    core_density : (L,) ndarray
        Each level's body-core density (any units shared by the levels; NaN unknown).
    labels : tuple of str
        The L level names.

    Returns
    -------
    list of (int, QcFlag)
        Flags in level order; an end level (one neighbour in view) is judged against that one.
    """
    rows = np.asarray(line_rows_mm, dtype=float)
    heights = np.diff(rows)
    core = np.asarray(core_density, dtype=float)
    out: list[tuple[int, QcFlag]] = []
    for i, name in enumerate(labels):
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < heights.size]
        if not neighbours or not np.isfinite(heights[i]):
            continue
        ratios = heights[i] / heights[neighbours]
        if not np.all(ratios <= 1.0 - HEIGHT_SHORTFALL):
            continue
        near = core[neighbours]
        near = near[np.isfinite(near)]
        density = core[i] / float(np.mean(near)) if near.size and np.isfinite(core[i]) else np.nan
        if np.isfinite(density) and density > FRACTURE_DENSITY_RATIO:
            continue  # crushed and compacted: the evidence stage's fracture, not a line error
        out.append(
            (
                i,
                QcFlag(
                    "level_height_inconsistent",
                    f"{name} is {float(np.max(ratios)):.0%} of its neighbours' height without "
                    "the raised density of a crushed body: a line may not be on a disc; check "
                    "the lines and labels",
                    level=name,
                    evidence={
                        "height_mm": round(float(heights[i]), 1),
                        "neighbour_height_mm": [round(float(heights[j]), 1) for j in neighbours],
                        "density_ratio": None
                        if not np.isfinite(density)
                        else round(float(density), 3),
                    },
                ),
            )
        )
    return out
