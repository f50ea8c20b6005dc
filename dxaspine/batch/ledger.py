"""The batch ledger: results committed in atomic chunks, so a killed run resumes exactly.

Every finished item (result, error or skip) is buffered and committed as one JSON Lines chunk
file, written to a temp file and renamed (``chunks/chunk-NNNNNN.jsonl``).  A chunk is either
wholly there or absent, so after a crash or ``kill -9`` the committed keys are exactly those in
the chunk files, and ``--resume`` redoes the rest.  The final tables are rebuilt from all
chunks, keeping the first record per key: one row per scan, nothing lost, no duplicates.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dxaspine.atomic import atomic_open, atomic_write_text
from dxaspine.report.tabular import CsvSink, ParquetSink

logger = logging.getLogger(__name__)

CHUNK_DIR = "chunks"
ERROR_COLUMNS = ("path", "stage", "error_class", "message")
SKIP_COLUMNS = ("path", "reason")


class ChunkWriter:
    """Buffers finished records and commits them atomically every ``size`` items or ``seconds``."""

    def __init__(self, out_dir: str | os.PathLike, size: int = 50, seconds: float = 10.0):
        self.dir = Path(out_dir) / CHUNK_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
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
    return {record["key"] for record in iter_committed(out_dir)}


def build_tables(
    out_dir: str | os.PathLike, result_columns: list[str], parquet: bool = True
) -> dict:
    """Rebuild results.csv/.parquet, errors.csv and skipped.csv from the chunks; return counts."""
    out = Path(out_dir)
    seen: set[str] = set()
    counts = {"result": 0, "error": 0, "skipped": 0}
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
        for record in iter_committed(out):
            if record["key"] in seen:
                continue
            seen.add(record["key"])
            kind = record["type"]
            writers[kind].add(record["row"])
            counts[kind] += 1
            if kind == "result" and parquet_writer is not None:
                parquet_writer.add(record["row"])
    if parquet_writer is not None:
        parquet_writer.close()
    return counts
