"""``generate_case``: params -> anatomy -> calibrated bone map -> physics -> truth.

The per-vertebra density scale is calibrated (fixed-point iteration) so that the *truth*
per-level BMD of L1-L4 equals ``target_bmd_g_cm2`` times the NHANES level ratios (docs/domain.md
§3), before lesions are added; the truth then records what was actually produced, lesions
included.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from dxaspine import __version__
from dxaspine.phantom import physics
from dxaspine.phantom import truth as tr
from dxaspine.phantom.anatomy import Skeleton, build_skeleton
from dxaspine.phantom.annotations import annotation_record
from dxaspine.phantom.lesions import lesion_shapes
from dxaspine.phantom.params import SCANNERS, PhantomParams
from dxaspine.phantom.render import Canvas
from dxaspine.phantom.skeleton import render_skeleton
from dxaspine.phantom.soft_tissue import make_soft_tissue
from dxaspine.physics.attenuation import coefficient_pair
from dxaspine.segment.conventions import DEFAULT_EDGE, EdgeConvention

log = logging.getLogger(__name__)

STUDY_DATE = dt.date(2024, 3, 12)  # fixed: files must not depend on the clock
_CALIBRATED = ("L1", "L2", "L3", "L4")
_CALIBRATION_TOLERANCE = 1e-5  # relative; far below any accuracy the pipeline can reach
# Levels without an NHANES ratio follow a calibrated neighbour (modelling choice).
_FOLLOW = {"T10": ("L1", 0.93), "T11": ("L1", 0.95), "T12": ("L1", 0.97),
           "L5": ("L4", 1.0), "L6": ("L4", 1.0), "S1": ("L4", 1.0)}  # fmt: skip


@dataclass(frozen=True)
class PhantomCase:
    """One simulated case.  Arrays are head-up, patient's left on the image right.

    ``r_st_truth`` is mu_L/mu_H of *all* non-mineral material along each ray: the overlying
    lean/fat mixture plus, with ``marrow="lean"``, the bone's own non-mineral (lean) part.
    With it the decomposition of the noise-free counts is exact.  An R_st interpolated from
    beside the spine misses that lean part and the fat-fraction variation; on a noise-free
    Prodigy case this overestimates level BMC by about +2 % (15 % fat) to +5 % (45 % fat),
    the real marrow/fat effect of DXA.  ``marrow="none"`` with ``fat_fraction_variation=0``
    removes both (residual < 0.6 %).
    """

    params: PhantomParams
    truth: dict
    bone_density_g_cm2: np.ndarray
    counts_low: np.ndarray
    counts_high: np.ndarray
    r_st_truth: np.ndarray
    label_image: np.ndarray
    bone_mask: np.ndarray
    pixel_spacing_mm: tuple[float, float]
    lean_g_cm2: np.ndarray
    fat_g_cm2: np.ndarray
    strip_left_px: np.ndarray  # per row: columns [0, n) are outside the scanned field
    strip_right_px: np.ndarray  # per row: the last n columns are outside the scanned field
    rescale_slope: float
    source: str = "drawn"  # "drawn" (this module) or "ct" (projected CT, phantom/ct/)

    @property
    def name(self) -> str:
        return self.truth["case"]

    def dual_energy_scan(self, path: str | None = None):
        """The counts as an in-memory ``Scan`` (no DICOM round trip), for tests and benchmarks."""
        from dxaspine.io.scan import Scan

        return Scan(
            kind="dual_energy",
            frames={"low": self.counts_low, "high": self.counts_high},
            pixel_spacing_mm=tuple(self.pixel_spacing_mm),
            pixel_spacing_source="PixelSpacing",
            field_mask=np.ones(self.counts_low.shape, dtype=bool),
            energies_kev=tuple(self.truth["energies_kev"]),
            i0_counts=tuple(self.truth["i0_counts"]),
            path=path,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return self.bone_density_g_cm2.shape  # type: ignore[return-value]


def _supersample(params: PhantomParams) -> tuple[int, int]:
    if params.supersample is not None:
        return params.supersample
    # fine step <= ~0.21 mm so that cortical shells (~1 mm) get smooth partial volume
    return tuple(max(1, int(np.ceil(s / 0.21))) for s in params.pixel_spacing_mm)  # type: ignore[return-value]


def generate_case(params: PhantomParams) -> PhantomCase:
    """Simulate one PA lumbar spine DXA case; deterministic in ``params``.

    Raises
    ------
    ValueError
        If a parameter is out of range (the message names it).
    """
    params.validate()
    seeds = np.random.SeedSequence([params.seed, 0x0DA5]).spawn(5)
    rng_anat, rng_tissue, rng_noise, rng_strips, rng_lesion = (
        np.random.default_rng(s) for s in seeds
    )
    if params.noise_seed is not None:
        rng_noise = np.random.default_rng([params.noise_seed, 0x0015E])
    spacing = params.pixel_spacing_mm
    shape = (round(params.field_height_mm / spacing[0]), round(params.field_width_mm / spacing[1]))
    pixel_area_cm2 = spacing[0] * spacing[1] / 100.0

    sk = build_skeleton(params, rng_anat, shape, spacing)
    canvas = Canvas(shape, spacing, _supersample(params))
    render_skeleton(canvas, sk, rng_anat)
    lesion_groups = []
    for i, lesion in enumerate(params.lesions):
        group = f"lesion{i}"
        for shape_ in lesion_shapes(lesion, sk, rng_lesion):
            canvas.add(group, shape_.bbox(), shape_)
        lesion_groups.append(group)

    half_width = tr.box_half_width_mm(sk)
    level_names, labels = tr.label_regions(sk, shape, spacing, half_width)
    scales = _calibrate(
        params, canvas, sk, labels, level_names, pixel_area_cm2, spacing, half_width
    )
    for group, lesion in zip(lesion_groups, params.lesions, strict=True):
        scales[group] = scales[lesion.level] if lesion.type == "fracture" else 1.0
    bone, chord = canvas.compose(scales)
    threshold = tr.edge_threshold_g_cm2(bone, sk, spacing, half_width)

    tissue = make_soft_tissue(
        params, shape, spacing, float(sk.axis_x_at(shape[0] * spacing[0] / 2)), rng_tissue
    )
    lean, fat = physics.tissue_masses(bone, chord, tissue, params.marrow)
    att = physics.attenuate(bone, lean, fat, params.energies_kev)
    i0 = physics.i0_per_pixel(params.i0_photons_per_mm2, spacing)
    low = physics.expected_counts(att.log_low, i0[0])
    high = physics.expected_counts(att.log_high, i0[1])
    if params.noise:
        low = physics.poisson_counts(low, rng_noise)
        high = physics.poisson_counts(high, rng_noise)
    slope = physics.rescale_slope(max(low.max(), high.max()))

    strip_left, strip_right = _strips(shape, spacing, rng_strips)
    truth = _truth(params, sk, canvas, scales, bone, labels, level_names, half_width, lesion_groups,
                   shape, spacing, i0, slope, strip_left, strip_right, tissue, threshold)  # fmt: skip
    return PhantomCase(
        params=params,
        truth=truth,
        bone_density_g_cm2=bone,
        counts_low=low,
        counts_high=high,
        r_st_truth=att.r_st,
        label_image=labels,
        bone_mask=bone > threshold,
        pixel_spacing_mm=spacing,
        lean_g_cm2=lean,
        fat_g_cm2=fat,
        strip_left_px=strip_left,
        strip_right_px=strip_right,
        rescale_slope=slope,
    )


def _calibrate(
    params, canvas, sk, labels, level_names, pixel_area_cm2, spacing, half_width
) -> dict[str, float]:
    """Per-vertebra density scales so that truth BMD(L1..L4) = target x NHANES ratio."""
    targets = dict(
        zip(_CALIBRATED, np.asarray(params.level_ratios) * params.target_bmd_g_cm2, strict=True)
    )
    skeleton_groups = [v.name for v in sk.vertebrae] + ["pelvis"]
    # start from a rough guess: the relative densities give BMD ~0.8 at scale 1
    scales = {g: params.target_bmd_g_cm2 / 0.8 for g in skeleton_groups}
    present = [n for n in _CALIBRATED if n in level_names]
    for _ in range(12):
        bone, _ = canvas.compose(scales, groups=skeleton_groups)
        threshold = tr.edge_threshold_g_cm2(bone, sk, spacing, half_width)
        _, area, bmd = tr.level_stats(bone, labels, len(level_names), pixel_area_cm2, threshold)
        # the level targets are ratio x c, with c chosen so the composite hits the target
        codes = [level_names.index(n) for n in present]
        ratio_area = sum(targets[n] * area[k] for n, k in zip(present, codes, strict=True))
        norm = params.target_bmd_g_cm2 * area[codes].sum() / ratio_area if ratio_area > 0 else 1
        worst = 0.0
        for name in present:
            code = level_names.index(name)
            if area[code] <= 0:
                continue
            ratio = norm * targets[name] / bmd[code]
            worst = max(worst, abs(ratio - 1.0))
            scales[name] *= ratio
        for name, (ref, factor) in _FOLLOW.items():
            if name in scales:
                scales[name] = scales[ref] * factor if ref in present else scales[name]
        scales["pelvis"] = float(np.mean([scales[n] for n in _CALIBRATED]))
        if worst < _CALIBRATION_TOLERANCE:
            break
    else:
        log.debug("calibration stopped at relative error %.2g", worst)
    return scales


def _strips(shape, spacing, rng) -> tuple[np.ndarray, np.ndarray]:
    """Ragged white strips of the display export: base 3-6 mm, jittering +-~1 mm per row."""
    rows = shape[0]
    jitter = max(2, round(1.0 / spacing[1]))
    out = []
    for _ in range(2):
        base = round(rng.uniform(3.0, 6.0) / spacing[1])
        out.append(base + rng.integers(-jitter, jitter + 1, size=rows))
    return out[0].astype(np.int64), out[1].astype(np.int64)


def patient_dates(age_years: float) -> tuple[dt.date, int]:
    """Birth date consistent with STUDY_DATE and the age, and the whole years for PatientAge."""
    whole = int(np.floor(age_years))
    extra_days = round((age_years - whole) * 365.2425) + 1  # +1: the birthday has passed
    birth = STUDY_DATE.replace(year=STUDY_DATE.year - whole) - dt.timedelta(days=extra_days)
    years = (
        STUDY_DATE.year
        - birth.year
        - ((STUDY_DATE.month, STUDY_DATE.day) < (birth.month, birth.day))
    )
    return birth, years


def _truth(params, sk: Skeleton, canvas, scales, bone, labels, level_names, half_width,
           lesion_groups, shape, spacing, i0, slope, strip_left, strip_right, tissue,
           threshold) -> dict:  # fmt: skip
    r = tr._r
    pixel_area = spacing[0] * spacing[1] / 100.0
    bmc, area, bmd = tr.level_stats(bone, labels, len(level_names), pixel_area, threshold)
    # the legacy absolute edge, for figures quoted without the shared relative convention
    bmc_abs, area_abs, bmd_abs = tr.level_stats(
        bone, labels, len(level_names), pixel_area, tr.BONE_THRESHOLD_G_CM2
    )
    discs = {d.lower: d for d in sk.discs}
    discs_below = {d.upper: d for d in sk.discs}
    lesions_at: dict[str, list[str]] = {}
    for lesion in params.lesions:
        lesions_at.setdefault(lesion.level, []).append(lesion.type)
    rows = shape[0]
    levels = []
    for i, name in enumerate(level_names):
        v = sk.vertebra(name)
        upper = tr.line_px(discs[name], half_width, spacing)
        lower = tr.line_px(discs_below[name], half_width, spacing)
        complete = all(0 <= p[1] <= rows - 1 for p in upper + lower)
        levels.append({
            "label": name, "code": i + 1, "bmc_g": r(bmc[i]), "area_cm2": r(area[i]),
            "bmd_g_cm2": r(bmd[i]), "height_mm": r(v.height_mm), "width_mm": r(v.width_mm),
            "upper_line_px": [[r(c), r(rr)] for c, rr in upper],
            "lower_line_px": [[r(c), r(rr)] for c, rr in lower],
            "complete": bool(complete), "lesions": lesions_at.get(name, []),
        })  # fmt: skip
    lines = []
    for d in sk.discs:
        (c0, r0), (c1, r1) = tr.line_px(d, half_width, spacing)
        if 0 <= (r0 + r1) / 2 <= rows - 1:
            lines.append({"name": d.name, "left": [r(c0), r(r0)], "right": [r(c1), r(r1)]})
    bone_mask = bone > threshold
    lesions = []
    for group, lesion in zip(lesion_groups, params.lesions, strict=True):
        m, _ = canvas.compose(scales, groups=[group])
        code = level_names.index(lesion.level) + 1 if lesion.level in level_names else -1
        in_region = (labels == code) & bone_mask
        lesions.append({
            "type": lesion.type, "level": lesion.level, "severity": lesion.severity,
            "bmc_g": r(m[in_region].sum() * pixel_area), "total_bmc_g": r(m.sum() * pixel_area),
        })  # fmt: skip
    crest_rows = [sk.crest_frame.to_image(s * 72.0, 0.0)[1] / spacing[0] - 0.5 for s in (-1, 1)]
    birth, years = patient_dates(params.age_years)
    mu_b = coefficient_pair("hydroxyapatite", params.energies_kev)
    out = {
        "case": params.case_name,
        "suite": params.suite,
        "seed": params.seed,
        "params": params.to_json(),
        "software_version": __version__,
        "shape": [int(shape[0]), int(shape[1])],
        "pixel_spacing_mm": [float(spacing[0]), float(spacing[1])],
        "pixel_spacing_verified": bool(SCANNERS[params.scanner]["verified"]),
        "energies_kev": [float(e) for e in params.energies_kev],
        "i0_counts": [r(i0[0], 3), r(i0[1], 3)],
        "bone_mu_cm2_g": [float(mu_b[0]), float(mu_b[1])],
        "rescale_slope": float(slope),
        "bone_threshold_g_cm2": float(threshold),
        "conventions": {"edge": str(DEFAULT_EDGE), "box": "L4 body width + 7 mm"},
        "levels_by_edge": {
            str(EdgeConvention("absolute", tr.BONE_THRESHOLD_G_CM2)): [
                {
                    "label": n,
                    "bmc_g": r(bmc_abs[i]),
                    "area_cm2": r(area_abs[i]),
                    "bmd_g_cm2": r(bmd_abs[i]),
                }
                for i, n in enumerate(level_names)
            ],
        },  # fmt: skip
        "box_half_width_mm": r(half_width),
        "flip": [],
        "label_codes": {str(i + 1): n for i, n in enumerate(level_names)},
        "levels": levels,
        "composites": tr.composites(levels),
        "lines": lines,
        "lesions": lesions,
        "transitional": params.transitional,
        "iliac_crest_row": r(float(np.mean(crest_rows))),
        "field_rows": [0, int(shape[0]) - 1],
        "field_columns": [int(strip_left.max()), int(shape[1] - 1 - strip_right.max())],
        "density_scales": {k: r(v) for k, v in sorted(scales.items())},
        "soft_tissue": {
            "thickness_cm_mean": r(tissue.thickness_cm.mean(), 4),
            "fat_fraction_mean": r(tissue.fat_fraction.mean(), 4),
            "gas_pockets": params.gas_pockets,
            "marrow": params.marrow,
        },
        "patient": {
            "sex": params.sex,
            "age_years": float(params.age_years),
            "age_whole_years": years,
            "ethnicity": params.ethnicity,
            "height_m": params.height_m,
            "weight_kg": params.weight_kg,
            "birth_date": birth.strftime("%Y%m%d"),
            "study_date": STUDY_DATE.strftime("%Y%m%d"),
        },  # fmt: skip
    }
    record = annotation_record(params, spacing)
    if record is not None:  # only when burned in: existing truth files stay byte-identical
        out["display_annotations"] = record
    return out
