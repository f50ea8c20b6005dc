"""X-ray beams of the phantoms: tube spectra, filtration and detector response per frame.

A :class:`Beam` has two frames (low, high).  Each frame is a set of energy bins with the
normalised detected signal weight ``p_i`` of the unattenuated beam (sum 1) and a noise gain
``g_i``, so that behind an object of transmission ``T_i`` the frame value has

    mean = I0 sum_i p_i T_i,        variance = I0 sum_i p_i g_i T_i

(:mod:`dxaspine.phantom.physics`).  A photon-counting window has g = 1 (Poisson).  An
energy-integrating detector sums photon energies; its value is expressed in photon-equivalents
of the unattenuated beam, p_i = q_i E_i / <E> and g_i = E_i / <E> (q_i the photon spectrum),
the first two moments of the compound-Poisson sum (docs/physics.md, "Detectors").

Beams (docs/physics.md, "Spectra"):

- ``ge_lunar_like()``: 76 kV constant potential, tungsten anode, cerium K-edge filter, a
  photon-counting, energy-discriminating detector with two windows split at the Ce K-edge;
- ``hologic_like()``: 100/140 kVp switching, the same tube, an energy-integrating detector;
- ``monoenergetic(energies)``: the two effective energies of docs/domain.md §5, for arithmetic.

Tube model: Kramers' law for the thick-target bremsstrahlung photon spectrum,
dN/dE ~ (E0 - E) / E (Kramers 1923), plus the tungsten K lines (energies and relative line
intensities from xraydb) above the 69.5 keV K edge with the Green & Cosslett yield
(U - 1)^1.63, U = E0 / E_K, normalised so that the lines are 7 % of the photons of a 100 kVp
beam behind 2.5 mm Al (a typical size, not verified here).  Filtration attenuates with xraydb
coefficients.  Not modelled: anode self-absorption and the heel effect (beyond the inherent
filtration), generator ripple, off-axis variation, scatter, detector escape peaks and
pile-up.  A measured or TASMIP (Boone & Seibert 1997) spectrum can replace
:func:`tungsten_spectrum` without changing anything downstream.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from dxaspine.phantom.materials import _xraydb, mass_attenuation_cm2_g

_TUNGSTEN_K_EDGE_KEV = 69.525
_GREEN_COSSLETT_EXPONENT = 1.63
_K_LINE_SHARE_AT_100_KVP = 0.07  # of the photons behind 2.5 mm Al (module docstring)
_BIN_KEV = 1.0  # 1 keV bins resolve the Ce K-edge (40.4 keV) and the W K lines
_MIN_ENERGY_KEV = 10.0  # nothing below survives the inherent filtration
_NEGLIGIBLE_WEIGHT = 1e-9  # bins carrying less of a frame's signal are dropped


@dataclass(frozen=True)
class Filter:
    """A filter of ``thickness_mm`` of a material named in :mod:`dxaspine.phantom.materials`."""

    material: str
    thickness_mm: float


@dataclass(frozen=True)
class Frame:
    """One energy frame: bin energies, signal weights ``p`` (sum 1) and noise gains ``g``."""

    name: str  # "low" | "high"
    energies_kev: np.ndarray
    weights: np.ndarray
    noise_gain: np.ndarray
    description: str = ""

    @property
    def mean_energy_kev(self) -> float:
        """Signal-weighted mean energy of the unattenuated beam."""
        return float(np.dot(self.weights, self.energies_kev))


@dataclass(frozen=True)
class Beam:
    """A dual-energy beam: two frames and how they were made (``describe()`` for the truth)."""

    name: str  # "mono" | "ge" | "hologic"
    detector: str  # "monoenergetic" | "counting" | "integrating"
    low: Frame
    high: Frame
    settings: dict = field(default_factory=dict)

    @property
    def frames(self) -> tuple[Frame, Frame]:
        return self.low, self.high

    @property
    def energies_kev(self) -> np.ndarray:
        """Every bin energy of either frame, ascending (the grid the projection runs on)."""
        return np.union1d(self.low.energies_kev, self.high.energies_kev)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "detector": self.detector,
            "mean_energy_kev": [round(f.mean_energy_kev, 3) for f in self.frames],
            **self.settings,
        }


def transmission(filters, energies_kev) -> np.ndarray:
    """exp(-sum mu t) of a stack of :class:`Filter` at each energy."""
    from dxaspine.phantom.materials import material

    out = np.ones(len(energies_kev))
    for f in filters:
        m = material(f.material)
        out *= np.exp(
            -mass_attenuation_cm2_g(m, energies_kev) * m.density_g_cm3 * f.thickness_mm / 10
        )
    return out


def _bins(kvp: float) -> np.ndarray:
    return np.arange(_MIN_ENERGY_KEV, np.floor(kvp) + 1e-9, _BIN_KEV) + 0.0


def _continuum(kvp: float, energies: np.ndarray) -> np.ndarray:
    """Kramers' photon spectrum per bin, (E0 - E) / E, zero at and above E0."""
    return np.where(energies < kvp, (kvp - energies) / energies, 0.0) * _BIN_KEV


def _k_lines(kvp: float, energies: np.ndarray, continuum_photons: float) -> np.ndarray:
    """Tungsten K-line photons per bin (unnormalised share; see ``_k_line_constant``)."""
    out = np.zeros_like(energies)
    if kvp <= _TUNGSTEN_K_EDGE_KEV:
        return out
    lines = _xraydb().xray_lines("W", "K")
    total_intensity = sum(line.intensity for line in lines.values())
    yield_ = (kvp / _TUNGSTEN_K_EDGE_KEV - 1.0) ** _GREEN_COSSLETT_EXPONENT
    for line in lines.values():
        index = int(np.argmin(np.abs(energies - line.energy / 1000.0)))
        out[index] += continuum_photons * yield_ * line.intensity / total_intensity
    return out


@functools.lru_cache(maxsize=1)
def _k_line_constant() -> float:
    """Scale of the K lines: 7 % of the photons at 100 kVp behind 2.5 mm Al."""
    energies = _bins(100.0)
    t = transmission((Filter("aluminium", 2.5),), energies)
    cont = _continuum(100.0, energies)
    lines = _k_lines(100.0, energies, float(cont.sum()))
    share = _K_LINE_SHARE_AT_100_KVP
    # c * lines.T / (cont.T + c * lines.T) = share
    return share / (1.0 - share) * float(np.dot(cont, t)) / float(np.dot(lines, t))


def tungsten_spectrum(kvp: float, filters=()) -> tuple[np.ndarray, np.ndarray]:
    """(bin energies in keV, relative photons per bin) of a tungsten tube behind ``filters``."""
    if not 20.0 <= kvp <= 150.0:
        raise ValueError(f"kvp {kvp}: the tube model covers 20-150 kV")
    energies = _bins(kvp)
    cont = _continuum(kvp, energies)
    lines = _k_lines(kvp, energies, float(cont.sum())) * _k_line_constant()
    return energies, (cont + lines) * transmission(filters, energies)


def _gaussian_window(energies, lo_kev, hi_kev, fwhm_at_60_kev):
    """Probability that a photon of each energy is recorded in [lo, hi) with Gaussian
    resolution whose FWHM scales as sqrt(E) (counting statistics of a scintillator/CZT)."""
    from scipy.special import erf

    sigma = fwhm_at_60_kev / 2.3548 * np.sqrt(energies / 60.0)
    upper = 0.5 * (1 + erf((hi_kev - energies) / (np.sqrt(2) * sigma)))
    lower = 0.5 * (1 + erf((lo_kev - energies) / (np.sqrt(2) * sigma)))
    return upper - lower


def _frame(name, energies, signal, noise_gain, description) -> Frame:
    keep = signal > _NEGLIGIBLE_WEIGHT * signal.sum()
    weights = signal[keep] / signal[keep].sum()
    e = np.ascontiguousarray(energies[keep], dtype=np.float64)
    g = np.ascontiguousarray(noise_gain[keep], dtype=np.float64)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    for array in (e, w, g):
        array.flags.writeable = False
    return Frame(name, e, w, g, description)


# GE-Lunar-like settings (docs/physics.md, "Spectra"): 76 kV constant potential, 2.5 mm Al
# total inherent filtration (the IEC 60601-1-3 minimum above 70 kV), a cerium K-edge filter
# and two counting windows split just above the Ce K-edge (40.4 keV).  The Ce thickness and
# the split are modelling choices: with them the window mean energies behind 20 cm of soft
# tissue are about 39 and 66 keV (docs/domain.md §5: "about 38-40 and 70 keV") and the HA
# denominator falls 7.9 % from 10 to 30 cm of water (docs/domain.md §5: "about 8 %").
GE_KVP = 76.0
GE_FILTERS = (Filter("aluminium", 2.5), Filter("cerium", 0.5))
GE_WINDOWS_KEV = ((25.0, 45.0), (45.0, 100.0))
GE_FWHM_AT_60_KEV = 6.0  # energy resolution of the counting (CZT-like) detector; modelling choice

# Hologic-like: 100 / 140 kVp switching (docs/domain.md §5) on the same tube model, 2.5 mm Al, the
# high pulse through another 3 mm Cu (a modelling choice that separates the two spectra as
# far as copper reasonably can: with 1 mm the HA denominator is 0.10 and the noise of sigma_b
# 40 % higher; the real pulse-synchronous filtration is not published).  No K edge: this beam
# hardens far more than the GE-like one (docs/physics.md, "Beam hardening").
HOLOGIC_KVP = (100.0, 140.0)
HOLOGIC_FILTERS = (
    (Filter("aluminium", 2.5),),
    (Filter("aluminium", 2.5), Filter("copper", 3.0)),
)


@functools.lru_cache(maxsize=4)
def ge_lunar_like() -> Beam:
    """GE-Lunar-like beam: Ce K-edge filtered 76 kV, photon counting in two energy windows."""
    energies, photons = tungsten_spectrum(GE_KVP, GE_FILTERS)
    frames = []
    for name, (lo, hi) in zip(("low", "high"), GE_WINDOWS_KEV, strict=True):
        window = _gaussian_window(energies, lo, hi, GE_FWHM_AT_60_KEV)
        frames.append(
            _frame(
                name,
                energies,
                photons * window,
                np.ones_like(energies),
                f"counting window {lo:g}-{hi:g} keV",
            )  # fmt: skip
        )
    return Beam(
        "ge",
        "counting",
        frames[0],
        frames[1],
        {
            "kvp": [GE_KVP, GE_KVP],
            "filters": [f"{f.thickness_mm:g} mm {f.material}" for f in GE_FILTERS],
            "windows_kev": [list(w) for w in GE_WINDOWS_KEV],
            "fwhm_at_60_kev": GE_FWHM_AT_60_KEV,
            "tube_model": "Kramers + W K lines",
        },
    )


@functools.lru_cache(maxsize=4)
def hologic_like() -> Beam:
    """Hologic-like beam: 100/140 kVp switching read by an energy-integrating detector."""
    frames = []
    for name, kvp, filters in zip(("low", "high"), HOLOGIC_KVP, HOLOGIC_FILTERS, strict=True):
        energies, photons = tungsten_spectrum(kvp, filters)
        mean_e = float(np.dot(photons, energies) / photons.sum())
        frames.append(
            _frame(
                name,
                energies,
                photons * energies,
                energies / mean_e,
                f"{kvp:g} kVp, energy integrating",
            )  # fmt: skip
        )
    return Beam(
        "hologic",
        "integrating",
        frames[0],
        frames[1],
        {
            "kvp": list(HOLOGIC_KVP),
            "filters": [
                [f"{f.thickness_mm:g} mm {f.material}" for f in fs] for fs in HOLOGIC_FILTERS
            ],
            "tube_model": "Kramers + W K lines",
            "noise": "compound Poisson, first two moments",
        },
    )


def monoenergetic(energies_kev: tuple[float, float]) -> Beam:
    """Two delta lines at the effective energies: the arithmetic-test beam."""
    frames = [
        Frame(name, np.array([float(e)]), np.array([1.0]), np.array([1.0]), f"{e:g} keV")
        for name, e in zip(("low", "high"), energies_kev, strict=True)
    ]
    return Beam("mono", "monoenergetic", frames[0], frames[1],
                {"energies_kev": [float(e) for e in energies_kev]})  # fmt: skip


BEAMS = ("mono", "ge", "hologic")


def beam_for(name: str, energies_kev: tuple[float, float] = (40.0, 70.0)) -> Beam:
    """The beam called ``name`` ("mono" uses ``energies_kev``)."""
    if name == "mono":
        return monoenergetic(energies_kev)
    if name == "ge":
        return ge_lunar_like()
    if name == "hologic":
        return hologic_like()
    raise ValueError(f"beam {name!r}: use one of {BEAMS}")
