"""Reference tables for T- and Z-scores: the shipped default and user CSVs.

CSV format (one table per file; also what ``--reference PATH.csv`` reads)::

    # name: my-manufacturer-table          (required)
    # source: where the numbers come from  (required)
    # population: who they describe        (optional)
    score,region,sex,ethnicity,age_min_years,age_max_years,mean_g_cm2,sd_g_cm2,n,source
    T,L1-L4,any,,,,1.047,0.110,,Hologic white female
    Z,L1-L4,F,,50,55,1.022,0.153,203,

- ``score``: ``T`` (young-adult reference, no ages) or ``Z`` (age-matched; ages required).
- ``region``: a level (``L1``) or composite named as in docs/architecture.md, Contract 2 (``L1-L4``,
  ``L1,L3``, ``L1-L2,L4``).
- ``sex``: ``F``, ``M`` or ``any``; an exact-sex row wins over ``any``.
- ``ethnicity``: empty for all; otherwise matched case-insensitively to the patient's, and an
  ethnicity-specific row wins over the all-ethnicity row.
- ``age_min_years`` ≤ age < ``age_max_years`` (half-open bands; must not overlap).
- ``mean_g_cm2``, ``sd_g_cm2`` (> 0); ``n`` and ``source`` are optional.

Other ``#`` lines are comments.  Anything malformed raises :class:`ReferenceDataError`
naming the file, the line and the fix.  The default table is built by
``reference_data/build_tables.py`` (see its docstring for the provenance of every number).
"""

from __future__ import annotations

import csv
import functools
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dxaspine.errors import DxaError, ReferenceDataError, describe
from dxaspine.measure.composites import region_levels, region_name

__all__ = [
    "BUILTIN_REFERENCES",
    "DEFAULT_REFERENCE",
    "ReferenceRow",
    "ReferenceTable",
    "load_reference",
]

DEFAULT_REFERENCE = "dxaspine-default"
BUILTIN_REFERENCES = {DEFAULT_REFERENCE: "dxaspine_default.csv"}
COLUMNS = (
    "score", "region", "sex", "ethnicity", "age_min_years", "age_max_years",
    "mean_g_cm2", "sd_g_cm2", "n", "source",
)  # fmt: skip
REQUIRED = ("score", "region", "sex", "mean_g_cm2", "sd_g_cm2")


@dataclass(frozen=True)
class ReferenceRow:
    score: str  # "T" | "Z"
    region: str
    sex: str  # "F" | "M" | "any"
    ethnicity: str  # "" = all
    age_min_years: float | None
    age_max_years: float | None
    mean_g_cm2: float
    sd_g_cm2: float
    n: int | None = None
    source: str = ""

    def describe(self) -> str:
        parts = [self.score, self.region, self.sex]
        if self.ethnicity:
            parts.append(self.ethnicity)
        if self.age_min_years is not None:
            parts.append(f"{self.age_min_years:g}-{self.age_max_years:g} y")
        return " ".join(parts)


@dataclass(frozen=True)
class ReferenceTable:
    name: str
    source: str
    population: str
    rows: tuple[ReferenceRow, ...]
    path: str | None = None

    @functools.cached_property
    def _by_score_region(self) -> dict[tuple[str, str], list[ReferenceRow]]:
        # Built once per table: a scan asks for about 60 rows, and scanning all ~600 rows
        # each time was 3 ms of every analyze (issue 17).  Rows keep their table order.
        index: dict[tuple[str, str], list[ReferenceRow]] = {}
        for row in self.rows:
            index.setdefault((row.score, row.region), []).append(row)
        return index

    def _candidates(self, score: str, region: str, sex: str | None) -> list[ReferenceRow]:
        rows = self._by_score_region.get((score, region), [])
        exact = [r for r in rows if sex is not None and r.sex == sex]
        return exact or [r for r in rows if r.sex == "any"]

    def t_reference(self, region: str, sex: str | None) -> tuple[ReferenceRow | None, str]:
        """Young-adult row for ``region`` and ``sex``, or ``(None, reason)``."""
        rows = self._candidates("T", region, sex)
        if rows:
            return rows[0], ""
        if sex is None and any(r.score == "T" and r.region == region for r in self.rows):
            return None, f"sex unknown and {self.name} has only sex-specific T rows"
        return None, f"{self.name} has no T reference for {region}"

    def z_reference(
        self, region: str, sex: str | None, age_years: float | None, ethnicity: str | None
    ) -> tuple[ReferenceRow | None, str]:
        """Age/sex(/ethnicity)-matched row, or ``(None, reason)``; never extrapolates."""
        if sex is None:
            return None, "sex unknown: Z-score needs a sex-matched reference"
        if age_years is None:
            return None, "age unknown: Z-score needs an age-matched reference"
        rows = [
            r
            for r in self._candidates("Z", region, sex)
            if r.age_min_years <= age_years < r.age_max_years
        ]
        eth = (ethnicity or "").strip().casefold()
        matched = [r for r in rows if eth and r.ethnicity.casefold() == eth]
        general = [r for r in rows if not r.ethnicity]
        if matched or general:
            return (matched or general)[0], ""
        covered = [r for r in self.rows if r.score == "Z" and r.region == region]
        if covered:
            lo = min(r.age_min_years for r in covered)
            hi = max(r.age_max_years for r in covered)
            return None, (
                f"age {age_years:g} outside {self.name}'s Z range [{lo:g}, {hi:g}) for {region}; "
                "not extrapolated (supply a reference table that covers it)"
            )
        return None, f"{self.name} has no Z reference for {region}"


def _number(text: str, where: str, column: str, *, optional: bool = False) -> float | None:
    text = (text or "").strip()
    if not text:
        if optional:
            return None
        raise ReferenceDataError(describe(where, f"{column} is empty", f"give {column} a number"))
    try:
        value = float(text)
    except ValueError:
        raise ReferenceDataError(
            describe(where, f"{column}={text!r} is not a number", f"write {column} as a number")
        ) from None
    if not math.isfinite(value):
        raise ReferenceDataError(describe(where, f"{column}={text}", "use a finite number"))
    return value


def _parse_row(raw: dict, where: str) -> ReferenceRow:
    score = (raw.get("score") or "").strip().upper()
    if score not in ("T", "Z"):
        raise ReferenceDataError(describe(where, f"score={score!r}", "score must be T or Z"))
    region_raw = (raw.get("region") or "").strip()
    try:
        region = region_name(region_levels(region_raw))
    except DxaError:
        raise ReferenceDataError(
            describe(where, f"region={region_raw!r}", "name it like L1, L1-L4, L1,L3 or L1-L2,L4")
        ) from None
    sex = (raw.get("sex") or "").strip()
    sex = sex.upper() if sex.upper() in ("F", "M") else sex.lower()
    if sex not in ("F", "M", "any"):
        raise ReferenceDataError(describe(where, f"sex={sex!r}", "sex must be F, M or any"))
    age_min = _number(raw.get("age_min_years"), where, "age_min_years", optional=True)
    age_max = _number(raw.get("age_max_years"), where, "age_max_years", optional=True)
    if score == "Z" and (age_min is None or age_max is None or not age_min < age_max):
        raise ReferenceDataError(
            describe(where, "Z row without a valid age band", "give age_min_years < age_max_years")
        )
    sd = _number(raw.get("sd_g_cm2"), where, "sd_g_cm2")
    if not sd > 0:
        raise ReferenceDataError(describe(where, f"sd_g_cm2={sd}", "SD must be positive"))
    n = _number(raw.get("n"), where, "n", optional=True)
    return ReferenceRow(
        score=score,
        region=region,
        sex=sex,
        ethnicity=(raw.get("ethnicity") or "").strip(),
        age_min_years=age_min if score == "Z" else None,
        age_max_years=age_max if score == "Z" else None,
        mean_g_cm2=_number(raw.get("mean_g_cm2"), where, "mean_g_cm2"),
        sd_g_cm2=sd,
        n=int(n) if n is not None else None,
        source=(raw.get("source") or "").strip(),
    )


def _check_overlaps(rows: list[ReferenceRow], source: str) -> None:
    seen: dict[tuple, list[ReferenceRow]] = {}
    for r in rows:
        seen.setdefault((r.score, r.region, r.sex, r.ethnicity.casefold()), []).append(r)
    for key, group in seen.items():
        if key[0] == "T" and len(group) > 1:
            raise ReferenceDataError(
                describe(source, f"duplicate T rows for {group[0].describe()}", "keep one")
            )
        bands = sorted((r.age_min_years, r.age_max_years) for r in group if r.score == "Z")
        for (_, hi), (lo2, _) in zip(bands, bands[1:], strict=False):
            if lo2 < hi:
                raise ReferenceDataError(
                    describe(
                        source,
                        f"overlapping age bands for {group[0].describe()}",
                        "make the bands [min, max) disjoint",
                    )  # fmt: skip
                )


def parse_reference_text(text: str, source: str) -> ReferenceTable:
    """Parse the CSV format described in the module docstring."""
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                meta.setdefault(key.strip().lower(), value.strip())
        elif line.strip():
            body.append((number, line))
    for key in ("name", "source"):
        if not meta.get(key):
            raise ReferenceDataError(
                describe(source, f"no '# {key}:' line", f"add '# {key}: ...' at the top")
            )
    if not body:
        raise ReferenceDataError(describe(source, "no header or rows", "see the CSV format"))
    reader = csv.DictReader([line for _, line in body])
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ReferenceDataError(
            describe(
                source, f"missing columns {', '.join(missing)}", f"header: {','.join(COLUMNS)}"
            )
        )
    reader.fieldnames = header
    rows = [
        _parse_row(raw, f"{source} line {body[i + 1][0]}") for i, raw in enumerate(reader)
    ]  # body[0] is the header line
    if not rows:
        raise ReferenceDataError(describe(source, "no data rows", "add T and/or Z rows"))
    _check_overlaps(rows, source)
    return ReferenceTable(
        name=meta["name"],
        source=meta["source"],
        population=meta.get("population", "unspecified"),
        rows=tuple(rows),
        path=source,
    )


_CACHE: dict[str, ReferenceTable] = {}
# User CSVs are cached by (path, size, mtime): a batch run with --reference reads its table
# once per worker, yet an edited file is re-read.
_FILE_CACHE: dict[tuple[str, int, int], ReferenceTable] = {}


def load_reference(spec: str | os.PathLike | ReferenceTable | None = None) -> ReferenceTable:
    """A reference table by built-in name, CSV path, or as given.

    Parameters
    ----------
    spec : None, str, path or ReferenceTable
        ``None`` -> the default (``dxaspine-default``); a name from ``BUILTIN_REFERENCES``;
        or the path of a CSV in the format above.

    Raises
    ------
    ReferenceDataError
        Unknown name, unreadable file, or malformed table.
    """
    if isinstance(spec, ReferenceTable):
        return spec
    spec = DEFAULT_REFERENCE if spec is None else os.fspath(spec)
    if spec in _CACHE:
        return _CACHE[spec]
    if spec in BUILTIN_REFERENCES:
        res = resources.files("dxaspine.clinical") / "reference_data" / BUILTIN_REFERENCES[spec]
        text, source = res.read_text(encoding="utf-8"), spec
    else:
        path = Path(spec)
        if not path.is_file():
            raise ReferenceDataError(
                describe(
                    spec,
                    "no such reference table",
                    f"give a CSV path or one of: {', '.join(BUILTIN_REFERENCES)}",
                )  # fmt: skip
            )
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key in _FILE_CACHE:
            return _FILE_CACHE[key]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReferenceDataError(
                describe(spec, f"cannot read ({exc})", "save it as UTF-8 CSV")
            ) from exc
        source = str(path)
    table = parse_reference_text(text, source)
    if spec in BUILTIN_REFERENCES:
        _CACHE[spec] = table
    else:
        _FILE_CACHE[key] = table
    return table
