"""Compare two benchmark runs case by case: paired differences with bootstrap intervals.

For each segmenter in both runs and each metric, the per-case values of run A and run B are
paired by input (the same case id); the difference is ``B - A`` per case, its mean is the
effect, and its 95 % interval comes from the paired bootstrap: resample the *cases* with
replacement ``n_boot`` times, take the mean difference each time, and report the 2.5th and
97.5th percentiles (Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13:
percentile intervals; docs/benchmark.md, "Compare").  Resampling pairs keeps the case-to-case
correlation, so a change that moves every case a little is seen even when the spread between
cases is large.

A metric got **significantly worse** when the whole interval lies on its bad side, beyond an
optional tolerance: above ``+tolerance`` for a lower-is-better metric, below ``-tolerance``
for a higher-is-better one.  Identical runs give all-zero differences, an interval [0, 0] and
never "worse".  Cases in only one run are counted and left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_GATE", "METRICS", "Comparison", "Metric", "compare_rows"]


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    value: Callable[[Mapping], float | None]
    unit: str = ""


def _column(name: str, transform=float) -> Callable[[Mapping], float | None]:
    def get(row: Mapping) -> float | None:
        v = row.get(name)
        if v is None or v == "":
            return None
        v = transform(v)
        return v if math.isfinite(v) else None

    return get


def _level_accuracy(row: Mapping) -> float | None:
    right, wrong = row.get("levels_correct_n"), row.get("levels_wrong_n")
    if row.get("status") != "ok" or right is None or wrong is None or right + wrong == 0:
        return None
    return float(right) / float(right + wrong)


METRICS: dict[str, Metric] = {m.name: m for m in (
    # a failed case counts as wrong labels (its row says labels_scan_correct false)
    Metric("labels_scan_correct", True, _column("labels_scan_correct", lambda v: float(bool(v)))),
    Metric("level_label_accuracy", True, _level_accuracy),
    Metric("line_midpoint_error_mean_mm", False, _column("line_midpoint_error_mean_mm"), "mm"),
    Metric("line_tilt_error_mean_deg", False, _column("line_tilt_error_mean_deg"), "deg"),
    Metric("dice_mean", True, _column("dice_mean")),
    Metric("boundary_assd_mean_mm", False, _column("boundary_assd_mean_mm"), "mm"),
    Metric("l1l4_bmd_abs_error_percent", False, _column("L1-L4_bmd_error_percent", abs), "%"),
    Metric("failed", False, lambda r: float(r.get("status") != "ok")),
    Metric("segment_s", False, _column("segment_s"), "s"),
)}  # fmt: skip
# Checked by default: labelling, line placement, masks and failures (runtime is too noisy on
# a shared machine to gate on by default).
DEFAULT_GATE = ("labels_scan_correct", "line_midpoint_error_mean_mm", "dice_mean", "failed")


@dataclass(frozen=True)
class Comparison:
    segmenter: str
    metric: str
    n: int  # paired cases with a value in both runs
    mean_a: float | None
    mean_b: float | None
    difference: float | None  # mean of B - A
    ci_low: float | None
    ci_high: float | None
    verdict: str  # "worse", "better", "no significant change", "no pairs"
    gated: bool  # whether this metric decides the exit status


def _bootstrap(diffs: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float, float]:
    n = diffs.size
    means = np.empty(n_boot)
    for start in range(0, n_boot, 500):  # blocks keep the index array small
        stop = min(n_boot, start + 500)
        index = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diffs[index].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def compare_rows(
    rows_a: Sequence[Mapping],
    rows_b: Sequence[Mapping],
    metrics: Sequence[str] = tuple(METRICS),
    gate: Mapping[str, float] | None = None,
    segmenters: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[list[Comparison], dict]:
    """Paired comparison of two runs' per-case rows.

    Parameters
    ----------
    rows_a, rows_b : per-case rows (``dxaspine.bench.results.load_run``)
    metrics : metric names to report (``METRICS``)
    gate : ``{metric: tolerance}`` deciding "worse" for the exit status (default: DEFAULT_GATE, 0)
    segmenters : names to compare (default: every name in both runs)
    n_boot, seed : bootstrap resamples and generator seed (results are reproducible)

    Returns
    -------
    (comparisons, counts) where counts says how many cases were only in A or only in B.

    Raises
    ------
    ValueError
        An unknown metric name.
    """
    gate = dict.fromkeys(DEFAULT_GATE, 0.0) if gate is None else dict(gate)
    unknown = [m for m in (*metrics, *gate) if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}: use one of {', '.join(METRICS)}")
    metrics = list(dict.fromkeys([*metrics, *gate]))
    index_a = {(r["segmenter"], r["case"]): r for r in rows_a}
    index_b = {(r["segmenter"], r["case"]): r for r in rows_b}
    names_a = list(dict.fromkeys(r["segmenter"] for r in rows_a))
    names_b = {r["segmenter"] for r in rows_b}
    names = [n for n in names_a if n in names_b and (segmenters is None or n in segmenters)]
    rng = np.random.default_rng(seed)
    out: list[Comparison] = []
    only_a = len([k for k in index_a if k not in index_b and k[0] in names])
    only_b = len([k for k in index_b if k not in index_a and k[0] in names])
    for name in names:
        keys = [k for k in index_a if k[0] == name and k in index_b]
        for metric_name in metrics:
            metric = METRICS[metric_name]
            pairs = [(metric.value(index_a[k]), metric.value(index_b[k])) for k in keys]
            pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
            gated = metric_name in gate
            if not pairs:
                out.append(Comparison(name, metric_name, 0, None, None, None, None, None,
                                      "no pairs", gated))  # fmt: skip
                continue
            a = np.array([p[0] for p in pairs])
            b = np.array([p[1] for p in pairs])
            diffs = b - a
            if np.all(diffs == 0):
                low = high = 0.0
            else:
                low, high = _bootstrap(diffs, n_boot, rng)
            tolerance = gate.get(metric_name, 0.0)
            if metric.higher_is_better:
                worse, better = high < -tolerance, low > tolerance
            else:
                worse, better = low > tolerance, high < -tolerance
            verdict = "worse" if worse else "better" if better else "no significant change"
            out.append(Comparison(name, metric_name, len(pairs), float(a.mean()), float(b.mean()),
                                  float(diffs.mean()), low, high, verdict, gated))  # fmt: skip
    return out, {"only_in_a": only_a, "only_in_b": only_b, "segmenters": names}
