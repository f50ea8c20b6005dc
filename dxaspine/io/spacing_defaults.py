"""Per-model default pixel spacing: the last link of the spacing chain (docs/domain.md §6).

Used only when the header has no PixelSpacing, ImagerPixelSpacing or ExposedArea.  Every
entry is **unverified** and the loader logs a warning when one is used; a user with a
calibration (a ruler phantom, the vendor's documentation) should prefer that.

Each entry records its source.  Add a model by adding a row here, with a note saying where
the numbers come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SpacingDefault:
    manufacturer: re.Pattern[str]  # matched against upper-cased Manufacturer
    model: re.Pattern[str]  # matched against upper-cased ManufacturerModelName
    pixel_spacing_mm: tuple[float, float]  # (row, column)
    verified: bool
    source: str


SPACING_DEFAULTS: tuple[SpacingDefault, ...] = (
    SpacingDefault(
        manufacturer=re.compile(r"\bGE\b|LUNAR"),
        model=re.compile(r"PRODIGY"),
        # docs/domain.md §6: "GE Prodigy exports ... spacing is about 0.6 x 1.05 mm"; the long
        # (1.05 mm) step is along the patient axis (rows), as the Prodigy exports show (docs/domain.md §6b).
        pixel_spacing_mm=(1.05, 0.6),
        verified=False,
        source="docs/domain.md §6 (GE Lunar Prodigy display exports, approximate)",
    ),
    SpacingDefault(
        manufacturer=re.compile(r"\bGE\b|LUNAR"),
        model=re.compile(r"IDXA"),
        # docs/domain.md §6: a UK Biobank iDXA AP spine, 780 x 716 px, ExposedArea [180, 197] mm
        # -> 197/780 = 0.2526 mm per row, 180/716 = 0.2514 mm per column.
        pixel_spacing_mm=(0.2526, 0.2514),
        verified=False,
        source="docs/domain.md §6 (one GE Lunar iDXA AP spine export, derived from ExposedArea)",
    ),
)


def default_spacing(manufacturer: str, model: str) -> SpacingDefault | None:
    """The table entry for a device, or None when the model is not in the table."""
    maker, name = manufacturer.upper(), model.upper()
    for entry in SPACING_DEFAULTS:
        if entry.manufacturer.search(maker) and entry.model.search(name):
            return entry
    return None
