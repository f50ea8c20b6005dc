"""End to end against a real Orthanc on 127.0.0.1 (issue 14 "Tests").

- Round trip: dcmtk ``storescu`` sends phantom studies (dual-energy image, display export,
  and the vendor results variants GE SR, GE XML and Hologic XML page) to ``dxaspine listen
  --orthanc URL``; Orthanc then holds, in each study, an SR per AP-spine image whose
  per-level BMD matches the phantom's truth, and the Secondary Capture of each; the result
  JSON carries the vendors' numbers as they printed them.
- Late instances: an image sent after the study was analysed starts generation 2, whose SRs
  supersede generation 1's (PredecessorDocumentsSequence, same series, InstanceNumber 2).
- The other direction: Orthanc sends a study to dxaspine (``/modalities/dxaspine/store``)
  and the results come back over DICOM (``--forward``).
- Pull mode: ``watch-orthanc`` gives the same SR contents as push mode, does not loop on its
  own results, and continues after a restart from the change index it stopped at.

Truth: the phantom's per-level BMD; the in-process ``dxaspine.analyze`` of the same file
(the SR must carry exactly its values, rounded as Contract 2 rounds them); the phantom's
file kinds (a display export has no BMD).
"""

from __future__ import annotations

import json

import pydicom
import pytest
from _pacs_servers import (
    LOOPBACK,
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
from _pacs_studies import (
    ACCURACY_CASES,
    ACCURACY_PARAMS,
    assert_bmd_matches_truth,
    phantom_study,
    reuid_study,
    sr_evidence_uids,
    sr_level_bmd,
    sr_measurements,
    vendor_printed_bmd,
)

pytest.importorskip("pynetdicom")
# Real Orthanc + node subprocesses + full analyses: 10-50 s each on a shared 2-core machine.
pytestmark = [needs_orthanc, needs_dcmtk, pytest.mark.slow]


def in_process_bmd(path) -> dict[str, float]:
    from dxaspine import analyze

    result = analyze(str(path))
    return {m.label: m.bmd_g_cm2 for m in result.levels if m.bmd_g_cm2 is not None}


def assert_sr_equals_direct_analysis(sr, path):
    measured, direct = sr_level_bmd(sr), in_process_bmd(path)
    assert set(measured) == set(direct)
    for level, value in direct.items():
        # Contract 2 rounds BMD to 3 decimals; nothing else may change on the way.
        assert abs(measured[level] - round(value, 3)) < 1e-9, (level, measured[level], value)


def sr_for_source(outputs, sop_uid):
    found = [sr for sr in outputs["sr"] if sr_evidence_uids(sr) == {sop_uid}]
    assert found, f"no SR referencing {sop_uid}"
    return max(found, key=lambda sr: int(sr.InstanceNumber))


IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate")


def assert_log_is_shippable(log_text: str, studies: list[dict]) -> None:
    """Every line one JSON object; no patient identifier, no raw study/instance UID."""
    lines = [line for line in log_text.splitlines() if line.strip()]
    assert lines
    for line in lines:
        json.loads(line)  # JSON Lines, nothing else (no raw tracebacks or warnings)
    secrets = set()
    for s in studies:
        ds = pydicom.dcmread(s["dual_energy"], stop_before_pixels=True)
        secrets |= {str(ds.get(k)) for k in IDENTIFYING if ds.get(k)}
        secrets.add(s["study_uid"])
        secrets |= set(s["sop_uids"].values())
    leaked = sorted(secret for secret in secrets if secret in log_text)
    assert leaked == [], leaked


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("orthanc_src")
    out = []
    for seed, scanner in ACCURACY_CASES[:2]:  # one Prodigy-size, one iDXA-size case
        # Vendor results variants in the same study: GE Enhanced SR, GE STR XML (Raw Data
        # Storage) and a Hologic XML report page (Secondary Capture).
        s = phantom_study(
            folder, seed=seed, kinds=("dual_energy", "display", "bmd_map"), scanner=scanner,
            vendor=("ge_sr", "ge_xml", "hologic_xml_0019"), **ACCURACY_PARAMS,
        )  # fmt: skip
        out.append(s)
    return out


@pytest.fixture(scope="module")
def push_setup(tmp_path_factory):
    """One Orthanc and one ``dxaspine listen --orthanc`` node for the push-mode tests."""
    folder = tmp_path_factory.mktemp("push")
    port = free_port()
    with OrthancServer(folder / "orthanc", dxaspine_port=port) as orthanc:
        config = node_config_text(folder / "node", port=port, stability_delay_s=1.0)
        node = NodeProcess(folder / "node", config, args=["--orthanc", orthanc.url])
        with node:
            wait_until(lambda: echo(port) is not None, 60, what="the node to answer C-ECHO")
            yield {"orthanc": orthanc, "node": node, "port": port, "folder": folder / "node"}


def test_round_trip_storescu_listen_orthanc(push_setup, studies):
    orthanc, port = push_setup["orthanc"], push_setup["port"]
    for s in studies:  # one association per study, as a modality sends
        storescu(port, [s["dual_energy"], s["display"], *s["vendor"].values()])
    for s in studies:
        outputs = wait_for_outputs(orthanc, s["study_uid"], n_sr=2, n_sc=2)
        de_sr = sr_for_source(outputs, s["sop_uids"]["dual_energy"])
        assert_bmd_matches_truth(de_sr, s["truth"])
        assert_sr_equals_direct_analysis(de_sr, s["dual_energy"])
        # The display export's SR: geometry only, no BMD (Contract 1).
        assert sr_level_bmd(sr_for_source(outputs, s["sop_uids"]["display"])) == {}
        for ds in outputs["sr"] + outputs["sc"]:
            assert ds.StudyInstanceUID == s["study_uid"]
            assert ds.SeriesInstanceUID not in {
                str(pydicom.dcmread(s[k], stop_before_pixels=True).SeriesInstanceUID)
                for k in ("dual_energy", "display")
            }
        assert {sc.SamplesPerPixel for sc in outputs["sc"]} == {3}
    states = study_states(push_setup["folder"] / "state")
    for s in studies:
        state = states[s["study_uid"]]
        assert state["status"] == "done" and state["generation"] == 1
        assert len(state["history"]) == 1  # analysed exactly once
        summary = state["history"][0]
        # The vendor objects were stored, recognised and read with the study's images.
        assert summary["instances"] == 5 and summary["vendor_results"] == 3
        assert summary["vendor_kinds"] == ["ge_sr", "ge_xml", "hologic_xml"]
        sent = [s["sop_uids"][k] for k in ("dual_energy", "display")]
        sent += [s["sop_uids"][f"vendor:{v}"] for v in s["vendor"]]
        assert sorted(state["analysed"]) == sorted(sent)
        # The result JSON beside the SR carries each vendor's numbers as printed.
        json_path = push_setup["folder"] / "json" / s["study_uid"]
        record = json.loads((json_path / f"{s['sop_uids']['dual_energy']}.g1.json").read_text())
        printed = vendor_printed_bmd(s["truth"])
        assert len(record["vendor"]) == 3
        for block in record["vendor"]:
            assert {lv["name"]: lv["bmd_g_cm2"] for lv in block["levels"]} == printed
    assert_log_is_shippable(push_setup["node"].log_text(), studies)


def test_late_instance_supersedes_with_a_new_generation(push_setup, studies):
    orthanc, port = push_setup["orthanc"], push_setup["port"]
    s = studies[0]
    wait_for_outputs(orthanc, s["study_uid"], n_sr=2, n_sc=2)  # generation 1 (round trip)
    before = dxaspine_outputs(orthanc, s["study_uid"])
    first_de = sr_for_source(before, s["sop_uids"]["dual_energy"])
    storescu(port, [s["bmd_map"]])  # arrives after the study was analysed
    # Generation 2 analyses all three images: 3 new SRs and SCs next to generation 1's 2.
    after = wait_for_outputs(orthanc, s["study_uid"], n_sr=5, n_sc=5)
    second_de = sr_for_source(after, s["sop_uids"]["dual_energy"])
    assert int(second_de.InstanceNumber) == 2
    assert second_de.SeriesInstanceUID == first_de.SeriesInstanceUID
    ref = (
        second_de.PredecessorDocumentsSequence[0]
        .ReferencedSeriesSequence[0]
        .ReferencedSOPSequence[0]
    )
    assert ref.ReferencedSOPInstanceUID == first_de.SOPInstanceUID
    assert sr_measurements(second_de) == sr_measurements(first_de)  # same image, same numbers
    bmd_map_sr = sr_for_source(after, s["sop_uids"]["bmd_map"])
    assert int(bmd_map_sr.InstanceNumber) == 2 and "PredecessorDocumentsSequence" not in bmd_map_sr
    assert_bmd_matches_truth(bmd_map_sr, s["truth"])
    state = study_states(push_setup["folder"] / "state")[s["study_uid"]]
    assert state["generation"] == 2 and len(state["history"]) == 2
    # A duplicate of an instance already analysed does not start generation 3.
    storescu(port, [s["bmd_map"]])
    stable_after_s = 1.0 + 3.0  # the stability delay plus margin for the scheduler
    with pytest.raises(AssertionError, match="timed out"):
        wait_until(
            lambda: study_states(push_setup["folder"] / "state")[s["study_uid"]]["generation"] > 2,
            stable_after_s,
            what="a third generation (must not happen)",
        )


def test_orthanc_sends_a_study_to_dxaspine_and_gets_results_back(tmp_path, studies):
    port = free_port()
    s = studies[1]
    with OrthancServer(tmp_path / "orthanc", dxaspine_port=port) as orthanc:
        forward = f"{OrthancServer.AET}@{LOOPBACK}:{orthanc.dicom_port}"
        config = node_config_text(tmp_path / "node", port=port, stability_delay_s=1.0)
        with NodeProcess(tmp_path / "node", config, args=["--forward", forward]) as node:
            wait_until(lambda: echo(port) is not None, 60, what="the node to answer C-ECHO")
            for key in ("dual_energy", "display"):
                assert orthanc.upload(s[key])["Status"] == "Success"
            study_id = orthanc.study_id(s["study_uid"])
            orthanc.post(
                "/modalities/dxaspine/store", {"Resources": [study_id], "Synchronous": True}
            )
            outputs = wait_for_outputs(orthanc, s["study_uid"], n_sr=2, n_sc=2)
            de_sr = sr_for_source(outputs, s["sop_uids"]["dual_energy"])
            assert_bmd_matches_truth(de_sr, s["truth"])
            assert "dicom-ORTHANC: sr" in node.log_text().replace("forward to ", "")


def _stable(orthanc, study_uid):
    study_id = orthanc.study_id(study_uid)
    return study_id is not None and orthanc.get(f"/studies/{study_id}").get("IsStable")


def test_pull_mode_same_sr_no_loop_and_restart(tmp_path, studies):
    s = studies[0]
    files = [s["dual_energy"]]  # one image per copy: the SR comparison needs no more
    push_uid, push_files = reuid_study(files, tmp_path / "push", "push")
    pull_uid, pull_files = reuid_study(files, tmp_path / "pull", "pull")
    late_uid, late_files = reuid_study(files, tmp_path / "late", "late")
    port = free_port()
    with OrthancServer(tmp_path / "orthanc", dxaspine_port=port) as orthanc:
        # Push mode on one copy of the study ...
        config = node_config_text(tmp_path / "push_node", port=port, stability_delay_s=1.0)
        with NodeProcess(tmp_path / "push_node", config, args=["--orthanc", orthanc.url]):
            wait_until(lambda: echo(port) is not None, 60, what="the node to answer C-ECHO")
            storescu(port, push_files)
            pushed = wait_for_outputs(orthanc, push_uid, n_sr=1, n_sc=1)
        wait_until(lambda: _stable(orthanc, push_uid), 30, what="Orthanc to call it stable")

        # ... pull mode on another copy of the same pixels: the same SR contents.
        watch = {"poll_interval_s": 0.5}
        config = node_config_text(tmp_path / "pull_node", port=free_port(), watch=watch)
        state = tmp_path / "pull_node" / "state"
        pull_node = NodeProcess(tmp_path / "pull_node", config, "watch-orthanc", [orthanc.url])
        with pull_node:
            wait_until(lambda: (state / "orthanc_watch.json").exists(), 60, what="the watcher")
            for path in pull_files:
                orthanc.upload(path)
            pulled = wait_for_outputs(orthanc, pull_uid, n_sr=1, n_sc=1)
            push_source = str(pydicom.dcmread(push_files[0]).SOPInstanceUID)
            pull_source = str(pydicom.dcmread(pull_files[0]).SOPInstanceUID)
            # Every number of every level and region: BMD, BMC, area, T, Z.
            assert sr_measurements(sr_for_source(pulled, pull_source)) == sr_measurements(
                sr_for_source(pushed, push_source)
            )
            assert_bmd_matches_truth(
                sr_for_source(pulled, str(pydicom.dcmread(pull_files[0]).SOPInstanceUID)),
                s["truth"],
            )
            # Its own SR/SC make Orthanc report the study stable again: nothing new, no loop.
            wait_until(lambda: _stable(orthanc, pull_uid), 30, what="the study to be stable again")
            last = json.loads((state / "orthanc_watch.json").read_text())["last_change"]
            wait_until(
                lambda: (
                    json.loads((state / "orthanc_watch.json").read_text())["last_change"]
                    >= orthanc.get("/changes?last")["Last"]
                ),
                30,
                what="the watcher to read past the last change",
            )
            assert study_states(state)[pull_uid]["generation"] == 1
            assert len(dxaspine_outputs(orthanc, pull_uid)["sr"]) == 1
            # The push-mode study was never touched by the watcher (it started after it).
            assert push_uid not in study_states(state)
        stopped_at = json.loads((state / "orthanc_watch.json").read_text())["last_change"]
        assert stopped_at >= last

        # While the watcher is down a study arrives; on restart it continues from the index.
        for path in late_files:
            orthanc.upload(path)
        with NodeProcess(tmp_path / "pull_node", config, "watch-orthanc", [orthanc.url]) as again:
            wait_for_outputs(orthanc, late_uid, n_sr=1, n_sc=1)
            states = study_states(state)
            assert states[late_uid]["generation"] == 1 and states[pull_uid]["generation"] == 1
            assert f"continuing after change {stopped_at}" in again.log_text()
