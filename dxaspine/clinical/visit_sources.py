"""Turn what a user names on the command line into :class:`~dxaspine.clinical.visits.Visit` s.

- ``*.json``: one Contract 2 result object, or JSON Lines (one visit per line);
- ``*.csv`` / ``*.parquet``: rows of a batch table, all of them or ``TABLE.csv#3,7``
  (1-based data rows);
- anything else: an image, analysed now with :func:`dxaspine.analyze` (``exclude=`` passed
  through) and turned into a result by ``result_from_scan``; the image alone knows the
  PatientID (hashed at once) and the scanner's software version.

This is the only module of the clinical layer that reaches the image pipeline, and it does so
lazily, so monitoring itself stays a layer that works on numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from dxaspine.clinical.table_files import read_rows
from dxaspine.clinical.visits import (
    Visit,
    exclude_levels,
    hash_patient_id,
    visit_from_result,
    visit_from_row,
)
from dxaspine.errors import InputError, describe

__all__ = ["is_image", "read_visits", "visit_from_image"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def is_image(spec: str | os.PathLike) -> bool:
    """True when :func:`read_visits` would analyse ``spec`` as an image (one visit)."""
    path, rows = _split_rows(os.fspath(spec))
    return rows is None and Path(path).suffix.lower() not in TABLE_SUFFIXES + JSON_SUFFIXES


def visit_from_image(path: str | os.PathLike, exclude: Sequence[str] | None = None) -> Visit:
    """Analyse one image and return its visit.

    Parameters
    ----------
    path : path
        A DXA image dxaspine can analyse (DESIGN.md Contract 1).
    exclude : sequence of level names, optional
        Levels to exclude at this visit (as ``dxaspine analyze --exclude``).

    Returns
    -------
    Visit

    Raises
    ------
    DxaError
        Whatever :func:`dxaspine.analyze` raises for the file.
    """
    from dxaspine.io.result_json import result_from_scan  # the one import (it may move)
    from dxaspine.pipeline import analyze

    scan_result = analyze(path, exclude=list(exclude) if exclude is not None else None)
    result = result_from_scan(scan_result, path)
    scan = scan_result.scan
    header = scan.header
    pid = None
    if header is not None:
        pid = hash_patient_id(header.get("PatientID"), header.get("IssuerOfPatientID"))
    visit = visit_from_result(result, str(path), date=scan.study_date, patient_id_hash=pid)
    if scan.device.software and not visit.software:
        from dataclasses import replace

        visit = replace(visit, software=str(scan.device.software))
    return visit


def _json_visits(path: Path) -> list[Visit]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(describe(path, f"cannot open ({exc.strerror})", "check the path")) from exc
    except UnicodeDecodeError:
        raise InputError(describe(path, "not UTF-8 JSON", "give dxaspine result JSON")) from None
    try:
        return [visit_from_result(json.loads(text), str(path))]
    except json.JSONDecodeError:
        pass
    visits = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(
                describe(
                    f"{path} line {number}", "not JSON", "give one result object or JSON Lines"
                )
            ) from None
        visits.append(visit_from_result(obj, f"{path} line {number}"))
    if not visits:
        raise InputError(describe(path, "no result in the file", "give dxaspine result JSON"))
    return visits


def _split_rows(spec: str) -> tuple[str, list[int] | None]:
    if os.path.exists(spec) or "#" not in spec:
        return spec, None
    path, _, rows = spec.rpartition("#")
    try:
        numbers = [int(x) for x in rows.split(",") if x.strip()]
    except ValueError:
        raise InputError(
            describe(
                spec,
                "row selector is not numbers",
                "write TABLE.csv#3 or TABLE.csv#3,7 (1-based rows)",
            )
        ) from None
    return path, numbers


def _table_visits(path: str, rows: list[int] | None) -> list[Visit]:
    table = read_rows(path)
    picked = rows or list(range(1, len(table.rows) + 1))
    out = []
    for number in picked:
        if not 1 <= number <= len(table.rows):
            raise InputError(
                describe(
                    path,
                    f"no data row {number} ({len(table.rows)} rows)",
                    "pick rows 1 to the table length",
                )
            )
        out.append(visit_from_row(table.rows[number - 1], f"{path} row {number}"))
    return out


def read_visits(spec: str | os.PathLike, exclude: Sequence[str] | None = None) -> list[Visit]:
    """The visit(s) a command-line input names (module docstring).

    Parameters
    ----------
    spec : path, or ``TABLE#rows``
    exclude : sequence of level names, optional
        Levels the user excludes at this visit: an image is analysed with them excluded;
        a result or table row gets them marked excluded (:func:`exclude_levels`).

    Returns
    -------
    list of Visit

    Raises
    ------
    DxaError
        Unreadable input, not a dxaspine result/table, analysis failure.
    """
    path, rows = _split_rows(os.fspath(spec))
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        visits = _table_visits(path, rows)
    elif rows is not None:
        raise InputError(
            describe(
                spec,
                "row selector on a file that is not a table",
                "use #rows only with .csv or .parquet",
            )
        )
    elif suffix in JSON_SUFFIXES:
        visits = _json_visits(Path(path))
    else:
        return [visit_from_image(path, exclude)]
    return [exclude_levels(v, exclude) for v in visits] if exclude else visits
