"""Physiological range of areal BMD: a level outside it is flagged and excluded, never reported.

A BMD that no lumbar vertebra can have is a damaged input or a failed measurement (a RescaleSlope
read as 1 gave 9,226 g/cm2 and T +75,614, "normal", in issue 12).  The range
:data:`PHYSIOLOGICAL_BMD_G_CM2` (derivation and sources: docs/hardening.md §2.5):

- NHANES 2017-2020 (docs/domain.md §8, Hologic, ages 50-80): the lowest valid per-level BMD with a
  measured area is 0.439 g/cm2 (L1), the highest 2.864 g/cm2 (L4);
- lower bound 0.20 g/cm2: the NHANES minimum halved (a margin of 0.24 g/cm2, two young-adult
  SDs of 0.122, docs/domain.md §8, beyond the most osteoporotic spine of 3,566 valid L1 levels);
- upper bound 3.5 g/cm2: the NHANES maximum + 22 %, inside the 3.3-3.9 g/cm2 a vertebra would
  read if it were solid cortical bone (ICRU-44: 1.92 g/cm3, 58 % mineral) through its whole
  30-35 mm depth (docs/domain.md §4), the most mineral a DXA can see in a vertebra; more is metal
  (which the image QC flags on its own).

A level outside the range gets the flag ``bmd_implausible`` (its evidence holds the value and
the range), is excluded from every composite like a level invalid in its source, and counts
against the ISCD limit of two exclusions.  Because composites are total BMC over total area
of in-range levels, every composite is then in range too.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping

from dxaspine.clinical.flags import Flag

__all__ = ["PHYSIOLOGICAL_BMD_G_CM2", "BMD_IMPLAUSIBLE", "bmd_flag", "mark_implausible_level"]

PHYSIOLOGICAL_BMD_G_CM2 = (0.20, 3.5)
BMD_IMPLAUSIBLE = "bmd_implausible"
RULE = "physiological BMD range 0.20-3.5 g/cm2 (NHANES 2017-2020 span widened; docs/hardening.md)"


def bmd_flag(label: str, bmd_g_cm2: float | None, what: str = "BMD") -> Flag | None:
    """The ``bmd_implausible`` flag of a level whose ``bmd_g_cm2`` is out of range, else None."""
    if bmd_g_cm2 is None:
        return None
    lo, hi = PHYSIOLOGICAL_BMD_G_CM2
    if math.isfinite(bmd_g_cm2) and lo <= bmd_g_cm2 <= hi:
        return None
    return Flag(
        code=BMD_IMPLAUSIBLE,
        detail=f"{label} {what} {bmd_g_cm2:.4g} g/cm2 is outside the physiological range "
        f"{lo}-{hi} g/cm2: damaged input or failed measurement; level excluded",
        level=label,
        evidence={"bmd_g_cm2": bmd_g_cm2, "range_g_cm2": list(PHYSIOLOGICAL_BMD_G_CM2)},
        rule=RULE,
    )


def mark_implausible_level(item: MutableMapping[str, object]) -> None:
    """Set ``item["invalid_reason"]`` to the flag when its BMD (or BMC/area) is out of range.

    ``item`` is one normalised level of :func:`dxaspine.clinical.assess` (``label``,
    ``bmc_g``, ``area_cm2``, ``bmd_g_cm2``, ``invalid_reason``).  BMC/area is checked as well
    as the BMD because composites are formed from BMC and area (docs/domain.md §1).
    """
    if item.get("invalid_reason"):
        return
    label = str(item["label"])
    flag = bmd_flag(label, item.get("bmd_g_cm2"))  # type: ignore[arg-type]
    bmc, area = item.get("bmc_g"), item.get("area_cm2")
    if flag is None and bmc is not None and area:
        flag = bmd_flag(label, float(bmc) / float(area), "BMC/area")  # type: ignore[arg-type]
    if flag is not None:
        item["invalid_reason"] = flag
