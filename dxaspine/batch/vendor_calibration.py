"""The archive-level second reading: each device's area bias, estimated from the archive.

A single study cannot tell a vendor whose bone edge reads 2 % larger than ours from a label
shift whose areas happen to fit (docs/vendor_results.md §8: an uncalibrated +1 shift is missed
in up to 6 of 30 iDXA-like studies).  An archive can: the bias of each device model is the
median over its studies (:func:`dxaspine.clinical.area_sequence.estimate_area_bias`, robust to
the shifted ones), and every study of that device is then re-read with the calibrated model
when the tables are built.  The worker stores what this needs in each ledger record
(``areas``: the vendor's and our level areas, our label confidences, the device model).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

from dxaspine.clinical.area_sequence import AreaModel, estimate_area_bias, match_offsets

logger = logging.getLogger(__name__)

__all__ = ["MIN_STUDIES", "device_models", "reread_row"]

# Studies of one device needed before its bias is trusted: the bias is a median of per-study
# means whose spread is ~1.5 % (docs/vendor_results.md §8); with 5 studies its standard error is
# ~0.8 %, a third of the 2-3 % biases to be removed.
MIN_STUDIES = 5


def device_models(records: Iterable[Mapping]) -> dict[str, AreaModel]:
    """A calibrated AreaModel per device model with at least :data:`MIN_STUDIES` studies."""
    pairs: dict[str, list] = defaultdict(list)
    for record in records:
        areas = record.get("areas")
        if record.get("type") == "result" and areas:
            pairs[areas["model"]].append((areas["vendor"], areas["ours"]))
    models = {}
    for model, studies in pairs.items():
        if len(studies) < MIN_STUDIES:
            continue
        bias = estimate_area_bias(studies)
        if bias is not None:
            models[model] = AreaModel().calibrated(bias)
            logger.info(
                "vendor area bias of %s: %+.1f %% from %d studies",
                model,
                100 * bias.ln_ratio,
                bias.n_studies,
            )
    return models


def reread_row(record: Mapping, models: Mapping[str, AreaModel]) -> dict:
    """The record's row with its label-shift verdict re-read under its device's bias."""
    row = dict(record["row"])
    areas = record.get("areas")
    model = models.get(areas["model"]) if areas else None
    if model is None:
        return row
    match = match_offsets(areas["vendor"], areas["ours"], model)
    if match.best is None:
        return row
    codes = [c for c in (row.get("vendor_flags") or "").split(";") if c]
    codes = [c for c in codes if c != "vendor_labels_shifted"]
    if match.shifted:
        codes.append("vendor_labels_shifted")
    row["vendor_labels_shifted"] = bool(match.shifted)
    row["vendor_level_offset"] = float(match.best)
    row["vendor_flags"] = ";".join(dict.fromkeys(codes)) or None
    row["vendor_area_bias_studies"] = float(model.calibrated_from)
    return row
