"""The ``Scan``: what loading hands to the rest of the pipeline.

A ``Scan`` is oriented head-up with the patient's left on the image's right (the
interchange profile's PatientOrientation ``L\\F``; docs/architecture.md, Contract 1).  It remembers
which flips were applied so that outputs can report coordinates "of the loaded image as
stored" (Contract 2) via :meth:`Scan.to_stored_xy`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# A registered input kind's name (dxaspine.io.kinds): "dual_energy", "bmd_map", "display" ...
ScanKind = str
SpacingSource = Literal["PixelSpacing", "ImagerPixelSpacing", "ExposedArea", "default"]


@dataclass(frozen=True)
class Patient:
    """Demographics used by the clinical layer. ``None`` means unknown, never guessed."""

    sex: Literal["F", "M"] | None = None
    age_years: float | None = None
    age_source: str | None = None  # "PatientAge" | "PatientBirthDate" | None
    ethnicity: str | None = None
    height_m: float | None = None
    weight_kg: float | None = None


@dataclass(frozen=True)
class Device:
    manufacturer: str | None = None
    model: str | None = None
    software: str | None = None


@dataclass(frozen=True)
class Scan:
    """One loaded DXA image (or dual-energy pair), oriented head-up, patient left on the right.

    ``frames`` holds float64 arrays after the Modality LUT, all of shape (rows, cols), named by
    the scan's kind (:mod:`dxaspine.io.kinds`):

    - ``dual_energy``: ``{"low": counts, "high": counts}``
    - ``bmd_map``: ``{"bmd": g/cm2}``
    - ``display``: ``{"display": grey value, bone bright}``
    """

    kind: ScanKind
    frames: Mapping[str, np.ndarray]
    pixel_spacing_mm: tuple[float, float]  # (row, column)
    pixel_spacing_source: SpacingSource
    field_mask: np.ndarray  # bool (rows, cols): True where the scanner measured
    patient: Patient = field(default_factory=Patient)
    device: Device = field(default_factory=Device)
    energies_kev: tuple[float, float] | None = None  # (low, high)
    i0_counts: tuple[float, float] | None = None  # unattenuated counts per pixel (low, high)
    bone_mu_cm2_g: tuple[float, float] | None = None  # from the file's private block, if given
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    study_date: _dt.date | None = None
    body_part: str | None = None
    protocol: str | None = None
    recognised_by: str = ""  # how the kind was decided, e.g. "private content DE_COUNTS"
    orientation_flips: tuple[str, ...] = ()  # subset of ("rows", "columns") applied on load
    stored_shape: tuple[int, int] | None = None  # (rows, cols) as stored in the file
    path: str | None = None
    header: object | None = None  # pydicom.Dataset without pixel data, for derived objects

    @property
    def shape(self) -> tuple[int, int]:
        return next(iter(self.frames.values())).shape  # type: ignore[return-value]

    @property
    def quantitative(self) -> bool:
        """Whether BMD in g/cm2 can be measured from this kind (never from display grey)."""
        from dxaspine.io.kinds import get_kind

        return get_kind(self.kind).quantitative

    @property
    def picture(self) -> np.ndarray | None:
        """The frame pictures show for this kind (None: show the density map)."""
        from dxaspine.io.kinds import get_kind

        name = get_kind(self.kind).picture_frame
        return None if name is None else self.frames.get(name)

    @property
    def pixel_area_cm2(self) -> float:
        return self.pixel_spacing_mm[0] * self.pixel_spacing_mm[1] / 100.0

    def to_stored_xy(self, column: float, row: float) -> tuple[float, float]:
        """Map a ``[column, row]`` of the loaded (head-up) image back to the stored image."""
        rows, cols = self.shape
        if "columns" in self.orientation_flips:
            column = cols - 1 - column
        if "rows" in self.orientation_flips:
            row = rows - 1 - row
        return column, row
