"""``CohortTable``: per-level numbers of many scans as arrays, whatever file they came from.

One row per scan; per level (L1–L4) BMC g, area cm², BMD g/cm² (NaN when missing), whether
the *source* calls the level unusable and why (NHANES invalidity codes, a batch's own
exclusion, a tabular ``L1_invalid``), and image evidence codes (batch tables).  Sex (``F``/
``M``/``None``), age, and survey weights when the file has them.  ``populations`` name the
row sets an analysis may use, each with how it was made (:mod:`.readers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from dxaspine.errors import InputError, describe
from dxaspine.levels import CLINICAL_LEVELS
from dxaspine.measure.composites import region_levels

__all__ = ["CohortTable", "Population"]


@dataclass(frozen=True)
class Population:
    """A named set of rows and the rule that made it."""

    name: str
    mask: np.ndarray  # bool (n,)
    rule: str

    @property
    def n(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class CohortTable:
    """Per-level arrays of a cohort (module docstring)."""

    source: str
    layout: str  # "nhanes" | "batch" | "tabular"
    ids: tuple[str, ...]
    sex: np.ndarray  # object (n,): "F" | "M" | None
    age_years: np.ndarray  # float (n,), NaN unknown
    bmc_g: Mapping[str, np.ndarray]
    area_cm2: Mapping[str, np.ndarray]
    bmd_g_cm2: Mapping[str, np.ndarray]
    source_excluded: Mapping[str, np.ndarray]  # bool (n,): the source calls the level unusable
    source_reason: Mapping[str, np.ndarray]  # object (n,): why ("" when usable)
    image_flags: Mapping[str, np.ndarray] = field(default_factory=dict)  # object: tuple of codes
    weights: np.ndarray | None = None  # survey weights (n,), None when the file has none
    weight_name: str | None = None
    populations: Mapping[str, Population] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)  # provenance of the populations
    notes: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.ids)

    def measured(self, level: str) -> np.ndarray:
        """Rows where ``level`` has BMC and a positive area."""
        return np.isfinite(self.bmc_g[level]) & (np.nan_to_num(self.area_cm2[level]) > 0)

    def usable(self, level: str) -> np.ndarray:
        """Measured and not excluded by the source."""
        return self.measured(level) & ~self.source_excluded[level]

    def region_bmd(self, region: str | Iterable[str], rows: np.ndarray | None = None) -> np.ndarray:
        """ΣBMC/ΣArea over the region's levels (docs/domain.md §1); NaN where a level is missing.

        Raises
        ------
        InputError
            A level outside L1–L4.
        """
        levels = region_levels(region) if isinstance(region, str) else tuple(region)
        bad = [lv for lv in levels if lv not in CLINICAL_LEVELS]
        if bad:
            raise InputError(
                describe(
                    self.source,
                    f"region level {bad[0]} is not one of L1-L4",
                    "name regions of L1-L4 (e.g. L1-L4, L2-L4, L1-L2)",
                )
            )
        bmc = sum(self.bmc_g[lv] for lv in levels)
        area = sum(self.area_cm2[lv] for lv in levels)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(area > 0, bmc / np.where(area > 0, area, 1.0), np.nan)
        return out if rows is None else out[rows]

    def all_usable(self, levels: Iterable[str]) -> np.ndarray:
        """Rows where every level of ``levels`` is usable."""
        mask = np.ones(self.n, bool)
        for lv in levels:
            mask &= self.usable(lv)
        return mask

    def age_band(self, bands: tuple[float, ...]) -> np.ndarray:
        """Label per row (``"50-59"``; ``""`` outside), for half-open ``[b_i, b_i+1)`` bands."""
        out = np.full(self.n, "", dtype=object)
        for lo, hi in zip(bands, bands[1:], strict=False):
            sel = (self.age_years >= lo) & (self.age_years < hi)
            out[sel] = f"{lo:g}-{hi - 1:g}"
        return out
