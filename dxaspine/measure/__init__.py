"""Per-level and composite measurement (docs/architecture.md pipeline stage ``measure``)."""

from dxaspine.measure.composites import (
    CLINICAL_LEVELS,
    Composite,
    composite,
    region_levels,
    region_name,
    standard_region_sets,
)
from dxaspine.measure.levels import LevelMeasurement, LevelSums, level_sums, measure_levels

__all__ = [
    "CLINICAL_LEVELS",
    "Composite",
    "LevelMeasurement",
    "LevelSums",
    "composite",
    "level_sums",
    "measure_levels",
    "region_levels",
    "region_name",
    "standard_region_sets",
]
