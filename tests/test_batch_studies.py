"""Batch over studies: each image with its study's vendor results, one row per study, and the
archive-level second reading that calibrates each device's area bias.

Truth: the phantom writes each study's vendor report from its own truth, some with the labels
deliberately shifted by one level (VendorReportOptions.label_shift); every shifted study must
be flagged and no unshifted one.
"""

from __future__ import annotations

import csv

import pytest

from dxaspine.batch.runner import BatchOptions, run_batch
from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.phantom.vendor_results import VendorReportOptions, write_vendor_results

pytest.importorskip("highdicom")

# 12 iDXA-like studies: every fourth with the vendor's labels one level up, every fourth + 2
# one level down; the rest unshifted.  Image and report go into different sub-folders, so the
# pairing has to come from StudyInstanceUID, not from the folder.
SHIFTS = [(-1 if i % 4 == 0 else 1 if i % 4 == 2 else 0) for i in range(12)]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    for i, shift in enumerate(SHIFTS):
        case = generate_case(PhantomParams(seed=60 + i, scanner="idxa", case=f"st{i:02d}"))
        write_case(case, root / "images" / f"st{i:02d}", kinds=("display",))
        write_vendor_results(case, root / "reports" / f"st{i:02d}", variants=("ge_sr",),
                             options=VendorReportOptions(label_shift=shift))  # fmt: skip
    # a study with a report and no image: assessed on the vendor's numbers alone
    alone = generate_case(PhantomParams(seed=90, scanner="prodigy", case="alone"))
    write_vendor_results(alone, root / "reports" / "alone", variants=("hologic_xml_0019",))
    out = root / "out"
    summary = run_batch(BatchOptions(input=str(root), out=str(out), workers=2, quiet=True))
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return summary, rows


def test_one_row_per_study(archive):
    summary, rows = archive
    assert summary.counts["result"] == len(SHIFTS) + 1
    assert summary.counts["error"] == 0
    kinds = sorted(r["kind"] for r in rows)
    assert kinds == ["display"] * len(SHIFTS) + ["hologic_xml"]
    for row in rows:
        assert row["vendor_kind"] in ("ge_sr", "hologic_xml")


def test_every_shifted_study_flagged_and_no_unshifted_one(archive):
    _, rows = archive
    by_case = {r["path"].split("/")[-1].split(".")[0]: r for r in rows if r["kind"] == "display"}
    for i, shift in enumerate(SHIFTS):
        row = by_case[f"st{i:02d}"]
        assert (row["vendor_labels_shifted"] == "true") == (shift != 0), (
            i,
            shift,
            row["vendor_flags"],
        )
        if shift:
            # the vendor's levels sit one level higher (-1) or lower (+1) than ours
            assert float(row["vendor_level_offset"]) == shift
        # the archive calibrated the device's area bias from its 12 studies
        assert float(row["vendor_area_bias_studies"]) >= 5


def test_results_only_study_assessed_on_the_vendor_numbers(archive):
    _, rows = archive
    row = next(r for r in rows if r["kind"] == "hologic_xml")
    assert row["reported_region"] == "L1-L4"
    assert row["vendor_reported_region"] == "L1-L4"
    assert float(row["L1-L4_bmd_g_cm2"]) == pytest.approx(float(row["vendor_L1-L4_bmd_g_cm2"]))
