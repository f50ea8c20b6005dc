"""``dxaspine assess TABLE.csv``: clinical assessment of a table of per-level numbers."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys

from dxaspine.errors import DxaError

__all__ = ["configure", "run"]

logger = logging.getLogger(__name__)
HEAD = ("row_id", "status", "error")
HELP = "clinical assessment of per-level numbers from a table"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", metavar="TABLE.csv")
    parser.add_argument("--json", metavar="PATH|-")
    parser.add_argument("--csv", metavar="PATH")
    parser.add_argument("--reference", metavar="NAME|CSV")


def run(args: argparse.Namespace) -> int:
    """Assess every row; a bad row is recorded and the rest go on.  Exit 1 if any failed."""
    from dxaspine.clinical.assessment import assess
    from dxaspine.clinical.records import assessment_to_dict, assessment_to_row, row_columns
    from dxaspine.clinical.reference import load_reference
    from dxaspine.clinical.table_input import read_table
    from dxaspine.io.atomic import atomic_write_text

    reference = load_reference(args.reference)
    json_lines: list[str] = []
    csv_rows: list[dict] = []
    failed = 0
    for row_id, item in read_table(args.table):
        if isinstance(item, DxaError):
            failed += 1
            print(f"error: {item}", file=sys.stderr)  # the CLI layer: this module may print
            json_lines.append(json.dumps({"row_id": row_id, "status": "error", "error": str(item)}))
            csv_rows.append({"row_id": row_id, "status": "error", "error": str(item)})
            continue
        levels, patient = item
        try:
            a = assess(levels, patient, reference=reference)
        except DxaError as exc:
            failed += 1
            print(f"error: {args.table} row {row_id}: {exc}", file=sys.stderr)
            json_lines.append(json.dumps({"row_id": row_id, "status": "error", "error": str(exc)}))
            csv_rows.append({"row_id": row_id, "status": "error", "error": str(exc)})
            continue
        record = {"row_id": row_id, "status": "ok", **assessment_to_dict(a)}
        json_lines.append(json.dumps(record, sort_keys=False))
        csv_rows.append(assessment_to_row(a, {"row_id": row_id, "status": "ok", "error": None}))
    if args.json:
        text = "".join(line + "\n" for line in json_lines)
        if args.json == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(args.json, text)
    if args.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=row_columns(HEAD), lineterminator="\n")
        writer.writeheader()
        for row in csv_rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        atomic_write_text(args.csv, buf.getvalue())
    if not args.json and not args.csv:
        for row in csv_rows:
            print(f"{row['row_id']}\t{row.get('reported_region') or row.get('error')}\t"
                  f"{row.get('reported_bmd_g_cm2')}\t{row.get('reported_t_score')}\t"
                  f"{row.get('who_category')}")  # fmt: skip
    logger.info("%d rows, %d failed", len(csv_rows), failed)
    return 1 if failed else 0
