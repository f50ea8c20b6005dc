"""Confidence calibration: binned reliability and the expected calibration error (ECE).

A segmenter states a confidence for each level label.  It is *calibrated* when, among the
labels it gives with confidence about p, a share p is right.  Following Guo et al. 2017 (On
Calibration of Modern Neural Networks, ICML, section 2; docs/benchmark.md, "Calibration"):

- the labels are sorted into ``n_bins`` equal-width confidence bins over [0, 1] (a confidence
  of exactly 1 falls in the last bin, 0 in the first);
- per bin: the count, the mean stated confidence and the accuracy (share right);
- ``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|``, over non-empty bins.

ECE is 0 for perfect calibration and at most 1.  With few labels per bin it is noisy, and a
segmenter that is always right and always says 1.0 has ECE 0 (as it should).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_BINS", "Reliability", "reliability"]

DEFAULT_BINS = 10  # Guo et al. 2017 use M = 15; 10 keeps >= ~10 labels per bin on 30 cases


@dataclass(frozen=True)
class Reliability:
    """Binned reliability of stated confidences."""

    edges: tuple[float, ...]  # n_bins + 1 bin edges over [0, 1]
    counts: tuple[int, ...]
    mean_confidence: tuple[float | None, ...]  # None for an empty bin
    accuracy: tuple[float | None, ...]
    ece: float | None  # None when there are no labels
    n: int

    def to_json(self) -> dict:
        return {
            "edges": list(self.edges),
            "counts": list(self.counts),
            "mean_confidence": list(self.mean_confidence),
            "accuracy": list(self.accuracy),
            "ece": self.ece,
            "n": self.n,
        }


def reliability(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = DEFAULT_BINS
) -> Reliability:
    """Reliability bins and ECE of labels with stated ``confidences`` and truth ``correct``.

    Parameters
    ----------
    confidences : (N,) sequence of float in [0, 1]
    correct : (N,) sequence of bool
    n_bins : int

    Returns
    -------
    Reliability

    Raises
    ------
    ValueError
        Lengths differ, ``n_bins`` < 1, or a confidence outside [0, 1] (or NaN).
    """
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if conf.shape != right.shape or conf.ndim != 1:
        raise ValueError(f"confidences {conf.shape} and correct {right.shape} must be equal 1-D")
    if n_bins < 1:
        raise ValueError(f"n_bins is {n_bins}; use 1 or more")
    if conf.size and (not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.floor(conf * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=conf, minlength=n_bins)
    right_sum = np.bincount(index, weights=right.astype(float), minlength=n_bins)
    mean_conf: list[float | None] = []
    accuracy: list[float | None] = []
    ece = 0.0
    for b in range(n_bins):
        if counts[b] == 0:
            mean_conf.append(None)
            accuracy.append(None)
            continue
        c, a = conf_sum[b] / counts[b], right_sum[b] / counts[b]
        mean_conf.append(float(c))
        accuracy.append(float(a))
        ece += counts[b] / conf.size * abs(a - c)
    return Reliability(
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        mean_confidence=tuple(mean_conf),
        accuracy=tuple(accuracy),
        ece=float(ece) if conf.size else None,
        n=int(conf.size),
    )
