"""The Storage SCP on 127.0.0.1, in-process, against dcmtk and pynetdicom clients.

Faults from issue 14: an unknown calling AE is rejected; a UID with ``../`` or a path
separator is refused with 0xA900 and nothing is written outside the inbox; a damaged
instance gets a failure status, is recorded, and the rest of the association goes on.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pydicom
import pytest
from _pacs_servers import DCMTK_ENV, LOOPBACK, dcmtk, echo, needs_dcmtk
from _pacs_studies import phantom_study
from pydicom import config as pydicom_config
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from dxaspine.pacs.config import NodeConfig, TlsConfig
from dxaspine.pacs.inbox import Inbox
from dxaspine.pacs.scp import IMAGE_SOP_CLASSES, StorageSCP, image_transfer_syntaxes
from dxaspine.pacs.stability import StabilityTracker

pytest.importorskip("pynetdicom")


@pytest.fixture
def scp_factory(tmp_path):
    started = []

    def start(**overrides):
        values = dict(port=0, allowed_calling_aes=("STORESCU", "PYTEST"), min_free_disk_mb=1)
        values.update(overrides)
        inbox = Inbox(tmp_path / "inbox")
        tracker = StabilityTracker(0.0)
        scp = StorageSCP(NodeConfig(**values), inbox, tracker)
        started.append(scp)
        _, port = scp.start()
        return scp, inbox, tracker, port

    yield start
    for scp in started:
        scp.stop()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scp_src")
    # Vendor results in their SOP classes: Enhanced SR (GE), Raw Data Storage (GE STR XML).
    return phantom_study(folder, seed=41, kinds=("dual_energy", "display"),
                         vendor=("ge_sr", "ge_xml"))  # fmt: skip


def storescu(port, files, calling="STORESCU"):
    return subprocess.run(
        [dcmtk("storescu"), "-aet", calling, "-aec", "DXASPINE", LOOPBACK, str(port), *map(str, files)],
        capture_output=True, text=True, timeout=60, env=DCMTK_ENV,
    )  # fmt: skip


def pynetdicom_store(port, datasets, contexts=None, calling="PYTEST"):
    """Send datasets on one association; returns the status of each (None: not sent)."""
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    for sop_class, syntax in contexts or {
        (str(ds.SOPClassUID), ExplicitVRLittleEndian) for ds in datasets
    }:
        ae.add_requested_context(sop_class, [syntax])
    assoc = ae.associate(LOOPBACK, port, ae_title="DXASPINE")
    assert assoc.is_established
    statuses = []
    try:
        for ds in datasets:
            try:
                status = assoc.send_c_store(ds)
            except ValueError:  # no accepted presentation context
                statuses.append(None)
                continue
            statuses.append(int(status.Status) if status else None)
    finally:
        assoc.release()
    return statuses


@needs_dcmtk
def test_echo_and_store_a_study_byte_for_byte(scp_factory, study):
    scp, inbox, tracker, port = scp_factory()
    assert echo(port) is not None
    files = [study["dual_energy"], study["display"], *study["vendor"].values()]
    result = storescu(port, files)
    assert result.returncode == 0, result.stderr
    stored = inbox.instances(study["study_uid"])
    assert len(stored) == 4
    for path in files:
        sent = pydicom.dcmread(path)
        received = pydicom.dcmread(stored[str(sent.SOPInstanceUID)])
        assert received.SOPClassUID == sent.SOPClassUID
        # Written as received: the data set elements are those sent, pixels included.
        assert [e.tag for e in received] == [e.tag for e in sent]
        if "PixelData" in sent:
            assert received.PixelData == sent.PixelData
    # Released: ready after the (zero) quiet time, exactly once.
    assert tracker.pop_ready() == [study["study_uid"]]
    assert tracker.pop_ready() == []
    # A duplicate re-send succeeds and changes nothing.
    again = storescu(port, [study["dual_energy"]])
    assert again.returncode == 0 and "Failed" not in again.stderr
    assert len(inbox.instances(study["study_uid"])) == 4
    assert scp.counters["duplicates"] == 1 and scp.counters["stored"] == 4


@needs_dcmtk
def test_unknown_calling_ae_is_rejected_at_association(scp_factory, study, tmp_path):
    _, inbox, _, port = scp_factory()
    result = subprocess.run(
        [dcmtk("echoscu"), "-aet", "INTRUDER", "-aec", "DXASPINE", LOOPBACK, str(port)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stderr
    assert storescu(port, [study["dual_energy"]], calling="INTRUDER").returncode != 0
    assert inbox.studies() == []


def test_peer_address_outside_the_allowed_networks_is_rejected(scp_factory):
    _, _, _, port = scp_factory(allowed_peers=("10.0.0.0/8",))
    assert echo(port) is None  # 127.0.0.1 is not in 10/8
    _, _, _, port = scp_factory(allowed_peers=("127.0.0.0/8",))
    assert echo(port) is not None


@pytest.fixture
def lax_pydicom(monkeypatch):
    # The *sender* must be able to build a dataset with a malicious UID at all.
    monkeypatch.setattr(pydicom_config.settings, "writing_validation_mode", pydicom_config.IGNORE)
    monkeypatch.setattr(pydicom_config.settings, "reading_validation_mode", pydicom_config.IGNORE)


def _copy(path, **changes):
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = generate_uid()
    for key, value in changes.items():
        setattr(ds, key, value)
    return ds


def test_path_like_uids_are_refused_and_nothing_escapes_the_inbox(
    scp_factory, study, tmp_path, lax_pydicom
):
    scp, inbox, _, port = scp_factory()
    attacks = [
        _copy(study["dual_energy"], StudyInstanceUID="../../../escaped"),
        _copy(study["dual_energy"], StudyInstanceUID="1.2.3/../../escaped"),
        _copy(study["dual_energy"], SOPInstanceUID="../../escaped"),
        _copy(study["dual_energy"], SOPInstanceUID="1.2.3/4"),
    ]
    before = {p for p in tmp_path.rglob("*")}
    assert pynetdicom_store(port, attacks) == [0xA900] * 4
    after = {p for p in tmp_path.rglob("*")} - before
    # Only the records of refused instances, inside the inbox's _rejected folder.
    assert after and all(p.is_relative_to(inbox.root / "_rejected") for p in after)
    assert not any("escaped" in p.name for p in tmp_path.parent.rglob("*"))
    assert inbox.studies() == []
    records = inbox.rejected()
    assert len(records) == 4 and {r["status"] for r in records} == {"0xA900"}
    assert all("not a valid UID" in r["reason"] for r in records)


def test_damaged_instances_fail_are_recorded_and_the_rest_is_stored(scp_factory, study):
    scp, inbox, _, port = scp_factory()
    truncated = _copy(study["dual_energy"])
    truncated.PixelData = truncated.PixelData[:1000]
    no_study = _copy(study["display"])
    del no_study.StudyInstanceUID
    good = pydicom.dcmread(study["display"])
    statuses = pynetdicom_store(port, [truncated, no_study, good])
    assert statuses[0] == 0xA900 and statuses[1] == 0xA900 and statuses[2] == 0x0000
    reasons = [r["reason"] for r in inbox.rejected()]
    assert any("truncated" in r for r in reasons) and any(
        "StudyInstanceUID is missing" in r for r in reasons
    )
    rejected_files = sorted((inbox.root / "_rejected").glob("*.dcm"))
    assert len(rejected_files) == 2  # the bytes as received, for inspection
    assert list(inbox.instances(study["study_uid"])) == [str(good.SOPInstanceUID)]


def test_short_of_disk_space_answers_out_of_resources(scp_factory, study):
    _, inbox, _, port = scp_factory(min_free_disk_mb=10**9)  # a petabyte free required
    assert pynetdicom_store(port, [pydicom.dcmread(study["display"])]) == [0xA700]
    assert inbox.studies() == []


def test_compressed_syntaxes_accepted_exactly_when_decodable_here(scp_factory, study):
    from pydicom.pixels import get_decoder

    _, inbox, _, port = scp_factory()
    rle = pydicom.dcmread(study["display"])
    rle.compress(RLELossless)  # pydicom's own RLE encoder
    cr = str(rle.SOPClassUID)
    assert cr in IMAGE_SOP_CLASSES
    assert pynetdicom_store(port, [rle], contexts={(cr, RLELossless)}) == [0x0000]
    stored = pydicom.dcmread(inbox.instances(study["study_uid"])[str(rle.SOPInstanceUID)])
    assert stored.file_meta.TransferSyntaxUID == RLELossless
    assert (stored.pixel_array == pydicom.dcmread(study["display"]).pixel_array).all()
    # JPEG Lossless (Process 14 SV1) needs pylibjpeg-libjpeg or gdcm: offered iff present.
    jpeg_lossless = "1.2.840.10008.1.2.4.70"
    assert (jpeg_lossless in image_transfer_syntaxes()) == get_decoder(jpeg_lossless).is_available
    from pynetdicom import AE

    ae = AE(ae_title="PYTEST")
    ae.add_requested_context(cr, [jpeg_lossless])
    assoc = ae.associate(LOOPBACK, port, ae_title="DXASPINE")
    try:
        accepted = [cx.abstract_syntax for cx in assoc.accepted_contexts]
        assert (cr in accepted) == get_decoder(jpeg_lossless).is_available
    finally:
        assoc.release()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_association(scp_factory, tmp_path):
    from pynetdicom import AE

    cert, key = tmp_path / "node.pem", tmp_path / "node.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    _, _, _, port = scp_factory(tls=TlsConfig(certificate=str(cert), private_key=str(key)))
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    client.check_hostname = False
    ae = AE(ae_title="PYTEST")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate(LOOPBACK, port, ae_title="DXASPINE", tls_args=(client, None))
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert echo(port, timeout_s=3) is None  # plain DICOM to a TLS port gets nowhere


def test_a_node_with_no_allow_list_does_not_start(tmp_path):
    from dxaspine.pacs.config import PacsConfigError

    with pytest.raises(PacsConfigError, match="allowed_calling_aes is empty"):
        StorageSCP(NodeConfig(port=0), Inbox(tmp_path), StabilityTracker(1.0))
    assert Path(tmp_path).exists()


def test_sop_class_uids_are_the_standards():
    # pydicom's UID dictionary is generated from PS3.6: every UID must carry the name we give.
    from pydicom.uid import UID

    from dxaspine.pacs.scp import STORAGE_SOP_CLASSES

    for uid, name in STORAGE_SOP_CLASSES.items():
        assert UID(uid).name == name, uid


def test_an_undecodable_data_set_is_cannot_understand():
    from pydicom.dataset import Dataset

    from dxaspine.pacs.instance_check import STATUS_CANNOT_UNDERSTAND, Refusal, check_instance

    class Broken(Dataset):
        def get_item(self, key, *, keep_deferred=False):
            raise ValueError("bad element length")  # what a corrupt stream raises on access

    with pytest.raises(Refusal) as info:
        check_instance(
            Broken(),
            affected_sop_class="1.2.840.10008.5.1.4.1.1.7",
            affected_sop_instance="1.2.3",
            transfer_syntax=ExplicitVRLittleEndian,
            is_image=True,
        )
    assert info.value.status == STATUS_CANNOT_UNDERSTAND == 0xC210
