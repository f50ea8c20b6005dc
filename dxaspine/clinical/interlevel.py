"""Inter-level deviation: does a level's BMD fit its neighbours and the normal gradient?

Model (calibrated by ``reference_data/build_tables.py`` on NHANES 2017–2020, docs/domain.md §3):
level BMDs follow the cranio-caudal gradient ``BMD_i ≈ ρ_i · C`` with ρ the mean level/L1–L4
ratio (L1 0.941, L2 0.993, L3 1.029, L4 1.026).  Each level is predicted from the *other*
levels: pred_i = geometric mean over j ≠ i of BMD_j · ρ_i / ρ_j (leave-one-out, so a
lesion cannot hide itself).  The residual log(BMD_i / pred_i), centred by its NHANES median
and divided by its robust SD (1.4826 × MAD), is the deviation score.  |score| > threshold
flags the level.  Degeneration raises BMD (osteophytes up to +14 %, docs/domain.md §3), so
positive scores are the degenerative pattern; negative ones are reported too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dxaspine.errors import ReferenceDataError, describe

__all__ = [
    "InterlevelModel",
    "deviation_scores",
    "load_interlevel_model",
    "log_residuals",
    "one_pass_scores",
]

MODEL_FILE = "interlevel_model.json"


@dataclass(frozen=True)
class InterlevelModel:
    level_ratio: Mapping[str, float]  # mean BMD_level / BMD_L1-L4
    offset: Mapping[str, float]  # median log residual on the calibration set
    scale: Mapping[str, float]  # robust SD of the log residual
    threshold: float  # |score| above this flags the level
    calibration: Mapping[str, object]  # how the numbers were made, and the rates seen


def log_residuals(bmd_g_cm2: Mapping[str, float], level_ratio: Mapping[str, float]) -> dict:
    """Leave-one-out log residual per level; levels with fewer than 2 others are skipped."""
    usable = {k: v for k, v in bmd_g_cm2.items() if k in level_ratio and v is not None and v > 0}
    out = {}
    for label, value in usable.items():
        others = [k for k in usable if k != label]
        if len(others) < 2:
            continue  # one neighbour cannot tell which of the two is abnormal
        log_pred = sum(
            math.log(usable[j] * level_ratio[label] / level_ratio[j]) for j in others
        ) / len(others)
        out[label] = math.log(value) - log_pred
    return out


def one_pass_scores(bmd_g_cm2: Mapping[str, float], model: InterlevelModel) -> dict:
    """Deviation score of every level against all the others (no sequential removal)."""
    return {
        k: (r - model.offset[k]) / model.scale[k]
        for k, r in log_residuals(bmd_g_cm2, model.level_ratio).items()
    }


def deviation_scores(bmd_g_cm2: Mapping[str, float], model: InterlevelModel) -> dict:
    """Robust standardised deviation per level (see module docstring).

    Sequential: when the strongest level exceeds the threshold it keeps its score and the
    others are re-scored without it, so one grossly abnormal level (sclerosis: +50 %) does
    not drag its neighbours' predictions and get them flagged too.
    """
    remaining = dict(bmd_g_cm2)
    final: dict = {}
    while True:
        scores = one_pass_scores(remaining, model)
        if not scores:
            return final
        worst = max(scores, key=lambda k: abs(scores[k]))
        if abs(scores[worst]) <= model.threshold:
            final.update(scores)
            return final
        final[worst] = scores[worst]
        del remaining[worst]


@lru_cache(maxsize=1)
def load_interlevel_model() -> InterlevelModel:
    """The shipped model (``reference_data/interlevel_model.json``)."""
    path = resources.files("dxaspine.clinical") / "reference_data" / MODEL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return InterlevelModel(
            level_ratio=data["level_ratio"],
            offset=data["offset"],
            scale=data["scale"],
            threshold=float(data["threshold"]),
            calibration=data["calibration"],
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ReferenceDataError(
            describe(
                str(path),
                f"inter-level model unreadable ({exc})",
                "reinstall dxaspine or run dxaspine/clinical/reference_data/build_tables.py",
            )
        ) from exc
