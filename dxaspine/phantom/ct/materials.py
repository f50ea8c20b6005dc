"""Hounsfield units -> volumetric densities of the materials a DXA beam sees.

Every CT voxel becomes a mixture of four materials, in g/cm3 of voxel volume:
hydroxyapatite **mineral**, **lean** soft tissue, **fat**, and **metal**.  Air and bowel gas
are nothing.  The rules, each threshold with its source (docs/ct_phantom.md, "Materials"):

- **Body**: the largest connected region above ``body_hu`` = -500 HU (midway between air,
  -1000 HU by the definition of the scale, and fat, about -100 HU), after a one-voxel
  opening that detaches the CT table and blankets.  Outside it: nothing.
- **Soft tissue** (non-bone voxels) is a two-component mixture, linear in HU because the
  attenuation of a mixture is volume-weighted: fat at ``fat_hu`` = -100 HU (the mode of
  adipose tissue, inside the -190..-30 HU adipose window of CT body composition) and lean at
  ``lean_hu`` = +45 HU (skeletal muscle of lean adults 49 +- 3 HU, Goodpaster 2000).  Below
  fat the voxel is fat partly filled with gas; above lean it is lean at its nominal density:
  this replaces **iodinated contrast** (kidneys, vessels, excreted contrast: the CT has it, a
  DXA patient would not), and denser organs, by soft tissue.
- **Bone** is the vertebrae of the label map, the map's other bone classes when it has them
  (a TotalSegmentator ``total`` map: ribs, hips, femurs, sacrum), and otherwise every 3-D
  region above ``bone_hu`` = +200 HU (above the +150 HU top of the skeletal-muscle window, so
  no unenhanced soft tissue qualifies) that holds at least ``bone_min_cm3`` = 2 cm3 or touches
  a vertebra.  Contrast blobs (excreted contrast in the shared CT: 0.3-0.8 cm3) stay soft
  tissue; the ribs (2.3-5 cm3 each) and the pelvis are bone.  Every bone also gets its
  one-voxel partial-volume ring above ``FRINGE_HU`` = +100 HU: at 3 mm the cortex smears
  into the voxel beside the label (the ring adds 7.8 % to the L1-L5 mineral of the shared CT).
- A bone voxel is mineral in marrow: mineral = (HU - HU_marrow) / k, clipped to
  0..``max_mineral_g_cm3``, the rest of the voxel is marrow (fat and red marrow, red marrow
  taken as lean); in a ring voxel the rest is lean tissue (HU_lean replaces HU_marrow).
  ``k`` (HU per g/cm3 of mineral displacing marrow) follows from the
  definition of the HU and the NIST mass attenuation of hydroxyapatite and water (xraydb) at
  the CT's effective energy ``ct_effective_kev`` (70 keV for a 120 kVp beam: a modelling
  choice); about 1310 HU per g/cm3, i.e. 0.76 mg/cm3 per HU.
- **Marrow** composition: ``"fat"`` (default) an age- and sex-dependent fat fraction
  (:func:`marrow_fat_fraction`), ``"lean"`` all red marrow, ``"none"`` the mean composition
  of the patient's own soft tissue (marrow indistinguishable from the reference tissue beside
  the spine, as the two-material model assumes); ``marrow_fat_fraction`` overrides the number.
- **Metal**: HU >= ``metal_hu`` = 2000 (above cortical bone, about +1600 HU for 1.2 g/cm3
  of mineral by the same k, and above the densest non-implant bone of the shared CT, 1262 HU)
  is metal at ``metal_density_g_cm3`` (Ti-6Al-4V, 4.43 g/cm3; CT values of metal saturate, so
  the true density is unknown) and is recorded.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from dxaspine.errors import InputError
from dxaspine.phantom.ct.labels import ANATOMICAL_ORDER, LabelLayout
from dxaspine.phantom.ct.volume import CtVolume
from dxaspine.phantom.soft_tissue import FAT_DENSITY_G_CM3, LEAN_DENSITY_G_CM3

log = logging.getLogger(__name__)

HA_CRYSTAL_DENSITY_G_CM3 = 3.16  # hydroxyapatite (as phantom/physics.py)
HA_FORMULA = "Ca10(PO4)6(OH)2"
MARROW_MODELS = ("fat", "lean", "none")
ENHANCED_HU = 150.0  # top of the skeletal-muscle window: above it, soft tissue holds contrast
FRINGE_HU = 100.0  # a bone's partial-volume ring (a modelling choice: 55 HU above lean)


@dataclass(frozen=True)
class MaterialModel:
    """The HU -> materials rules (module docstring); every field is a stated threshold."""

    body_hu: float = -500.0  # midway between air (-1000, by definition) and fat (~-100)
    fat_hu: float = -100.0  # adipose mode, inside the -190..-30 HU adipose window
    lean_hu: float = 45.0  # skeletal muscle of lean adults 49 +- 3 HU (Goodpaster 2000)
    bone_hu: float = 200.0  # above the -29..+150 HU skeletal-muscle window
    bone_min_cm3: float = 2.0  # between contrast blobs (0.3-0.8 cm3) and ribs (2.3-5 cm3)
    metal_hu: float = 2000.0  # above cortical bone (~+1600 HU) and the CT's densest bone (1262)
    metal_density_g_cm3: float = 4.43  # Ti-6Al-4V; metal HU saturate, density is assumed
    ct_effective_kev: float = 70.0  # of a 120 kVp beam after the patient: a modelling choice
    max_mineral_g_cm3: float = 1.3  # fully mineralised cortical bone, about 1.2 g/cm3 HA
    marrow: str = "fat"  # "fat" (age/sex), "lean" or "none" (the patient's soft tissue)
    marrow_fat_fraction: float | None = None  # overrides the marrow model's fraction

    def validate(self) -> None:
        if self.marrow not in MARROW_MODELS:
            raise ValueError(f"marrow {self.marrow!r}: use one of {MARROW_MODELS}")
        if not self.fat_hu < self.lean_hu < self.bone_hu < self.metal_hu:
            raise ValueError("thresholds must satisfy fat_hu < lean_hu < bone_hu < metal_hu")
        if self.marrow_fat_fraction is not None and not 0 <= self.marrow_fat_fraction <= 1:
            raise ValueError(f"marrow_fat_fraction {self.marrow_fat_fraction}: use 0-1")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Materials:
    """Volumetric densities (g/cm3, float32, the CT grid) and the bone bookkeeping.

    ``vertebra`` holds ``i + 1`` for voxels of ``vertebra_names[i]`` (0 elsewhere);
    ``other_bone`` marks bone that is not a vertebra (ribs, pelvis, femurs); ``body`` the
    patient.
    """

    mineral: np.ndarray
    lean: np.ndarray
    fat: np.ndarray
    metal: np.ndarray
    vertebra: np.ndarray
    vertebra_names: tuple[str, ...]
    other_bone: np.ndarray
    body: np.ndarray
    record: dict


def marrow_fat_fraction(age_years: float, sex: str) -> float:
    """Volume fat fraction of lumbar vertebral marrow at ``age_years`` (a modelling choice).

    Anchored on chemical-shift MRI of L1-L4 (Baum 2018: 32 % in men and 27 % in women in
    their twenties, 35 % and 27 % in their thirties) and on MR spectroscopy of L3 in the
    elderly (Griffith 2012: a steady rise in men; a sharp rise in women between 55 and 65,
    after which women exceed men).  Men: 32 % at 25 y + 0.4 %/y; women: 27 % to 45 y,
    +1.2 %/y to 65 y, then +0.4 %/y; clipped to 20-70 %.
    """
    age = float(age_years)
    if sex.upper().startswith("F"):
        if age <= 45:
            ff = 0.27
        elif age <= 65:
            ff = 0.27 + 0.012 * (age - 45)
        else:
            ff = 0.51 + 0.004 * (age - 65)
    else:
        ff = 0.32 + 0.004 * (age - 25)
    return float(np.clip(ff, 0.20, 0.70))


def xraydb_module():
    """xraydb (the ``ct`` extra), or an InputError saying how to install it."""
    try:
        import xraydb
    except ImportError:
        raise InputError(
            "the CT phantom needs xraydb for NIST attenuation at any energy; "
            "install the ct extra: pip install 'dxaspine[ct]'"
        ) from None
    return xraydb


def hu_per_mineral(model: MaterialModel, marrow_hu: float) -> float:
    """HU added by 1 g/cm3 of HA mineral displacing marrow of ``marrow_hu`` (xraydb, NIST).

    HU = 1000 (mu - mu_water) / mu_water.  Mineral of density rho occupies rho / 3.16 of the
    voxel and marrow the rest, so mu = rho (mu/rho)_HA + (1 - rho / 3.16) mu_marrow, and each
    g/cm3 adds 1000 ((mu/rho)_HA - mu_marrow / 3.16) / mu_water HU.
    """
    xraydb = xraydb_module()
    energy_ev = model.ct_effective_kev * 1000.0
    mu_ha = xraydb.material_mu(HA_FORMULA, energy_ev, density=1.0)  # cm2/g
    mu_water = xraydb.material_mu("H2O", energy_ev, density=1.0)  # 1/cm at 1 g/cm3
    mu_marrow = mu_water * (1.0 + marrow_hu / 1000.0)
    return 1000.0 * (mu_ha - mu_marrow / HA_CRYSTAL_DENSITY_G_CM3) / mu_water


def body_mask(hu: np.ndarray, model: MaterialModel) -> np.ndarray:
    """The patient: largest connected region above ``body_hu`` after a one-voxel opening."""
    above = hu > model.body_hu
    core = ndi.binary_erosion(above)
    labels, n = ndi.label(core)
    if n == 0:
        return np.zeros_like(above)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndi.binary_dilation(labels == sizes.argmax()) & above


def _soft_tissue(hu: np.ndarray, model: MaterialModel) -> tuple[np.ndarray, np.ndarray]:
    """(fat, lean) volume fractions of non-bone voxels from the two-component mixture."""
    span = model.lean_hu - model.fat_hu
    fat_share = np.clip((model.lean_hu - hu) / span, 0.0, 1.0)  # of the tissue part
    filled = np.clip((hu + 1000.0) / (model.fat_hu + 1000.0), 0.0, 1.0)  # 1 - gas fraction
    return filled * fat_share, filled * (1.0 - fat_share)


def _hu_bone(hu, body, vertebrae, model: MaterialModel, voxel_cm3: float) -> np.ndarray:
    """Bone outside the vertebra labels from HU: big or vertebra-touching regions > bone_hu."""
    candidate = body & (hu > model.bone_hu) & ~vertebrae
    labels, n = ndi.label(candidate, structure=np.ones((3, 3, 3)))
    if n == 0:
        return np.zeros_like(candidate)
    sizes_cm3 = np.bincount(labels.ravel()) * voxel_cm3
    touching = np.unique(labels[ndi.binary_dilation(vertebrae) & candidate])
    keep = sizes_cm3 >= model.bone_min_cm3
    keep[touching] = True
    keep[0] = False
    return keep[labels]


def decompose_hu(
    volume: CtVolume,
    layout: LabelLayout,
    model: MaterialModel,
    age_years: float,
    sex: str,
) -> Materials:
    """Apply the rules of the module docstring to ``volume``.

    Raises
    ------
    ValueError
        For an invalid ``model`` (the message names the field).
    """
    model.validate()
    hu = volume.hu.astype(np.float64)
    voxel_cm3 = volume.voxel_volume_cm3
    body = body_mask(volume.hu, model)
    present = set(np.unique(volume.labels).tolist()) - {0}
    names_to_values = layout.vertebra_values(present)
    names = tuple(sorted(names_to_values, key=_anatomical_rank))
    vertebra = np.zeros(volume.shape, dtype=np.int16)
    for i, name in enumerate(names):
        vertebra[volume.labels == names_to_values[name]] = i + 1
    is_vertebra = vertebra > 0
    labelled_bone = sorted(present & layout.bone)
    if labelled_bone:
        other_bone = np.isin(volume.labels, labelled_bone) & ~is_vertebra
        if layout.sacrum is not None and names_to_values.get("S1") != layout.sacrum:
            other_bone |= volume.labels == layout.sacrum
        bone_source = "labels"
    else:
        other_bone = _hu_bone(hu, body, is_vertebra, model, voxel_cm3)
        bone_source = "hu_components"
    metal = body & (hu >= model.metal_hu)
    core = (is_vertebra | other_bone) & body & ~metal
    # the one-voxel partial-volume ring of every bone: cortex smeared into the neighbour voxel
    fringe = ndi.binary_dilation(core) & body & ~core & ~metal & (hu > FRINGE_HU)
    bone = core | fringe

    fat_v, lean_v = _soft_tissue(hu, model)
    tissue_ff = _mean_tissue_fat_fraction(hu, body & ~bone & ~metal, model)
    if model.marrow_fat_fraction is not None:
        ff = float(model.marrow_fat_fraction)
    elif model.marrow == "fat":
        ff = marrow_fat_fraction(age_years, sex)
    elif model.marrow == "lean":
        ff = 0.0
    else:  # "none": marrow like the reference soft tissue
        ff = tissue_ff
    marrow_hu = ff * model.fat_hu + (1.0 - ff) * model.lean_hu
    k = hu_per_mineral(model, marrow_hu)
    # a core voxel's non-mineral part is marrow; a fringe voxel's is the tissue beside the bone
    reference_hu = np.where(fringe, model.lean_hu, marrow_hu)
    raw_mineral = np.where(bone, (hu - reference_hu) / k, 0.0)
    clipped = int((raw_mineral > model.max_mineral_g_cm3).sum())
    mineral = np.clip(raw_mineral, 0.0, model.max_mineral_g_cm3)
    mineralised = mineral > 0
    marrow_volume = np.where(mineralised, 1.0 - mineral / HA_CRYSTAL_DENSITY_G_CM3, 0.0)
    # bone voxels darker than marrow (a label's soft-tissue edge) are soft tissue by the mixture
    soft = body & ~metal & ~mineralised
    marrow_ff = np.where(fringe, 0.0, ff)
    fat = np.where(soft, fat_v, 0.0) + marrow_volume * marrow_ff
    lean = np.where(soft, lean_v, 0.0) + marrow_volume * (1.0 - marrow_ff)
    fat *= FAT_DENSITY_G_CM3
    lean *= LEAN_DENSITY_G_CM3
    metal_density = np.where(metal, model.metal_density_g_cm3, 0.0)

    enhanced = soft & (hu > ENHANCED_HU)
    record = {
        "model": model.to_json(),
        "bone_source": bone_source,
        "hu_per_g_cm3_mineral": round(float(k), 3),
        "marrow_fat_fraction": round(ff, 4),
        "marrow_hu": round(float(marrow_hu), 3),
        "soft_tissue_fat_fraction_mean": round(tissue_ff, 4),
        "body_voxels": int(body.sum()),
        "mineral_voxels": int(mineralised.sum()),
        "mineral_clipped_voxels": clipped,
        "contrast_replaced_voxels": int(enhanced.sum()),
        "contrast_replaced_cm3": round(float(enhanced.sum() * voxel_cm3), 3),
        "metal": _metal_record(volume, metal, voxel_cm3, model),
        "vertebrae": {name: int(names_to_values[name]) for name in names},
        "other_bone_cm3": round(float((other_bone & core).sum() * voxel_cm3), 3),
        "fringe_voxels": int(fringe.sum()),
    }
    log.debug(
        "materials: %d mineral voxels, %d contrast voxels replaced, %d metal voxels",
        record["mineral_voxels"],
        record["contrast_replaced_voxels"],
        record["metal"]["voxels"],
    )
    return Materials(
        mineral=mineral.astype(np.float32),
        lean=lean.astype(np.float32),
        fat=fat.astype(np.float32),
        metal=metal_density.astype(np.float32),
        vertebra=vertebra,
        vertebra_names=names,
        other_bone=(other_bone & core) | (fringe & ~ndi.binary_dilation(is_vertebra)),
        body=body,
        record=record,
    )


def _anatomical_rank(name: str) -> int:
    return ANATOMICAL_ORDER.index(name)


def _mean_tissue_fat_fraction(hu, tissue, model: MaterialModel) -> float:
    """Mean fat volume fraction of the body's gas-free soft tissue (for marrow="none")."""
    inside = tissue & (hu >= model.fat_hu)
    if not inside.any():
        return 0.0
    share = np.clip((model.lean_hu - hu[inside]) / (model.lean_hu - model.fat_hu), 0.0, 1.0)
    return float(share.mean())


def _metal_record(volume: CtVolume, metal, voxel_cm3: float, model: MaterialModel) -> dict:
    n = int(metal.sum())
    out = {"voxels": n, "volume_cm3": round(n * voxel_cm3, 3)}
    if n:
        ijk = np.argwhere(metal)
        world = volume.world_mm(ijk)
        out["mass_g"] = round(n * voxel_cm3 * model.metal_density_g_cm3, 3)
        out["centroid_ras_mm"] = [round(float(v), 2) for v in world.mean(axis=0)]
        out["bbox_ras_mm"] = [
            [round(float(v), 2) for v in world.min(axis=0)],
            [round(float(v), 2) for v in world.max(axis=0)],
        ]
    return out
