"""``dxaspine precision TABLE``: the ISCD precision calculator (RMS-SD, %CV, LSC, CI, design).

The table holds repeated scans of the same patients (one row per scan with a patient column,
or one row per patient with ``scan_1``, ``scan_2`` …; see
:func:`dxaspine.clinical.precision.read_precision_table`).  Prints one block per region;
``--json`` writes what ``dxaspine compare --lsc-from`` reads.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

__all__ = ["HELP", "configure", "run"]

HELP = "ISCD precision calculator: RMS-SD, RMS-%%CV, LSC and its CI from repeated scans"
CSV_COLUMNS = (
    "region",
    "n_patients",
    "n_scans",
    "degrees_of_freedom",
    "mean_bmd_g_cm2",
    "rms_sd_g_cm2",
    "rms_sd_ci95_low_g_cm2",
    "rms_sd_ci95_high_g_cm2",
    "rms_cv_percent",
    "lsc_g_cm2",
    "lsc_ci95_low_g_cm2",
    "lsc_ci95_high_g_cm2",
    "lsc_percent",
    "arithmetic_mean_sd_g_cm2",
    "arithmetic_shortfall_percent",
    "design_ok",
    "design",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", metavar="TABLE", help="CSV or Parquet of repeated scans")
    parser.add_argument("--patient-column", metavar="NAME", help="column naming the patient")
    parser.add_argument(
        "--region", default="L1-L4", help="region of bare scan_1, scan_2 ... columns (L1-L4)"
    )
    parser.add_argument("--json", metavar="PATH|-", help="write the results as JSON")
    parser.add_argument("--csv", metavar="PATH", help="write one row per region")


def _csv_text(study) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in study.regions:
        row = {k: getattr(r, k) for k in CSV_COLUMNS if hasattr(r, k)}
        row["rms_sd_ci95_low_g_cm2"], row["rms_sd_ci95_high_g_cm2"] = r.rms_sd_ci95_g_cm2
        row["lsc_ci95_low_g_cm2"], row["lsc_ci95_high_g_cm2"] = r.lsc_ci95_g_cm2
        writer.writerow(row)
    return buf.getvalue()


def _print(study, stream) -> None:
    for r in study.regions:
        lo, hi = r.rms_sd_ci95_g_cm2
        print(
            f"{r.region}: {r.n_patients} patients, {r.n_scans} scans, df {r.degrees_of_freedom}\n"
            f"  RMS-SD {r.rms_sd_g_cm2:.4f} g/cm2 (95 % CI {lo:.4f}-{hi:.4f})"
            f"   RMS-%CV {r.rms_cv_percent:.2f} %\n"
            f"  LSC {r.lsc_g_cm2:.3f} g/cm2 (95 % CI {r.lsc_ci95_g_cm2[0]:.3f}-"
            f"{r.lsc_ci95_g_cm2[1]:.3f})   LSC {r.lsc_percent:.1f} %\n"
            f"  design: {r.design}",
            file=stream,
        )
        for w in r.warnings:
            print(f"  warning: {w}", file=stream)
    for note in study.notes:
        print(f"note: {note}", file=stream)


def run(args: argparse.Namespace) -> int:
    from dxaspine.atomic import atomic_write_text
    from dxaspine.clinical.precision import precision_study

    study = precision_study(args.table, args.patient_column, args.region)
    _print(study, sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        text = json.dumps(study.to_dict(), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(args.json, text)
    if args.csv:
        atomic_write_text(args.csv, _csv_text(study))
    return 0
