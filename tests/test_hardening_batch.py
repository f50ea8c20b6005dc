"""A batch that loses nothing (issue 12): damaged RLE, a worker killed mid-run, a full disk.

Ground truth is the archive's construction: which files are good scans (their SOP Instance
UIDs), which are damaged, junk or identifier-bearing, and why.  Done when, for each failure,
the run (after freeing space and ``--resume``) ends with one row per good scan, no good scan
in errors.csv and every bad file recorded with a reason, and no planted identifier anywhere.

The full disk is a real one where possible: a 1 MiB tmpfs mounted for the test (needs root;
this machine's CI runs as root).  Elsewhere the same scenario runs with a fault-injecting
ledger write (``OSError(ENOSPC)`` after a few commits), in process.
"""

from __future__ import annotations

import csv
import errno
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
from _damage import (
    TEST_IMAGES,
    compressed_copy,
    leaked,
    plant_identifiers,
    rle_panic_copy,
)
from pydicom.uid import generate_uid

from dxaspine.batch import ledger
from dxaspine.batch.discovery import Work
from dxaspine.batch.executors import run_process_pool
from dxaspine.batch.worker import WorkerOptions

DUAL = TEST_IMAGES / "ti_standard_prodigy.dual_energy.dcm"


def _copy_with_new_uid(source: Path, target: Path, tag: str, change=None) -> Path:
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(source), tag])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    plant_identifiers(ds)  # every file of the archive carries identifying values
    if change is not None:
        change(ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def _uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _build(root: Path) -> dict:
    good = root / "good"
    uids: set[str] = set()
    for source in sorted(TEST_IMAGES.glob("*.dcm")):
        if source.name.endswith((".low.dcm", ".high.dcm")):
            continue
        uids.add(_uid(_copy_with_new_uid(source, good / source.name, "copy")))
    pair = []
    for half in ("low", "high"):
        ds = pydicom.dcmread(TEST_IMAGES / f"ti_standard_prodigy.{half}.dcm")
        plant_identifiers(ds)
        ds.save_as(good / f"pair.{half}.dcm", enforce_file_format=True)
        pair.append(str(ds.SOPInstanceUID))
    uids.add("+".join(pair))
    for n in range(6):  # the slower iDXA case, so that the run lasts long enough to be killed
        source = TEST_IMAGES / "ti_pathology_idxa.dual_energy.dcm"
        uids.add(_uid(_copy_with_new_uid(source, good / f"idxa_{n}.dcm", f"idxa{n}")))
    for syntax in ("rle", "j2k", "jls"):
        for kind in ("dual_energy", "bmd_map", "display"):
            source = TEST_IMAGES / f"ti_standard_prodigy.{kind}.dcm"
            target = compressed_copy(source, good / f"{kind}.{syntax}.dcm", syntax)
            uids.add(_uid(target))

    bad = root / "bad"
    bad.mkdir()
    rle = compressed_copy(DUAL, root / "tmp_rle.dcm", "rle")
    panic = rle_panic_copy(rle, bad / "panic.rle.dcm")
    rle.unlink()
    data = DUAL.read_bytes()
    (bad / "group_length_cut.dcm").write_bytes(data[:142])
    (bad / "cut_before_pixels.dcm").write_bytes(data[: data.find(b"\xe0\x7f\x10\x00") - 200])
    os.symlink(bad / "loop.dcm", bad / "loop.dcm")

    def zero_slope(ds):
        ds.RescaleSlope = "0"

    def hip(ds):
        ds.ProtocolName = "Left Femur ZZPROTOCOL DOE JANE"

    _copy_with_new_uid(TEST_IMAGES / "ti_standard_prodigy.bmd_map.dcm", bad / "slope0.dcm", "s0",
                       zero_slope)  # fmt: skip
    _copy_with_new_uid(TEST_IMAGES / "ti_standard_prodigy.display.dcm", bad / "hip.dcm", "hip",
                       hip)  # fmt: skip
    (bad / "notes.txt").write_text("not a DICOM file\n")
    errors = {"panic.rle.dcm", "group_length_cut.dcm", "cut_before_pixels.dcm", "loop.dcm",
              "slope0.dcm"}  # fmt: skip
    return {"uids": uids, "errors": errors, "skips": {"hip.dcm", "notes.txt"}, "panic": panic}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("hardened_archive")
    return root, _build(root)


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _batch(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dxaspine", "batch", *args],
        capture_output=True, text=True, timeout=900, **kwargs,
    )  # fmt: skip


def _assert_complete(out: Path, expect: dict) -> list[dict]:
    """One row per good scan, no good scan among the errors, every bad file with a reason."""
    rows = _read(out / "results.csv")
    got = [r["sop_instance_uid"] for r in rows]
    pair_rows = [r for r in rows if "pair.low" in r["path"]]
    assert len(pair_rows) == 1
    expected_single = {u for u in expect["uids"] if "+" not in u}
    assert sorted(u for u in got if u in expected_single) == sorted(expected_single)
    assert len(rows) == len(expect["uids"])
    errors = {Path(r["path"]).name: r for r in _read(out / "errors.csv")}
    skipped = {Path(r["path"]).name: r for r in _read(out / "skipped.csv")}
    assert set(errors) == expect["errors"], errors
    assert expect["skips"] <= set(skipped)
    for record in [*errors.values(), *skipped.values()]:
        assert (record.get("message") or record.get("reason") or "").strip()
    assert all(r["infrastructure"] == "false" for r in errors.values())
    for name in ("results.csv", "errors.csv", "skipped.csv", "manifest.json"):
        assert leaked((out / name).read_text()) == [], name
    return rows


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively, from /proc (no psutil)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _worker_pids(pid: int) -> list[int]:
    # forkserver: batch -> forkserver -> workers; workers are grandchildren of the runner.
    grandchildren = []
    for child in _descendants(pid):
        with open(f"/proc/{child}/cmdline", "rb") as handle:
            if b"forkserver" in handle.read():
                grandchildren += _descendants(child)
    return grandchildren


def _committed_results(out: Path) -> int:
    return sum(r["type"] == "result" for r in ledger.iter_committed(out)) if out.exists() else 0


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(archive, tmp_path):
    root, expect = archive
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dxaspine", "batch", str(root), "--out", str(out),
         "--workers", "2", "--chunk-size", "1", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    killed = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and killed is None:
        if _committed_results(out) >= 2:
            workers = _worker_pids(proc.pid)
            if workers:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)  # what the out-of-memory killer does
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=900)
    assert killed is not None, "the run ended before a worker could be killed"
    assert "a worker process died (SIGKILL" in stderr, stderr
    assert proc.returncode == 1, stderr  # the bad files failed; documented exit status 1
    assert "Traceback" not in stderr and leaked(stderr) == []
    rows = _assert_complete(out, expect)
    # The spacing source is in every row; the displays' ExposedArea fallback is a warning in
    # the row and reached the runner's log from the worker process (QueueHandler).
    assert all(r["pixel_spacing_source"] for r in rows)
    displays = [r for r in rows if r["kind"] == "display"]
    assert displays and all("ExposedArea" in r["warnings"] for r in displays)
    assert "no PixelSpacing; spacing from ExposedArea" in stderr


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False)  # fmt: skip
    return done.returncode == 0


def _fill(folder: Path, leave_bytes: int) -> Path:
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave_bytes))
    return filler


@pytest.mark.slow
def test_a_full_output_disk_stops_cleanly_and_resume_completes(archive, tmp_path, monkeypatch):
    root, expect = archive
    disk = tmp_path / "disk"
    if _mount_tmpfs(disk, "1m"):
        try:
            out = disk / "out"
            out.mkdir()
            filler = _fill(disk, leave_bytes=48 * 1024)  # room for a few 4 KiB chunk files
            first = _batch(str(root), "--out", str(out), "--workers", "2", "--chunk-size", "1")
            assert first.returncode == 3, first.stderr  # the run stopped: documented status 3
            assert "No space left on device" in first.stderr and "--resume" in first.stderr
            assert "Traceback" not in first.stderr and leaked(first.stderr) == []
            assert 0 < _committed_results(out) < len(expect["uids"])  # stopped mid-run
            filler.unlink()  # free the space
            resumed = _batch(str(root), "--out", str(out), "--workers", "2", "--resume")
            assert resumed.returncode == 1, resumed.stderr
            _assert_complete(out, expect)
            assert not [p for p in out.rglob(".*.tmp")], "stale temp files removed"
        finally:
            subprocess.run(["umount", str(disk)], check=False)
        return
    # No tmpfs: fail the ledger's writes with ENOSPC after four commits, in process.
    from dxaspine.batch.runner import BatchOptions, run_batch

    out = tmp_path / "out"
    real_write, calls = ledger.atomic_write_text, {"n": 0}

    def full_after_four(path, text):
        calls["n"] += 1
        if calls["n"] > 4:
            raise ledger.output_error(path, OSError(errno.ENOSPC, "No space left on device"))
        real_write(path, text)

    monkeypatch.setattr(ledger, "atomic_write_text", full_after_four)
    summary = run_batch(BatchOptions(str(root), str(out), workers=2, quiet=True, chunk_size=1))
    assert summary.run_error and "No space left on device" in summary.run_error
    monkeypatch.setattr(ledger, "atomic_write_text", real_write)
    run_batch(BatchOptions(str(root), str(out), workers=2, quiet=True, resume=True))
    _assert_complete(out, expect)


def test_items_in_flight_on_a_dead_worker_are_retried_once_then_recorded():
    import _crashing_task

    work = [Work(f"path:/x/{i}{'-crash' if i == 5 else ''}", (f"/x/{i}",)) for i in range(10)]
    records = list(run_process_pool(work, WorkerOptions(), 2, task=_crashing_task.task))
    by_key = {r["key"]: r for r in records}
    assert len(records) == len(by_key) == 10  # every item exactly once
    crashed = by_key["path:/x/5-crash"]
    assert crashed["type"] == "error" and crashed["infrastructure"] is True
    assert "died twice" in crashed["row"]["message"] and "SIGKILL" in crashed["row"]["message"]
    assert all(r["type"] == "result" for k, r in by_key.items() if "crash" not in k)


def test_a_ctrl_c_is_taken_between_waits_and_leaves_no_worker():
    # The runner's SIGINT handler only sets a flag: a KeyboardInterrupt raised at an arbitrary
    # instruction could land inside concurrent.futures while it holds a lock, and the
    # shutdown then waited for ever.  The Ctrl-C below arrives while this consumer holds a
    # record: it must not raise here but at the generator's next step, after which the pool
    # is shut down and the previous handler is back.
    import multiprocessing

    import _slow_task

    before = signal.getsignal(signal.SIGINT)
    work = [Work(f"path:/x/{i}", (f"/x/{i}",)) for i in range(40)]
    records = run_process_pool(work, WorkerOptions(), 2, task=_slow_task.task)
    seen = [next(records)]
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs in this thread at its next instruction
    except KeyboardInterrupt:
        records.close()
        pytest.fail("the Ctrl-C was raised in the consumer, not at the generator's next step")
    with pytest.raises(KeyboardInterrupt):
        seen.extend(records)
    assert 1 <= len(seen) < 40
    assert signal.getsignal(signal.SIGINT) is before
    assert not multiprocessing.active_children()  # the pool's workers were joined


_SIGINT_PROBE = """
import os, signal
from concurrent.futures import ProcessPoolExecutor
from dxaspine._pool_signals import _FORKSERVER_ENV, pool_context
context = pool_context()
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the parent's: as it was
assert _FORKSERVER_ENV not in os.environ
with ProcessPoolExecutor(1, mp_context=context) as pool:  # no initializer: from the start
    print(pool.submit(signal.getsignal, signal.SIGINT).result(timeout=120) == signal.SIG_IGN)
"""


@pytest.mark.skipif(os.name != "posix", reason="forkserver workers")
def test_workers_ignore_ctrl_c_from_their_first_instruction():
    # A Ctrl-C that reached a worker still starting (importing the initializer's modules)
    # printed a KeyboardInterrupt traceback.  The forkserver's preload sets SIGINT to ignored
    # before it records the handlers its children get.  A fresh interpreter: one forkserver
    # per process, and this one must be started by pool_context.
    out = subprocess.run([sys.executable, "-c", _SIGINT_PROBE], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_resume_retries_infrastructure_errors_only_and_the_last_record_wins(tmp_path):
    writer = ledger.ChunkWriter(tmp_path, size=100)
    writer.add(ledger.error_record("k1", ["a.dcm"], "worker", "WorkerDied", "died",
                                   infrastructure=True))  # fmt: skip
    writer.add(ledger.error_record("k2", ["b.dcm"], "load", "CorruptDicomError", "b.dcm: bad"))
    writer.add({"type": "result", "key": "k3", "row": {"path": "c.dcm"}})
    writer.commit()
    assert ledger.settled_keys(tmp_path) == {"k2", "k3"}  # k1 is retried, k2 is not
    writer.add({"type": "result", "key": "k1", "row": {"path": "a.dcm"}})  # the retry worked
    writer.commit()
    counts = ledger.build_tables(tmp_path, ["path"], parquet=False)
    assert counts == {"result": 2, "error": 1, "skipped": 0, "infrastructure": 0}
    assert {r["path"] for r in _read(tmp_path / "results.csv")} == {"a.dcm", "c.dcm"}
    assert [r["path"] for r in _read(tmp_path / "errors.csv")] == ["b.dcm"]


def test_a_folder_without_dicom_warns_and_exits_0(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello\n")
    proc = _batch(str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "no DICOM file found" in proc.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["results"] == 0 and manifest["counts"]["skipped"] == 1
