"""Outputs from minimal sources, and writes that fail cleanly (issue 12).

- SR and SC from a source stripped to its Type 1 attributes: the Type 2 attributes the SR
  copies from its evidence are written empty (PS3.5 §7.4.2: zero length = unknown), never
  invented; dciodvfy (dicom3tools) must find no error.
- A write that cannot happen (a folder that is a file, a full disk) is one line naming the
  output file and the reason, and the other outputs of the run still complete.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from _damage import TEST_IMAGES

import dxaspine
from dxaspine.atomic import atomic_write_text, remove_stale_temp_files
from dxaspine.errors import OutputError

DUAL = TEST_IMAGES / "ti_standard_prodigy.dual_energy.dcm"
BMD_MAP = TEST_IMAGES / "ti_standard_prodigy.bmd_map.dcm"

# What the interchange profile needs to be analysed, all Type 1 or 1C in the IOD (Multi-frame
# Grayscale Word SC: SOP Common, General Study/Series UIDs, SC Equipment, Image Pixel,
# Multi-frame, Modality LUT) plus the spacing and the private block.  Everything of Type 2
# (PatientName, PatientID, PatientBirthDate, PatientSex, StudyDate, StudyTime, StudyID,
# AccessionNumber, ReferringPhysicianName, PatientOrientation ...) is dropped.
TYPE1_KEEP = {
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "ConversionType",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "FrameLabelVector",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "PixelSpacing",
    "PixelData",
}


def _stripped(source: Path, target: Path) -> str:
    ds = pydicom.dcmread(source)
    for elem in list(ds):
        if not elem.tag.is_private and elem.keyword not in TYPE1_KEEP:
            del ds[elem.tag]
    ds.save_as(target, enforce_file_format=True)
    return str(target)


def _dciodvfy_errors(path: Path) -> list[str]:
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("Error")]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dxaspine", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("source", [DUAL, BMD_MAP], ids=["dual_energy", "bmd_map"])
def test_sr_and_sc_from_a_source_with_type1_attributes_only(tmp_path, source):
    pytest.importorskip("highdicom")
    minimal = _stripped(source, tmp_path / "minimal.dcm")
    assert "PatientBirthDate" not in pydicom.dcmread(minimal)
    sr, sc = tmp_path / "out_sr.dcm", tmp_path / "out_sc.dcm"
    proc = _cli("analyze", minimal, "--sr", str(sr), "--sc", str(sc))
    assert proc.returncode == 0, proc.stderr
    written = pydicom.dcmread(sr)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate"):
        assert keyword in written and not written[keyword].value  # present, empty: Type 2
    assert pydicom.dcmread(sc).StudyInstanceUID == pydicom.dcmread(minimal).StudyInstanceUID
    if shutil.which("dciodvfy"):
        for path in (sr, sc):
            assert _dciodvfy_errors(path) == [], path.name


def test_unwritable_outputs_are_one_line_each_naming_the_file(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be\n")
    json_out = blocker / "out.jsonl"
    overlay_dir = blocker / "pictures/"
    csv_ok = tmp_path / "rows.csv"
    proc = _cli(
        "analyze",
        str(DUAL),
        str(BMD_MAP),
        "--json",
        str(json_out),
        "--overlay",
        str(overlay_dir) + "/",
        "--csv",
        str(csv_ok),
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    # Each input's overlay names its own file; the JSON its own; the CSV was still written
    # (both inputs analysed: an input fails only on its own outputs, the CSV is separate).
    assert any(
        ln.startswith(f"error: {json_out}: cannot write this output") and "is a file" in ln
        for ln in errors
    ), errors
    overlays = [ln for ln in errors if str(blocker / "pictures") in ln]
    assert len(overlays) == 2 and all(".png" in ln for ln in overlays), errors
    assert csv_ok.exists()


def test_a_full_disk_is_an_output_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    # Fault injection at the one place every write goes through (os.write of the handle is
    # too deep; fsync is the last step before the rename and fails on ENOSPC like a write).
    import dxaspine.atomic as atomic

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    target = tmp_path / "out.json"
    target.write_text("previous\n")
    with pytest.raises(OutputError) as info:
        atomic_write_text(target, "new\n")
    message = str(info.value)
    assert message.startswith(str(target)) and "No space left on device" in message
    assert "--resume" in message
    assert target.read_text() == "previous\n"  # the old content is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temp file left


def test_stale_temp_files_are_removed_and_others_kept(tmp_path):
    (tmp_path / ".results.csv.abc123.tmp").write_text("half")
    (tmp_path / ".results.parquet.tmp").write_text("half")
    (tmp_path / ".user_notes.tmp").write_text("not ours? same pattern, same folder: removed")
    (tmp_path / "keep.tmp").write_text("no leading dot: not ours")
    (tmp_path / "results.csv").write_text("done")
    assert remove_stale_temp_files(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tmp", "results.csv"]
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / ".scan_sr.dcm.x1.tmp").write_text("ours")
    (shared / ".holiday.jpg.x1.tmp").write_text("someone else's")
    assert remove_stale_temp_files(shared, suffixes=("_sr.dcm",)) == 1
    assert [p.name for p in shared.iterdir()] == [".holiday.jpg.x1.tmp"]


def test_library_writers_raise_output_errors(tmp_path):
    from dxaspine.report.json_output import write_results_json
    from dxaspine.report.record import record_from_scan

    record = record_from_scan(dxaspine.analyze(str(BMD_MAP)))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=r"file/r\.json: cannot write this output"):
        write_results_json(blocker / "r.json", [record], lines=False)
