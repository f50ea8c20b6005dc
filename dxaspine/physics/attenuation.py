"""Mass attenuation coefficients (cm2/g) of the materials a DXA beam meets.

Values are NIST/XCOM as tabulated in docs/domain.md section 5.  docs/domain.md warns that log-log
interpolation between grid energies overestimates hydroxyapatite by about 2 % at 70 keV,
so only the tabulated energies are served; any other energy needs coefficients from the
file (interchange private tag (0071,xx04)) or from the caller.
"""

from __future__ import annotations

import numpy as np

MATERIALS = ("water", "soft_tissue", "adipose", "cortical_bone", "hydroxyapatite")

# keV -> (water, soft tissue ICRU-44, adipose, cortical bone, hydroxyapatite); docs/domain.md §5
_NIST_TABLE_CM2_G: dict[float, tuple[float, float, float, float, float]] = {
    30.0: (0.3756, 0.3790, 0.3063, 1.331, 2.099),
    38.0: (0.2817, 0.2826, 0.2481, 0.7470, 1.123),
    40.0: (0.2683, 0.2688, 0.2396, 0.6655, 0.9877),
    50.0: (0.2269, 0.2264, 0.2123, 0.4242, 0.5867),
    60.0: (0.2059, 0.2048, 0.1974, 0.3148, 0.4067),
    70.0: (0.1929, 0.1916, 0.1875, 0.2570, 0.3131),
    80.0: (0.1837, 0.1823, 0.1800, 0.2229, 0.2589),
    100.0: (0.1707, 0.1693, 0.1688, 0.1855, 0.2019),
}

TABULATED_ENERGIES_KEV: tuple[float, ...] = tuple(sorted(_NIST_TABLE_CM2_G))


def mass_attenuation_cm2_g(material: str, energy_kev: float) -> float:
    """Mass attenuation coefficient of ``material`` at a tabulated ``energy_kev``.

    Raises
    ------
    KeyError
        For an unknown material or an energy that is not on the NIST grid.
    """
    try:
        index = MATERIALS.index(material)
    except ValueError:
        raise KeyError(f"unknown material {material!r}; known: {', '.join(MATERIALS)}") from None
    key = float(energy_kev)
    if key not in _NIST_TABLE_CM2_G:
        raise KeyError(
            f"no NIST coefficient tabulated at {energy_kev} keV (grid: {TABULATED_ENERGIES_KEV}); "
            "supply bone-basis coefficients explicitly"
        )
    return _NIST_TABLE_CM2_G[key][index]


def coefficient_pair(material: str, energies_kev: tuple[float, float]) -> np.ndarray:
    """``[mu_low, mu_high]`` for ``material`` at the two effective energies."""
    return np.array([mass_attenuation_cm2_g(material, e) for e in energies_kev])


def soft_tissue_ratio(energies_kev: tuple[float, float], fat_fraction: float | np.ndarray = 0.0):
    """R_st = mu_L / mu_H of lean/fat soft tissue with the given fat mass fraction.

    docs/domain.md §5: about 1.40 at 40/70 keV for lean tissue; fat lowers it.
    """
    lean = coefficient_pair("soft_tissue", energies_kev)
    fat = coefficient_pair("adipose", energies_kev)
    f = np.asarray(fat_fraction, dtype=float)
    mu_low = (1 - f) * lean[0] + f * fat[0]
    mu_high = (1 - f) * lean[1] + f * fat[1]
    return mu_low / mu_high
