"""Vertebral labels from anatomical cues, numbered from the bottom up (DOMAIN.md §4).

Cues, in order of trust:

1. **Iliac crests** at the L4/L5 disc: the disc nearest the crest row is L4/L5, and the levels
   are counted upwards from it (bottom-up numbering keeps follow-up scans consistent).
2. **Lowest rib**: the vertebra whose level holds the lowest rib's medial end is T12; counting
   down from it must give the same labels.
3. **Longest transverse processes** on L3: a weak cue, used only to temper confidence.

Agreement of (1) and (2) gives a confident labelling.  A missing cue, a disagreement or a
crest far from any disc lowers ``label_confidence`` below 0.5 (or to 0.6 with a flag when the
crests alone are found) and raises a QC flag, because calling T12 "L1" misclassifies ~10 % of
patients (DOMAIN.md §3, Sarathi 2020).  Transitional anatomy (six lumbar vertebrae, ribs on
L1, no ribs on T12) shows up as exactly such a disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dxaspine.segment.segmentation import QcFlag

# Standard numbering, cranial to caudal (LEVEL_ORDER's "L6" exists only as a transitional
# label and never comes out of counting).
_SEQUENCE = ("T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")
_T12 = _SEQUENCE.index("T12")
_L4 = _SEQUENCE.index("L4")
# The crest must lie within this fraction of the disc period of a disc to name it L4/L5: the
# crest sits at the disc (DOMAIN.md §4), a body is > 0.5 period away from it.
CREST_TOLERANCE_PERIOD = 0.4
# Confidence per outcome.  Two independent cues agreeing: high.  One cue: the labelling rests
# on a single landmark; keep above 0.5 for the crest (bottom-up numbering is the standard)
# but flag it.  Disagreement or no anchor: below 0.5, never silently confident.
CONF_AGREE = 0.95
CONF_TP_DISAGREE = 0.8
CONF_CREST_ONLY = 0.6
CONF_RIB_ONLY = 0.45
CONF_DISAGREE = 0.3
CONF_NONE = 0.2


@dataclass(frozen=True)
class Labelling:
    labels: tuple[str, ...]
    confidence: tuple[float, ...]
    flags: tuple[QcFlag, ...] = ()
    evidence: dict = field(default_factory=dict)


def _names(first_index: int, count: int) -> tuple[str, ...]:
    out = []
    for k in range(first_index, first_index + count):
        if k < 0:
            out.append(f"T{8 + k}")
        elif k >= len(_SEQUENCE):
            out.append(f"S{k - len(_SEQUENCE) + 2}")
        else:
            out.append(_SEQUENCE[k])
    return tuple(out)


def assign_labels(
    disc_rows: np.ndarray,
    period_rows: float,
    crest_row: float | None,
    lowest_rib_row: float | None,
    lateral_area_mm2: np.ndarray | None = None,
) -> Labelling:
    """Labels for the ``len(disc_rows) - 1`` levels between consecutive discs (top to bottom).

    Parameters
    ----------
    disc_rows : (D,) ndarray
        Rows of the intervertebral lines at the axis, increasing.
    period_rows : float
        Vertebra + disc period in the same row units.
    crest_row, lowest_rib_row : float or None
        Landmark rows (same units); None when not found.
    lateral_area_mm2 : (D - 1,) ndarray, optional
        Bone area beside each level's body (transverse processes; L3's are the longest).
    """
    disc_rows = np.asarray(disc_rows, dtype=float)
    n_levels = max(0, disc_rows.size - 1)
    evidence: dict = {"crest_row": crest_row, "lowest_rib_row": lowest_rib_row}
    flags: list[QcFlag] = []
    base_crest = base_rib = None
    if crest_row is not None and disc_rows.size:
        j = int(np.argmin(np.abs(disc_rows - crest_row)))
        distance = abs(disc_rows[j] - crest_row) / max(period_rows, 1e-9)
        evidence["crest_disc_distance_periods"] = round(float(distance), 3)
        if distance <= CREST_TOLERANCE_PERIOD:
            base_crest = _L4 - (j - 1)  # level j-1 (above disc j) is L4
        else:
            flags.append(
                QcFlag(
                    "crest_ambiguous",
                    f"iliac crests {distance:.2f} disc periods "
                    "from the nearest disc; they should lie at the L4/L5 disc",
                )
            )
    if lowest_rib_row is not None and disc_rows.size:
        segment = int(np.searchsorted(disc_rows, lowest_rib_row))  # 0 = above the first disc
        base_rib = _T12 - (segment - 1)  # level segment-1 is T12
    evidence["base_from_crest"] = base_crest
    evidence["base_from_ribs"] = base_rib

    if base_crest is not None and base_rib is not None:
        base = base_crest
        if base_crest == base_rib:
            conf = CONF_AGREE
        else:
            conf = CONF_DISAGREE
            shift = base_rib - base_crest
            flags.append(
                QcFlag(
                    "label_disagreement",
                    f"counting up from the iliac crests and down from the lowest rib differ by "
                    f"{abs(shift)} level(s): transitional anatomy (6 lumbar vertebrae, lumbar ribs "
                    "or no T12 ribs) or a missed disc; labels follow the crests, check them",
                    evidence={"level_shift": shift},
                )
            )
    elif base_crest is not None:
        base, conf = base_crest, CONF_CREST_ONLY
        flags.append(
            QcFlag(
                "label_single_cue",
                "no ribs found above the lumbar spine; labels "
                "counted from the iliac crests only (T12 not confirmed)",
            )
        )
    elif base_rib is not None:
        base, conf = base_rib, CONF_RIB_ONLY
        flags.append(
            QcFlag(
                "label_single_cue",
                "iliac crests not found; labels counted down from the lowest rib only",
            )
        )
    else:
        # DOMAIN.md §4: the scan covers about mid-T12 to mid-L5, so the lowest full level is
        # assumed L4; nothing in the image confirms it.
        base, conf = _L4 - (n_levels - 1), CONF_NONE
        flags.append(
            QcFlag(
                "label_unanchored",
                "neither iliac crests nor ribs found; labels "
                "assume the field ends at mid-L5 and are unreliable",
            )
        )
    labels = _names(base, n_levels)

    if conf == CONF_AGREE and lateral_area_mm2 is not None and n_levels:
        lumbar = [i for i, name in enumerate(labels) if name.startswith("L")]
        reach = np.asarray(lateral_area_mm2, dtype=float)
        if len(lumbar) >= 3 and np.isfinite(reach[lumbar]).all():
            longest = labels[lumbar[int(np.argmax(reach[lumbar]))]]
            evidence["longest_transverse_process"] = longest
            if longest not in ("L3",) and not _near_tie(reach[lumbar]):
                conf = CONF_TP_DISAGREE
    return Labelling(labels, tuple([conf] * n_levels), tuple(flags), evidence)


def _near_tie(area: np.ndarray) -> bool:
    """Two largest lateral areas within 15 %: the cue says nothing (L3 vs L4 differ ~20 %)."""
    top = np.sort(area)[::-1]
    return top.size < 2 or (top[0] - top[1]) < 0.15 * top[0]
