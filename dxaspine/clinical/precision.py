"""The ISCD precision calculator: RMS-SD, RMS-%CV, LSC and the confidence interval of the error.

Definitions (docs/monitoring.md, "Precision"; docs/domain.md §2):

- Each patient *j* has ``n_j ≥ 2`` scans (repositioned between scans) with sample SD ``SD_j``
  (``ddof = 1``) and mean ``m_j``.  Degrees of freedom ``df = Σ (n_j − 1)``.
- **Precision error** = RMS-SD = ``sqrt(Σ (n_j − 1)·SD_j² / df)`` in g/cm² (the pooled
  within-patient SD; for equal ``n`` it is ``sqrt(mean SD_j²)``, the ISCD formula).  ISCD
  advises against %CV; RMS-%CV = ``sqrt(Σ (n_j − 1)·(SD_j/m_j)² / df)`` is reported beside it.
- **LSC** = 2.77 × RMS-SD (95 % confidence for the difference of two scans: 1.96·√2).
- **95 % CI of the precision error** from the χ² distribution with ``df`` degrees of freedom:
  ``RMS-SD·sqrt(df/χ²₀.₉₇₅(df))`` to ``RMS-SD·sqrt(df/χ²₀.₀₂₅(df))`` (the CI of an SD; NIST/
  SEMATECH e-Handbook §1.3.5.8; assumes one common within-patient SD).
- **Design**: 30 patients × 2 scans or 15 × 3, at least 30 degrees of freedom (ISCD).
- **Arithmetic averaging** of the ``SD_j`` underestimates the error (by up to 41 %, Glüer
  1995); the arithmetic mean is reported with its shortfall so nobody quotes it by mistake.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dxaspine.clinical.table_files import Table, cell_number, read_rows
from dxaspine.errors import InputError, describe

__all__ = [
    "LSC_FACTOR",
    "ISCD_MAX_LSC_PERCENT",
    "PrecisionStudy",
    "RegionPrecision",
    "precision_study",
    "read_precision_table",
    "region_precision",
]

LSC_FACTOR = 2.77  # ISCD: LSC = 2.77 x precision error (95 % confidence), docs/domain.md §2
ISCD_MIN_DF = 30  # ISCD: 30 x 2 or 15 x 3, i.e. at least 30 degrees of freedom
ISCD_MAX_CV_PERCENT = 1.9  # ISCD minimum acceptable precision, spine (docs/domain.md §2)
ISCD_MAX_LSC_PERCENT = 5.3  # the LSC that goes with 1.9 % (docs/domain.md §2)
GLUER_MAX_UNDERESTIMATE_PERCENT = 41  # Glüer 1995, arithmetic instead of RMS (docs/domain.md §2)
# A BMD outside this range is not a lumbar spine BMD in g/cm2 (vendor spine values run
# ~0.4-1.8; mg/cm2 or a T-score column would fall outside).
PLAUSIBLE_BMD_G_CM2 = (0.1, 3.0)
_PATIENT_COLUMNS = ("patient_id", "patient", "subject", "id")
_REGION = r"L[1-6](?:-L[1-6])?(?:,L[1-6](?:-L[1-6])?)*"
_LONG_COLUMN = re.compile(rf"^({_REGION})(?:_bmd_g_cm2)?$")
_WIDE_COLUMN = re.compile(r"^(?:(" + _REGION + r")_)?scan_?(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class RegionPrecision:
    """Precision of one region (all BMD in g/cm²)."""

    region: str
    n_patients: int
    n_scans: int
    degrees_of_freedom: int
    mean_bmd_g_cm2: float
    rms_sd_g_cm2: float
    rms_cv_percent: float
    lsc_g_cm2: float
    lsc_percent: float
    rms_sd_ci95_g_cm2: tuple[float, float]
    lsc_ci95_g_cm2: tuple[float, float]
    arithmetic_mean_sd_g_cm2: float
    arithmetic_shortfall_percent: float  # how far the arithmetic mean falls below RMS-SD
    design_ok: bool
    design: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrecisionStudy:
    """Every region of one precision table."""

    source: str
    regions: tuple[RegionPrecision, ...]
    dropped_patients: int = 0  # patients with fewer than 2 scans (they carry no df)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def region(self, name: str) -> RegionPrecision | None:
        return next((r for r in self.regions if r.region == name), None)

    def to_dict(self) -> dict:
        """Plain-JSON form (what ``dxaspine precision --json`` writes)."""
        return {
            "source": self.source,
            "dropped_patients": self.dropped_patients,
            "notes": list(self.notes),
            "regions": [
                {
                    **{k: getattr(r, k) for k in RegionPrecision.__dataclass_fields__},
                    "rms_sd_ci95_g_cm2": list(r.rms_sd_ci95_g_cm2),
                    "lsc_ci95_g_cm2": list(r.lsc_ci95_g_cm2),
                    "warnings": list(r.warnings),
                }
                for r in self.regions
            ],
        }


def _chi2_ppf(q: float, df: int) -> float:
    from scipy.stats import chi2

    return float(chi2.ppf(q, df))


def _design(n_patients: int, scans: Sequence[int], df: int) -> tuple[bool, str]:
    counts = sorted(set(scans))
    shape = (
        f"{n_patients} patients x {counts[0]} scans"
        if len(counts) == 1
        else (f"{n_patients} patients x {counts[0]}-{counts[-1]} scans")
    )
    if df >= ISCD_MIN_DF:
        return True, f"{shape}, {df} degrees of freedom (ISCD: 30 x 2 or 15 x 3, >= 30 df): met"
    return False, (
        f"{shape}, {df} degrees of freedom: below the ISCD design (30 x 2 or 15 x 3, >= 30 df); "
        f"scan more patients"
    )


def region_precision(
    scans_by_patient: Mapping[str, Sequence[float]], region: str = "L1-L4", source: str = ""
) -> RegionPrecision:
    """Precision of one region from repeated scans.

    Parameters
    ----------
    scans_by_patient : mapping patient -> sequence of BMD (g/cm²)
        Patients with fewer than 2 values carry no degrees of freedom and are skipped.
    region : str
        Name the result carries (e.g. ``"L1-L4"``).
    source : str
        Where the numbers came from (for error messages).

    Returns
    -------
    RegionPrecision

    Raises
    ------
    InputError
        No patient has two scans, or a value is not a plausible BMD in g/cm².

    Notes
    -----
    RMS-SD pools the per-patient variances weighted by their degrees of freedom, LSC is
    2.77 × RMS-SD, and the 95 % CI of RMS-SD comes from χ²(df) (module docstring).

    References
    ----------
    Glüer CC et al. Accurate assessment of precision errors: how to measure the
    reproducibility of bone densitometry techniques. Osteoporos Int 1995;5:262-270.

    Examples
    --------
    Three patients scanned twice, differences 0.01, 0.02 and 0.02 g/cm²:

    >>> r = region_precision({"a": [1.00, 1.01], "b": [0.90, 0.92], "c": [0.80, 0.82]})
    >>> round(r.rms_sd_g_cm2, 4), round(r.lsc_g_cm2, 4), r.degrees_of_freedom
    (0.0122, 0.0339, 3)
    """
    where = source or region
    usable = {}
    for patient, values in scans_by_patient.items():
        vals = [float(v) for v in values if v is not None]
        for v in vals:
            lo, hi = PLAUSIBLE_BMD_G_CM2
            if not (math.isfinite(v) and lo <= v <= hi):
                raise InputError(
                    describe(
                        where,
                        f"{region} value {v:g} is not a BMD in g/cm2",
                        f"give BMD in g/cm2 ({lo}-{hi})",
                    )
                )
        if len(vals) >= 2:
            usable[patient] = vals
    if not usable:
        raise InputError(
            describe(
                where,
                f"{region}: no patient has two or more scans",
                "a precision study needs each patient scanned 2-3 times with repositioning "
                "(ISCD: 30 x 2 or 15 x 3)",
            )
        )
    df = 0
    ss = 0.0  # sum of (n_j - 1) SD_j^2 = within-patient sum of squares
    ss_cv = 0.0
    sds, scans, means = [], [], []
    for vals in usable.values():
        n = len(vals)
        mean = sum(vals) / n
        var = sum((v - mean) ** 2 for v in vals) / (n - 1)
        df += n - 1
        ss += (n - 1) * var
        ss_cv += (n - 1) * var / mean**2
        sds.append(math.sqrt(var))
        scans.append(n)
        means.append(mean)
    rms_sd = math.sqrt(ss / df)
    rms_cv = 100.0 * math.sqrt(ss_cv / df)
    ci = (
        rms_sd * math.sqrt(df / _chi2_ppf(0.975, df)),
        rms_sd * math.sqrt(df / _chi2_ppf(0.025, df)),
    )
    arithmetic = sum(sds) / len(sds)
    shortfall = 100.0 * (1.0 - arithmetic / rms_sd) if rms_sd > 0 else 0.0
    design_ok, design = _design(len(usable), scans, df)
    warnings = []
    if not design_ok:
        warnings.append(
            f"{design}; the precision error is known only to within {ci[0]:.4f}-{ci[1]:.4f} g/cm2"
        )
    warnings.append(
        f"arithmetic mean of the per-patient SDs is {arithmetic:.4f} g/cm2, {shortfall:.1f} % "
        f"below the RMS-SD: quote the RMS-SD (arithmetic averaging underestimates by up to "
        f"{GLUER_MAX_UNDERESTIMATE_PERCENT} %, Gluer 1995)"
    )
    if rms_cv > ISCD_MAX_CV_PERCENT:
        warnings.append(
            f"RMS-%CV {rms_cv:.2f} % exceeds the ISCD minimum acceptable precision "
            f"for the spine ({ISCD_MAX_CV_PERCENT} %, LSC {ISCD_MAX_LSC_PERCENT} %): "
            "retrain and repeat the study"
        )
    return RegionPrecision(
        region=region,
        n_patients=len(usable),
        n_scans=sum(scans),
        degrees_of_freedom=df,
        mean_bmd_g_cm2=sum(means) / len(means),
        rms_sd_g_cm2=rms_sd,
        rms_cv_percent=rms_cv,
        lsc_g_cm2=LSC_FACTOR * rms_sd,
        lsc_percent=LSC_FACTOR * rms_cv,
        rms_sd_ci95_g_cm2=ci,
        lsc_ci95_g_cm2=(LSC_FACTOR * ci[0], LSC_FACTOR * ci[1]),
        arithmetic_mean_sd_g_cm2=arithmetic,
        arithmetic_shortfall_percent=shortfall,
        design_ok=design_ok,
        design=design,
        warnings=tuple(warnings),
    )


def _patient_column(table: Table, given: str | None) -> str:
    if given:
        table.require([given], "name the patient column with --patient-column")
        return given
    found = next((c for c in _PATIENT_COLUMNS if c in table.header), None)
    if found is None:
        raise InputError(
            describe(
                table.path,
                "no patient column",
                f"add one of {', '.join(_PATIENT_COLUMNS)} or pass --patient-column",
            )
        )
    return found


def read_precision_table(
    path, patient_column: str | None = None, region: str = "L1-L4"
) -> dict[str, dict[str, list[float]]]:
    """Read a precision table: ``{region: {patient: [BMD, ...]}}``.

    Parameters
    ----------
    path : path
        CSV or Parquet in one of two layouts.  **Long**: one row per scan, a patient column
        (``patient_id``, ``patient``, ``subject`` or ``id``) and one column per region, named
        as a region (``L1-L4``) or as the batch table does (``L1-L4_bmd_g_cm2``,
        ``L1_bmd_g_cm2``).  **Wide** (the ISCD spreadsheet): one row per patient with
        ``scan_1``, ``scan_2`` … for ``region``, or ``<region>_scan_1`` … for several.
    patient_column : str, optional
        The patient column when it is not one of the names above.
    region : str
        Region of bare ``scan_N`` columns.

    Returns
    -------
    dict

    Raises
    ------
    InputError
        Missing patient or BMD columns, a non-numeric cell.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "repeats.csv"
    >>> _ = p.write_text("patient,scan_1,scan_2\\nA,1.00,1.01\\nB,0.90,0.92\\n")
    >>> read_precision_table(p)
    {'L1-L4': {'A': [1.0, 1.01], 'B': [0.9, 0.92]}}
    """
    table = read_rows(path)
    pid = _patient_column(table, patient_column)
    long_cols = {c: m.group(1) for c in table.header if (m := _LONG_COLUMN.match(c))}
    wide_cols = {
        c: (m.group(1) or region, int(m.group(2)))
        for c in table.header
        if (m := _WIDE_COLUMN.match(c))
    }
    if not long_cols and not wide_cols:
        raise InputError(
            describe(
                table.path,
                "no BMD columns",
                "name them as regions (L1-L4 or L1-L4_bmd_g_cm2) for one row "
                "per scan, or scan_1, scan_2 ... for one row per patient",
            )
        )
    out: dict[str, dict[str, list[float]]] = {}
    columns = wide_cols if wide_cols else long_cols
    for number, row in enumerate(table.rows, 1):
        patient = row[pid]
        where = f"{table.path} row {number}"
        if not patient:
            raise InputError(describe(where, f"empty {pid}", "give every scan its patient"))
        for column, target in columns.items():
            name = target[0] if wide_cols else target
            value = cell_number(row[column], where, column)
            if value is not None:
                out.setdefault(name, {}).setdefault(patient, []).append(value)
    if not out:
        raise InputError(describe(table.path, "no BMD values", "fill the BMD columns"))
    return out


def precision_study(
    source, patient_column: str | None = None, region: str = "L1-L4"
) -> PrecisionStudy:
    """Run the precision calculator on a table (or on ``{region: {patient: [BMD…]}}``).

    Parameters
    ----------
    source : path or mapping
        A table for :func:`read_precision_table`, or the mapping it returns.
    patient_column, region : see :func:`read_precision_table`

    Returns
    -------
    PrecisionStudy

    Raises
    ------
    InputError
        Bad table, or a precision table with one scan per patient.

    Examples
    --------
    >>> study = precision_study({"L1-L4": {"a": [1.00, 1.01, 1.02], "b": [0.80, 0.80, 0.83]}})
    >>> r = study.region("L1-L4")
    >>> round(r.rms_sd_g_cm2, 5), r.degrees_of_freedom, r.design_ok
    (0.01414, 4, False)
    """
    if isinstance(source, Mapping):
        data, name = source, "<table>"
    else:
        data, name = read_precision_table(source, patient_column, region), str(source)
    regions, dropped, notes = [], 0, []
    for region_name, by_patient in data.items():
        singles = sum(1 for v in by_patient.values() if len([x for x in v if x is not None]) < 2)
        if singles == len(by_patient):
            raise InputError(
                describe(
                    name,
                    f"{region_name}: one scan per patient",
                    "a precision study needs each patient scanned 2-3 times "
                    "with repositioning (ISCD: 30 x 2 or 15 x 3)",
                )
            )
        if singles:
            notes.append(
                f"{region_name}: {singles} patient(s) with a single scan skipped "
                "(no degrees of freedom)"
            )
        dropped = max(dropped, singles)
        regions.append(region_precision(by_patient, region_name, name))
    return PrecisionStudy(name, tuple(regions), dropped, tuple(notes))
