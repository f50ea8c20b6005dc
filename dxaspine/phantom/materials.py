"""Materials of the phantoms and their mass attenuation coefficients at any energy.

Compositions are elemental mass fractions with their sources (docs/physics.md, "Materials");
coefficients come from ``xraydb`` (the Elam, Ravel & Sieber tables, which carry the
NIST/XCOM photo-absorption, coherent and incoherent cross-sections) by the mixture rule
mu/rho = sum_i w_i (mu/rho)_i.  Against the NIST table of docs/domain.md §5 they agree within
0.05 % at every grid energy (tests/test_phantom_materials.py).

xraydb is a *phantom* dependency (extra ``phantom``): the pipeline never imports this module;
its decomposition uses the file's coefficients or :mod:`dxaspine.physics.attenuation`.

Materials named here (``MATERIALS``): the docs/domain.md §5 five (water, ICRU-44 soft tissue,
ICRU-44 adipose, ICRU-44 cortical bone, hydroxyapatite), Woodard & White red and yellow
marrow, triglyceride (triolein) and the fat-free part of marrow (the two components the
age-dependent marrow of :mod:`dxaspine.phantom.marrow` is mixed from), dry air, and for CT
projections iodine (contrast) and titanium (implants).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dxaspine.errors import DxaError, describe


@dataclass(frozen=True)
class Material:
    """A material by composition: element symbol -> mass fraction (normalised to 1)."""

    name: str
    mass_fractions: Mapping[str, float]
    density_g_cm3: float
    source: str


def _xraydb():
    try:
        import xraydb
    except ImportError:  # pragma: no cover - the phantom extra installs it
        raise DxaError(
            describe(
                "xraydb",
                "not installed; the polyenergetic phantom needs attenuation at any energy",
                "pip install 'dxaspine[phantom]' (or use PhantomParams(beam='mono'))",
            )
        ) from None
    return xraydb


def _normalised(fractions: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(fractions.values()))
    return {element: float(w) / total for element, w in fractions.items() if w > 0}


def from_formula(name: str, formula: dict[str, int], density_g_cm3: float, source: str):
    """A material from a chemical formula ``{element: atoms}`` (atomic masses from xraydb)."""
    xraydb = _xraydb()
    masses = {el: n * xraydb.atomic_mass(el) for el, n in formula.items()}
    return Material(name, _normalised(masses), density_g_cm3, source)


_NIST = "NIST SRD 126 (Hubbell & Seltzer), Table 2, from ICRU Report 44"
_WOODARD_WHITE = "Woodard & White 1986 (Br J Radiol 59:1209), as tabulated in ICRU Report 46"

# Elemental mass fractions (docs/physics.md, "Materials").
_COMPOSITIONS: dict[str, tuple[dict[str, float], float, str]] = {
    "soft_tissue": (
        {
            "H": 0.102,
            "C": 0.143,
            "N": 0.034,
            "O": 0.708,
            "Na": 0.002,
            "P": 0.003,
            "S": 0.003,
            "Cl": 0.002,
            "K": 0.003,
        },
        1.06,
        f"ICRU-44 soft tissue; {_NIST}",
    ),  # fmt: skip
    "adipose": (
        {"H": 0.114, "C": 0.598, "N": 0.007, "O": 0.278, "Na": 0.001, "S": 0.001, "Cl": 0.001},
        0.95,
        f"ICRU-44 adipose tissue; {_NIST}",
    ),  # fmt: skip
    "cortical_bone": (
        {
            "H": 0.034,
            "C": 0.155,
            "N": 0.042,
            "O": 0.435,
            "Na": 0.001,
            "Mg": 0.002,
            "P": 0.103,
            "S": 0.003,
            "Ca": 0.225,
        },
        1.92,
        f"ICRU-44 cortical bone; {_NIST}",
    ),  # fmt: skip
    "red_marrow": (
        {
            "H": 0.105,
            "C": 0.414,
            "N": 0.034,
            "O": 0.439,
            "P": 0.001,
            "S": 0.002,
            "Cl": 0.002,
            "K": 0.002,
            "Fe": 0.001,
        },
        1.03,
        f"red (haematopoietic) marrow, 40 % water / 40 % lipid / 20 % protein; {_WOODARD_WHITE}",
    ),  # fmt: skip
    "yellow_marrow": (
        {"H": 0.115, "C": 0.644, "N": 0.007, "O": 0.231, "Na": 0.001, "S": 0.001, "Cl": 0.001},
        0.98,
        f"yellow (fatty) marrow, 15 % water / 80 % lipid / 5 % protein; {_WOODARD_WHITE}",
    ),  # fmt: skip
    "air": (
        {"C": 0.000124, "N": 0.755268, "O": 0.231781, "Ar": 0.012827},
        0.001205,
        f"dry air near sea level; {_NIST}",
    ),  # fmt: skip
    "iodine": ({"I": 1.0}, 4.93, "elemental iodine (contrast agent, per gram of iodine)"),
    "titanium": ({"Ti": 1.0}, 4.506, "elemental titanium (implants)"),
    "aluminium": ({"Al": 1.0}, 2.699, "elemental aluminium (filtration)"),
    "copper": ({"Cu": 1.0}, 8.96, "elemental copper (filtration)"),
    "cerium": ({"Ce": 1.0}, 6.77, "elemental cerium (K-edge filter)"),
}
_FORMULAS: dict[str, tuple[dict[str, int], float, str]] = {
    "water": ({"H": 2, "O": 1}, 1.0, "H2O"),
    "hydroxyapatite": (
        {"Ca": 10, "P": 6, "O": 26, "H": 2},
        3.16,
        "Ca10(PO4)6(OH)2, crystal density 3.16 g/cm3",
    ),  # fmt: skip
    # The standard model triglyceride of human fat (oleic acid is its main fatty acid).
    "triglyceride": ({"C": 57, "H": 104, "O": 6}, 0.91, "triolein C57H104O6"),
}
# Red marrow is 40 % lipid by mass (Woodard & White); what is left once that lipid is taken
# out is the marrow's fat-free part (2/3 water, 1/3 protein and salts).
RED_MARROW_LIPID_MASS_FRACTION = 0.40

MATERIALS: tuple[str, ...] = (
    *sorted(_FORMULAS),
    *sorted(_COMPOSITIONS),
    "marrow_fat_free",
)


@functools.cache
def material(name: str) -> Material:
    """The named material (``MATERIALS``).

    Raises
    ------
    KeyError
        For an unknown name.
    """
    if name in _COMPOSITIONS:
        fractions, density, source = _COMPOSITIONS[name]
        return Material(name, _normalised(fractions), density, source)
    if name in _FORMULAS:
        formula, density, source = _FORMULAS[name]
        return from_formula(name, formula, density, source)
    if name == "marrow_fat_free":
        return _fat_free_marrow()
    raise KeyError(f"unknown material {name!r}; known: {', '.join(MATERIALS)}")


def _fat_free_marrow() -> Material:
    """Red marrow minus its 40 % lipid (as triolein), renormalised; volumes add."""
    red, lipid = material("red_marrow"), material("triglyceride")
    f = RED_MARROW_LIPID_MASS_FRACTION
    elements = set(red.mass_fractions) | set(lipid.mass_fractions)
    rest = {
        el: red.mass_fractions.get(el, 0.0) - f * lipid.mass_fractions.get(el, 0.0)
        for el in elements
    }
    if min(rest.values()) < -1e-12:  # would mean the red-marrow composition holds less C/H/O
        raise ValueError(f"red marrow minus {f:.0%} triolein is not a composition: {rest}")
    specific_volume = (1.0 / red.density_g_cm3 - f / lipid.density_g_cm3) / (1.0 - f)
    return Material(
        "marrow_fat_free",
        _normalised({el: max(w, 0.0) for el, w in rest.items()}),
        1.0 / specific_volume,
        f"derived: {_WOODARD_WHITE} red marrow minus {f:.0%} triolein, renormalised",
    )


def mixture(name: str, parts: Mapping[str, float], source: str) -> Material:
    """A mass mixture of named materials ``{material: mass fraction}``; volumes add."""
    total = float(sum(parts.values()))
    fractions: dict[str, float] = {}
    specific_volume = 0.0
    for part, weight in parts.items():
        m = material(part)
        share = float(weight) / total
        specific_volume += share / m.density_g_cm3
        for el, w in m.mass_fractions.items():
            fractions[el] = fractions.get(el, 0.0) + share * w
    return Material(name, _normalised(fractions), 1.0 / specific_volume, source)


@functools.lru_cache(maxsize=256)
def _element_mu(element: str, energies_kev: tuple[float, ...]) -> np.ndarray:
    xraydb = _xraydb()
    values = xraydb.mu_elam(element, np.asarray(energies_kev) * 1000.0, kind="total")
    out = np.atleast_1d(np.asarray(values, dtype=np.float64))
    out.flags.writeable = False
    return out


def mass_attenuation_cm2_g(substance: str | Material, energies_kev) -> np.ndarray:
    """Total mass attenuation coefficient (cm2/g, coherent scattering included) at each energy.

    Parameters
    ----------
    substance : str or Material
        A name from ``MATERIALS`` or a :class:`Material`.
    energies_kev : float or sequence of float
        Photon energies in keV (xraydb covers 0.1 keV to 1 MeV).

    Returns
    -------
    (n,) ndarray of float64
    """
    m = material(substance) if isinstance(substance, str) else substance
    energies = tuple(float(e) for e in np.atleast_1d(np.asarray(energies_kev, dtype=float)))
    if not energies or min(energies) <= 0:
        raise ValueError(f"energies_kev must be positive, got {energies_kev!r}")
    total = np.zeros(len(energies))
    for element, weight in sorted(m.mass_fractions.items()):
        total += weight * _element_mu(element, energies)
    return total
