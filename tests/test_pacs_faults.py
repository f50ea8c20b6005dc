"""Faults of a running node (issue 14): ``kill -9`` and a destination that is down then up.

Ground truth here is bookkeeping, checked from outside the node: the instances dcmtk was
told were stored (storescu exit status 0), the files in the inbox, the node's per-study
state files, and what Orthanc holds at the end.
"""

from __future__ import annotations

import json

import pydicom
import pytest
from _pacs_servers import (
    NodeProcess,
    OrthancServer,
    dxaspine_outputs,
    echo,
    free_port,
    needs_dcmtk,
    needs_orthanc,
    node_config_text,
    storescu,
    study_states,
    wait_for_outputs,
    wait_until,
)
from _pacs_studies import phantom_study

pytest.importorskip("pynetdicom")
pytestmark = [needs_orthanc, needs_dcmtk, pytest.mark.slow]


@pytest.fixture(scope="module")
def small_studies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fault_src")
    # Prodigy-sized phantoms (the smallest geometry): several studies stay cheap to analyse.
    return [phantom_study(folder, seed=70 + i, kinds=("dual_energy", "display")) for i in range(5)]


def _files(studies):
    return [s[k] for s in studies for k in ("dual_energy", "display")]


def _start(folder, port, orthanc, **config):
    node = NodeProcess(folder, node_config_text(folder, port=port, **config),
                       args=["--orthanc", orthanc.url]).start()  # fmt: skip
    wait_until(lambda: echo(port) is not None, 60, what="the node to answer C-ECHO")
    return node


def _assert_everything_analysed_once_in_orthanc(folder, orthanc, studies):
    states = study_states(folder / "state")
    for s in studies:
        state = states[s["study_uid"]]
        assert state["status"] == "done", state
        # Every instance the SCP acknowledged is covered by the analysis ...
        assert set(state["analysed"]) == set(s["sop_uids"].values())
        # ... and Orthanc holds exactly one SR and one SC per image: a generation re-run
        # after the kill reproduced the same UIDs (Orthanc: AlreadyStored).
        outputs = dxaspine_outputs(orthanc, s["study_uid"])
        assert (len(outputs["sr"]), len(outputs["sc"])) == (2, 2)


def test_kill_9_during_analysis_then_restart(tmp_path, small_studies):
    port = free_port()
    with OrthancServer(tmp_path / "orthanc") as orthanc:
        node = _start(tmp_path / "node", port, orthanc, stability_delay_s=0.5)
        try:
            storescu(port, _files(small_studies))  # exit 0: every instance acknowledged

            def one_done_one_running():
                statuses = [
                    st["status"] for st in study_states(tmp_path / "node" / "state").values()
                ]
                return "done" in statuses and "running" in statuses

            # One worker: after the first study, the next one is being analysed.
            wait_until(one_done_one_running, 120, interval_s=0.05, what="done + running")
            node.kill9()
        finally:
            node.stop()
        before = study_states(tmp_path / "node" / "state")
        done_before = {uid for uid, st in before.items() if st["status"] == "done"}
        running_before = {uid for uid, st in before.items() if st["status"] == "running"}
        assert running_before, "the kill must land during an analysis"
        received = {s["study_uid"]: set(s["sop_uids"].values()) for s in small_studies}
        for study_uid, sops in received.items():  # nothing acknowledged was lost
            folder = tmp_path / "node" / "inbox" / study_uid
            assert {p.name[:-4] for p in folder.glob("*.dcm")} == sops

        node = _start(tmp_path / "node", port, orthanc, stability_delay_s=0.5)
        try:
            for s in small_studies:
                wait_for_outputs(orthanc, s["study_uid"], n_sr=2, n_sc=2, timeout_s=180)
            wait_until(
                lambda: all(st["status"] == "done" for st in study_states(tmp_path / "node" / "state").values()),
                60, what="every study done",
            )  # fmt: skip
        finally:
            node.stop()
        _assert_everything_analysed_once_in_orthanc(tmp_path / "node", orthanc, small_studies)
        after = study_states(tmp_path / "node" / "state")
        for uid in done_before | running_before:
            # Finished before the kill: not analysed again.  Interrupted: analysed again,
            # completed once (the same generation, hence the same output UIDs).
            assert len(after[uid]["history"]) == 1 and after[uid]["generation"] == 1
        for line in node.log_text().splitlines():
            json.loads(line)  # the log stayed JSON Lines across the kill


def test_kill_9_before_the_studies_were_ready(tmp_path, small_studies):
    port = free_port()
    studies = small_studies[:2]
    with OrthancServer(tmp_path / "orthanc") as orthanc:
        # A long quiet time: the kill comes after the instances are stored, before any study
        # is ready, so no state file exists yet; the restart must find them in the inbox.
        node = _start(tmp_path / "node", port, orthanc, stability_delay_s=30.0)
        try:
            storescu(port, _files(studies))
            node.kill9()
        finally:
            node.stop()
        assert study_states(tmp_path / "node" / "state") == {}
        node = _start(tmp_path / "node", port, orthanc, stability_delay_s=1.0)
        try:
            for s in studies:
                wait_for_outputs(orthanc, s["study_uid"], n_sr=2, n_sc=2, timeout_s=180)
        finally:
            node.stop()
        _assert_everything_analysed_once_in_orthanc(tmp_path / "node", orthanc, studies)


def test_destination_down_then_up(tmp_path, small_studies):
    port = free_port()
    s = small_studies[2]
    orthanc = OrthancServer(tmp_path / "orthanc")  # configured, ports chosen, not started
    retry = {"attempts": 30, "initial_delay_s": 0.5, "max_delay_s": 2.0}
    config = node_config_text(tmp_path / "node", port=port, retry=retry)
    node = NodeProcess(tmp_path / "node", config, args=["--orthanc", orthanc.url]).start()
    try:
        wait_until(lambda: echo(port) is not None, 60, what="the node to answer C-ECHO")
        storescu(port, [s["dual_energy"], s["display"]])
        wait_until(lambda: node.log_text().count("failed (attempt") >= 4, 120,
                   what="failed forwarding attempts")  # fmt: skip
        orthanc.start()
        outputs = wait_for_outputs(orthanc, s["study_uid"], n_sr=2, n_sc=2, timeout_s=60)
        assert all(ds.StudyInstanceUID == s["study_uid"] for ds in outputs["sr"])
        assert not (tmp_path / "node" / "dead-letter").exists()
        spool = tmp_path / "node" / "state" / "forward" / "orthanc"
        wait_until(lambda: not any(p.suffix == ".dcm" for p in spool.iterdir()), 30,
                   what="the spool to drain")  # fmt: skip
        source = {str(pydicom.dcmread(s[k], stop_before_pixels=True).SOPInstanceUID)
                  for k in ("dual_energy", "display")}  # fmt: skip
        assert {next(iter(ds.CurrentRequestedProcedureEvidenceSequence[0]
                          .ReferencedSeriesSequence[0].ReferencedSOPSequence)).ReferencedSOPInstanceUID
                for ds in outputs["sr"]} == source  # fmt: skip
    finally:
        node.stop()
        orthanc.stop()
