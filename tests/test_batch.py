"""Batch runner: a messy archive, kill -9 + resume, and the Dask backend give the same rows.

Ground truth here is the archive's own construction: we know exactly which files are spine
scans (60), which are junk and why, and which one is a duplicate.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from dxaspine.phantom import PhantomParams, generate_case, write_case

N_CASES = 15  # x (dual-energy, bmd map, display, dual-energy pair) = 60 scans
KINDS = ("dual_energy", "bmd_map", "display", "dual_energy_pair")


def _archive(root: Path) -> dict:
    """60 phantom scans of mixed kinds plus known junk; returns what the runner must find."""
    scans = root / "scans"
    expected_uids = set()
    first_file = None
    for i in range(N_CASES):
        case = generate_case(PhantomParams(seed=100 + i, suite="batch", scanner="prodigy"))
        paths = write_case(case, scans / f"case{i:02d}", kinds=KINDS)
        for kind in KINDS:
            if kind == "dual_energy_pair":
                low, high = paths[kind]
                uid_low = pydicom.dcmread(low, stop_before_pixels=True).SOPInstanceUID
                uid_high = pydicom.dcmread(high, stop_before_pixels=True).SOPInstanceUID
                expected_uids.add((uid_low, uid_high))
            else:
                expected_uids.add(
                    pydicom.dcmread(paths[kind], stop_before_pixels=True).SOPInstanceUID
                )
        if first_file is None:
            first_file = paths["dual_energy"]
        for extra in ("truth", "labels"):  # truth files are not DICOM: keep them out of the archive
            Path(paths[extra]).unlink()
    junk = root / "junk"
    junk.mkdir()
    corrupt = []
    for n, cut in enumerate((0.9, 0.6, 0.5, 0.3)):  # truncated: header intact, pixels cut short
        target = junk / f"truncated{n}.dcm"
        ds = pydicom.dcmread(first_file)  # a distinct instance, not a damaged duplicate
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[f"truncated-{n}"])
        ds.save_as(target)
        data = target.read_bytes()
        target.write_bytes(data[: int(len(data) * cut)])
        corrupt.append(target)
    bad = pydicom.dcmread(first_file)  # pixel data that does not match the declared size
    bad.Rows = bad.Rows + 7
    bad.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["corrupt-size"])
    bad.save_as(junk / "wrong_size.dcm")
    corrupt.append(junk / "wrong_size.dcm")
    (junk / "notes.txt").write_text("not a DICOM file\n")
    (junk / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (junk / "random.bin").write_bytes(os.urandom(4096))
    non_dicom = [junk / "notes.txt", junk / "picture.png", junk / "random.bin"]
    hips = []
    for n in range(2):
        case = generate_case(PhantomParams(seed=900 + n, suite="hip", scanner="prodigy"))
        written = write_case(case, junk / f"hip{n}", kinds=("display",))
        ds = pydicom.dcmread(written["display"])
        ds.BodyPartExamined = "HIP"
        ds.ProtocolName = "Left Femur"
        ds.save_as(written["display"])
        for extra in ("truth", "labels"):
            Path(written[extra]).unlink()
        hips.append(Path(written["display"]))
    duplicate = junk / "duplicate.dcm"
    shutil.copy(first_file, duplicate)
    # A truncated copy keeps the original's SOP Instance UID; found first (junk/ sorts before
    # scans/), it must be reported as corrupt, not analysed in place of the intact file.
    damaged_copy = junk / "a_truncated_copy.dcm"
    data = Path(first_file).read_bytes()
    damaged_copy.write_bytes(data[: int(len(data) * 0.8)])
    corrupt.append(damaged_copy)
    return {
        "uids": expected_uids,
        "original": Path(first_file),
        "corrupt": corrupt,
        "non_dicom": non_dicom,
        "hips": hips,
        "duplicate": duplicate,
    }


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    return root, _archive(root)


def _run(args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "dxaspine", "batch", *args],
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _row_set(out: Path) -> set[tuple]:
    return {tuple(sorted(row.items())) for row in _read_csv(out / "results.csv")}


@pytest.fixture(scope="module")
def pool_run(archive, tmp_path_factory):
    root, _ = archive
    out = tmp_path_factory.mktemp("pool")
    proc = _run([str(root), "--out", str(out), "--workers", "2", "--quiet"])
    assert proc.returncode == 1, proc.stderr  # the archive's corrupt files failed (exit 1)
    return out


def test_every_scan_once_and_every_bad_file_recorded(archive, pool_run):
    _, expect = archive
    rows = _read_csv(pool_run / "results.csv")
    assert len(rows) == 60
    uids = [row["sop_instance_uid"] for row in rows]
    assert len(set(uids)) == 60  # the duplicate is analysed once
    errors = {Path(r["path"]).name: r for r in _read_csv(pool_run / "errors.csv")}
    skipped = {Path(r["path"]).name: r for r in _read_csv(pool_run / "skipped.csv")}
    for path in expect["corrupt"] + expect["non_dicom"] + expect["hips"]:
        record = errors.get(path.name) or skipped.get(path.name)
        assert record is not None, f"{path.name} neither in errors.csv nor skipped.csv"
        assert (record.get("message") or record.get("reason")).strip()
    for path in expect["corrupt"]:
        assert path.name in errors, f"corrupt {path.name} must be an error, not a skip"
    # Two files share one SOP Instance UID: whichever is found second is skipped as a duplicate.
    dup_skips = [r for r in skipped.values() if "duplicate" in r["reason"].lower()]
    assert len(dup_skips) == 1
    assert Path(dup_skips[0]["path"]).name in (expect["duplicate"].name, expect["original"].name)
    manifest = json.loads((pool_run / "manifest.json").read_text())
    assert manifest["counts"]["results"] == 60
    assert manifest["dxaspine_version"]
    assert manifest["reference"]["name"]


def test_parquet_matches_csv(pool_run):
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(pool_run / "results.parquet")
    assert table.num_rows == 60
    csv_uids = {row["sop_instance_uid"] for row in _read_csv(pool_run / "results.csv")}
    assert set(table.column("sop_instance_uid").to_pylist()) == csv_uids


def test_kill_9_then_resume_gives_the_same_rows(archive, pool_run, tmp_path):
    root, _ = archive
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dxaspine",
            "batch",
            str(root),
            "--out",
            str(out),
            "--workers",
            "2",
            "--quiet",
            "--chunk-size",
            "4",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until some (not all) work is committed
        if len(list((out / "chunks").glob("chunk-*.jsonl"))) >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "results.csv").exists(), "the run finished before it could be killed"
    resumed = _run([str(root), "--out", str(out), "--workers", "2", "--quiet", "--resume"])
    assert resumed.returncode == 1, resumed.stderr  # the same corrupt files, still failed
    assert _row_set(out) == _row_set(pool_run)
    assert len(_read_csv(out / "results.csv")) == 60


def test_refuses_to_mix_runs_without_resume(pool_run):
    proc = _run([str(pool_run), "--out", str(pool_run), "--quiet"])
    assert proc.returncode != 0
    assert "--resume" in proc.stderr


def test_dask_local_cluster_gives_the_same_rows(archive, pool_run, tmp_path):
    pytest.importorskip("distributed")
    root, _ = archive
    out = tmp_path / "dask"
    proc = _run([str(root), "--out", str(out), "--dask", "local:2", "--quiet"])
    assert proc.returncode == 1, proc.stderr
    assert _row_set(out) == _row_set(pool_run)


def test_the_runner_never_loads_the_analysis_stack(archive, tmp_path):
    # The runner discovers, dispatches and commits; the workers analyse.  Its result columns
    # once imported the segmenter (through measure's package imports) and with it numba and
    # scipy: 0.9 s of start-up and their memory in a process that never analyses (issue 17).
    root, _ = archive
    code = (
        "import sys\n"
        "from dxaspine.cli import main\n"
        "status = main(['batch', sys.argv[1], '--out', sys.argv[2], '--workers', '1', '--quiet'])\n"
        "print(status, *sorted({m.split('.')[0] for m in sys.modules}))\n"
        "print(*sorted(m for m in sys.modules if m.startswith('dxaspine.segment')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(root), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    first, second = (out.stdout.splitlines() + ["", ""])[:2]
    status, *modules = first.split()
    assert status == "1", out.stderr  # the archive's corrupt files failed, as in pool_run
    assert not {"scipy", "numba", "llvmlite"} & set(modules)
    assert second == ""  # no segmenter module in the runner


def test_ctrl_c_stops_cleanly_and_resume_completes(archive, pool_run, tmp_path):
    root, _ = archive
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dxaspine", "batch", str(root), "--out", str(out), "--workers", "2",
         "--quiet", "--chunk-size", "4"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if len(list((out / "chunks").glob("chunk-*.jsonl"))) >= 2 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "--resume" in stderr
    resumed = _run([str(root), "--out", str(out), "--workers", "2", "--quiet", "--resume"])
    assert resumed.returncode == 1, resumed.stderr  # the same corrupt files, still failed
    assert _row_set(out) == _row_set(pool_run)
