"""Vertebral labels from anatomical cues, numbered from the bottom up (docs/domain.md §4).

Cues, in order of trust:

1. **Iliac crests** at the L4/L5 disc: the disc nearest the crest row is L4/L5, and the levels
   are counted upwards from it (bottom-up numbering keeps follow-up scans consistent).
2. **Lowest rib**: the vertebra whose level holds the lowest rib's medial end is T12; counting
   down from it must give the same labels.  When the top of the field cuts the rib's medial
   end, its attachment is extrapolated along the rib (landmarks.clipped_rib_edge_row) and
   used only when every side places it clearly inside one vertebra: the one cut by the top
   of the field, or the one above it (outside the field).
3. **Longest transverse processes** on L3 (their length beside the body): a weak cue, used
   only to temper confidence.

Agreement of (1) and (2) gives a confident labelling.  A missing cue, a disagreement or a
crest far from any disc lowers ``label_confidence`` below 0.5 (or to 0.6 with a flag when the
crests alone are found) and raises a QC flag, because calling T12 "L1" misclassifies ~10 % of
patients (docs/domain.md §3, Sarathi 2020).  Transitional anatomy (six lumbar vertebrae, ribs on
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
# crest sits at the disc (docs/domain.md §4), a body is > 0.5 period away from it.
CREST_TOLERANCE_PERIOD = 0.4
# Confidence per outcome.  Two independent cues agreeing: high.  One cue: the labelling rests
# on a single landmark; keep above 0.5 for the crest (bottom-up numbering is the standard)
# but flag it.  Disagreement or no anchor: below 0.5, never silently confident.
CONF_AGREE = 0.95
# Crests agreeing with a clipped rib's extrapolated attachment: two cues, but the rib's
# vertebra is inferred, not seen; a step below CONF_AGREE, still "confident" (>= 0.9).
CONF_CLIPPED_AGREE = 0.9
# Extrapolated attachment of a clipped rib, in disc periods above the first disc: a rib of the
# vertebra cut by the field top attaches 0-1 periods above it, one of the vertebra above
# 1-2.  The rib head sits on the upper half of its vertebra (about 0.5-0.8 periods), and
# extrapolating a rib that curves downwards laterally overestimates the height, so the zones
# keep ~0.15-0.2 periods (~6-7 mm) from the boundaries; outside them the rib says nothing.
# Phantom calibration (real load->decompose path): own vertebra 0.33-0.88, the one above
# 1.34-2.0.  Real 11th/12th ribs vary in length and course: to be revalidated on real scans.
CLIPPED_OWN_PERIODS = (0.15, 0.95)
CLIPPED_ABOVE_PERIODS = (1.15, 2.2)
# Beyond CREST_TOLERANCE_PERIOD the crest lies in the middle third of a body and its level
# depends on the patient: the intercristal line crosses "most often the L4 body or its
# inferior endplate in men, the L5 body or its superior endplate in women", over a range
# from the L4 body to the L5 body (Chakraverty 2008, Spine, doi:10.1097/BRS.0b013e318166f58c;
# 200 + 60 radiographs).  In another 296 radiographs every crossing lay between the upper
# third of L4 and the middle third of L5, 80 % between the lower third of L4 and the upper
# third of L5 (the +-0.4 period of CREST_TOLERANCE_PERIOD).  So with the sex known, a crest up
# to CREST_SEX_PRIOR_PERIOD above a disc (men) or below it (women) names that disc L4/L5: the
# middle third of a body ends ~0.625 period from the disc centre (body ~0.75 period, disc
# ~0.25, docs/domain.md §4).  The labels then rest on a population prior, not on the image:
# flagged crest_ambiguous and held at CONF_CREST_PRIOR (< 0.5 when no rib confirms them).
CREST_SEX_PRIOR_PERIOD = 0.65
CONF_CREST_PRIOR = 0.45
CONF_TP_DISAGREE = 0.8
TP_LEVELS = ("L1", "L2", "L3", "L4")  # the transverse-process cue's levels (assign_labels)
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
    process_length_mm: np.ndarray | None = None,
    clipped_rib_rows: tuple[float | None, ...] = (),
    sex: str | None = None,
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
    process_length_mm : (D - 1,) ndarray, optional
        Length of the transverse processes beside each level's body
        (``landmarks.lateral_bone``; L3's are the longest).
    clipped_rib_rows : tuple of float or None, optional
        Per side with a rib cut by the top of the field: the row where its lowest such rib,
        extrapolated, meets the box edge (None: not fitted).  Used only when no whole rib is
        found.
    sex : {"M", "F"} or None, optional
        The patient's sex: resolves a crest in the middle third of a body
        (CREST_SEX_PRIOR_PERIOD); None leaves such a crest ambiguous.
    """
    disc_rows = np.asarray(disc_rows, dtype=float)
    n_levels = max(0, disc_rows.size - 1)
    evidence: dict = {"crest_row": crest_row, "lowest_rib_row": lowest_rib_row}
    flags: list[QcFlag] = []
    base_crest = base_rib = None
    crest_prior = False
    if crest_row is not None and disc_rows.size:
        j = int(np.argmin(np.abs(disc_rows - crest_row)))
        distance = abs(disc_rows[j] - crest_row) / max(period_rows, 1e-9)
        evidence["crest_disc_distance_periods"] = round(float(distance), 3)
        if distance <= CREST_TOLERANCE_PERIOD:
            base_crest = _L4 - (j - 1)  # level j-1 (above disc j) is L4
        else:
            j_prior = _crest_disc_by_sex(disc_rows, period_rows, crest_row, sex)
            detail = (
                f"iliac crests {distance:.2f} disc periods from the nearest disc; they "
                "should lie at the L4/L5 disc"
            )
            if j_prior is not None:
                base_crest = _L4 - (j_prior - 1)
                crest_prior = True
                detail += (
                    "; labels use the published crest level for this sex (L4 body in men, "
                    "L5 body in women): check them"
                )
            flags.append(QcFlag("crest_ambiguous", detail))
    if lowest_rib_row is not None and disc_rows.size:
        segment = int(np.searchsorted(disc_rows, lowest_rib_row))  # 0 = above the first disc
        base_rib = _T12 - (segment - 1)  # level segment-1 is T12
    inferred = False
    if base_rib is None and clipped_rib_rows and disc_rows.size:
        base_rib = _base_from_clipped(disc_rows, period_rows, clipped_rib_rows, evidence)
        inferred = base_rib is not None
    evidence["base_from_crest"] = base_crest
    evidence["base_from_ribs"] = base_rib
    evidence["rib_attachment_inferred"] = inferred
    evidence["crest_sex_prior"] = crest_prior

    if base_crest is not None and base_rib is not None:
        base = base_crest
        if base_crest == base_rib:
            conf = CONF_CLIPPED_AGREE if inferred else CONF_AGREE
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
        # docs/domain.md §4: the scan covers about mid-T12 to mid-L5, so the lowest full level is
        # assumed L4; nothing in the image confirms it.
        base, conf = _L4 - (n_levels - 1), CONF_NONE
        flags.append(
            QcFlag(
                "label_unanchored",
                "neither iliac crests nor ribs found; labels "
                "assume the field ends at mid-L5 and are unreliable",
            )
        )
    if crest_prior:  # a rib agreeing keeps it "confident", at the inferred-cue step
        conf = CONF_CLIPPED_AGREE if conf >= CONF_CLIPPED_AGREE else min(conf, CONF_CREST_PRIOR)
    labels = _names(base, n_levels)

    if conf in (CONF_AGREE, CONF_CLIPPED_AGREE) and process_length_mm is not None and n_levels:
        # L1-L4 only: L5's transverse processes are the most massive of the spine (thick and
        # conical, joined to the whole pedicle and the body; Gray's Anatomy, lumbar vertebrae)
        # and in a PA projection its side bone runs into the sacral ala.  The cue reads the
        # processes' length (landmarks.PROCESS_GAP_MM), not the side-bone area it read before
        # branch tpcue: area is not length (the CT's L1 carries more bone close beside its
        # body, noise adds area) and it capped right labels (docs/segmentation.md §2).  A level
        # whose length is not read on either side leaves the cue silent.
        lumbar = [i for i, name in enumerate(labels) if name in TP_LEVELS]
        reach = np.asarray(process_length_mm, dtype=float)
        if len(lumbar) >= 3 and np.isfinite(reach[lumbar]).all():
            longest = labels[lumbar[int(np.argmax(reach[lumbar]))]]
            evidence["longest_transverse_process"] = longest
            if longest not in ("L3",) and not _near_tie(reach[lumbar]):
                conf = CONF_TP_DISAGREE
    return Labelling(labels, tuple([conf] * n_levels), tuple(flags), evidence)


def _base_from_clipped(disc_rows, period_rows, clipped_rib_rows, evidence) -> int | None:
    """Sequence index of level 0 implied by clipped ribs (their lowest taken as T12), or None.

    Every side must place its rib in the same vertebra (the one cut by the field top, or the
    one above it); a side without a fit, a rib between the zones or sides that disagree
    leave the labelling to the crests alone.
    """
    offsets = []
    periods = []
    for row in clipped_rib_rows:
        if row is None:
            return None
        x = (disc_rows[0] - row) / max(period_rows, 1e-9)
        periods.append(round(float(x), 2))
        if CLIPPED_OWN_PERIODS[0] <= x <= CLIPPED_OWN_PERIODS[1]:
            offsets.append(0)  # the vertebra above the first disc (level -1)
        elif CLIPPED_ABOVE_PERIODS[0] <= x <= CLIPPED_ABOVE_PERIODS[1]:
            offsets.append(1)  # the one above that, outside the field (level -2)
        else:
            offsets.append(None)
    evidence["clipped_rib_periods_above_first_disc"] = periods
    if not offsets or None in offsets or len(set(offsets)) != 1:
        return None
    # the rib's vertebra is level -(1 + offset) and is T12
    return _T12 + 1 + offsets[0]


def _near_tie(length_mm: np.ndarray) -> bool:
    """Two longest processes within 15 %: the cue says nothing (drawn L3 vs L4 differ ~20 %)."""
    top = np.sort(length_mm)[::-1]
    return top.size < 2 or (top[0] - top[1]) < 0.15 * top[0]


def _crest_disc_by_sex(disc_rows, period_rows, crest_row, sex) -> int | None:
    """Index of the disc a mid-body crest names L4/L5 by the sex prior, or None.

    Men: the first disc below the crest, when the crest lies CREST_TOLERANCE_PERIOD to
    CREST_SEX_PRIOR_PERIOD above it (in the L4 body); women: the last disc above it, the
    crest as far below (in the L5 body).
    """
    if sex not in ("M", "F"):
        return None
    offsets = (disc_rows - crest_row) / max(period_rows, 1e-9)  # + = disc below the crest
    below = np.flatnonzero(offsets > 0)
    above = np.flatnonzero(offsets < 0)
    if sex == "M":
        j = int(below[0]) if below.size else None
    else:
        j = int(above[-1]) if above.size else None
    if j is None or j < 1:
        return None  # no level above that disc: L4 would not be in view
    if CREST_TOLERANCE_PERIOD < abs(offsets[j]) <= CREST_SEX_PRIOR_PERIOD:
        return j
    return None
