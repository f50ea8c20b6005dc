"""Turn what a user names on the command line into :class:`~dxaspine.clinical.monitoring.visits.Visit` s.

- ``*.json``: one Contract 2 result object, or JSON Lines (one visit per line);
- ``*.csv`` / ``*.parquet``: rows of a batch table, all of them or ``TABLE.csv#3,7``
  (1-based data rows);
- anything else is an image: it must be analysed first, which the clinical layer does not do
  (it works on numbers; docs/architecture.md).  ``image_reader`` supplies that step: the
  ``compare`` command passes one that runs :func:`dxaspine.analyze` and
  :func:`dxaspine.report.visit.visit_from_scan`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from dxaspine.clinical.monitoring.visits import (
    Visit,
    exclude_levels,
    visit_from_result,
    visit_from_row,
)
from dxaspine.clinical.table_files import read_rows
from dxaspine.errors import InputError, describe

__all__ = ["is_image", "read_visits"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def is_image(spec: str | os.PathLike) -> bool:
    """True when :func:`read_visits` would analyse ``spec`` as an image (one visit)."""
    path, rows = _split_rows(os.fspath(spec))
    return rows is None and Path(path).suffix.lower() not in TABLE_SUFFIXES + JSON_SUFFIXES


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


def read_visits(
    spec: str | os.PathLike,
    exclude: Sequence[str] | None = None,
    image_reader: Callable[[str, Sequence[str] | None], Visit] | None = None,
) -> list[Visit]:
    """The visit(s) a command-line input names (module docstring).

    Parameters
    ----------
    spec : path, or ``TABLE#rows``
    exclude : sequence of level names, optional
        Levels the user excludes at this visit: passed to ``image_reader`` for an image; a
        result or table row gets them marked excluded (:func:`exclude_levels`).
    image_reader : callable ``(path, exclude) -> Visit``, optional
        How to turn an image into a visit (analyse it).  Without it an image is refused.

    Returns
    -------
    list of Visit

    Raises
    ------
    InputError
        Unreadable input, not a dxaspine result or table, an image without ``image_reader``.

    Examples
    --------
    >>> visits = read_visits("results.csv#1,3") + read_visits("followup.json")  # doctest: +SKIP
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
    elif image_reader is None:
        raise InputError(
            describe(
                spec,
                "an image: it must be analysed before it can be compared",
                "use dxaspine compare, or visit_from_scan(dxaspine.analyze(path)) from "
                "dxaspine.report.visit",
            )
        )
    else:
        return [image_reader(path, exclude)]
    return [exclude_levels(v, exclude) for v in visits] if exclude else visits
