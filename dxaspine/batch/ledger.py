"""The batch ledger: results committed in atomic chunks, so a killed run resumes exactly.

Every finished item (result, error or skip) is buffered and committed as one JSON Lines chunk
file, written to a temp file and renamed (``chunks/chunk-NNNNNN.jsonl``).  A chunk is either
wholly there or absent, so after a crash or ``kill -9`` the committed keys are exactly those in
the chunk files, and ``--resume`` redoes the rest.

An error record carries ``"infrastructure": true`` when the failure was not the file's own:
a worker process that died (out-of-memory kill, a crash), an output that could not be
written, an executor failure.  ``--resume`` retries those (:func:`settled_keys`), never a
file's own error.  The final tables are rebuilt from all chunks keeping the **last** record
per key, so a retried item replaces its infrastructure error: one row per scan, nothing
lost, no duplicates.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dxaspine.atomic import atomic_open, atomic_write_text, output_error
from dxaspine.report.tabular import CsvSink, ParquetSink

logger = logging.getLogger(__name__)

CHUNK_DIR = "chunks"
ERROR_COLUMNS = ("path", "stage", "error_class", "message", "infrastructure")
SKIP_COLUMNS = ("path", "reason")


def error_record(
    key: str,
    paths: tuple[str, ...] | list[str],
    stage: str,
    error_class: str,
    message: str,
    *,
    infrastructure: bool = False,
) -> dict:
    """A ledger error record (plain JSON types only: it crosses process boundaries)."""
    return {
        "type": "error",
        "key": key,
        "infrastructure": bool(infrastructure),
        "row": {
            "path": os.pathsep.join(paths),
            "stage": stage,
            "error_class": error_class,
            "message": " ".join(str(message).split()) or error_class,
            "infrastructure": bool(infrastructure),
        },
    }


def is_infrastructure(record: dict) -> bool:
    """True for an error that was not the file's own (retried by ``--resume``)."""
    return record.get("type") == "error" and bool(record.get("infrastructure"))


class ChunkWriter:
    """Buffers finished records and commits them atomically every ``size`` items or ``seconds``."""

    def __init__(self, out_dir: str | os.PathLike, size: int = 50, seconds: float = 10.0):
        self.dir = Path(out_dir) / CHUNK_DIR
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(self.dir, exc) from exc
        self.size = size
        self.seconds = seconds
        self._buffer: list[dict] = []
        self._last = time.monotonic()
        existing = sorted(self.dir.glob("chunk-*.jsonl"))
        self._next = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1

    def add(self, record: dict) -> None:
        self._buffer.append(record)
        if len(self._buffer) >= self.size or time.monotonic() - self._last >= self.seconds:
            self.commit()

    def commit(self) -> None:
        """Write the buffer as the next chunk.

        Raises
        ------
        OutputError
            The chunk cannot be written (full disk ...).  The buffer is kept, so a later
            commit may still succeed; what was never committed is redone by ``--resume``.
        """
        if not self._buffer:
            return
        target = self.dir / f"chunk-{self._next:06d}.jsonl"
        text = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in self._buffer)
        atomic_write_text(target, text)
        self._next += 1
        self._buffer.clear()
        self._last = time.monotonic()


def iter_committed(out_dir: str | os.PathLike) -> Iterator[dict]:
    """Every committed record, in commit order.  Temp files of a killed write are ignored."""
    for chunk in sorted((Path(out_dir) / CHUNK_DIR).glob("chunk-*.jsonl")):
        with open(chunk, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def committed_keys(out_dir: str | os.PathLike) -> set[str]:
    """Every key with a committed record (whatever it says)."""
    return {record["key"] for record in iter_committed(out_dir)}


def settled_keys(out_dir: str | os.PathLike) -> set[str]:
    """Keys ``--resume`` skips: the last record is a result, a skip or a file's own error."""
    last: dict[str, bool] = {}
    for record in iter_committed(out_dir):
        last[record["key"]] = is_infrastructure(record)
    return {key for key, infrastructure in last.items() if not infrastructure}


def _last_positions(out_dir: str | os.PathLike) -> dict[str, int]:
    """For each key, the position (in commit order) of its last record."""
    return {record["key"]: n for n, record in enumerate(iter_committed(out_dir))}


def build_tables(
    out_dir: str | os.PathLike, result_columns: list[str], parquet: bool = True
) -> dict:
    """Rebuild results.csv/.parquet, errors.csv and skipped.csv from the chunks; return counts.

    The last record per key is kept (a retried item replaces its infrastructure error).
    ``counts["infrastructure"]`` counts the errors that ``--resume`` would retry.

    Raises
    ------
    OutputError
        A table cannot be written.
    """
    from dxaspine.batch.vendor_calibration import device_models, reread_row

    out = Path(out_dir)
    last = _last_positions(out)
    # the archive-level second reading: each vendor device's area bias from all its studies
    models = device_models(r for n, r in enumerate(iter_committed(out)) if last[r["key"]] == n)
    counts = {"result": 0, "error": 0, "skipped": 0, "infrastructure": 0}
    parquet_writer = ParquetSink(out / "results.parquet", result_columns) if parquet else None
    with (
        atomic_open(out / "results.csv", "w", newline="", encoding="utf-8") as results,
        atomic_open(out / "errors.csv", "w", newline="", encoding="utf-8") as errors,
        atomic_open(out / "skipped.csv", "w", newline="", encoding="utf-8") as skipped,
    ):
        writers = {
            "result": CsvSink(results, result_columns),
            "error": CsvSink(errors, ERROR_COLUMNS),
            "skipped": CsvSink(skipped, SKIP_COLUMNS),
        }
        for n, record in enumerate(iter_committed(out)):
            if last[record["key"]] != n:
                continue  # superseded by a later record of the same key
            kind = record["type"]
            row = reread_row(record, models) if kind == "result" else record["row"]
            writers[kind].add(row)
            counts[kind] += 1
            counts["infrastructure"] += is_infrastructure(record)
            if kind == "result" and parquet_writer is not None:
                try:
                    parquet_writer.add(row)
                except OSError as exc:
                    raise output_error(out / "results.parquet", exc) from exc
    if parquet_writer is not None:
        try:
            parquet_writer.close()
        except OSError as exc:
            raise output_error(out / "results.parquet", exc) from exc
    return counts
