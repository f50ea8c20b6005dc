"""Which of our levels does each vendor level sit on?  Match the two area sequences.

Vertebral areas grow caudally (NHANES area shares L1 0.230, L2 0.242, L3 0.264, L4 0.286;
docs/domain.md §3), so a report whose labels are shifted by one level (the vendor's L1 on our T12
or L2, the classic mislabelling of docs/domain.md §3) has areas that fit ours one level off.  For
each offset k in {-1, 0, +1} the log area ratios d_i = ln(A_vendor(L_i) / A_ours(L_i+k)) − b
are modelled as a common bias term plus independent per-level scatter:

    d = β·1 + ε,   β ~ N(0, σ_b²),   ε ~ N(0, σ_e² I)

with b the calibrated systematic bias between the vendor's bone edge and ours, σ_b what
remains uncertain about it and σ_e the per-level scatter.  Offsets are compared on the vendor
levels that have a partner at both offsets (a pairwise likelihood ratio against k = 0), with a
prior of 13 % for a shifted report (L1 mislabelled in 13 % of women, Peel 1993; docs/domain.md §3)
split evenly between −1 and +1.  The result is the posterior of each offset.

Defaults and where they come from (docs/vendor_results.md §8):

- σ_e = 1.5 %: dxaspine's per-level area error on phantom display exports was SD 1.1 %
  (30 standard cases), plus ExposedArea's whole-mm rounding (≤ 0.28 % per axis);
- σ_b = 3 % uncalibrated, 1.5 % once b is estimated from an archive's own studies with
  :func:`estimate_area_bias` (per device model; the phantom showed a scanner-dependent bias of
  +0.4 % to +2.4 % of dxaspine against truth, and a real vendor's bone edge is unknown);
- ``tolerance`` 6 %: a level's area disagreement beyond it is flagged (worst phantom error
  3.5 % + spacing rounding 0.56 %, with margin).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from dxaspine.levels import next_level, previous_level

__all__ = ["AreaBias", "AreaMatch", "AreaModel", "estimate_area_bias", "match_offsets"]

OFFSETS = (-1, 0, 1)
PEEL_1993_MISLABELLED = 0.13  # docs/domain.md §3


@dataclass(frozen=True)
class AreaBias:
    """A systematic ln(A_vendor / A_ours) estimated from many studies of one device."""

    ln_ratio: float
    sd: float
    n_studies: int


@dataclass(frozen=True)
class AreaModel:
    """Parameters of the area-sequence match (see the module docstring)."""

    ln_bias: float = 0.0
    bias_sd: float = 0.03
    level_sd: float = 0.015
    prior_shift: float = PEEL_1993_MISLABELLED
    flag_probability: float = 0.5
    tolerance: float = 0.06
    min_pairs: int = 2
    calibrated_from: int = 0

    def calibrated(self, bias: AreaBias, bias_sd: float = 0.015) -> AreaModel:
        """This model with the bias of an archive (``estimate_area_bias``)."""
        return replace(self, ln_bias=bias.ln_ratio, bias_sd=bias_sd, calibrated_from=bias.n_studies)


def _partner(label: str, k: int) -> str:
    if k == 0:
        return label
    return next_level(label) if k > 0 else previous_level(label)


def _pairs(v: Mapping[str, float], o: Mapping[str, float], k: int) -> list[tuple[str, str]]:
    return [(lv, _partner(lv, k)) for lv in v if _partner(lv, k) in o]


def _quadratic(d: list[float], model: AreaModel) -> float:
    """dᵀC⁻¹d for C = σ_e² I + σ_b² 11ᵀ (Sherman–Morrison; equal n cancels the determinant)."""
    se2, sb2, n = model.level_sd**2, model.bias_sd**2, len(d)
    s1, s2 = sum(d), sum(x * x for x in d)
    return (s2 - sb2 * s1 * s1 / (se2 + n * sb2)) / se2


@dataclass(frozen=True)
class AreaMatch:
    """Offsets compared: pairs, log ratios, RMS, posterior; ``best`` is None if undecidable."""

    pairs: dict[int, list[tuple[str, str]]]
    ln_ratios: dict[int, list[float]]
    rms: dict[int, float]
    posterior: dict[int, float]
    best: int | None
    model: AreaModel
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def shifted(self) -> bool:
        return (
            self.best not in (None, 0) and self.posterior[self.best] > self.model.flag_probability
        )

    @property
    def fits(self) -> bool:
        return self.best is not None and self.rms[self.best] <= self.model.tolerance

    def evidence(self) -> dict:
        return {
            "best_offset": self.best,
            "offsets": {
                str(k): {
                    "pairs": [list(p) for p in self.pairs[k]],
                    "ln_ratio_minus_bias": self.ln_ratios[k],
                    "rms": self.rms.get(k),
                    "posterior": self.posterior.get(k),
                }
                for k in self.pairs
            },  # fmt: skip
            "ln_bias": self.model.ln_bias,
            "bias_sd": self.model.bias_sd,
            "level_sd": self.model.level_sd,
            "prior_shift": self.model.prior_shift,
            "calibrated_from_studies": self.model.calibrated_from,
            "notes": list(self.notes),
        }


def match_offsets(vendor_areas: Mapping[str, float], our_areas: Mapping[str, float],
                  model: AreaModel | None = None) -> AreaMatch:  # fmt: skip
    """Compare the vendor's level areas with ours at offsets −1, 0, +1.

    Parameters
    ----------
    vendor_areas, our_areas : mapping of level name -> area in cm²
    model : AreaModel, optional

    Returns
    -------
    AreaMatch
    """
    model = model or AreaModel()
    v = {k: float(a) for k, a in vendor_areas.items() if a and a > 0}
    o = {k: float(a) for k, a in our_areas.items() if a and a > 0}
    pairs = {k: _pairs(v, o, k) for k in OFFSETS}
    ratios = {k: [math.log(v[a] / o[b]) - model.ln_bias for a, b in pairs[k]] for k in OFFSETS}
    rms = {k: math.sqrt(sum(x * x for x in r) / len(r)) for k, r in ratios.items() if r}
    if len(pairs[0]) < model.min_pairs:
        note = f"fewer than {model.min_pairs} levels in common: labels not compared"
        return AreaMatch(pairs, ratios, rms, {}, None, model, (note,))
    prior = {0: 1.0 - model.prior_shift, -1: model.prior_shift / 2, 1: model.prior_shift / 2}
    log_post = {0: math.log(prior[0])}
    notes = []
    for k in (-1, 1):
        common = [a for a, _ in pairs[k] if a in o]  # vendor labels with partners at k and 0
        if len(common) < model.min_pairs:
            notes.append(
                f"offset {k:+d}: fewer than {model.min_pairs} levels in common; not considered"
            )
            continue
        dk = [math.log(v[a] / o[_partner(a, k)]) - model.ln_bias for a in common]
        d0 = [math.log(v[a] / o[a]) - model.ln_bias for a in common]
        log_post[k] = math.log(prior[k]) - 0.5 * (_quadratic(dk, model) - _quadratic(d0, model))
    top = max(log_post.values())
    z = sum(math.exp(x - top) for x in log_post.values())
    posterior = {k: math.exp(x - top) / z for k, x in log_post.items()}
    best = max(posterior, key=posterior.get)
    return AreaMatch(pairs, ratios, rms, posterior, best, model, tuple(notes))


def estimate_area_bias(
    studies: Iterable[tuple[Mapping[str, float], Mapping[str, float]]],
) -> AreaBias | None:
    """The systematic ln(A_vendor / A_ours) of one device from many studies (robust).

    Each study contributes the mean log ratio at the offset where its ratios are most
    *constant* (smallest variance: a shift changes the pattern, a bias does not), so shifted
    studies do not pull the estimate; the median across studies is returned, with the
    MAD-based SD.  None when no study has two levels in common.
    """
    means = []
    for vendor_areas, our_areas in studies:
        best = None
        for k in (0, -1, 1):  # 0 first: it wins ties
            p = _pairs(vendor_areas, our_areas, k)
            if len(p) < 2:
                continue
            d = [math.log(vendor_areas[a] / our_areas[b]) for a, b in p]
            spread = statistics.pvariance(d)
            if best is None or spread < best[0] - 1e-12:
                best = (spread, statistics.fmean(d))
        if best is not None:
            means.append(best[1])
    if not means:
        return None
    center = statistics.median(means)
    mad = statistics.median(abs(m - center) for m in means)
    return AreaBias(center, 1.4826 * mad, len(means))
