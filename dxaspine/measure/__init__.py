"""Per-level and composite measurement (docs/architecture.md pipeline stage ``measure``)."""

from dxaspine._lazy import lazy_exports

# Exported lazily (PEP 562): the composites are plain arithmetic over level names, and the
# batch runner and the CSV row need only their names; importing ``measure.levels`` (numba
# kernels) for that would load numba and the segmenter's modules into the runner (issue 17).
_EXPORTS = {
    "CLINICAL_LEVELS": "dxaspine.measure.composites",
    "Composite": "dxaspine.measure.composites",
    "composite": "dxaspine.measure.composites",
    "region_levels": "dxaspine.measure.composites",
    "region_name": "dxaspine.measure.composites",
    "standard_region_sets": "dxaspine.measure.composites",
    "LevelMeasurement": "dxaspine.measure.levels",
    "LevelSums": "dxaspine.measure.levels",
    "level_sums": "dxaspine.measure.levels",
    "measure_levels": "dxaspine.measure.levels",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

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
