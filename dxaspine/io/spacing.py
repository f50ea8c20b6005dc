"""The pixel spacing chain (docs/domain.md §6): which header attribute gives the physical scale.

1. ``PixelSpacing`` (row, column) in mm;
2. ``ImagerPixelSpacing`` ÷ ``EstimatedRadiographicMagnificationFactor`` (÷ 1 when absent);
3. ``ExposedArea`` [width, length] mm ÷ (Columns, Rows);
4. a per-model default (:mod:`dxaspine.io.spacing_defaults`, unverified);
5. otherwise :class:`MissingSpacingError`.

The source is part of the result, and every step after the first is logged as a warning:
a silent fallback is a patient-safety issue (docs/domain.md §6).  A value that is present but
non-numeric, zero or negative is an error, never a reason to fall through to the next step.
"""

from __future__ import annotations

import logging
import math

from pydicom.dataset import Dataset

from dxaspine.errors import CorruptDicomError, MissingSpacingError, describe
from dxaspine.io.scan import SpacingSource
from dxaspine.io.spacing_defaults import default_spacing

logger = logging.getLogger(__name__)

# DXA pixels range from about 0.1 mm (high-resolution fan beam) to about 1.05 mm (Prodigy,
# docs/domain.md §6); anything outside this generous bracket is a unit or encoding error.
MIN_SPACING_MM = 0.01
MAX_SPACING_MM = 5.0


def _numbers(
    ds: Dataset, keyword: str, count: tuple[int, ...], source: object
) -> list[float] | None:
    """The attribute's values as positive finite floats, None when absent or empty."""
    fix = f"correct {keyword} in the header, or remove it so the next spacing source is used"
    try:
        value = ds.get(keyword)  # pydicom converts DS/IS text here and may reject it
        if value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0):
            return None
        items = [value] if isinstance(value, str | bytes | int | float) else list(value)
        numbers = [float(str(v).strip()) for v in items]
    except (ValueError, TypeError):
        # The text is not quoted: a damaged field may hold anything (docs/hardening.md §4).
        raise CorruptDicomError(describe(source, f"{keyword} is not numeric", fix)) from None
    if len(numbers) not in count:
        raise CorruptDicomError(
            describe(source, f"{keyword} has {len(numbers)} value(s), expected {count[-1]}", fix)
        )
    if not all(math.isfinite(n) and n > 0 for n in numbers):
        raise CorruptDicomError(describe(source, f"{keyword} {numbers} must be positive", fix))
    return numbers


def _checked(spacing: tuple[float, float], what: str, source: object) -> tuple[float, float]:
    if not all(MIN_SPACING_MM <= s <= MAX_SPACING_MM for s in spacing):
        raise CorruptDicomError(
            describe(
                source,
                f"pixel spacing {spacing[0]:.4g} x {spacing[1]:.4g} mm from {what} is implausible "
                f"for DXA ({MIN_SPACING_MM}..{MAX_SPACING_MM} mm)",
                f"correct {what} (it must be in mm)",
            )
        )
    return spacing


def resolve_spacing(
    ds: Dataset, source: object = None
) -> tuple[tuple[float, float], SpacingSource, str]:
    """Pixel spacing (row, column) in mm of the image **as stored**, its source and a note.

    Parameters
    ----------
    ds : pydicom.Dataset
        The image header.
    source : path-like, optional
        Names the file in messages.

    Returns
    -------
    pixel_spacing_mm : tuple of float
        (row, column) spacing in mm.
    spacing_source : {"PixelSpacing", "ImagerPixelSpacing", "ExposedArea", "default"}
    note : str
        How the value was derived (logged; useful in reports).

    Raises
    ------
    CorruptDicomError
        A spacing attribute is present but non-numeric, zero, negative or implausible.
    MissingSpacingError
        No source in the chain applies.
    """
    pixel = _numbers(ds, "PixelSpacing", (2,), source)
    if pixel is not None:
        spacing = _checked((pixel[0], pixel[1]), "PixelSpacing", source)
        return spacing, "PixelSpacing", "PixelSpacing"

    imager = _numbers(ds, "ImagerPixelSpacing", (2,), source)
    if imager is not None:
        factor = _numbers(ds, "EstimatedRadiographicMagnificationFactor", (1,), source)
        if factor is None:
            note = "ImagerPixelSpacing / 1 (EstimatedRadiographicMagnificationFactor absent)"
            factor = [1.0]
        else:
            note = f"ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor {factor[0]:g}"
        spacing = _checked(
            (imager[0] / factor[0], imager[1] / factor[0]), "ImagerPixelSpacing", source
        )
        logger.warning("%s: no PixelSpacing; spacing from %s", source, note)
        return spacing, "ImagerPixelSpacing", note

    area = _numbers(ds, "ExposedArea", (2,), source)
    if area is not None:
        # ExposedArea is [width, length] in mm (docs/domain.md §6: iDXA [180, 197] over
        # 716 columns x 780 rows): width spans the columns, length the rows.
        rows, cols = int(ds.Rows), int(ds.Columns)
        spacing = _checked((area[1] / rows, area[0] / cols), "ExposedArea", source)
        note = f"ExposedArea {area[0]:g} x {area[1]:g} mm / ({cols} columns, {rows} rows)"
        logger.warning("%s: no PixelSpacing; spacing from %s", source, note)
        return spacing, "ExposedArea", note

    maker = str(ds.get("Manufacturer") or "")
    model = str(ds.get("ManufacturerModelName") or "")
    entry = default_spacing(maker, model)
    if entry is not None:
        note = (  # the table's own description, not the header text (docs/hardening.md §4)
            f"per-model default {entry.pixel_spacing_mm} mm "
            f"({'verified' if entry.verified else 'UNVERIFIED'}; {entry.source})"
        )
        logger.warning("%s: no spacing in the header; using %s", source, note)
        return entry.pixel_spacing_mm, "default", note

    raise MissingSpacingError(
        describe(
            source,
            "no pixel spacing: none of PixelSpacing, ImagerPixelSpacing or ExposedArea is set "
            "and the scanner model (Manufacturer, ManufacturerModelName) has no default",
            "add PixelSpacing to the header, or add the model to dxaspine/io/spacing_defaults.py",
        )
    )
