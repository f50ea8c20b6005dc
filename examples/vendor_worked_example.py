"""Worked example for docs/vendor_results.md §10: a study folder in, a table out.

    PYTHONPATH=. python examples/vendor_worked_example.py [FOLDER]

Writes three phantom studies into FOLDER (default: a temporary folder), each an 8-bit display
export plus the vendor's results object, then reads the folder the way a batch does:

1. group the files by StudyInstanceUID from their headers (``group_by_study``);
2. read each study's vendor results (``read_vendor_results``) and measure its image
   (``dxaspine.analyze``: geometry and labels from the display export);
3. give the second reading (``second_reading``) and the ISCD rules on the vendor's numbers
   with dxaspine's image evidence (``assess_vendor``);
4. print one row per study (``dxaspine.report.vendor.flat_columns`` gives the same columns for CSV/Parquet).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import dxaspine
from dxaspine.clinical.second_reading import assess_vendor, second_reading
from dxaspine.io.vendor import group_by_study, read_vendor_results
from dxaspine.phantom import generate_case, write_case
from dxaspine.phantom.suites import standard
from dxaspine.phantom.vendor_results import VendorReportOptions, write_vendor_results

STUDIES = (
    # (case index in the standard suite, vendor variant, what the vendor did)
    (0, "ge_sr", VendorReportOptions()),
    (1, "hologic_xml_0021", VendorReportOptions(label_shift=-1)),  # vendor L1 = true T12
    (2, "ge_xml", VendorReportOptions(excluded=("L1", "L2", "L3"))),  # breaks ISCD
)


def write_folder(folder: Path) -> None:
    cases = list(standard(seed=0, count=3))
    for index, variant, options in STUDIES:
        case = generate_case(cases[index])
        write_case(case, folder, kinds=("display",))
        write_vendor_results(case, folder, (variant,), options)
        (folder / f"{case.name}.truth.json").unlink()  # keep only what an archive holds
        (folder / f"{case.name}.labels.png").unlink()


def _areas(by_level: dict) -> str:
    return " / ".join(
        f"{by_level[n]:.1f}" if n in by_level else "-" for n in ("L1", "L2", "L3", "L4")
    )


def table(folder: Path) -> list[dict]:
    studies, unreadable = group_by_study(sorted(folder.glob("*.dcm")))
    rows = []
    for uid, files in studies.items():
        vendor = read_vendor_results(files.vendor[0][0])
        image = dxaspine.analyze(files.others[0])
        flags, summary = second_reading(vendor, image.levels)
        assessment = assess_vendor(vendor, image_flags=image.image_flags)
        ours = {lv.label: lv.area_cm2 for lv in image.levels}
        theirs = {lv.name: lv.area_cm2.value for lv in vendor.levels if lv.area_cm2 is not None}
        name = assessment.reported_region
        reported = assessment.region(name) if name else None
        region = vendor.region(vendor.reported_region or "L1-L4")
        rows.append({
            "study": f"…{uid[-6:]}",
            "vendor": vendor.kind,
            "vendor areas L1/L2/L3/L4 (cm2)": _areas(theirs),
            "our areas L1/L2/L3/L4 (cm2)": _areas(ours),
            "vendor's region: BMD": f"{region.name}: {region.bmd_g_cm2.value:.3f}" if region else "-",
            "ISCD on vendor numbers: region, BMD / T": (
                f"{name}: {reported.bmd_g_cm2:.3f} / {reported.t_score:+.1f}"
                if reported and reported.bmd_g_cm2 else f"{name or '-'}: no composite (BMD only)"),
            "flags": ", ".join(sorted({f.code for f in flags})) or "-",
        })  # fmt: skip
    return rows


def main(folder: Path) -> None:
    write_folder(folder)
    rows = table(folder)
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
