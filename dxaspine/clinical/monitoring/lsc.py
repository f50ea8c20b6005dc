"""The least significant change a comparison is judged against (docs/domain.md §2).

Three sources, always named in the output:

- the **site's own** LSC from a precision study (:mod:`dxaspine.clinical.precision`; the
  study's region, degrees of freedom and file are carried in the label);
- a **given** value in g/cm² (``--lsc``);
- otherwise the ISCD **maximal acceptable** LSC, 5.3 % (the LSC of the 1.9 % minimum
  acceptable precision), applied to the earlier visit's BMD and labelled as what it is: a
  ceiling every site should beat, not this site's precision.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dxaspine.clinical.precision import ISCD_MAX_LSC_PERCENT, PrecisionStudy
from dxaspine.errors import InputError, describe

__all__ = ["LeastSignificantChange", "lsc_from_precision", "maximal_acceptable_lsc"]


@dataclass(frozen=True)
class LeastSignificantChange:
    """An LSC in g/cm² (``value_g_cm2``) or as a percent of the earlier visit's BMD."""

    value_g_cm2: float | None
    percent: float | None
    source: str
    region: str | None = None  # region the value was measured on, if from a study

    def g_cm2(self, reference_bmd_g_cm2: float) -> float:
        """The LSC in g/cm² for a change from ``reference_bmd_g_cm2``."""
        if self.value_g_cm2 is not None:
            return self.value_g_cm2
        return self.percent / 100.0 * reference_bmd_g_cm2

    def to_dict(self) -> dict:
        return {
            "value_g_cm2": self.value_g_cm2,
            "percent": self.percent,
            "source": self.source,
            "region": self.region,
        }


def maximal_acceptable_lsc() -> LeastSignificantChange:
    """The ISCD 5.3 % ceiling, labelled as not the site's own (module docstring).

    Examples
    --------
    >>> round(maximal_acceptable_lsc().g_cm2(0.900), 4)  # 5.3 % of the earlier BMD
    0.0477
    """
    return LeastSignificantChange(
        None,
        ISCD_MAX_LSC_PERCENT,
        f"ISCD maximal acceptable LSC {ISCD_MAX_LSC_PERCENT} % of the earlier BMD (the LSC of "
        "the 1.9 % minimum acceptable precision): not this site's own precision; measure it "
        "with dxaspine precision",
    )


def given_lsc(value_g_cm2: float) -> LeastSignificantChange:
    """An LSC the user states (g/cm²); :class:`InputError` outside 0–0.5 g/cm².

    Examples
    --------
    >>> given_lsc(0.031).g_cm2(1.2)
    0.031
    """
    if not 0.0 < value_g_cm2 < 0.5:
        raise InputError(
            describe(
                "--lsc",
                f"{value_g_cm2} g/cm2 is not a plausible LSC",
                "give the site LSC in g/cm2 (typically 0.02-0.04)",
            )
        )
    return LeastSignificantChange(value_g_cm2, None, f"given: {value_g_cm2:.3f} g/cm2")


def lsc_from_precision(
    study: PrecisionStudy | str | os.PathLike, region: str = "L1-L4"
) -> LeastSignificantChange:
    """The site LSC for ``region`` from a precision study (object or its ``--json`` file).

    Parameters
    ----------
    study : PrecisionStudy or path to ``dxaspine precision --json`` output
    region : str
        The region to take; when the study lacks it, its L1-L4 value is used and the label
        says so (a smaller region has a larger error: the label warns).

    Returns
    -------
    LeastSignificantChange

    Raises
    ------
    InputError
        The file is not precision output or holds neither ``region`` nor L1-L4.

    Examples
    --------
    >>> from dxaspine.clinical.precision import precision_study
    >>> s = precision_study({"L1-L4": {"a": [1.00, 1.01], "b": [0.90, 0.92], "c": [0.8, 0.82]}})
    >>> round(lsc_from_precision(s).value_g_cm2, 4)
    0.0339
    """
    if isinstance(study, PrecisionStudy):
        regions = {r.region: (r.lsc_g_cm2, r.degrees_of_freedom) for r in study.regions}
        name = study.source
    else:
        name = str(study)
        try:
            data = json.loads(Path(study).read_text(encoding="utf-8"))
            regions = {
                r["region"]: (float(r["lsc_g_cm2"]), int(r["degrees_of_freedom"]))
                for r in data["regions"]
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                describe(
                    name,
                    f"not dxaspine precision output ({type(exc).__name__})",
                    "give the file written by dxaspine precision --json",
                )
            ) from None
    used = region if region in regions else "L1-L4" if "L1-L4" in regions else None
    if used is None:
        raise InputError(
            describe(
                name, f"no LSC for {region} or L1-L4", "run the precision study on that region"
            )
        )
    value, df = regions[used]
    label = f"site precision study {name}: LSC {value:.3f} g/cm2 for {used} ({df} df)"
    if used != region:
        label += f"; applied to {region}, which has no own value (its error is likely larger)"
    return LeastSignificantChange(value, None, label, used)
