"""Bring a stored image to the profile's orientation: head up, patient's left on the right.

docs/architecture.md, Contract 1: PatientOrientation ``L\\F`` — along a row (increasing column) the image
runs to the patient's Left, down a column (increasing row) to the Feet.  Other
orientations that differ only by direction (``R\\F``, ``L\\H``, ``R\\H``) are flipped.

**Transposed orientations** (``F\\L``, ``H\\R`` …: rows run head–foot) are **rejected** with
:class:`NotDxaError` rather than transposed: the pipeline reports coordinates of the
image as stored via :meth:`Scan.to_stored_xy`, which models flips only, and a transposed
DXA spine export is not something vendors produce.  A projection whose axes name
anterior/posterior is a lateral view, which dxaspine does not analyse.
"""

from __future__ import annotations

import logging

import numpy as np
from pydicom.dataset import Dataset

from dxaspine.errors import CorruptDicomError, NotDxaError, describe

logger = logging.getLogger(__name__)

_OPPOSITE = {"L": "R", "R": "L", "H": "F", "F": "H", "A": "P", "P": "A"}
# LPS patient axes of DICOM ImageOrientationPatient: +x left, +y posterior, +z head.
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("H", "F"))


def _letters_from_cosines(cosines: list[float]) -> str:
    axis = int(np.argmax(np.abs(cosines)))
    positive, negative = _AXIS_LETTERS[axis]
    return positive if cosines[axis] > 0 else negative


def stored_orientation(ds: Dataset, source: object = None) -> tuple[str, str] | None:
    """(row direction, column direction) as dominant letters, or None when not recorded.

    From PatientOrientation, else from ImageOrientationPatient.
    """
    value = ds.get("PatientOrientation")
    if value is not None and value != "":
        parts = [value] if isinstance(value, str) else [str(v) for v in value]
        parts = [p.strip().upper() for p in parts]
        if len(parts) == 2 and all(parts) and all(c in _OPPOSITE for p in parts for c in p):
            # Oblique values list letters in order of significance; the first dominates.
            return parts[0][0], parts[1][0]
        raise CorruptDicomError(
            describe(
                source,
                "PatientOrientation is not two direction codes (value not shown)",
                "set PatientOrientation to e.g. L\\F (docs/architecture.md, Contract 1)",
            )
        )
    iop = ds.get("ImageOrientationPatient")
    if iop is not None and len(iop) == 6:
        cos = [float(v) for v in iop]
        return _letters_from_cosines(cos[:3]), _letters_from_cosines(cos[3:])
    return None


def orientation_flips(ds: Dataset, source: object = None) -> tuple[str, ...]:
    """Which axes to flip, a subset of ("rows", "columns") in that order.

    Raises
    ------
    NotDxaError
        Transposed (rows run head–foot) or lateral (an axis runs anterior–posterior).
    CorruptDicomError
        Malformed or self-contradictory orientation.
    """
    letters = stored_orientation(ds, source)
    if letters is None:
        logger.warning(
            "%s: no PatientOrientation or ImageOrientationPatient; assuming the profile's L\\F",
            source,
        )
        return ()
    along_row, along_col = letters
    shown = f"{along_row}\\{along_col}"
    if "A" in letters or "P" in letters:
        raise NotDxaError(
            describe(
                source,
                f"orientation {shown} is a lateral projection",
                "dxaspine analyses PA lumbar spine images",
            )
        )
    if along_row in "HF" and along_col in "LR":
        raise NotDxaError(
            describe(
                source,
                f"image is stored transposed (orientation {shown}: rows run head-foot)",
                "re-export it with columns along left-right (PatientOrientation L\\F); "
                "dxaspine does not transpose images",
            )
        )
    if _OPPOSITE[along_row] == along_col or along_row == along_col:
        raise CorruptDicomError(
            describe(
                source, f"orientation {shown} names one axis twice", "correct PatientOrientation"
            )
        )
    flips = []
    if along_col == "H":
        flips.append("rows")
    if along_row == "R":
        flips.append("columns")
    return tuple(flips)


def apply_flips(image: np.ndarray, flips: tuple[str, ...]) -> np.ndarray:
    """Flip the last two axes of ``image`` as listed; returns a C-contiguous copy."""
    if "rows" in flips:
        image = image[..., ::-1, :]
    if "columns" in flips:
        image = image[..., :, ::-1]
    return np.ascontiguousarray(image)
