"""Read a CSV or Parquet table into rows of text cells (monitoring, precision, cohort inputs).

Every reader in the clinical layer that takes "a table" goes through :func:`read_rows`, so a
CSV written by ``dxaspine batch``/``assess`` and the Parquet beside it are read the same way:
header names stripped, every cell a string (``""`` for missing), a missing file or a missing
pyarrow a one-line :class:`~dxaspine.errors.InputError` naming the file and the fix.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from dxaspine.errors import InputError, MissingExtraError, describe

__all__ = ["Table", "cell_number", "read_rows"]


@dataclass(frozen=True)
class Table:
    """A table as read: its path, header and rows (``{column: text}``, missing = ``""``)."""

    path: str
    header: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    def require(self, columns, fix: str) -> None:
        """Raise :class:`InputError` naming the first absent column of ``columns``."""
        missing = [c for c in columns if c not in self.header]
        if missing:
            raise InputError(describe(self.path, f"no column {missing[0]!r}", fix))


def _parquet_rows(path: Path) -> tuple[tuple[str, ...], list[dict[str, str]]]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise MissingExtraError(
            describe(path, "reading Parquet needs pyarrow", "pip install 'dxaspine[parquet]'")
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own zoo (ArrowInvalid, OSError ...)
        raise InputError(
            describe(path, f"not a readable Parquet file ({type(exc).__name__})", "check the file")
        ) from None
    header = tuple(str(n).strip() for n in table.column_names)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = []
    for values in zip(*columns, strict=True):
        rows.append({h: _text(v) for h, v in zip(header, values, strict=True)})
    return header, rows


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def read_rows(path: str | os.PathLike) -> Table:
    """Read ``path`` (``.parquet`` by suffix, anything else as CSV).

    Parameters
    ----------
    path : path
        A CSV (UTF-8, optional BOM; ``#`` lines before the header are skipped) or Parquet.

    Returns
    -------
    Table

    Raises
    ------
    InputError
        The file cannot be opened or parsed, or has no header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("patient_id,L1-L4\\nA,1.01\\n")
    >>> read_rows(p).rows[0]["L1-L4"]
    '1.01'
    """
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        if not path.exists():
            raise InputError(describe(path, "no such file", "check the path"))
        header, rows = _parquet_rows(path)
        return Table(str(path), header, tuple(rows))
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(describe(path, f"cannot open ({exc.strerror})", "check the path")) from exc
    with fh:
        try:
            lines = [line for line in fh if not line.startswith("#")]
        except UnicodeDecodeError:
            raise InputError(
                describe(path, "not UTF-8 text", "save the table as UTF-8 CSV")
            ) from None
    reader = csv.DictReader(lines)
    header = tuple(h.strip() for h in reader.fieldnames or ())
    if not header:
        raise InputError(describe(path, "empty table (no header row)", "give a CSV with a header"))
    reader.fieldnames = list(header)
    rows = []
    try:
        for raw in reader:
            rows.append({h: (raw.get(h) or "").strip() for h in header})
    except csv.Error as exc:
        raise InputError(describe(path, f"malformed CSV ({exc})", "fix the quoting")) from None
    return Table(str(path), header, tuple(rows))


def cell_number(text: str, where: str, column: str) -> float | None:
    """A cell as a finite float, ``None`` when empty/NA; :class:`InputError` when not a number."""
    text = (text or "").strip()
    if text == "" or text.upper() in ("NA", "NAN", "NONE", "NULL"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            # the cell is not quoted: a shifted column could hold a name or an ID
            describe(where, f"{column} is not a number", "fix or empty the cell")
        ) from None
    return value if math.isfinite(value) else None
