"""Named, seeded suites of phantom cases.

``SUITES[name](seed=0, count=None)`` yields :class:`PhantomParams`; ``write_options(params)``
says which kinds (and flips) the suite writes for a case.  Every random choice comes from
``numpy.random.default_rng([suite_id, seed, index])`` so a suite is reproducible from its seed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import numpy as np

from dxaspine.phantom.params import LESION_TYPES, TRANSITIONAL_TYPES, Lesion, PhantomParams

ALL_KINDS = ("dual_energy", "bmd_map", "display", "dual_energy_pair")
DEFAULT_KINDS = ("dual_energy", "bmd_map", "display")
SCANNER_CYCLE = ("prodigy", "idxa", "hologic")
LUMBAR = ("L1", "L2", "L3", "L4")

# test_images: case name -> (kinds, flip); kept small (<= ~5 MB committed).
_TEST_IMAGE_OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ti_standard_prodigy": (ALL_KINDS, ()),
    "ti_pathology_idxa": (("dual_energy", "display"), ()),
    "ti_flipped_prodigy": (("dual_energy", "display"), ("columns",)),
    "ti_transitional_prodigy": (("dual_energy", "bmd_map", "display"), ()),
    "ti_monochrome1_hologic": (("bmd_map", "display"), ()),
}


def _rng(suite: str, seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(suite.encode()), seed, index])


def _patient(rng: np.random.Generator) -> dict:
    sex = "F" if rng.random() < 0.6 else "M"
    height = rng.normal(1.63 if sex == "F" else 1.76, 0.06)
    bmi = rng.uniform(20.0, 34.0)
    return {
        "sex": sex,
        "age_years": float(np.round(rng.uniform(50.0, 80.0), 1)),
        "ethnicity": str(
            rng.choice(["White", "Black", "Hispanic", "Asian"], p=[0.7, 0.12, 0.1, 0.08])
        ),
        "height_m": float(np.round(height, 2)),
        "weight_kg": float(np.round(bmi * height**2, 1)),
        # NHANES §3: mean total area 54.7 cm2 women, 66.3 cm2 men -> smaller female vertebrae
        "body_scale": float(np.round((0.95 if sex == "F" else 1.04) * rng.normal(1.0, 0.03), 3)),
        "soft_tissue_thickness_cm": float(np.round(np.clip(8.0 + 0.55 * bmi, 12.0, 35.0), 1)),
    }


def _base(suite: str, seed: int, index: int, rng: np.random.Generator, **over) -> PhantomParams:
    fields = _patient(rng)
    fields.update(
        seed=seed * 1000 + index,
        suite=suite,
        case=f"{suite}_{index:03d}",
        scanner=SCANNER_CYCLE[index % 3],
        target_bmd_g_cm2=float(np.round(rng.uniform(0.7, 1.3), 3)),
        fat_fraction=float(np.round(rng.uniform(0.2, 0.45), 3)),
        scoliosis_mm=float(np.round(rng.uniform(-10.0, 10.0), 1)),
        rotation_deg=float(np.round(np.clip(rng.normal(0, 1.5), -3, 3), 2)),
        tilt_deg=float(np.round(rng.normal(0.0, 2.0), 2)),
        lateral_shift_mm=float(np.round(rng.uniform(-10.0, 10.0), 1)),
    )
    fields.update(over)
    return PhantomParams(**fields)


def standard(seed: int = 0, count: int | None = None) -> Iterator[PhantomParams]:
    """No pathology, scoliosis <= 10 mm, all scanners."""
    for i in range(12 if count is None else count):
        yield _base("standard", seed, i, _rng("standard", seed, i))


def hard(seed: int = 0, count: int | None = None) -> Iterator[PhantomParams]:
    """Scoliosis to 25 mm, rotation +-5 deg, 12-35 cm tissue, gas, each pathology, metal."""
    for i in range(12 if count is None else count):
        rng = _rng("hard", seed, i)
        lesion = Lesion(LESION_TYPES[i % len(LESION_TYPES)], str(rng.choice(LUMBAR[:3])),
                        float(np.round(rng.uniform(0.5, 1.0), 2)))  # fmt: skip
        yield _base(
            "hard", seed, i, rng,
            scoliosis_mm=float(np.round(rng.uniform(-25.0, 25.0), 1)),
            rotation_deg=float(np.round(rng.uniform(-5.0, 5.0), 2)),
            soft_tissue_thickness_cm=float(np.round(rng.uniform(12.0, 35.0), 1)),
            gas_pockets=int(rng.integers(0, 5)),
            target_bmd_g_cm2=float(np.round(rng.uniform(0.5, 1.4), 3)),
            lesions=(lesion,),
        )  # fmt: skip


def pathology(seed: int = 0, count: int | None = None) -> Iterator[PhantomParams]:
    """Each lesion type at one level, otherwise standard."""
    n = len(LESION_TYPES) if count is None else count
    for i in range(n):
        rng = _rng("pathology", seed, i)
        level = str(rng.choice(LUMBAR[:3] if LESION_TYPES[i % 6] == "pedicle_screws" else LUMBAR))
        lesion = Lesion(LESION_TYPES[i % len(LESION_TYPES)], level,
                        float(np.round(rng.uniform(0.6, 1.0), 2)))  # fmt: skip
        yield _base("pathology", seed, i, rng, lesions=(lesion,))


def transitional(seed: int = 0, count: int | None = None) -> Iterator[PhantomParams]:
    """Six lumbar vertebrae, a lumbar rib on L1, no rib on T12."""
    n = len(TRANSITIONAL_TYPES) if count is None else count
    for i in range(n):
        rng = _rng("transitional", seed, i)
        yield _base("transitional", seed, i, rng, transitional=TRANSITIONAL_TYPES[i % 3])


def scanners(seed: int = 0, count: int | None = None) -> Iterator[PhantomParams]:
    """One anatomy per group of three, on each scanner geometry."""
    n = 3 if count is None else count
    for i in range(n):
        group = i // 3
        rng = _rng("scanners", seed, group)  # same patient for the three scanners
        # _base sets seed = seed * 1000 + group: the three scanners share the anatomy seed
        yield _base("scanners", seed, group, rng, case=f"scanners_{i:03d}",
                    scanner=SCANNER_CYCLE[i % 3])  # fmt: skip


def test_images(seed: int = 0, count: int | None = None) -> Iterator[PhantomParams]:
    """The committed set in test_images/ (count is ignored; seed 0 is the committed one)."""
    s = seed * 1000
    yield PhantomParams(seed=s + 1, suite="test_images", case="ti_standard_prodigy",
                        scanner="prodigy", target_bmd_g_cm2=0.95, scoliosis_mm=4.0)  # fmt: skip
    yield PhantomParams(
        seed=s + 2, suite="test_images", case="ti_pathology_idxa", scanner="idxa",
        target_bmd_g_cm2=0.9, age_years=74.0,
        lesions=(Lesion("osteophyte", "L4", 0.9), Lesion("aortic_calcification", "L3", 0.7)),
    )  # fmt: skip
    yield PhantomParams(seed=s + 3, suite="test_images", case="ti_flipped_prodigy",
                        scanner="prodigy", rotation_deg=3.0, tilt_deg=2.0)  # fmt: skip
    yield PhantomParams(seed=s + 4, suite="test_images", case="ti_transitional_prodigy",
                        scanner="prodigy", transitional="six_lumbar", sex="M", body_scale=1.04)  # fmt: skip
    yield PhantomParams(seed=s + 5, suite="test_images", case="ti_monochrome1_hologic",
                        scanner="hologic", display_photometric="MONOCHROME1",
                        lesions=(Lesion("fracture", "L2", 0.8),))  # fmt: skip


def demo(seed: int = 0, count: int | None = None) -> Iterator[PhantomParams]:
    """The case bundled in dxaspine/data/ for ``dxaspine demo`` (seed 0 is the bundled one)."""
    yield PhantomParams(seed=seed * 1000 + 7, suite="demo", case="demo_prodigy", scanner="prodigy",
                        target_bmd_g_cm2=0.93, age_years=64.0)  # fmt: skip


def ct(seed: int = 0, count: int | None = None) -> Iterator:
    """CT family: the shared TotalSegmentator CT (T12-S1) in 12 poses, tissues, doses, scanners."""
    from dxaspine.phantom.ct.family import SHARED_CT_PATIENT, ct_family, shared_ct_paths

    ct_path, labels_path = shared_ct_paths()  # InputError (a DxaError) when absent
    yield from ct_family(ct_path, labels_path, count=count, seed=seed, **SHARED_CT_PATIENT)


SUITES: dict[str, Callable[..., Iterator[PhantomParams]]] = {
    "standard": standard,
    "hard": hard,
    "pathology": pathology,
    "transitional": transitional,
    "scanners": scanners,
    "test_images": test_images,
    "demo": demo,
    "ct": ct,
}


def write_options(params: PhantomParams) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(kinds, flip) a suite writes for this case."""
    if params.suite == "test_images" and params.case in _TEST_IMAGE_OPTIONS:
        return _TEST_IMAGE_OPTIONS[params.case]
    if params.suite == "demo":
        return ("dual_energy",), ()
    if params.scanner == "idxa":  # the pair doubles 4.5 MB per iDXA case; write it for the others
        return DEFAULT_KINDS, ()
    return ALL_KINDS, ()
