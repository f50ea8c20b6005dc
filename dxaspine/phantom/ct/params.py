"""``CtPhantomParams``: every knob of one DXA scan projected from a CT.

Like :class:`dxaspine.phantom.PhantomParams` a case is a pure function of its params, and
the params are written into the truth JSON.  The variations mirror the drawn phantom's
(position, in-plane tilt, rotation about the long axis, added soft tissue, noise, dose,
scanner geometry); the header fields (sex, age, ...) are what the files say about the
patient, and age and sex also set the marrow fat fraction (:mod:`.materials`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dxaspine.phantom.ct.materials import MARROW_MODELS, MaterialModel
from dxaspine.phantom.ct.project import Pose
from dxaspine.phantom.ct.truth import TruthConvention
from dxaspine.phantom.params import _SCANNER_BEAM, BEAMS, SCANNERS, _lists
from dxaspine.physics.attenuation import TABULATED_ENERGIES_KEV
from dxaspine.segment.conventions import DEFAULT_BOX, DEFAULT_EDGE, BoxConvention, EdgeConvention


@dataclass(frozen=True)
class CtPhantomParams:
    """Parameters of one CT-derived case; all but the two paths have defaults."""

    ct_path: str
    labels_path: str
    label_layout: str | None = None  # a layouts name, a JSON {value: name} file, None = auto
    seed: int = 0
    suite: str = "ct"
    case: str = ""  # default: f"{suite}_{seed:03d}"
    scanner: str = "prodigy"
    # X-ray physics.  "mono" (default) projects at the two energies_kev: the two-effective-
    # energy model the decomposition itself uses, so on the CT family that assumption is shared
    # (named here and in docs/accuracy.md, which shows the figures both ways).  "auto"/"ge"/
    # "hologic" use the drawn phantom's polyenergetic physics (docs/physics.md: GE-like Ce
    # K-edge or Hologic-like kVp switching, xraydb attenuation; "auto" by the scanner's vendor)
    # and write the beam-hardening calibration table into the file.  The default stays "mono"
    # while the Hologic-like beam reads the shared CT's L1-L4 BMC 7-9 % low (docs/accuracy.md).
    beam: str = "mono"
    energies_kev: tuple[float, float] = (40.0, 70.0)  # "mono" only (docs/domain.md §5)
    i0_photons_per_mm2: tuple[float, float] = (8.0e6, 1.0e7)  # as PhantomParams
    dose_factor: float = 1.0  # multiplies i0 (a lower dose is noisier)
    noise: bool = True
    noise_seed: int | None = None  # None: from ``seed``
    field_height_mm: float = 197.0  # as PhantomParams (docs/domain.md §6, iDXA ExposedArea)
    field_width_mm: float = 180.0
    # pose of the patient on the DXA table relative to the CT (project.Pose)
    rotation_deg: float = 0.0
    tilt_deg: float = 0.0
    lateral_shift_mm: float = 0.0
    longitudinal_shift_mm: float = 0.0
    # a uniform layer added over the whole field (a larger patient), fat share by volume
    added_soft_tissue_cm: float = 0.0
    added_fat_fraction: float = 0.8
    # materials
    marrow: str = "fat"
    marrow_fat_fraction: float | None = None
    ct_effective_kev: float = 70.0
    # truth conventions, shared with the pipeline (segment/conventions.py; analyze --edge,
    # --box-margin-mm)
    edge: str = str(DEFAULT_EDGE)
    box_margin_mm: float = DEFAULT_BOX.margin_mm
    # where the truth's box is centred on each body: "edges" (midpoint of its half-maximum
    # lateral edges, the default) or "centroid" (thickness-weighted); truth.TruthConvention
    axis_centre: str = "edges"
    # known findings on this CT, as (level, finding) pairs; a level without one is lesion-free
    findings: tuple[tuple[str, str], ...] = ()
    # patient header
    sex: str = "F"
    age_years: float = 61.0
    ethnicity: str = "White"
    height_m: float = 1.70
    weight_kg: float = 75.0
    display_photometric: str = "MONOCHROME2"
    display_annotations: bool = False
    display_annotation_text_block: bool = True

    @property
    def case_name(self) -> str:
        return self.case or f"{self.suite}_{self.seed:03d}"

    @property
    def pixel_spacing_mm(self) -> tuple[float, float]:
        return SCANNERS[self.scanner]["pixel_spacing_mm"]

    @property
    def pose(self) -> Pose:
        return Pose(self.rotation_deg, self.tilt_deg, self.lateral_shift_mm,
                    self.longitudinal_shift_mm)  # fmt: skip

    @property
    def material_model(self) -> MaterialModel:
        return MaterialModel(
            marrow=self.marrow,
            marrow_fat_fraction=self.marrow_fat_fraction,
            ct_effective_kev=self.ct_effective_kev,
        )

    @property
    def convention(self) -> TruthConvention:
        return TruthConvention(
            edge=EdgeConvention.parse(self.edge),
            box=BoxConvention(margin_mm=self.box_margin_mm),
            axis_centre=self.axis_centre,
        )

    def replace(self, **changes) -> CtPhantomParams:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        if not self.display_annotations:
            del out["display_annotations"], out["display_annotation_text_block"]
        return _lists(out)

    @property
    def beam_name(self) -> str:
        """The beam actually simulated ("auto" resolved by the scanner's vendor)."""
        return _SCANNER_BEAM.get(self.scanner, "ge") if self.beam == "auto" else self.beam

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.scanner not in SCANNERS:
            raise ValueError(f"scanner {self.scanner!r}: use one of {sorted(SCANNERS)}")
        for energy in self.energies_kev:
            if float(energy) not in TABULATED_ENERGIES_KEV:
                raise ValueError(
                    f"energies_kev {self.energies_kev}: use NIST-tabulated energies "
                    f"{TABULATED_ENERGIES_KEV} (docs/domain.md §5: no interpolation)"
                )
        if self.beam not in BEAMS:
            raise ValueError(f"beam {self.beam!r}: use one of {BEAMS}")
        if self.marrow not in MARROW_MODELS:
            raise ValueError(f"marrow {self.marrow!r}: use one of {MARROW_MODELS}")
        self.convention  # noqa: B018  (parses edge and box; ValueError names a bad one)
        if not 0.05 <= self.dose_factor <= 20.0:
            raise ValueError(f"dose_factor {self.dose_factor}: use 0.05-20")
        if not 0.0 <= self.added_soft_tissue_cm <= 25.0:
            raise ValueError(f"added_soft_tissue_cm {self.added_soft_tissue_cm}: use 0-25")
        if not 0.0 <= self.added_fat_fraction <= 1.0:
            raise ValueError(f"added_fat_fraction {self.added_fat_fraction}: use 0-1")
        if abs(self.rotation_deg) > 30 or abs(self.tilt_deg) > 30:
            raise ValueError("rotation_deg and tilt_deg: use -30..30 degrees")
        if not 80.0 <= self.field_height_mm <= 400.0 or not 80.0 <= self.field_width_mm <= 400.0:
            raise ValueError("field_height_mm and field_width_mm: use 80-400 mm")
        if self.display_photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise ValueError(f"display_photometric {self.display_photometric!r}")
        self.material_model.validate()
