"""Which of two nearby profile minima is the disc: depth, then the spacing of the spine.

The lateral-band profile (:mod:`dxaspine.segment.discs`) keeps the deepest minimum within
``MIN_DISC_SEPARATION_MM``.  On real spines that is not always the disc: a lordotic L4/L5 or
L5/S1 disc is seen obliquely by the PA beam, its endplates overlap in projection and its dip
is shallow, while the density inside a real body is not flat (pedicles, the posterior
elements and the iliac-crest tops overlap it) and can dip as deep.  The projected CT family
shows exactly this (docs/segmentation.md): a line 12 mm above L4/L5, inside L4, at the height
of the crest tops.  What a body dip cannot imitate is the spine's regular period: vertebral
height changes by only a few mm from one level to the next (docs/domain.md §4: bodies 20-30 mm
growing caudally, period ~37 mm).  So when a suppressed minimum is nearly as deep as the kept
one and removes a level too short for the period, it replaces it.

The same obliquity makes the lowest disc the shallowest (:func:`extend_below`): a minimum
below the last disc, too shallow for ``MIN_DEPTH`` but at a plausible period from it, is the
next disc rather than nothing.
"""

from __future__ import annotations

import numpy as np

from dxaspine.segment.level_heights import HEIGHT_SHORTFALL
from dxaspine.segment.small_stats import median

# A suppressed minimum competes only when at least this share of the kept one's depth: a disc
# seen obliquely keeps about half its dip (CT family: 0.22 against 0.30), noise does not.
ALTERNATIVE_DEPTH_SHARE = 0.5
# A level this much shorter than the period is implausible without a fracture: the level-height
# rule's 20 % (HEIGHT_SHORTFALL; Genant's semiquantitative grade 1 starts at a 20-25 % height
# loss, Genant 1993).  The rival replaces the kept minimum only when it leaves fewer such short
# levels beside it and fits the period better, and never opens a gap longer than
# LONG_GAP_PERIODS (a missed disc).
SHORT_LEVEL = 1.0 - HEIGHT_SHORTFALL
LONG_GAP_PERIODS = 1.3
# Share of ``discs.MIN_DEPTH`` a minimum below the last disc needs to be taken as the next disc
# when it lies a plausible period (SHORT_LEVEL to LONG_GAP_PERIODS) below it: the oblique
# lumbosacral discs keep about half their dip (ALTERNATIVE_DEPTH_SHARE, measured on the CT
# family).  CT family seed 3 case 10: its L4/L5 dip is 0.23 deep with the default baseline and
# 0.15 with the noise guard (docs/segmentation.md §1), so a disc decided on MIN_DEPTH alone
# came and went with a 0.03 g/cm2 change of the soft-tissue baseline.
END_DEPTH_SHARE = ALTERNATIVE_DEPTH_SHARE


def prefer_regular_spacing(kept: list[int], candidates: list[int], depth: np.ndarray) -> list[int]:
    """Kept minima (profile rows, increasing) with nearby better-spaced minima swapped in.

    Parameters
    ----------
    kept : list of int
        Rows kept by depth (one per disc), increasing.
    candidates : list of int
        Every local minimum deep enough to be a disc (``kept`` among them).
    depth : (R,) ndarray
        Depth of the profile minimum at each row (body-contrast units).

    Returns
    -------
    list of int
        The rows, increasing; unchanged when fewer than 3 are kept (no period to compare).
    """
    if len(kept) < 3:
        return kept
    out = list(kept)
    period = median(np.diff(out))
    for k, row in enumerate(out):
        neighbours = [out[j] for j in (k - 1, k + 1) if 0 <= j < len(out)]
        rivals = [
            c
            for c in candidates
            if c != row
            and abs(c - row) < period / 2
            and depth[c] >= ALTERNATIVE_DEPTH_SHARE * depth[row]
            and all(abs(c - n) > period / 2 for n in neighbours)
        ]
        if not rivals:
            continue

        def gaps(r: int, near=tuple(neighbours)) -> list[float]:
            return [abs(r - n) / period for n in near]

        def misfit(r: int) -> float:
            return sum(abs(g - 1.0) for g in gaps(r))

        def short(r: int) -> int:
            return sum(g < SHORT_LEVEL for g in gaps(r))

        ok = [c for c in rivals if max(gaps(c)) <= LONG_GAP_PERIODS]
        if not ok or short(row) == 0:
            continue
        best = min(ok, key=misfit)
        if short(best) < short(row) and misfit(best) < misfit(row):
            out[k] = best
    return sorted(out)


def extend_below(kept: list[int], candidates: list[int], depth: np.ndarray) -> list[int]:
    """Kept minima with the lowest disc chosen by the period among the shallow minima too.

    The depth-first choice can miss the lowest disc, the most oblique and shallowest
    (``END_DEPTH_SHARE``), or keep a dip inside the body above it instead.  The discs are
    followed down from the top, skipping minima that leave a level shorter than
    ``SHORT_LEVEL`` periods after the last one followed (dips inside a body, as
    :func:`prefer_regular_spacing` reads them); a minimum a plausible period below the last
    disc followed is the next disc.

    Parameters
    ----------
    kept : list of int
        Rows kept as discs (increasing; at least 3 give a period).
    candidates : list of int
        Local minima at least ``END_DEPTH_SHARE * MIN_DEPTH`` deep (shallower than
        ``MIN_DEPTH`` among them).
    depth : (R,) ndarray
        Depth of the profile minimum at each row (body-contrast units).

    Returns
    -------
    list of int
        ``kept``; or, when a candidate lies ``SHORT_LEVEL`` to ``LONG_GAP_PERIODS`` periods
        below the last disc followed, ``kept`` down to that disc plus the candidate nearest
        one period (the caudal levels are not shorter than the period, docs/domain.md §4).
        A trailing dip inside the body is replaced only by a candidate at least
        ``ALTERNATIVE_DEPTH_SHARE`` as deep as it.
    """
    if len(kept) < 3:
        return kept
    period = median(np.diff(kept))
    last = kept[0]
    for row in kept[1:]:
        if (row - last) / period >= SHORT_LEVEL:
            last = row
    floor = 0.0 if last == kept[-1] else ALTERNATIVE_DEPTH_SHARE * float(depth[kept[-1]])
    below = [
        c
        for c in candidates
        if SHORT_LEVEL <= (c - last) / period <= LONG_GAP_PERIODS and depth[c] >= floor
    ]
    if not below:
        return kept
    best = min(below, key=lambda c: abs((c - last) / period - 1.0))
    return [*(k for k in kept if k <= last), best]
