"""Tabular outputs: CSV text and a streaming Parquet writer for flat rows (Contract 2).

One cell convention everywhere: None is an empty cell, booleans are ``true``/``false`` (as in
the JSON), numbers as written by the rounded record.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dxaspine.atomic import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["ParquetSink", "csv_cell", "csv_text", "write_csv", "CsvSink"]

# Columns whose values are numbers (by the unit suffix of their names) or booleans.
_NUMERIC_SUFFIXES = (
    "_g", "_cm2", "_score", "_years", "_g_cm2", "_mm", "_index", "_offset", "_studies",
)  # fmt: skip
_BOOLEAN_SUFFIXES = ("_excluded", "_shifted")


def csv_cell(value: Any) -> Any:
    """The CSV spelling of one value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class CsvSink:
    """Writes rows to an open text stream as CSV with a fixed column order."""

    def __init__(self, stream, columns: Sequence[str]):
        self.columns = list(columns)
        self._writer = csv.DictWriter(
            stream, fieldnames=self.columns, lineterminator="\n", extrasaction="ignore"
        )
        self._writer.writeheader()

    def add(self, row: dict) -> None:
        self._writer.writerow({k: csv_cell(row.get(k)) for k in self.columns})


def csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """CSV text with a header line and one line per row."""
    buffer = io.StringIO()
    sink = CsvSink(buffer, columns)
    for row in rows:
        sink.add(row)
    return buffer.getvalue()


def write_csv(path: str | os.PathLike, rows: Iterable[dict], columns: Sequence[str]) -> None:
    """Write :func:`csv_text` atomically."""
    atomic_write_text(path, csv_text(rows, columns))


class ParquetSink:
    """Streams rows into results.parquet in row groups (pyarrow is the ``[parquet]`` extra)."""

    def __init__(self, path: Path, columns: list[str], group_rows: int = 5000):
        self.path, self.columns, self.group_rows = path, columns, group_rows
        self.rows: list[dict] = []
        self.writer = None
        self.tmp = path.with_name(f".{path.name}.tmp")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            logger.warning(
                "pyarrow not installed: no results.parquet (pip install 'dxaspine[parquet]')"
            )
            self.columns = []

    def add(self, row: dict) -> None:
        if not self.columns:
            return
        self.rows.append(row)
        if len(self.rows) >= self.group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(
            [_typed(r, self.columns) for r in self.rows], schema=self._schema()
        )
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, table.schema)
        self.writer.write_table(table)
        self.rows.clear()

    def _schema(self):
        import pyarrow as pa

        fields = []
        for name in self.columns:
            if name.endswith(_BOOLEAN_SUFFIXES):
                kind = pa.bool_()
            elif name.endswith(_NUMERIC_SUFFIXES):
                kind = pa.float64()
            else:
                kind = pa.string()
            fields.append(pa.field(name, kind))
        return pa.schema(fields)

    def close(self) -> None:
        if not self.columns:
            return
        if self.rows or self.writer is None:
            self._flush()
        self.writer.close()
        os.replace(self.tmp, self.path)


def _typed(row: dict, columns: list[str]) -> dict:
    out = {}
    for name in columns:
        value = row.get(name)
        if value == "" or value is None:
            out[name] = None
        elif name.endswith(_BOOLEAN_SUFFIXES):
            out[name] = value in (True, "True", "true", "1", 1)
        elif name.endswith(_NUMERIC_SUFFIXES):
            out[name] = float(value)
        else:
            out[name] = str(value)
    return out
