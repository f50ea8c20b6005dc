"""Forwarding: C-STORE to dcmtk's storescp and POST to Orthanc, retries, dead letter, restart.

The "destination down then up" fault of issue 14 at the forwarder level: files submitted
while nothing listens arrive once the destination starts, after the backoff; with too few
attempts they end in the dead-letter folder, and moving them back resends them.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pydicom
import pytest
from _pacs_servers import (
    LOOPBACK,
    OrthancServer,
    dcmtk,
    free_port,
    needs_dcmtk,
    needs_orthanc,
    wait_until,
)
from _pacs_studies import phantom_study

from dxaspine.pacs.config import Destination, RetryPolicy
from dxaspine.pacs.forward import DicomSender, Forwarder, OrthancSender

pytest.importorskip("pynetdicom")

FAST = RetryPolicy(attempts=30, initial_delay_s=0.2, max_delay_s=1.0)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Two files named as the analysis names its outputs (``<kind>_<SOPInstanceUID>.dcm``)."""
    folder = tmp_path_factory.mktemp("fwd_src")
    study = phantom_study(folder, seed=51, kinds=("display",), vendor=("tid1500_sr",))
    sr = study["vendor"]["tid1500_sr"]  # a Comprehensive SR, as the node forwards
    files = []
    for kind, path in (("sr", sr), ("sc", study["display"])):
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        target = folder / f"{kind}_{uid}.dcm"
        shutil.copy(path, target)
        files.append(target)
    return files


class StoreSCP:
    """dcmtk's storescp on a loopback port, writing what it receives into a folder."""

    def __init__(self, folder, port, aet="ARCHIVE"):
        self.folder, self.port, self.aet = folder, port, aet
        self.process = None

    def start(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                dcmtk("storescp"),
                "-aet",
                self.aet,
                "-od",
                str(self.folder),
                "--bind-to",
                LOOPBACK,
                str(self.port),
            ]
            if _supports_bind()
            else [dcmtk("storescp"), "-aet", self.aet, "-od", str(self.folder), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def received_uids(self) -> set[str]:
        return {
            str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in self.folder.iterdir()
            if p.is_file()
        }

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _supports_bind() -> bool:
    out = subprocess.run([dcmtk("storescp"), "--help"], capture_output=True, text=True, timeout=10)
    return "--bind-to" in out.stdout


def _sop(path) -> str:
    return path.name.rsplit(".", 1)[0].split("_", 1)[1]


@pytest.fixture
def storescp(tmp_path):
    servers = []

    def make(port):
        server = StoreSCP(tmp_path / f"received_{port}", port)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _forwarder(tmp_path, destination, sender, retry=FAST):
    forwarder = Forwarder(destination, sender, tmp_path / "spool", tmp_path / "dead", retry)
    forwarder.start()
    return forwarder


@needs_dcmtk
def test_dicom_destination_down_then_up_receives_everything(tmp_path, outputs, storescp):
    port = free_port()
    destination = Destination(
        name="archive", type="dicom", ae_title="ARCHIVE", host=LOOPBACK, port=port
    )
    forwarder = _forwarder(tmp_path, destination, DicomSender(destination, "DXASPINE"))
    try:
        forwarder.submit(outputs)
        # Nothing listens yet: at least two failed attempts, nothing dead-lettered.
        wait_until(lambda: min(forwarder._failures.values(), default=0) >= 2, 20, what="retries")
        assert forwarder.sent == 0 and forwarder.dead == 0
        server = storescp(port).start()
        wait_until(lambda: not forwarder.pending(), 30, what="spool to drain")
        assert server.received_uids() == {_sop(p) for p in outputs}
        assert forwarder.sent == 2 and not (tmp_path / "dead").exists()
    finally:
        forwarder.stop()


@needs_dcmtk
def test_dead_letter_after_the_last_attempt_and_resend(tmp_path, outputs, storescp):
    port = free_port()
    destination = Destination(
        name="archive", type="dicom", ae_title="ARCHIVE", host=LOOPBACK, port=port
    )
    retry = RetryPolicy(attempts=2, initial_delay_s=0.05, max_delay_s=0.05)
    forwarder = _forwarder(tmp_path, destination, DicomSender(destination, "DXASPINE"), retry)
    try:
        forwarder.submit(outputs[:1])
        dead = tmp_path / "dead" / "archive"
        wait_until(lambda: forwarder.dead == 1, 20, what="dead letter")
        files = sorted(p for p in dead.iterdir() if p.suffix == ".dcm")
        assert len(files) == 1 and forwarder.pending() == []
        note = json.loads((dead / f"{files[0].name}.json").read_text())
        assert note["attempts"] == 2 and "cannot connect" in note["last_error"]
        server = storescp(port).start()
        files[0].rename(forwarder.spool / files[0].name)  # the documented resend
        forwarder._wake.set()
        wait_until(lambda: server.received_uids() == {_sop(outputs[0])}, 30, what="resend")
    finally:
        forwarder.stop()


@needs_dcmtk
def test_spooled_files_survive_a_restart(tmp_path, outputs, storescp):
    port = free_port()
    destination = Destination(
        name="archive", type="dicom", ae_title="ARCHIVE", host=LOOPBACK, port=port
    )
    first = _forwarder(tmp_path, destination, DicomSender(destination, "DXASPINE"))
    first.submit(outputs)
    first.stop()  # the node stops (or dies) with the files still spooled
    assert len(first.pending()) == 2
    server = storescp(port).start()
    second = _forwarder(tmp_path, destination, DicomSender(destination, "DXASPINE"))
    try:
        wait_until(lambda: not second.pending(), 30, what="spool to drain after restart")
        assert server.received_uids() == {_sop(p) for p in outputs}
    finally:
        second.stop()


@needs_orthanc
def test_orthanc_rest_destination_and_idempotent_resend(tmp_path, outputs):
    with OrthancServer(tmp_path / "orthanc") as orthanc:
        destination = Destination(name="orthanc", type="orthanc", url=orthanc.url)
        sender = OrthancSender(destination)
        assert sender.send_batch(outputs) == dict.fromkeys(outputs)
        # The same SOP Instance UIDs again: Orthanc answers AlreadyStored, which is success.
        assert sender.send_batch(outputs) == dict.fromkeys(outputs)
        stored = {orthanc.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]
                  for i in orthanc.get("/instances")}  # fmt: skip
        assert stored == {_sop(p) for p in outputs}
    # Orthanc stopped: a failure with a reason, never an exception.
    reasons = sender.send_batch(outputs[:1])
    assert list(reasons.values())[0].startswith("cannot reach Orthanc")
