"""``PhantomParams``: every knob of one simulated PA lumbar spine DXA case.

A case is a pure function of its params (``generate_case(params)`` is deterministic), and the
params are written verbatim into the truth JSON, so a case can always be regenerated from it.
Numbers come from docs/domain.md; where a value is a modelling choice it says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dxaspine.physics.attenuation import TABULATED_ENERGIES_KEV

# docs/domain.md §3: NHANES 2017-2020 per-level BMD as a ratio of the L1-L4 composite.
NHANES_LEVEL_RATIOS: dict[str, float] = {"L1": 0.941, "L2": 0.993, "L3": 1.029, "L4": 1.026}

# Scanner geometries: pixel spacing (row, column) in mm.
#   prodigy: docs/domain.md §6 "about 0.6 x 1.05 mm" (column 0.6, row 1.05).
#   idxa: docs/domain.md §6 ExposedArea [180, 197] over 716 x 780 -> about 0.25 mm.
#   hologic: 0.5 mm is a modelling choice, *unverified*.
SCANNERS: dict[str, dict] = {
    "prodigy": {"pixel_spacing_mm": (1.05, 0.6), "model": "Prodigy-like", "verified": True},
    "idxa": {"pixel_spacing_mm": (0.25, 0.25), "model": "iDXA-like", "verified": True},
    "hologic": {"pixel_spacing_mm": (0.5, 0.5), "model": "Hologic-like", "verified": False},
}

LESION_TYPES = (
    "osteophyte",
    "sclerosis",
    "facet_arthrosis",
    "fracture",
    "aortic_calcification",
    "pedicle_screws",
)
TRANSITIONAL_TYPES = ("six_lumbar", "lumbar_rib", "no_t12_rib")
MARROW_MODELS = ("lean", "none")


@dataclass(frozen=True)
class Lesion:
    """One pathology at one level.

    ``severity`` is 0-1 and scales the lesion (spur length, sclerosis density, fracture height
    loss 20-40 %, plaque density...).  ``pedicle_screws`` instruments ``level`` and the level
    below it, joined by rods.
    """

    type: str
    level: str
    severity: float = 0.7


@dataclass(frozen=True)
class PhantomParams:
    """Parameters of one phantom case; every field has a default.

    Geometry is in mm, in the image plane: x to the patient's left (image right), y to the feet.
    """

    seed: int = 0
    suite: str = "custom"
    case: str = ""  # default: f"{suite}_{seed:03d}"
    scanner: str = "prodigy"
    energies_kev: tuple[float, float] = (40.0, 70.0)  # docs/domain.md §5: GE Lunar ~38-40 / 70 keV
    # docs/domain.md §5: 5-7 x 10^5 photons per 0.25 mm pixel (0.0625 mm2) unattenuated.
    i0_photons_per_mm2: tuple[float, float] = (8.0e6, 1.0e7)
    noise: bool = True
    # Poisson draw only: the same anatomy rescanned with fresh noise (precision studies).
    # None: derived from ``seed`` like everything else.
    noise_seed: int | None = None
    field_height_mm: float = 197.0  # docs/domain.md §6 (iDXA ExposedArea)
    field_width_mm: float = 180.0
    # density
    target_bmd_g_cm2: float = 1.0  # L1-L4 composite the calibration aims at
    level_ratios: tuple[float, float, float, float] = (0.941, 0.993, 1.029, 1.026)
    # soft tissue
    soft_tissue_thickness_cm: float = 20.0
    fat_fraction: float = 0.30  # mean fat volume fraction of the soft tissue
    fat_fraction_variation: float = 0.08  # amplitude of the smooth random field
    gas_pockets: int = 0
    marrow: str = "lean"  # "lean": bone volume displaces tissue, its non-mineral part is lean
    # geometry variations
    scoliosis_mm: float = 0.0  # lateral amplitude of a C curve; + is convex to patient's left
    rotation_deg: float = 0.0  # axial patient rotation
    tilt_deg: float = 0.0  # in-plane tilt of the whole patient
    lateral_shift_mm: float = 0.0
    body_scale: float = 1.0  # vertebra size factor
    anatomy_jitter: float = 1.0  # 0 switches off the seeded natural variation
    lesions: tuple[Lesion, ...] = ()
    transitional: str | None = None
    # patient header
    sex: str = "F"
    age_years: float = 61.0
    ethnicity: str = "White"
    height_m: float = 1.63
    weight_kg: float = 68.0
    # display export
    display_photometric: str = "MONOCHROME2"
    # Vendor graphics burned into the display export only (disc lines, box sides, level
    # labels; see annotations.py).  Off by default; omitted from the JSON while off, so the
    # truth of existing cases (and test_images/) stays byte-identical.
    display_annotations: bool = False
    display_annotation_text_block: bool = True  # a small text block in a corner, if annotated
    supersample: tuple[int, int] | None = None  # default: per scanner, fine step <= ~0.21 mm

    @property
    def case_name(self) -> str:
        return self.case or f"{self.suite}_{self.seed:03d}"

    @property
    def pixel_spacing_mm(self) -> tuple[float, float]:
        return SCANNERS[self.scanner]["pixel_spacing_mm"]

    def replace(self, **changes) -> PhantomParams:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["lesions"] = [dataclasses.asdict(lesion) for lesion in self.lesions]
        if not self.display_annotations:
            del out["display_annotations"], out["display_annotation_text_block"]
        return _lists(out)

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
        if not 0.3 <= self.target_bmd_g_cm2 <= 2.0:
            raise ValueError(f"target_bmd_g_cm2 {self.target_bmd_g_cm2}: use 0.3-2.0")
        if not 5.0 <= self.soft_tissue_thickness_cm <= 45.0:
            raise ValueError(f"soft_tissue_thickness_cm {self.soft_tissue_thickness_cm}: use 5-45")
        if not 0.0 <= self.fat_fraction <= 0.8:
            raise ValueError(f"fat_fraction {self.fat_fraction}: use 0-0.8")
        if self.transitional not in (None, *TRANSITIONAL_TYPES):
            raise ValueError(
                f"transitional {self.transitional!r}: use None or {TRANSITIONAL_TYPES}"
            )
        if self.marrow not in MARROW_MODELS:
            raise ValueError(f"marrow {self.marrow!r}: use one of {MARROW_MODELS}")
        if self.display_photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise ValueError(f"display_photometric {self.display_photometric!r}")
        if len(self.level_ratios) != 4:
            raise ValueError("level_ratios: give four ratios for L1-L4")
        for lesion in self.lesions:
            if lesion.type not in LESION_TYPES:
                raise ValueError(f"lesion type {lesion.type!r}: use one of {LESION_TYPES}")
            if lesion.level not in ("T12", "L1", "L2", "L3", "L4", "L5", "L6"):
                raise ValueError(f"lesion level {lesion.level!r}")
            if lesion.level == "L6" and self.transitional != "six_lumbar":
                raise ValueError("lesion on L6 needs transitional='six_lumbar'")


def _lists(value):
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value
