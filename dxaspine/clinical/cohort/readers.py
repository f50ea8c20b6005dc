"""Read a cohort from the NHANES file, a batch results table, or a tabular-mode CSV.

Layouts, recognised from the header:

- **NHANES** P_DXXSPN joined to P_DEMO (``DXXL1BMC`` …; docs/domain.md §8): read with the
  reference-table builder's own reader and quirk checks (``reference_data/build_tables.py``),
  so both use the same rows.  Populations:

  * ``scanned``: a spine scan exists (``DXXOSBCC`` not blank);
  * ``source_valid``: NHANES judged every level valid (``DXXOSBCC`` = 0; 2,121 rows);
  * ``all_valid``: every level valid (``DXXOSBCC`` = 0) minus the 63 rows whose total is
    the sum of a subset of levels (the analyst judged a level abnormal; docs/domain.md §8) --
    the 2,058 rows docs/domain.md §3's level ratios come from;
  * ``reference``: ``all_valid`` minus a row with a zero-area level and a row whose total
    BMD disagrees with ΣBMC/ΣArea (build_tables' reference set, 2,056 rows).

  Levels with an invalidity code ≠ 0 are source-excluded with the code's meaning; in the 63
  quirk rows the levels outside the subset the total adds up to are source-excluded as
  "analyst excluded (total is the sum of …)".  Weights: ``WTMECPRP``.
- **batch** (``dxaspine batch`` results.csv/.parquet; Contract 2 flat columns
  ``L1_bmc_g`` … ``patient_sex``, ``patient_age_years``): ``L1_excluded`` is the batch's own
  (automatic ISCD) exclusion, ``L1_flags`` carry image evidence codes.  ``prefix`` reads
  another set of the same columns (e.g. a vendor's ``vendor_L1_bmc_g``).
- **tabular** (``dxaspine assess`` input: ``sex``, ``age_years``, ``L1_bmc_g`` …,
  ``L1_invalid``), read by :func:`dxaspine.clinical.table_input.read_table`.

For batch and tabular tables ``all_valid`` (= ``source_valid``) is the rows with BMC and
area at all four levels and no source exclusion; ``scanned`` is every row.  Weights come only from a
column the caller names.
"""

from __future__ import annotations

import os
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np

from dxaspine.clinical.cohort.table import CohortTable, Population
from dxaspine.clinical.flags import EXCLUDING_IMAGE_CODES
from dxaspine.clinical.table_files import cell_number, read_rows
from dxaspine.errors import InputError, describe
from dxaspine.levels import CLINICAL_LEVELS

__all__ = ["read_cohort"]

NHANES_WEIGHT = "WTMECPRP"  # NHANES exam weight (docs/domain.md §8)
_SUM_TOLERANCE = 0.05  # BMC and area print to 0.01: a sum of four is off by at most 0.02


def _nhanes(path: Path) -> CohortTable:
    from dxaspine.clinical.reference_data.build_tables import read_nhanes, reference_set
    from dxaspine.clinical.table_input import NHANES_CODES

    d = read_nhanes(path)
    all_valid, reference, counts = reference_set(d)
    n = int(d["n_rows"])
    bmc = {lv: d[f"DXX{lv}BMC"] for lv in CLINICAL_LEVELS}
    area = {lv: d[f"DXX{lv}A"] for lv in CLINICAL_LEVELS}
    bmd = {lv: d[f"DXX{lv}BMD"] for lv in CLINICAL_LEVELS}
    excluded = {lv: np.zeros(n, bool) for lv in CLINICAL_LEVELS}
    reason = {lv: np.full(n, "", dtype=object) for lv in CLINICAL_LEVELS}
    for lv in CLINICAL_LEVELS:
        code = d[f"DXX{lv}BCC"]
        bad = np.isfinite(code) & (code != 0)
        excluded[lv] |= bad
        for c in np.unique(code[bad]):
            reason[lv][code == c] = f"NHANES code {int(c)}: {NHANES_CODES.get(int(c), '?')}"
    total_bmc = sum(bmc.values())
    total_area = sum(area.values())
    quirk = all_valid & (
        (np.abs(total_bmc - d["DXXOSBMC"]) > _SUM_TOLERANCE)
        | (np.abs(total_area - d["DXXOSA"]) > _SUM_TOLERANCE)
    )
    matched = 0
    for i in np.nonzero(quirk)[0]:
        fits = [
            s
            for k in (3, 2)
            for s in combinations(CLINICAL_LEVELS, k)
            if abs(sum(bmc[lv][i] for lv in s) - d["DXXOSBMC"][i]) <= _SUM_TOLERANCE
            and abs(sum(area[lv][i] for lv in s) - d["DXXOSA"][i]) <= _SUM_TOLERANCE
        ]
        if len(fits) == 1:
            matched += 1
            kept = "-".join(fits[0]) if len(fits[0]) > 1 else fits[0][0]
            for lv in CLINICAL_LEVELS:
                if lv not in fits[0]:
                    excluded[lv][i] = True
                    reason[lv][i] = f"analyst excluded (total is the sum of {kept})"
    scanned = np.isfinite(d["DXXOSBCC"])
    counts = dict(counts, quirk_rows=int(quirk.sum()), quirk_rows_subset_found=matched)
    code_sex = {1.0: "M", 2.0: "F"}
    seqn = read_rows(path)  # SEQN as text (read_nhanes drops it)
    ids = tuple(r.get("SEQN", "").removesuffix(".0") for r in seqn.rows)
    populations = {
        "scanned": Population("scanned", scanned, "a spine scan exists (DXXOSBCC not blank)"),
        "source_valid": Population(
            "source_valid", all_valid, "DXXOSBCC = 0: NHANES judged every level valid (2,121)"
        ),
        "all_valid": Population(
            "all_valid",
            all_valid & ~quirk,
            "DXXOSBCC = 0 and the total is the sum of L1-L4 (docs/domain.md §3: 2,058 rows)",
        ),
        "reference": Population(
            "reference",
            reference,
            "all_valid minus a zero-area level and a total-BMD mismatch (build_tables reference)",
        ),
    }
    return CohortTable(
        source=str(path),
        layout="nhanes",
        ids=ids,
        sex=np.array([code_sex.get(x) for x in d["RIAGENDR"]], dtype=object),
        age_years=d["RIDAGEYR"],
        bmc_g=bmc,
        area_cm2=area,
        bmd_g_cm2=bmd,
        source_excluded=excluded,
        source_reason=reason,
        weights=d[NHANES_WEIGHT],
        weight_name=NHANES_WEIGHT,
        populations=populations,
        counts=counts,
        notes=(
            "NHANES ages are top-coded at 80 (80 = 80 or older)",
            f"{int(quirk.sum())} all-valid rows report a total of a subset of levels; the "
            f"subset was identified in {matched} and its other levels treated as analyst "
            "exclusions",
        ),
    )


def _sex(text: str) -> str | None:
    return {"f": "F", "female": "F", "m": "M", "male": "M"}.get((text or "").strip().lower())


def _weights(table, column: str | None) -> np.ndarray | None:
    if column is None:
        return None
    table.require([column], "name an existing weight column with --weights, or none")
    w = np.array([cell_number(r[column], table.path, column) or np.nan for r in table.rows])
    if not (np.isfinite(w) & (w > 0)).any():
        raise InputError(
            describe(
                table.path,
                f"weight column {column} has no positive value",
                "give survey weights > 0",
            )
        )
    return w


def _flat(table, layout: str, weights: str | None, prefix: str) -> CohortTable:
    n = len(table.rows)
    bmc, area, bmd, excluded, reason, flags = {}, {}, {}, {}, {}, {}
    for lv in CLINICAL_LEVELS:
        cols = {k: f"{prefix}{lv}_{k}" for k in ("bmc_g", "area_cm2", "bmd_g_cm2")}
        arrays = {}
        for key, col in cols.items():
            values = np.full(n, np.nan)
            if col in table.header:
                for i, row in enumerate(table.rows):
                    v = cell_number(row[col], f"{table.path} row {i + 1}", col)
                    values[i] = np.nan if v is None else v
            arrays[key] = values
        bmc[lv], area[lv], bmd[lv] = arrays["bmc_g"], arrays["area_cm2"], arrays["bmd_g_cm2"]
        ex_col = f"{prefix}{lv}_excluded" if layout == "batch" else f"{lv}_invalid"
        texts = [row.get(ex_col, "") for row in table.rows]
        if layout == "batch":
            excluded[lv] = np.array([t.strip().lower() in ("true", "1") for t in texts])
            reason[lv] = np.where(excluded[lv], "excluded in the batch (automatic ISCD rules)", "")
        else:
            excluded[lv] = np.array([bool(t.strip()) for t in texts])
            reason[lv] = np.array([t.strip() for t in texts], dtype=object)
        flags[lv] = np.empty(n, dtype=object)
        for i, row in enumerate(table.rows):
            codes = row.get(f"{prefix}{lv}_flags", "").split(";")
            flags[lv][i] = tuple(c for c in codes if c in EXCLUDING_IMAGE_CODES)
    if not any(np.isfinite(bmc[lv]).any() for lv in CLINICAL_LEVELS):
        raise InputError(
            describe(
                table.path,
                f"no {prefix}L1_bmc_g ... L4_bmc_g values",
                "the cohort needs per-level BMC and area (composites are "
                "sum BMC / sum area, never a mean of level BMDs)",
            )
        )
    sex_col, age_col = (
        ("patient_sex", "patient_age_years") if layout == "batch" else ("sex", "age_years")
    )
    ages = np.array(
        [cell_number(r.get(age_col, ""), table.path, age_col) or np.nan for r in table.rows]
    )
    id_col = next(
        (c for c in ("sop_instance_uid", "path", "id", "row_id") if c in table.header), None
    )
    ids = tuple(r[id_col] if id_col else str(i + 1) for i, r in enumerate(table.rows))
    cohort = CohortTable(
        source=table.path,
        layout=layout,
        ids=ids,
        sex=np.array([_sex(r.get(sex_col, "")) for r in table.rows], dtype=object),
        age_years=ages,
        bmc_g=bmc,
        area_cm2=area,
        bmd_g_cm2=bmd,
        source_excluded=excluded,
        source_reason=reason,
        image_flags=flags if layout == "batch" else {},
        weights=_weights(table, weights),
        weight_name=weights,
    )
    everything = np.ones(n, bool)
    all4 = cohort.all_usable(CLINICAL_LEVELS)
    populations = {
        "scanned": Population("scanned", everything, "every row"),
        "source_valid": Population(
            "source_valid", all4, "BMC and area at L1-L4, none excluded by the source"
        ),
        "all_valid": Population(
            "all_valid", all4, "BMC and area at L1-L4, none excluded by the source"
        ),
    }
    return replace(
        cohort, populations=populations, counts={"rows": n, "all_valid": int(all4.sum())}
    )


def read_cohort(
    path: str | os.PathLike, weights: str | None = "auto", prefix: str = ""
) -> CohortTable:
    """Read a cohort table (module docstring for the layouts).

    Parameters
    ----------
    path : path
        NHANES CSV, batch ``results.csv``/``results.parquet``, or a tabular-mode CSV.
    weights : str or None
        ``"auto"``: NHANES ``WTMECPRP`` when present, else unweighted; a column name; or
        None for unweighted.
    prefix : str
        Batch tables only: read ``{prefix}L1_bmc_g`` … (another reader's numbers).

    Returns
    -------
    CohortTable

    Raises
    ------
    InputError
        Unreadable file, unknown layout, missing columns, a non-numeric cell.

    Examples
    --------
    >>> cohort = read_cohort("P_DXXSPN_with_demo.csv")  # doctest: +SKIP
    >>> cohort.populations["all_valid"].n  # doctest: +SKIP
    2058
    """
    path = Path(path)
    table = read_rows(path)
    header = set(table.header)
    if "DXXL1BMC" in header:
        if prefix:
            raise InputError(describe(path, "prefix given for an NHANES file", "drop --prefix"))
        try:
            cohort = _nhanes(path)
        except (KeyError, ValueError) as exc:
            raise InputError(
                describe(
                    path,
                    f"NHANES layout but column {exc} missing or bad",
                    "give P_DXXSPN joined to P_DEMO",
                )
            ) from None
        if weights is None:
            cohort = replace(cohort, weights=None, weight_name=None)
        elif weights != "auto" and weights != NHANES_WEIGHT:
            raise InputError(
                describe(
                    path, f"weights {weights!r} on NHANES", f"use {NHANES_WEIGHT} (auto) or none"
                )
            )
        return cohort
    weight_col = None if weights == "auto" else weights
    if f"{prefix}L1_bmc_g" in header and ("patient_sex" in header or "kind" in header):
        return _flat(table, "batch", weight_col, prefix)
    if "L1_bmc_g" in header and ("sex" in header or "age_years" in header):
        return _flat(table, "tabular", weight_col, "")
    raise InputError(
        describe(
            path,
            "header matches no cohort layout",
            "give the NHANES file, a dxaspine batch results table "
            "(L1_bmc_g ... patient_sex) or a tabular CSV (sex, age_years, "
            "L1_bmc_g, L1_area_cm2 ...)",
        )
    )
