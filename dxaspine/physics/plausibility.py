"""Physics plausibility of a dual-energy scan, checked before the decomposition trusts it.

The decomposition (docs/domain.md §5) believes three things the file asserts: the unattenuated
counts I0, the effective energies and the bone-basis coefficients.  A wrong value in any of
them gives a finite, wrong BMD with no error (issue 12: I0 x 0.25, 10^12 and 10^308 gave
BMDs 0.65-1.17; doubled coefficients gave osteoporosis).  Each check below compares the
assertion with what the counts themselves show, or with the NIST table (docs/domain.md §5), and
either refuses the file (:class:`~dxaspine.errors.ImplausibleValueError`) or returns a named
flag.  Sources and tolerances: docs/hardening.md §2.

- :func:`check_i0`: counts above I0 (negative attenuation) where the beam meets air or
  tissue; the least-attenuated part of the field must be air (A_L = A_H = 0 within noise) or
  soft tissue (A_L / A_H between the ratios of adipose and lean tissue at the stated
  energies) of a plausible thickness.
- :func:`check_bone_coefficients`: the file's coefficients must be hydroxyapatite's at
  energies within :data:`BONE_MU_ENERGY_TOLERANCE_KEV` of the stated ones.
- :func:`check_photon_noise`: pixel-to-pixel noise far above Poisson statistics means the
  counts are damaged (e.g. corrupted JPEG 2000 code-blocks) or are not counts.
- :func:`check_dual_energy`: all of them, plus the ``energies_missing`` flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dxaspine.errors import ImplausibleValueError, describe
from dxaspine.io.scan import Scan
from dxaspine.physics.attenuation import _NIST_TABLE_CM2_G, MATERIALS
from dxaspine.physics.quantiles import linear_quantiles, median

__all__ = [
    "PlausibilityFlag",
    "check_dual_energy",
    "check_i0",
    "check_bone_coefficients",
    "check_photon_noise",
    "check_attenuation_ratio",
    "mass_attenuation_interpolated",
    "ENERGIES_MISSING",
]

# Counts may exceed I0 by Poisson noise and rounding only: at the 5 x 10^5 photons of a
# 0.25 mm pixel (docs/domain.md §5) one SD is 0.14 %, so 5 % is > 30 SD.  More than 1 % of the
# field above that means I0 is lower than what the detector counts without a patient.
COUNTS_ABOVE_I0_TOLERANCE = 0.05
COUNTS_ABOVE_I0_MAX_FRACTION = 0.01
# "Air": log attenuation below 0.05 at both energies (< 0.3 cm of water at 70 keV).
AIR_ATTENUATION = 0.05
# The reference tissue: the least-attenuated 5 % of the (non-starved) field.
REFERENCE_QUANTILE = 0.05
# A_L / A_H of soft tissue lies between adipose and lean tissue (docs/domain.md §5: 1.278-1.403
# at 40/70 keV).  In vivo R_st is 1.341 +/- 0.024 (docs/domain.md §5); 3 % beyond either end is
# more than 4 of those SDs outside the adipose-lean span, so a real patient stays inside.
SOFT_TISSUE_RATIO_TOLERANCE = 0.03
# Water-equivalent thickness at the least-attenuated part of the field.  The heaviest
# patients a DXA table takes measure about 40-45 cm AP at the abdomen; 60 cm is a generous
# ceiling, and the field's least-attenuated 5 % (beside the spine) is thinner still.
MAX_WATER_EQUIVALENT_CM = 60.0
# A hydroxyapatite coefficient implies an energy on the NIST curve; it must lie within this
# of the stated effective energy.  Vendors' effective energies are uncertain by a few keV
# (docs/domain.md §5: Hologic "about 45 and 80 keV (not verified)"); a doubled or halved
# coefficient implies an energy 9-30 keV away (docs/hardening.md §2.3).
BONE_MU_ENERGY_TOLERANCE_KEV = 5.0
# Robust pixel-to-pixel noise over Poisson noise: 1.1-1.8 on the committed phantoms (anatomy
# adds to the differences); a damaged frame reaches 4.7-23 (docs/hardening.md §2.4).
NOISE_EXCESS_LIMIT = 4.0

# Fraction of the field allowed below the adipose ratio.  The committed and the polyenergetic
# phantoms have none (noise at >= 30 counts moves a ratio by < 1 % in > 99.9 % of pixels);
# damaged RLE and JPEG 2000 frames that the pixel noise does not reveal have 0.6-4.6 %
# (docs/hardening.md §2.4).  0.5 % leaves room for a thin line of mis-registered edges.
LOW_RATIO_MAX_FRACTION = 0.005
# Statistics are taken on a regular subsample of about this many pixels (speed only: a
# quantile and a median of 65k values are within 0.5 % of the full-image ones).
SAMPLE_PIXELS = 65536

ENERGIES_MISSING = "energies_missing"


@dataclass(frozen=True)
class PlausibilityFlag:
    """A named finding; read by ``assess`` like an image QC flag (code, detail, level)."""

    code: str
    detail: str
    level: str | None = None
    evidence: dict = field(default_factory=dict)
    rule: str = "dxaspine plausibility (docs/hardening.md)"


def mass_attenuation_interpolated(material: str, energy_kev: float) -> float | None:
    """NIST coefficient (cm2/g) at any energy of the docs/domain.md §5 grid span (30-100 keV).

    Log-log interpolation between grid energies.  docs/domain.md §5 warns it is ~2 % off for
    hydroxyapatite at 70 keV, too coarse for the decomposition, but fine for plausibility
    tolerances of 3 % on a ratio of smooth soft-tissue curves and ~1 keV on the bone curve.
    None outside the grid.
    """
    grid = sorted(_NIST_TABLE_CM2_G)
    index = MATERIALS.index(material)
    e = float(energy_kev)
    if not grid[0] <= e <= grid[-1]:
        return None
    if e in _NIST_TABLE_CM2_G:
        return _NIST_TABLE_CM2_G[e][index]
    hi = next(i for i, g in enumerate(grid) if g > e)
    e0, e1 = grid[hi - 1], grid[hi]
    m0, m1 = _NIST_TABLE_CM2_G[e0][index], _NIST_TABLE_CM2_G[e1][index]
    t = math.log(e / e0) / math.log(e1 / e0)
    return math.exp(math.log(m0) + t * (math.log(m1) - math.log(m0)))


def _energy_from_mu(material: str, mu_cm2_g: float) -> float | None:
    """Inverse of :func:`mass_attenuation_interpolated` (mu falls monotonically with energy)."""
    grid = sorted(_NIST_TABLE_CM2_G)
    index = MATERIALS.index(material)
    mus = [_NIST_TABLE_CM2_G[g][index] for g in grid]
    if not (mus[-1] <= mu_cm2_g <= mus[0]):
        return None
    for (e0, m0), (e1, m1) in zip(
        zip(grid, mus, strict=True), zip(grid[1:], mus[1:], strict=True), strict=False
    ):
        if m1 <= mu_cm2_g <= m0:
            t = (math.log(mu_cm2_g) - math.log(m0)) / (math.log(m1) - math.log(m0))
            return math.exp(math.log(e0) + t * (math.log(e1) - math.log(e0)))
    return None


def _in_field(frame: np.ndarray, field_mask: np.ndarray, everywhere: bool) -> np.ndarray:
    """``frame[field_mask]``; a flat view when the field is the whole image (the usual case)."""
    return np.ravel(frame) if everywhere else frame[field_mask]


def _log_attenuation(counts: np.ndarray, i0: float) -> np.ndarray:
    return np.log(i0 / np.maximum(counts, 0.5))


def _both_at_least(
    low: np.ndarray, high: np.ndarray, step: int, minimum: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every ``step``-th pixel's two counts where both are at least ``minimum``: the values
    of ``low[::step][keep]`` and ``high[::step][keep]`` from one numba pass
    (``_kernels.both_at_least_kernel``) instead of two masks and two gathers."""
    from dxaspine.physics import _kernels  # numba: imported only when a scan is checked

    return _kernels.both_at_least_kernel(
        np.ascontiguousarray(low, dtype=np.float64).ravel(),
        np.ascontiguousarray(high, dtype=np.float64).ravel(),
        int(step),
        float(minimum),
    )


def _fraction_above(low: np.ndarray, high: np.ndarray, limit_low: float, limit_high: float):
    """``np.mean((low > limit_low) | (high > limit_high))``, the same number, from one count.

    (The mean of a boolean array is its exact count over its size, so count / size is that
    mean to the last bit; an empty field keeps numpy's NaN.)
    """
    if low.size == 0:
        return np.mean((low > limit_low) | (high > limit_high))
    from dxaspine.physics import _kernels  # numba: imported only when a scan is checked

    low = np.ascontiguousarray(low, dtype=np.float64).ravel()
    high = np.ascontiguousarray(high, dtype=np.float64).ravel()
    return (
        np.float64(_kernels.count_either_above_kernel(low, high, limit_low, limit_high)) / low.size
    )


def check_i0(scan: Scan) -> None:
    """Refuse I0 values that the counts in the field contradict.

    Raises
    ------
    ImplausibleValueError
        Counts above I0 in more than 1 % of the field; least-attenuated pixels that are
        neither air nor soft tissue under the stated I0 and energies; or a least-attenuated
        tissue thicker than :data:`MAX_WATER_EQUIVALENT_CM`.
    """
    i0_low, i0_high = (float(v) for v in scan.i0_counts)  # type: ignore[union-attr]
    low, high, field_mask = scan.frames["low"], scan.frames["high"], scan.field_mask
    everywhere = bool(field_mask.all())
    counts_low = _in_field(low, field_mask, everywhere)
    counts_high = _in_field(high, field_mask, everywhere)
    tol = 1.0 + COUNTS_ABOVE_I0_TOLERANCE
    above = _fraction_above(counts_low, counts_high, i0_low * tol, i0_high * tol)
    fix = "write the counts the detector measures without a patient as I0 (0071,xx02)"
    if above > COUNTS_ABOVE_I0_MAX_FRACTION:
        raise ImplausibleValueError(
            describe(
                scan.path,
                f"{above:.0%} of the field counts more photons than the stated unattenuated I0 "
                f"[{i0_low:.4g}, {i0_high:.4g}]: I0 is too low",
                fix,
            )
        )
    # The reference statistics need no more than ~65k pixels (a quantile and two medians).
    step = max(1, counts_low.size // SAMPLE_PIXELS)
    # starved pixels say nothing about I0
    counts_low, counts_high = _both_at_least(counts_low, counts_high, step, 1.0)
    if not counts_low.size:
        return
    a_low = _log_attenuation(counts_low, i0_low)
    a_high = _log_attenuation(counts_high, i0_high)
    # (np.quantile and np.median bit for bit, by the selection kernel: physics.quantiles)
    reference = a_high <= linear_quantiles(a_high, (REFERENCE_QUANTILE,), may_reorder=False)[0]
    ref_low, ref_high = median(a_low[reference]), median(a_high[reference])
    stated = f"I0 [{i0_low:.4g}, {i0_high:.4g}]"
    if ref_low < AIR_ATTENUATION and ref_high < AIR_ATTENUATION:
        return  # the field has air, and I0 matches the counts there
    if ref_low < AIR_ATTENUATION or ref_high < AIR_ATTENUATION:
        raise ImplausibleValueError(
            describe(
                scan.path,
                f"with {stated} the least-attenuated pixels are air at one energy and not at "
                "the other: the two I0 values disagree",
                fix,
            )
        )
    energies = scan.energies_kev
    if energies is None:
        return  # no energies: nothing to compare the ratio with (flagged by the caller)
    mu_water_high = mass_attenuation_interpolated("water", energies[1])
    if mu_water_high is not None and ref_high / mu_water_high > MAX_WATER_EQUIVALENT_CM:
        raise ImplausibleValueError(
            describe(
                scan.path,
                f"with {stated} even the least-attenuated part of the field would be "
                f"{ref_high / mu_water_high:.0f} cm of water thick: I0 is too high",
                fix,
            )
        )
    bounds = _soft_tissue_ratio_bounds(energies)
    if bounds is None:
        return
    ratio = ref_low / ref_high
    if not bounds[0] <= ratio <= bounds[1]:
        raise ImplausibleValueError(
            describe(
                scan.path,
                f"with {stated} the least-attenuated tissue has A_L/A_H {ratio:.3f}, outside "
                f"the {bounds[0]:.3f}-{bounds[1]:.3f} of soft tissue at "
                f"{energies[0]:g}/{energies[1]:g} keV: I0 disagrees with the counts",
                fix,
            )
        )


def check_attenuation_ratio(scan: Scan) -> None:
    """Refuse counts whose two frames disagree pixel by pixel (one frame damaged).

    Every material in a DXA field is a mixture of adipose, lean tissue and mineral (and
    metal, whose ratio is higher still), so A_L/A_H can be no lower than adipose's ratio at
    the stated energies (docs/domain.md §5), less the same 3 % tolerance as above.  More than
    :data:`LOW_RATIO_MAX_FRACTION` of the attenuating, non-starved field below it means one
    frame does not match the other: a corrupted stretch of one frame's pixel data.

    Raises
    ------
    ImplausibleValueError
    """
    energies = scan.energies_kev
    bounds = _soft_tissue_ratio_bounds(energies) if energies is not None else None
    if bounds is None:
        return
    i0_low, i0_high = (float(v) for v in scan.i0_counts)  # type: ignore[union-attr]
    everywhere = bool(scan.field_mask.all())
    counts_low = _in_field(scan.frames["low"], scan.field_mask, everywhere)
    counts_high = _in_field(scan.frames["high"], scan.field_mask, everywhere)
    step = max(1, counts_low.size // SAMPLE_PIXELS)
    # Enough counts for a ratio that noise does not blur (>= 30: < 20 % relative SD).
    counts_low, counts_high = _both_at_least(counts_low, counts_high, step, 30.0)
    a_low = _log_attenuation(counts_low, i0_low)
    a_high = _log_attenuation(counts_high, i0_high)
    tissue = a_high > AIR_ATTENUATION
    if np.count_nonzero(tissue) < 100:
        return
    below = float(np.mean(a_low[tissue] < bounds[0] * a_high[tissue]))
    if below > LOW_RATIO_MAX_FRACTION:
        raise ImplausibleValueError(
            describe(
                scan.path,
                f"{below:.1%} of the field attenuates the two energies in a ratio below any "
                f"tissue's ({bounds[0]:.3f} at {energies[0]:g}/{energies[1]:g} keV): the two "
                "frames do not match (damaged pixel data in one of them)",
                "re-export or re-transfer the file",
            )
        )


def _soft_tissue_ratio_bounds(energies: tuple[float, float]) -> tuple[float, float] | None:
    mus = [
        mass_attenuation_interpolated(m, e) for m in ("adipose", "soft_tissue") for e in energies
    ]
    if any(v is None for v in mus):
        return None
    r_adipose, r_lean = mus[0] / mus[1], mus[2] / mus[3]
    lo, hi = sorted((r_adipose, r_lean))
    return lo * (1 - SOFT_TISSUE_RATIO_TOLERANCE), hi * (1 + SOFT_TISSUE_RATIO_TOLERANCE)


def check_bone_coefficients(scan: Scan) -> None:
    """Refuse bone-basis coefficients that are not hydroxyapatite's at the stated energies.

    Raises
    ------
    ImplausibleValueError
        A coefficient whose hydroxyapatite energy (NIST curve, docs/domain.md §5) lies more than
        :data:`BONE_MU_ENERGY_TOLERANCE_KEV` from the stated effective energy, or outside the
        30-100 keV table.
    """
    if scan.bone_mu_cm2_g is None or scan.energies_kev is None:
        return
    problems = []
    for mu, energy in zip(scan.bone_mu_cm2_g, scan.energies_kev, strict=True):
        if mass_attenuation_interpolated("hydroxyapatite", energy) is None:
            return  # energy off the table: nothing to compare with
        implied = _energy_from_mu("hydroxyapatite", float(mu))
        if implied is None or abs(implied - float(energy)) > BONE_MU_ENERGY_TOLERANCE_KEV:
            nist = mass_attenuation_interpolated("hydroxyapatite", energy)
            where = f"{implied:.0f} keV" if implied is not None else "no DXA energy"
            problems.append(
                f"{float(mu):.4g} cm2/g at {float(energy):g} keV (NIST {nist:.4g}; implies {where})"
            )
    if problems:
        raise ImplausibleValueError(
            describe(
                scan.path,
                "bone-basis coefficients (0071,xx04) are not hydroxyapatite at the stated "
                f"energies: {'; '.join(problems)}",
                "write the hydroxyapatite mass attenuation coefficients at the effective "
                "energies, or correct the energies (0071,xx01)",
            )
        )


def photon_noise_excess(counts: np.ndarray, field_mask: np.ndarray) -> float:
    """Robust SD of neighbouring-pixel count differences over their Poisson SD.

    For Poisson counts I the difference of two neighbours has variance I1 + I2; the median
    absolute deviation of ``(I1 - I2) / sqrt(I1 + I2)`` (x 1.4826) is 1 for pure noise and
    grows with anatomy at the pixel scale and with damage.
    """
    from dxaspine.physics import _kernels  # numba: imported only when a scan is checked

    rows = max(1, counts.shape[0] * counts.shape[1] // SAMPLE_PIXELS)  # every k-th row
    z = _kernels.neighbour_noise_kernel(
        np.ascontiguousarray(counts, dtype=np.float64),
        np.ascontiguousarray(field_mask, dtype=np.bool_),
        rows,
    )
    if z.size < 100:
        return float("nan")
    return float(1.4826 * median(np.abs(z - median(z))))  # np.median bit for bit


def check_photon_noise(scan: Scan) -> None:
    """Refuse counts whose pixel noise is far above photon statistics (damaged pixel data).

    Raises
    ------
    ImplausibleValueError
        Either frame's :func:`photon_noise_excess` above :data:`NOISE_EXCESS_LIMIT`.
    """
    for name in ("low", "high"):
        excess = photon_noise_excess(scan.frames[name], scan.field_mask)
        if excess > NOISE_EXCESS_LIMIT:
            raise ImplausibleValueError(
                describe(
                    scan.path,
                    f"the {name}-energy frame varies {excess:.1f}x more from pixel to pixel than "
                    "photon statistics allow: damaged pixel data (e.g. a corrupted compressed "
                    "fragment), or values that are not detected counts",
                    "re-export or re-transfer the file; the profile stores detected counts",
                )
            )


def check_dual_energy(scan: Scan) -> tuple[PlausibilityFlag, ...]:
    """All physics checks of a dual-energy scan; the flags it earns.

    Returns
    -------
    tuple of PlausibilityFlag
        ``energies_missing`` when the file states no effective energies: the bone basis is
        then the file's coefficients without the marrow correction and the I0 ratio and
        coefficient checks cannot run.

    Raises
    ------
    ImplausibleValueError
        From :func:`check_i0`, :func:`check_bone_coefficients` or :func:`check_photon_noise`.
    """
    if scan.kind != "dual_energy" or scan.i0_counts is None:
        return ()  # no I0: the decomposition refuses the file with its own message
    check_i0(scan)
    check_bone_coefficients(scan)
    check_photon_noise(scan)
    check_attenuation_ratio(scan)
    if scan.energies_kev is None:
        return (
            PlausibilityFlag(
                ENERGIES_MISSING,
                "no effective energies (0071,xx01): the file's bone coefficients are used "
                "without the lean-marrow correction (BMD reads higher than with it) and I0 "
                "could not be checked against soft tissue",
            ),
        )
    return ()
