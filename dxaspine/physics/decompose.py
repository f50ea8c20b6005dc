"""``decompose``: Scan -> DensityMap, the physics stage of the pipeline (docs/architecture.md).

- ``dual_energy``: counts -> log attenuations -> R_st from bone-free pixels (iterated baseline)
  -> sigma_b in g/cm2 (docs/domain.md §5): the vendors' two-material model by default, with the
  file's beam-hardening calibration table when it carries one (:mod:`.calibration`), and the
  lean-marrow correction only on request (``marrow="lean"``, :mod:`.bone_basis`).  The map
  records both choices (``DensityMap.physics_model``, ``DensityMap.calibration``).
- ``bmd_map``: values are already g/cm2; passed through.
- ``display``: grey above the per-row soft-tissue background, a relative index.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import types
import warnings

import numpy as np

from dxaspine.errors import InputError, describe
from dxaspine.io.kinds import get_kind
from dxaspine.io.scan import Scan
from dxaspine.physics.bone_basis import (
    DEFAULT_BONE_APPARENT_DENSITY_G_CM3,
    MARROW_MODELS,
    PHYSICS_MODELS,
    bone_basis_coefficients,
    estimate_apparent_density,
    lean_kappa,
)
from dxaspine.physics.calibration import calibrated_areal_density, describe_calibration
from dxaspine.physics.density_map import DensityMap
from dxaspine.physics.display_density import relative_density
from dxaspine.physics.log_attenuation import (
    COUNT_FLOOR,
    POISSON_LOG_OFFSET,
    areal_density,
    log_attenuation,
    log_attenuation_with_blocks,
)
from dxaspine.physics.resample import (
    block_all,
    block_any,
    block_mean,
    grid_factors,
    upsample_linear,
)
from dxaspine.physics.soft_tissue import (
    BaselineOptions,
    estimate_soft_tissue_ratio,
    soft_tissue_peak,
    threshold_bone,
)

logger = logging.getLogger(__name__)

_OPTION_NAMES = {f.name for f in dataclasses.fields(BaselineOptions)}
CALIBRATION_MODES = ("auto", "table", "none")


def decompose(
    scan: Scan,
    *,
    count_floor: float = COUNT_FLOOR,
    bone_threshold_floor_g_cm2: float = 0.03,
    marrow: str = "none",
    calibration: str = "auto",
    bone_apparent_density_g_cm3: float | None = None,
    poisson_counts: bool = True,
    **options: float,
) -> DensityMap:
    """Bone density map of a loaded scan.

    Parameters
    ----------
    scan : Scan
        The loaded scan (head-up, frames float after the Modality LUT).
    count_floor : float
        Counts below this (and non-finite counts) are clipped and flagged in
        ``DensityMap.starved_mask``; default 0.5 counts.
    poisson_counts : bool
        The counts are measured (Poisson): correct the log's noise bias (``POISSON_LOG_OFFSET``).
        False for noise-free simulated counts.
    bone_threshold_floor_g_cm2 : float
        Lowest bone threshold of the baseline iteration (noise-free data).
    marrow : {"none", "lean"}
        Bone-basis model (:mod:`dxaspine.physics.bone_basis`).  ``"none"`` (default): the
        vendors' two-material model, pure mineral over a soft-tissue baseline (docs/domain.md §5),
        which carries DXA's inherent fat error.  ``"lean"``: a model assumption that the
        bone's non-mineral volume is lean tissue displacing the fat/lean mix (docs/physics.md).
    calibration : {"auto", "table", "none"}
        Beam-hardening calibration (:mod:`dxaspine.physics.calibration`): ``"auto"`` applies
        the file's table when it carries one, ``"table"`` requires it, ``"none"`` uses the
        single effective coefficients.
    bone_apparent_density_g_cm3 : float, optional
        Apparent mineral density of bone along the ray used by the marrow correction; default
        estimated per scan (:func:`dxaspine.physics.bone_basis.estimate_apparent_density`).
    **options
        Any field of :class:`dxaspine.physics.soft_tissue.BaselineOptions`
        (``side_window_mm``, ``bone_dilation_mm``, ``row_smoothing_mm``, ``gas_fraction`` ...).

    Returns
    -------
    DensityMap
        g/cm2 for dual-energy and BMD-map inputs (``quantitative=True``); a relative index for
        display inputs.  0 outside ``scan.field_mask``.

    Raises
    ------
    InputError
        Missing I0 or energies/coefficients, inconsistent frame shapes, no bone-free tissue,
        ``calibration="table"`` on a file without one, or ``marrow="lean"`` without
        lean-tissue coefficients.
    TypeError
        For an unknown option name.
    ValueError
        For an unknown ``marrow`` or ``calibration`` value.
    """
    unknown = set(options) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown decompose option(s): {', '.join(sorted(unknown))}")
    if marrow not in MARROW_MODELS:
        raise ValueError(f"marrow must be one of {MARROW_MODELS}, got {marrow!r}")
    if calibration not in CALIBRATION_MODES:
        raise ValueError(f"calibration must be one of {CALIBRATION_MODES}, got {calibration!r}")
    baseline_options = BaselineOptions(**options)
    field = _field_mask(scan)
    try:
        content = get_kind(scan.kind).content
    except KeyError:
        raise InputError(
            describe(
                scan.path, f"unknown scan kind {scan.kind!r}", "load the file with dxaspine.load"
            )
        ) from None
    if content == "counts":
        return _decompose_dual_energy(
            scan,
            field,
            baseline_options,
            count_floor,
            bone_threshold_floor_g_cm2,
            marrow,
            _calibration_table(scan, calibration),
            bone_apparent_density_g_cm3,
            POISSON_LOG_OFFSET if poisson_counts else 0.0,
        )
    if content == "areal_bmd":
        return _pass_through_bmd_map(scan, field)
    grey = _frame(scan, "display")  # display grey: a relative index, never g/cm2
    density = relative_density(grey, field, scan.pixel_spacing_mm, baseline_options)
    return dataclasses.replace(density, physics_model="display-relative")


def _frame(scan: Scan, name: str) -> np.ndarray:
    if name not in scan.frames:
        raise InputError(
            describe(
                scan.path,
                f"{scan.kind} scan has no {name!r} frame (frames: {', '.join(scan.frames)})",
                "check FrameLabelVector / the private content tag (0071,xx03)",
            )
        )
    frame = np.ascontiguousarray(scan.frames[name], dtype=np.float64)
    if frame.ndim != 2 or frame.shape != scan.field_mask.shape:
        raise InputError(
            describe(
                scan.path,
                f"frame {name!r} has shape {frame.shape}, field mask {scan.field_mask.shape}",
                "all frames of a DXA image must have the same Rows x Columns",
            )
        )
    return frame


def _calibration_table(scan: Scan, mode: str):
    if mode == "none":
        return None
    table = getattr(scan, "calibration", None)
    if table is None and mode == "table":
        raise InputError(
            describe(
                scan.path,
                "calibration='table' but the file carries no beam-hardening calibration table",
                "use calibration='auto' or 'none', or add elements (0071,xx05-0C)",
            )
        )
    return table


def _field_mask(scan: Scan) -> np.ndarray:
    field = np.ascontiguousarray(scan.field_mask, dtype=bool)
    if field.ndim != 2 or not field.any():
        raise InputError(
            describe(scan.path, "the scan field is empty", "check the image is a spine scan")
        )
    return field


def _decompose_dual_energy(
    scan: Scan,
    field: np.ndarray,
    options: BaselineOptions,
    count_floor: float,
    threshold_floor_g_cm2: float,
    marrow: str,
    table,
    apparent_density_g_cm3: float | None,
    count_offset: float,
) -> DensityMap:
    low, high = _frame(scan, "low"), _frame(scan, "high")
    i0 = scan.i0_counts
    if i0 is None or not all(np.isfinite(v) and v > 0 for v in i0):
        raise InputError(
            describe(
                scan.path,
                f"dual-energy scan without valid unattenuated counts I0 ({i0})",
                "add I0 per pixel [low, high] as private tag (0071,xx02)",
            )
        )
    rho = apparent_density_g_cm3 or DEFAULT_BONE_APPARENT_DENSITY_G_CM3
    i0_pair = (float(i0[0]), float(i0[1]))
    factors = grid_factors(scan.pixel_spacing_mm, options.baseline_grid_mm)
    blocks = None
    if factors == (1, 1):
        a_low, a_high, starved = log_attenuation(low, high, i0_pair, count_floor, count_offset)
    else:  # the baseline grid's block means come from the same pass as the logarithms
        a_low, a_high, starved, *blocks = log_attenuation_with_blocks(
            low, high, i0_pair, count_floor, count_offset, field, factors
        )
    # The baseline iteration needs only a bone excess to threshold: with a calibration table
    # it runs on the file's single mineral coefficients; the table (and, on request, the
    # lean-marrow terms) then give sigma_b per pixel.  Without a table the lean model uses
    # the NIST lean coefficients at tabulated energies (exact for a monoenergetic beam).
    bone_mu = bone_basis_coefficients(scan, "none" if table is not None else marrow, rho)
    # Most scans starve no pixel: then every "& ~starved" below is the field itself, and the
    # full-size boolean temporaries are skipped (the same masks, the same counts).
    any_starved = bool(np.count_nonzero(starved))
    starved_in_field = starved & field if any_starved else starved
    not_starved = field & ~starved if any_starved else field
    n_starved = int(np.count_nonzero(starved_in_field)) if any_starved else 0
    if n_starved:
        logger.warning(
            "%d pixels had counts below %.3g (photon starvation, e.g. metal); "
            "their density is a lower bound",
            n_starved,
            count_floor,
        )
    r_st, bone, usable = _soft_tissue_ratio_on_grid(
        a_low,
        a_high,
        field,
        starved,
        scan.pixel_spacing_mm,
        bone_mu,
        options,
        threshold_floor_g_cm2,
        blocks,
    )
    if not usable:
        raise InputError(
            describe(
                scan.path,
                "no bone-free soft tissue in the scan field to estimate the soft-tissue ratio",
                "the field must include soft tissue beside the spine",
            )
        )

    def sigma_b(rho_g_cm3: float) -> np.ndarray:
        if table is None:
            return areal_density(
                a_low, a_high, r_st, bone_basis_coefficients(scan, marrow, rho_g_cm3)
            )
        lean = marrow == "lean"
        values, off_table = calibrated_areal_density(
            a_low, a_high, r_st, table,
            lean_kappa=lean_kappa(rho_g_cm3) if lean else 0.0,
            displaced_cm3_g=1.0 / rho_g_cm3 if lean else 0.0,
        )  # fmt: skip
        n_off = int(np.count_nonzero(off_table & not_starved)) if off_table.any() else 0
        if n_off:
            logger.warning(
                "%d pixels lie outside the calibration table's soft-tissue range; their "
                "coefficients were clamped to its edge",
                n_off,
            )
        return values

    excess = sigma_b(rho)
    if bone is None:  # the iteration ran on a coarser grid: threshold the full-resolution map
        bone, _, _ = threshold_bone(
            excess, field, not_starved, scan.pixel_spacing_mm, threshold_floor_g_cm2, options
        )
    if marrow == "lean" and apparent_density_g_cm3 is None:
        # One fixed-point step: rho_app from this scan's vertebrae, then sigma_b again (R_st
        # and the bone mask do not depend on the basis at the precision that matters here).
        rho = estimate_apparent_density(excess, bone & not_starved)
        excess = sigma_b(rho)
        logger.debug("marrow correction: apparent bone density %.3f g/cm3", rho)
    field_everywhere = bool(field.all())  # the usual case: skip two full-image copies
    values = excess if field_everywhere else np.where(field, excess, 0.0)
    if n_starved:
        # Pure mineral (no marrow): metal is what starves a beam, and it has no marrow.
        mineral_mu_high = bone_basis_coefficients(scan, "none")[1]
        _apply_starved_lower_bound(values, a_high, field, bone, starved, mineral_mu_high)
    return DensityMap(
        values=values,
        quantitative=True,
        units="g/cm2",
        pixel_spacing_mm=scan.pixel_spacing_mm,
        field_mask=field,
        soft_tissue_ratio=r_st if field_everywhere else np.where(field, r_st, np.nan),
        bone_mask_hint=bone,
        starved_mask=starved_in_field,
        physics_model=PHYSICS_MODELS[marrow] + _baseline_suffix(options),
        calibration=describe_calibration(table),
    )


def _soft_tissue_ratio_on_grid(
    a_low: np.ndarray,
    a_high: np.ndarray,
    field: np.ndarray,
    starved: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    bone_mu: tuple[float, float],
    options: BaselineOptions,
    threshold_floor_g_cm2: float,
    blocks: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """R_st at full resolution, iterated on a grid of about ``options.baseline_grid_mm``.

    ``blocks``: the grid's ``(block_mean(a_low), block_mean(a_high), block_all(field),
    block_any(starved))`` when the caller has them (``log_attenuation_with_blocks``).
    Returns ``(r_st, bone_mask or None if coarsened, any usable pixel)``.
    """
    factors = grid_factors(pixel_spacing_mm, options.baseline_grid_mm)
    if factors == (1, 1):
        result = estimate_soft_tissue_ratio(
            a_low, a_high, field, starved, pixel_spacing_mm, bone_mu, options, threshold_floor_g_cm2
        )
        return result.baseline, result.bone_mask, bool(result.usable.any())
    coarse_spacing = (pixel_spacing_mm[0] * factors[0], pixel_spacing_mm[1] * factors[1])
    if blocks is None:
        blocks = [
            block_mean(a_low, factors),
            block_mean(a_high, factors),
            block_all(field, factors),
            block_any(starved, factors),
        ]
    result = estimate_soft_tissue_ratio(
        *blocks,
        coarse_spacing,
        bone_mu,
        options,
        threshold_floor_g_cm2,
    )
    r_st = upsample_linear(result.baseline, factors, a_low.shape)
    return r_st, None, bool(result.usable.any())


def _apply_starved_lower_bound(
    values: np.ndarray,
    a_high: np.ndarray,
    field: np.ndarray,
    bone: np.ndarray,
    starved: np.ndarray,
    mu_high: float,
) -> None:
    """Starved pixels: at least one energy clipped, so sigma_b means little.

    Their (possibly clipped) high-energy attenuation is a lower bound of the true one; with the
    row's soft tissue taken as its median bone-free A_H, the remainder is at least
    ``(A_H - A_H,soft) / mu_bH`` g/cm2 of bone-equivalent material.  Metal thus reads as
    very dense, never as soft tissue; ``starved_mask`` says the value is a bound.
    """
    soft = np.where(field & ~bone & ~starved, a_high, np.nan)
    rows = np.flatnonzero(starved.any(axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without soft tissue
        soft_row = np.nanmedian(soft[rows], axis=1)
    fallback = np.nanmedian(soft) if np.isfinite(soft).any() else 0.0
    soft_row = np.where(np.isfinite(soft_row), soft_row, fallback)
    sub = starved[rows] & field[rows]
    bound = (a_high[rows] - soft_row[:, None]) / mu_high
    block = values[rows]
    block[sub] = np.maximum(block[sub], bound[sub])
    values[rows] = block


def _pass_through_bmd_map(scan: Scan, field: np.ndarray) -> DensityMap:
    bmd = _frame(scan, "bmd")
    finite = np.isfinite(bmd)
    n_bad = int(np.count_nonzero(field & ~finite))
    if n_bad:
        logger.warning("%d non-finite BMD-map pixels in the field set to 0", n_bad)
    values = np.where(field & finite, bmd, 0.0)
    # A hint for the segmenter: the same "just above the soft-tissue peak" rule (docs/domain.md §5).
    peak, width = soft_tissue_peak(values[field & finite])
    hint = field & (values > peak + max(4.0 * width, 0.03))
    return DensityMap(
        values=values,
        quantitative=True,
        units="g/cm2",
        pixel_spacing_mm=scan.pixel_spacing_mm,
        field_mask=field,
        bone_mask_hint=hint,
        physics_model="bmd-map",
    )


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`decompose`.

    ``dxaspine.physics`` exports the function ``decompose`` lazily (issue 17: a header-only
    command must not import this module).  Python's import system binds a submodule to its
    package's attribute of the same name when the submodule is first loaded, so after
    ``from dxaspine.physics.decompose import BaselineOptions`` (say), ``dxaspine.physics.
    decompose`` is this module and the lazy export never runs.  Making the module callable
    keeps ``from dxaspine.physics import decompose; decompose(scan)`` right in every import
    order (tests/test_architecture.py).
    """

    def __call__(self, *args, **kwargs) -> DensityMap:
        return decompose(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule


def _baseline_suffix(options: BaselineOptions) -> str:
    """What ``physics_model`` adds for the baseline options that change the physics (a
    follow-up compares it across visits): ``"+noise-guard"``, ``"+straight-bridge"``."""
    return ("+noise-guard" if options.noise_guard else "") + (
        "+straight-bridge" if options.bridge == "straight" else ""
    )
