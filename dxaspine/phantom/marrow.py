"""Vertebral marrow that contains fat, varying with age and sex (docs/physics.md, "Marrow").

The fat content of lumbar vertebral marrow is measured by MR as the proton-density fat
fraction, PDFF = fat / (fat + water).  The age curve here is piecewise linear through values
read from three studies:

- Baum et al. 2018 (Front Endocrinol 9:141; chemical-shift MRI, L1-L4, 156 healthy adults):
  twenties 32.0 % (men) / 27.2 % (women), thirties 35.3 % / 27.3 %;
- Griffith et al. 2012 (J Magn Reson Imaging 36:225; MRS of L3, 259 subjects aged 62-90):
  in women marrow fat rises sharply between 55 and 65 years, in men gradually throughout
  life; above 60 it is about 10 % higher in women than in men;
- Yeung et al. 2005 (J Magn Reson Imaging 22:279; MRS, women of mean age 70): 56.3 % with
  normal BMD, 63.5 % osteopenic, 65.5 % osteoporotic; young women (mean 28 y) 29 %.

The knots between those anchors (the start and end of the women's rise, the men's slope) are
a modelling choice, and a case can override the curve (``PhantomParams.marrow_fat_fraction``).

Composition: marrow is mixed from triglyceride (lipid) and the fat-free part of marrow
(:mod:`dxaspine.phantom.materials`), which is 2/3 water by mass (Woodard & White red marrow:
40 % water, 40 % lipid, 20 % protein).  Taking PDFF as the lipid share of lipid + water by mass
(lipid and water carry 11.8 % and 11.2 % hydrogen by mass, so proton and mass fractions differ
by under 5 % relative), the lipid mass fraction is f = 2 PDFF / (3 - PDFF): PDFF 0.5 gives
exactly Woodard & White red marrow.
"""

from __future__ import annotations

import numpy as np

from dxaspine.phantom.materials import Material, mixture

# (age in years, PDFF): Baum 2018 anchors the young ages, Griffith 2012 the women's rise
# between 55 and 65 and the ~10-point sex gap above 60, Yeung 2005 women near 70.
_PDFF_KNOTS: dict[str, tuple[tuple[float, float], ...]] = {
    "F": ((20.0, 0.272), (40.0, 0.275), (55.0, 0.33), (65.0, 0.55), (70.0, 0.575), (90.0, 0.63)),
    "M": ((20.0, 0.320), (35.0, 0.353), (90.0, 0.53)),
}
# Water is 2/3 of the fat-free part (Woodard & White red marrow minus its lipid).
_WATER_SHARE_OF_FAT_FREE = 2.0 / 3.0


def vertebral_marrow_pdff(age_years: float, sex: str) -> float:
    """Proton-density fat fraction (0-1) of lumbar vertebral marrow at ``age_years``.

    Piecewise linear through the knots in ``_PDFF_KNOTS`` (module docstring), constant outside
    them.  ``sex`` is "F" or "M"; anything else gets the mean of the two curves.
    """
    curves = [_PDFF_KNOTS[sex]] if sex in _PDFF_KNOTS else list(_PDFF_KNOTS.values())
    values = [np.interp(float(age_years), [a for a, _ in k], [v for _, v in k]) for k in curves]
    return float(np.mean(values))


def lipid_mass_fraction(pdff: float) -> float:
    """Lipid mass fraction of marrow whose fat / (fat + water) is ``pdff`` (module docstring)."""
    if not 0.0 <= pdff < 1.0:
        raise ValueError(f"pdff must be in [0, 1), got {pdff}")
    # pdff = f / (f + w (1 - f)) with w the water share of the fat-free part; solved for f
    w = _WATER_SHARE_OF_FAT_FREE
    return pdff * w / (1.0 - pdff * (1.0 - w))


def marrow_material(pdff: float) -> Material:
    """Marrow of the given PDFF as a mass mixture of triglyceride and fat-free marrow."""
    lipid = lipid_mass_fraction(pdff)
    return mixture(
        f"vertebral_marrow_pdff_{pdff:.3f}",
        {"triglyceride": lipid, "marrow_fat_free": 1.0 - lipid},
        f"PDFF {pdff:.3f}: {lipid:.3f} triolein + fat-free marrow (docs/physics.md)",
    )
