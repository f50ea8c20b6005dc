"""Counts from areal masses of materials along each ray: Beer-Lambert over a beam's spectrum.

The public entry point for any phantom (the drawn one and CT projections) is
:func:`project_areal_masses`: a dict ``{material name: (rows, cols) g/cm2}`` and a
:class:`~dxaspine.phantom.spectra.Beam` give the expected low/high frame values

    I_f = I0_f sum_i p_f,i exp(-sum_m mu_m(E_i) sigma_m)

with their variance (Poisson for counting detectors, compound-Poisson moments for
energy-integrating ones, :mod:`dxaspine.phantom.spectra`), and :func:`detected_counts` draws
the noise.  Material names are those of :mod:`dxaspine.phantom.materials` (``"hydroxyapatite"``,
``"soft_tissue"``, ``"adipose"``, ``"triglyceride"``, ``"marrow_fat_free"``, ``"red_marrow"``,
``"yellow_marrow"``, ``"water"``, ``"cortical_bone"``, ``"air"``, ``"iodine"``, ``"titanium"``).

Stated simplifications:
- the value of a pixel is Beer-Lambert of the *pixel-averaged* areal masses (partial volume
  linear in the log domain, exact for a monoenergetic beam, slightly off for a spectrum);
- no scatter, no detector blur, ideal collimation (a pencil/fan beam with a narrow slit);
- ``beam="mono"`` uses the docs/domain.md §5 NIST table for the materials it lists, so the
  pipeline's arithmetic is exact on it; other materials and every spectrum use xraydb.

The older monoenergetic helpers (:func:`attenuate`, :func:`expected_counts`,
:func:`poisson_counts`) are kept for callers that already hold log attenuations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dxaspine.phantom.spectra import Beam
from dxaspine.physics.attenuation import MATERIALS as TABLE_MATERIALS
from dxaspine.physics.attenuation import TABULATED_ENERGIES_KEV, coefficient_pair

HA_DENSITY_G_CM3 = 3.16  # hydroxyapatite crystal density
MINERAL = "hydroxyapatite"


@dataclass(frozen=True)
class ExpectedCounts:
    """Noise-free frame values of one projection, their variances and the unattenuated I0.

    ``variance_*`` equals the mean for photon-counting and monoenergetic beams; for an
    energy-integrating detector it is the compound-Poisson variance (larger than the mean).
    """

    low: np.ndarray
    high: np.ndarray
    variance_low: np.ndarray
    variance_high: np.ndarray
    i0_counts: tuple[float, float]
    # A_L / A_H of the same rays without one material (``ratio_without``), noise-free
    soft_ratio: np.ndarray | None = None

    @property
    def log_low(self) -> np.ndarray:
        return np.log(self.i0_counts[0] / self.low)

    @property
    def log_high(self) -> np.ndarray:
        return np.log(self.i0_counts[1] / self.high)


def mass_attenuation(material: str, beam: Beam, energies_kev: np.ndarray) -> np.ndarray:
    """mu/rho (cm2/g) of ``material`` at ``energies_kev`` as this beam's projection uses it."""
    energies = np.asarray(energies_kev, dtype=float)
    if (
        beam.name == "mono"
        and material in TABLE_MATERIALS
        and all(float(e) in TABULATED_ENERGIES_KEV for e in energies)
    ):
        from dxaspine.physics.attenuation import mass_attenuation_cm2_g as table

        return np.array([table(material, float(e)) for e in energies])
    from dxaspine.phantom.materials import mass_attenuation_cm2_g

    return mass_attenuation_cm2_g(material, energies)


def project_areal_masses(
    areal_g_cm2: Mapping[str, np.ndarray],
    beam: Beam,
    i0_counts: tuple[float, float],
    ratio_without: str | None = None,
) -> ExpectedCounts:
    """Expected low/high detector values of rays through the given areal masses.

    Parameters
    ----------
    areal_g_cm2 : mapping of str to (M, N) ndarray
        Areal mass (g/cm2) of each material along each ray; names from
        :data:`dxaspine.phantom.materials.MATERIALS`.  All arrays share one shape.
    beam : Beam
        :func:`dxaspine.phantom.spectra.beam_for` ("mono", "ge", "hologic") or any Beam.
    i0_counts : (float, float)
        Unattenuated value per pixel of the low and high frame (docs/domain.md §5: 5-7 x 10^5
        photons per 0.25 mm pixel; :func:`i0_per_pixel` scales a fluence to a pixel).
    ratio_without : str, optional
        Also return A_L / A_H of the rays without this material (``"hydroxyapatite"``: the
        soft-tissue ratio R_st the decomposition should find), in ``soft_ratio``.

    Returns
    -------
    ExpectedCounts
        Means and variances per pixel, ``i0_counts`` as given, and ``soft_ratio``.

    Raises
    ------
    KeyError
        For an unknown material name.
    ValueError
        For arrays of different shapes or a non-positive I0.
    """
    names = sorted(areal_g_cm2)
    if not names:
        raise ValueError("areal_g_cm2 is empty: give at least one material")
    shape = np.shape(areal_g_cm2[names[0]])
    masses = []
    for name in names:
        array = np.asarray(areal_g_cm2[name], dtype=np.float64)
        if array.shape != shape:
            raise ValueError(f"areal mass {name!r} has shape {array.shape}, expected {shape}")
        masses.append(array)
    i0 = tuple(float(v) for v in i0_counts)
    if not all(np.isfinite(v) and v > 0 for v in i0):
        raise ValueError(f"i0_counts must be two positive numbers, got {i0_counts!r}")
    energies = beam.energies_kev
    mu = np.array([mass_attenuation(name, beam, energies) for name in names])  # (M, E)
    sums = {f.name: [np.zeros(shape), np.zeros(shape)] for f in beam.frames}
    dropped = names.index(ratio_without) if ratio_without in names else None
    without = {f.name: np.zeros(shape) for f in beam.frames} if ratio_without else None
    lookup = {
        f.name: dict(zip(f.energies_kev.tolist(), zip(f.weights, f.noise_gain, strict=True),
                         strict=True))
        for f in beam.frames
    }  # fmt: skip
    for k, energy in enumerate(energies.tolist()):
        # explicit multiply-adds in a fixed order (no BLAS): files stay byte-for-byte
        # reproducible across machines
        exponent = np.zeros(shape)
        for m in range(len(names)):
            if mu[m, k] != 0.0 and m != dropped:
                exponent += mu[m, k] * masses[m]
        if without is not None:
            transmitted_without = np.exp(-exponent)
            if dropped is not None and mu[dropped, k] != 0.0:
                exponent += mu[dropped, k] * masses[dropped]
        transmitted = (
            np.exp(-exponent) if dropped is not None or without is None else transmitted_without
        )
        for frame_name, table in lookup.items():
            if energy in table:
                weight, gain = table[energy]
                mean, var = sums[frame_name]
                mean += weight * transmitted
                var += (weight * gain) * transmitted
                if without is not None:
                    without[frame_name] += weight * transmitted_without
    low_mean, low_var = (i0[0] * a for a in sums["low"])
    high_mean, high_var = (i0[1] * a for a in sums["high"])
    ratio = None
    if without is not None:
        with np.errstate(invalid="ignore", divide="ignore"):  # rays through nothing: 0/0
            ratio = np.log(without["low"]) / np.log(without["high"])
    return ExpectedCounts(low_mean, high_mean, low_var, high_var, (i0[0], i0[1]), ratio)


def detected_counts(
    expected: ExpectedCounts, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy (low, high) frame values drawn around ``expected``.

    Counting detectors: Poisson with the expected mean.  Energy-integrating detectors: a
    scaled Poisson with the same mean and the compound-Poisson variance,
    value = (var / mean) Poisson(mean^2 / var), the usual two-moment approximation of a sum of
    a Poisson number of photon energies.  Draws low, then high, from ``rng``.
    """
    out = []
    for mean, var in (
        (expected.low, expected.variance_low),
        (expected.high, expected.variance_high),
    ):
        if np.array_equal(mean, var):
            out.append(poisson_counts(mean, rng))
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = np.where(mean > 0, var / mean, 1.0)
        out.append(gain * rng.poisson(mean / gain).astype(np.float64))
    return out[0], out[1]


@dataclass(frozen=True)
class Attenuation:
    lean_g_cm2: np.ndarray
    fat_g_cm2: np.ndarray
    log_low: np.ndarray  # A_L = ln(I0/I), noise-free
    log_high: np.ndarray
    r_st: np.ndarray  # mu_L/mu_H of all non-mineral material along each ray


def attenuate(bone_g_cm2, lean_g_cm2, fat_g_cm2, energies_kev) -> Attenuation:
    """Monoenergetic log attenuations of HA + lean + fat at tabulated energies (NIST table)."""
    mu_b = coefficient_pair("hydroxyapatite", energies_kev)
    mu_l = coefficient_pair("soft_tissue", energies_kev)
    mu_f = coefficient_pair("adipose", energies_kev)
    soft_low = mu_l[0] * lean_g_cm2 + mu_f[0] * fat_g_cm2
    soft_high = mu_l[1] * lean_g_cm2 + mu_f[1] * fat_g_cm2
    return Attenuation(
        lean_g_cm2=lean_g_cm2,
        fat_g_cm2=fat_g_cm2,
        log_low=mu_b[0] * bone_g_cm2 + soft_low,
        log_high=mu_b[1] * bone_g_cm2 + soft_high,
        r_st=soft_low / soft_high,
    )


def expected_counts(log_attenuation: np.ndarray, i0_counts: float) -> np.ndarray:
    return i0_counts * np.exp(-log_attenuation)


def poisson_counts(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Detected counts: Poisson with mean ``expected`` (quantum noise), as float64."""
    return rng.poisson(expected).astype(np.float64)


def i0_per_pixel(photons_per_mm2: tuple[float, float], spacing_mm) -> tuple[float, float]:
    area_mm2 = spacing_mm[0] * spacing_mm[1]
    return (photons_per_mm2[0] * area_mm2, photons_per_mm2[1] * area_mm2)


def rescale_slope(max_counts: float) -> float:
    """Smallest power of two so that ``max_counts / slope`` fits in 16 bits.

    The stored value is round(counts / slope); the rounding error has variance slope^2/12,
    which must be negligible next to the Poisson variance (= counts).  Power-of-two slopes
    are exact decimal strings in the DS header and lose at most one bit of range.
    """
    slope = 1.0
    while max_counts / slope > 65535.0:
        slope *= 2.0
    return slope
