"""``dxaspine assess TABLE.csv``: clinical assessment of a table of per-level numbers."""

from __future__ import annotations

import argparse
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
    from dxaspine.atomic import atomic_write_text
    from dxaspine.clinical.assessment import assess
    from dxaspine.clinical.reference import load_reference
    from dxaspine.clinical.table_input import read_table
    from dxaspine.report.record import record_from_assessment, round_for_output
    from dxaspine.report.row import row_columns, row_from_record
    from dxaspine.report.tabular import write_csv

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
        plain = round_for_output(record_from_assessment(a))
        record = {"row_id": row_id, "status": "ok", **plain}
        json_lines.append(json.dumps(record, sort_keys=False))
        csv_rows.append(row_from_record(plain, {"row_id": row_id, "status": "ok", "error": None}))
    if args.json:
        text = "".join(line + "\n" for line in json_lines)
        if args.json == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(args.json, text)
    if args.csv:
        write_csv(args.csv, csv_rows, row_columns(HEAD))
    if not args.json and not args.csv:
        for row in csv_rows:
            print(f"{row['row_id']}\t{row.get('reported_region') or row.get('error')}\t"
                  f"{row.get('reported_bmd_g_cm2')}\t{row.get('reported_t_score')}\t"
                  f"{row.get('who_category')}")  # fmt: skip
    logger.info("%d rows, %d failed", len(csv_rows), failed)
    return 1 if failed else 0
