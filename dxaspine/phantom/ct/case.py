"""``generate_ct_case``: CT -> materials -> posed PA projection -> counts and truth.

The result is a :class:`dxaspine.phantom.PhantomCase` with ``source="ct"``, so
:func:`dxaspine.phantom.write_case` writes every kind (dual-energy interchange, the pair,
the BMD map, the display export) with the one writer the drawn phantom uses, and the truth
JSON has the drawn phantom's layout (plus a ``ct`` block saying how it was made).

Physics: :func:`dual_energy_counts` is the only call into the phantom physics
(:mod:`dxaspine.phantom.physics`), so a polyenergetic multi-material model replaces it in
one place.
"""

from __future__ import annotations

import functools
import logging
import os

import numpy as np

from dxaspine import __version__
from dxaspine.phantom import calibration_table as cal
from dxaspine.phantom import physics, spectra
from dxaspine.phantom.case import STUDY_DATE, PhantomCase, _strips, patient_dates
from dxaspine.phantom.ct.anatomy import Bodies, vertebral_bodies
from dxaspine.phantom.ct.field import place_field
from dxaspine.phantom.ct.labels import LabelLayout, detect_layout, layout_from_option
from dxaspine.phantom.ct.materials import MaterialModel, Materials, decompose_hu, xraydb_module
from dxaspine.phantom.ct.params import CtPhantomParams
from dxaspine.phantom.ct.project import Grid, Projector, project_channels, project_windowed
from dxaspine.phantom.ct.truth import (
    LEGACY_EDGE,
    BodyView,
    edge_threshold_g_cm2,
    level_composites,
    level_geometry,
    levels_under_edge,
    truth_levels,
)
from dxaspine.phantom.ct.volume import CtVolume, load_ct
from dxaspine.phantom.params import SCANNERS
from dxaspine.phantom.soft_tissue import FAT_DENSITY_G_CM3, LEAN_DENSITY_G_CM3
from dxaspine.phantom.truth import _r
from dxaspine.physics.attenuation import coefficient_pair

log = logging.getLogger(__name__)

METAL_ELEMENT = "Ti"  # Ti-6Al-4V is ~90 % titanium; attenuation of elemental Ti (xraydb)
_BODY_MARGIN_MM = 12.0  # footprint reach (~6 mm) with room to spare
_EXTEND_ROWS_MM, _EXTEND_COLS_MM = 150.0, 60.0  # bodies are measured beyond the field too


def resolve_layout(volume: CtVolume, option: str | None) -> LabelLayout:
    """The label layout named by ``option``, or detected from the map (labels.py)."""
    chosen = layout_from_option(option)
    if chosen is not None:
        return chosen
    present = set(np.unique(volume.labels).tolist()) - {0}
    superior = {}
    for value in present:
        ks = np.nonzero(np.any(volume.labels == value, axis=(0, 1)))[0]
        superior[value] = float(volume.world_mm(np.array([[0, 0, ks.mean()]]))[0, 2])
    return detect_layout(present, superior, volume.labels_path)


def prepare_volume(volume: CtVolume, params: CtPhantomParams):
    """(layout, materials, bodies) of ``volume`` under the params' material model."""
    layout = resolve_layout(volume, params.label_layout)
    materials = decompose_hu(volume, layout, params.material_model, params.age_years, params.sex)
    return layout, materials, vertebral_bodies(volume, materials)


@functools.lru_cache(maxsize=2)
def _prepared(ct_key, labels_key, layout, model: MaterialModel, age: float, sex: str):
    volume = load_ct(ct_key[0], labels_key[0])
    params = CtPhantomParams(ct_key[0], labels_key[0], label_layout=layout, age_years=age,
                             sex=sex, marrow=model.marrow,
                             marrow_fat_fraction=model.marrow_fat_fraction,
                             ct_effective_kev=model.ct_effective_kev)  # fmt: skip
    return (volume, *prepare_volume(volume, params))


def _file_key(path: str) -> tuple:
    try:
        st = os.stat(path)
        return (path, st.st_size, st.st_mtime_ns)
    except OSError:
        return (path, None, None)


def prepare(params: CtPhantomParams):
    """(volume, layout, materials, bodies), cached over a family of one CT."""
    return _prepared(_file_key(params.ct_path), _file_key(params.labels_path),
                     params.label_layout, params.material_model, float(params.age_years),
                     params.sex)  # fmt: skip


def spine_centre(volume: CtVolume, bodies: Bodies) -> np.ndarray:
    """RAS mm centroid of the L1-L4 bodies present (the pose's rotation centre)."""
    codes = [bodies.names.index(n) + 1 for n in ("L1", "L2", "L3", "L4") if n in bodies.names]
    ijk = np.argwhere(np.isin(bodies.body, codes or list(range(1, len(bodies.names) + 1))))
    return volume.world_mm(ijk).mean(axis=0)


def dual_energy_counts(masses: dict[str, np.ndarray], params: CtPhantomParams, rng):
    """Counts at the two energies from areal masses (g/cm2): the one physics call.

    Returns ``(low, high, r_st, i0, apparent_metal_ha, beam)``: detected counts, A_L/A_H of
    the non-mineral tissue per pixel, unattenuated counts per pixel, the HA areal density a
    two-material decomposition would report for the metal (for the BMD map), and the beam.
    The polyenergetic beams go through the drawn phantom's own physics
    (``phantom.physics.project_areal_masses``, xraydb attenuation of ICRU-44 lean and adipose
    tissue, hydroxyapatite and titanium); "mono" keeps the two effective energies.
    """
    photons = tuple(p * params.dose_factor for p in params.i0_photons_per_mm2)
    i0 = physics.i0_per_pixel(photons, params.pixel_spacing_mm)
    xraydb = xraydb_module()
    beam = spectra.beam_for(params.beam_name, params.energies_kev)
    if beam.name == "mono":
        with np.errstate(invalid="ignore", divide="ignore"):  # rays through air only: R is 0/0
            att = physics.attenuate(
                masses["mineral"], masses["lean"], masses["fat"], params.energies_kev
            )
        lean_r = physics.attenuate(1.0, 1.0, 0.0, params.energies_kev).r_st
        r_st = np.where(np.isfinite(att.r_st), att.r_st, lean_r)  # no tissue: any R; lean's
        energies = params.energies_kev
        mu_metal = np.array([xraydb.material_mu(METAL_ELEMENT, e * 1000.0, density=1.0)
                             for e in energies])  # fmt: skip
        low = physics.expected_counts(att.log_low + mu_metal[0] * masses["metal"], i0[0])
        high = physics.expected_counts(att.log_high + mu_metal[1] * masses["metal"], i0[1])
        if params.noise:
            low = physics.poisson_counts(low, rng)
            high = physics.poisson_counts(high, rng)
        mu_b = coefficient_pair("hydroxyapatite", energies)
    else:
        areal = {
            physics.MINERAL: masses["mineral"],
            "soft_tissue": masses["lean"],
            "adipose": masses["fat"],
            "titanium": masses["metal"],
        }
        expected = physics.project_areal_masses(areal, beam, i0, ratio_without=physics.MINERAL)
        if params.noise:
            low, high = physics.detected_counts(expected, rng)
        else:
            low, high = expected.low, expected.high
        r_st = expected.soft_ratio
        # what a two-material decomposition at the file's effective energies makes of metal
        energies = cal.effective_energies_kev(beam)
        mu_metal = np.array([xraydb.material_mu(METAL_ELEMENT, e * 1000.0, density=1.0)
                             for e in energies])  # fmt: skip
        mu_b = cal.reference_coefficients(beam)
    apparent = masses["metal"] * (mu_metal[0] - r_st * mu_metal[1]) / (mu_b[0] - r_st * mu_b[1])
    return low, high, r_st, i0, apparent, beam


def _file_physics(beam, mono_energies_kev) -> tuple[tuple[float, float], tuple[float, float]]:
    """(effective energies keV, bone coefficients cm2/g) the file carries for this beam."""
    if beam.name == "mono":
        energies = tuple(float(e) for e in mono_energies_kev)
        return energies, tuple(float(v) for v in coefficient_pair("hydroxyapatite", energies))
    energies = tuple(float(e) for e in cal.effective_energies_kev(beam))
    return energies, tuple(float(v) for v in cal.reference_coefficients(beam))


@functools.lru_cache(maxsize=4)
def _calibration(beam_name: str):
    return cal.calibration_table(spectra.beam_for(beam_name))


def generate_ct_case(params: CtPhantomParams, volume: CtVolume | None = None) -> PhantomCase:
    """Project one CT-derived DXA case; deterministic in ``params`` (and the CT files).

    Raises
    ------
    ValueError
        For a bad parameter (the message names it).
    DxaError
        For a CT or label map that cannot make a lumbar phantom (the message names the file).
    """
    params.validate()
    if volume is None:
        volume, layout, materials, bodies = prepare(params)
    else:
        layout, materials, bodies = prepare_volume(volume, params)
    convention = params.convention
    seeds = np.random.SeedSequence([params.seed, 0xC7]).spawn(2)
    rng_noise, rng_strips = (np.random.default_rng(s) for s in seeds)
    if params.noise_seed is not None:
        rng_noise = np.random.default_rng([params.noise_seed, 0x0015E])
    spacing = params.pixel_spacing_mm
    projector = Projector(volume.affine, spine_centre(volume, bodies), params.pose)
    grid, field_record = place_field(projector, volume, bodies, materials.body, spacing,
                                     params.field_height_mm, params.field_width_mm)  # fmt: skip
    maps = _project_materials(projector, volume, materials, bodies, grid)
    added = params.added_soft_tissue_cm
    maps["lean"] = maps["lean"] + LEAN_DENSITY_G_CM3 * (1 - params.added_fat_fraction) * added
    maps["fat"] = maps["fat"] + FAT_DENSITY_G_CM3 * params.added_fat_fraction * added

    views = _body_views(projector, volume, bodies, grid)
    geometry = level_geometry(views, grid.shape, spacing, convention)
    own = _own_mineral(projector, volume, materials, grid, geometry.levels)
    findings: dict[str, list[str]] = {}
    for level, finding in params.findings:
        findings.setdefault(level, []).append(finding)
    threshold = edge_threshold_g_cm2(maps["mineral"], geometry, spacing, convention.edge)
    levels, lines = truth_levels(geometry, maps["mineral"], own, spacing, threshold,
                                 bodies.clipped, findings)  # fmt: skip
    legacy = edge_threshold_g_cm2(maps["mineral"], geometry, spacing, LEGACY_EDGE)
    by_edge = {str(LEGACY_EDGE): levels_under_edge(geometry, maps["mineral"], spacing, legacy)}

    low, high, r_st, i0, apparent_metal, beam = dual_energy_counts(maps, params, rng_noise)
    slope = physics.rescale_slope(max(low.max(), high.max()))
    bone_map = maps["mineral"] + apparent_metal
    strip_left, strip_right = _strips(grid.shape, spacing, rng_strips)
    truth = _truth(params, volume, layout, materials, bodies, geometry, levels, lines, maps,
                   grid, field_record, i0, slope, strip_left, strip_right, convention,
                   threshold, by_edge, beam)  # fmt: skip
    return PhantomCase(
        params=params,
        truth=truth,
        bone_density_g_cm2=bone_map,
        counts_low=low,
        counts_high=high,
        r_st_truth=r_st,
        label_image=geometry.label_image,
        bone_mask=maps["mineral"] > threshold,
        pixel_spacing_mm=spacing,
        lean_g_cm2=maps["lean"],
        fat_g_cm2=maps["fat"],
        strip_left_px=strip_left,
        strip_right_px=strip_right,
        rescale_slope=slope,
        source="ct",
        beam=beam,
        calibration=_calibration(beam.name) if beam.name != "mono" else None,
    )


def _project_materials(projector, volume, materials: Materials, bodies, grid) -> dict:
    vol = volume.voxel_volume_cm3
    soft = np.argwhere((materials.lean > 0) | (materials.fat > 0))
    sel = tuple(soft.T)
    maps = project_channels(projector, soft, {"lean": materials.lean[sel] * vol,
                                              "fat": materials.fat[sel] * vol}, grid)  # fmt: skip
    dense = np.argwhere((materials.mineral > 0) | (materials.metal > 0))
    sel = tuple(dense.T)
    # non-vertebral bone below the L3 body's centre: the pelvis (its top is the iliac crest)
    l3 = bodies.names.index("L3") + 1 if "L3" in bodies.names else None
    k_l3 = np.argwhere(bodies.body == l3)[:, 2].mean() if l3 else volume.shape[2] / 2
    below = (dense[:, 2] < k_l3) & materials.other_bone[sel]
    masses = {
        "mineral": materials.mineral[sel] * vol,
        "metal": materials.metal[sel] * vol,
        "pelvis": np.where(below, materials.mineral[sel], 0.0) * vol,
    }
    maps.update(project_channels(projector, dense, masses, grid))
    return maps


def _extended(grid: Grid) -> tuple[Grid, int, int]:
    dv, du = grid.spacing_mm
    er, ec = round(_EXTEND_ROWS_MM / dv), round(_EXTEND_COLS_MM / du)
    big = Grid(grid.u0_mm - ec * du, grid.v0_mm - er * dv, grid.spacing_mm,
               (grid.shape[0] + 2 * er, grid.shape[1] + 2 * ec))  # fmt: skip
    return big, er, ec


def _body_views(projector, volume, bodies: Bodies, grid: Grid) -> list[BodyView]:
    """Each body's projected thickness (cm), in field pixel coordinates (may run outside)."""
    big, er, ec = _extended(grid)
    views = []
    for i, name in enumerate(bodies.names):
        ijk = np.argwhere(bodies.body == i + 1)
        weights = np.full(len(ijk), volume.voxel_volume_cm3)  # cm3 per cm2 = thickness in cm
        found = project_windowed(projector, ijk, weights, big, _BODY_MARGIN_MM)
        if found is None:
            continue
        (r0, r1, c0, c1), image = found
        views.append(BodyView(name, (r0 - er, r1 - er, c0 - ec, c1 - ec), image,
                              bodies.clipped[name]))  # fmt: skip
    return views


def _own_mineral(projector, volume, materials: Materials, grid: Grid, names) -> dict:
    """Each level's own vertebra's mineral (g/cm2) on the field."""
    out = {}
    for name in names:
        code = materials.vertebra_names.index(name) + 1
        ijk = np.argwhere(materials.vertebra == code)
        mass = materials.mineral[tuple(ijk.T)] * volume.voxel_volume_cm3
        found = project_windowed(projector, ijk, mass, grid, _BODY_MARGIN_MM)
        full = np.zeros(grid.shape)
        if found is not None:
            (r0, r1, c0, c1), image = found
            full[r0:r1, c0:c1] = image
        out[name] = full
    return out


def _crest_rows(pelvis_g_cm2, geometry, threshold: float) -> dict:
    """Top row of the pelvis's bone lateral to the box on each side (None if absent)."""
    rows, cols = pelvis_g_cm2.shape
    c = np.arange(cols)[None, :]
    offset = c - geometry.axis_cols[:, None]
    bone = pelvis_g_cm2 > threshold
    out = {}
    for side, mask in (("image_left", offset < -geometry.half_width_px),
                       ("image_right", offset > geometry.half_width_px)):  # fmt: skip
        hit = np.nonzero((bone & mask).any(axis=1))[0]
        out[side] = float(hit[0]) if hit.size else None
    return out


def _truth(params, volume, layout, materials, bodies, geometry, levels, lines, maps, grid,
           field_record, i0, slope, strip_left, strip_right, convention, threshold,
           by_edge, beam) -> dict:  # fmt: skip
    shape = grid.shape
    spacing = params.pixel_spacing_mm
    crests = _crest_rows(maps["pelvis"], geometry, LEGACY_EDGE.value)
    crest_values = [v for v in crests.values() if v is not None]
    tissue_cm = maps["lean"] / LEAN_DENSITY_G_CM3 + maps["fat"] / FAT_DENSITY_G_CM3
    fat_cm = maps["fat"] / FAT_DENSITY_G_CM3
    fat_fraction = np.divide(fat_cm, tissue_cm, out=np.zeros_like(fat_cm), where=tissue_cm > 0)
    metal_in_field = maps["metal"] > 0
    birth, years = patient_dates(params.age_years)
    energies, mu_b = _file_physics(beam, params.energies_kev)
    transitional = "six_lumbar" if "L6" in materials.vertebra_names else None
    return {
        "case": params.case_name,
        "suite": params.suite,
        "seed": params.seed,
        "source": "ct",
        "params": params.to_json(),
        "software_version": __version__,
        "shape": [int(shape[0]), int(shape[1])],
        "pixel_spacing_mm": [float(spacing[0]), float(spacing[1])],
        "pixel_spacing_verified": bool(SCANNERS[params.scanner]["verified"]),
        "energies_kev": [_r(e, 4) for e in energies],
        "i0_counts": [_r(i0[0], 3), _r(i0[1], 3)],
        "bone_mu_cm2_g": [_r(mu_b[0], 8), _r(mu_b[1], 8)],
        "beam": beam.describe(),
        "rescale_slope": float(slope),
        "bone_threshold_g_cm2": _r(threshold),
        "conventions": convention.to_json(),
        "levels_by_edge": by_edge,
        "box_half_width_mm": _r(geometry.half_width_px * spacing[1]),
        "flip": [],
        "label_codes": {str(i + 1): n for i, n in enumerate(geometry.levels)},
        "levels": levels,
        "composites": level_composites(levels),
        "lines": lines,
        "lesions": [],
        "transitional": transitional,
        "iliac_crest_row": _r(float(np.mean(crest_values))) if crest_values else None,
        "field_rows": [0, int(shape[0]) - 1],
        "field_columns": [int(strip_left.max()), int(shape[1] - 1 - strip_right.max())],
        "soft_tissue": {
            "thickness_cm_mean": _r(tissue_cm.mean(), 4),
            "fat_fraction_mean": _r(fat_fraction.mean(), 4),
            "gas_pockets": None,  # real bowel gas, not counted
            "marrow": params.marrow,
            "added_cm": params.added_soft_tissue_cm,
        },
        "ct": {
            "ct_file": os.path.basename(volume.ct_path),
            "labels_file": os.path.basename(volume.labels_path),
            "ct_sha256": volume.ct_sha256,
            "labels_sha256": volume.labels_sha256,
            "voxel_mm": [_r(s, 4) for s in volume.spacing_mm],
            "layout": layout.to_json(),
            "materials": materials.record,
            "bodies": {n: bodies.method[n] for n in bodies.names},
            "bodies_clipped": [n for n in bodies.names if bodies.clipped[n]],
            "field": field_record,
            "pose": {
                "rotation_deg": params.rotation_deg,
                "tilt_deg": params.tilt_deg,
                "lateral_shift_mm": params.lateral_shift_mm,
                "longitudinal_shift_mm": params.longitudinal_shift_mm,
            },  # fmt: skip
            "iliac_crest_rows": {k: (_r(v) if v is not None else None) for k, v in crests.items()},
            "metal_in_field": bool(metal_in_field.any()),
            "metal_over_levels": sorted(
                {
                    geometry.levels[c - 1]
                    for c in np.unique(geometry.label_image[metal_in_field])
                    if c > 0
                }
            ),  # fmt: skip
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
        },
    }
