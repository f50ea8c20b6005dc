"""The analysis adapter on phantom studies, in-process (no servers).

Truth is the phantom's: per-level BMD of the drawn anatomy (``truth.json``), the kind of each
file the phantom wrote, and which instances are not AP spines (a hip image, a vendor SR).
"""

from __future__ import annotations

import shutil

import pydicom
import pytest
from _pacs_studies import (
    ACCURACY_CASES,
    assert_bmd_matches_truth,
    femur_image,
    phantom_study,
    sr_evidence_uids,
    sr_level_bmd,
    vendor_sr,
)

from dxaspine.pacs.analysis import SC_CLASS, SR_CLASS, StudyJob, analyse_study

pytest.importorskip("highdicom")


def _instances(paths) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID), str(p)) for p in paths
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    seed, scanner = ACCURACY_CASES[2]
    s = phantom_study(folder / "src", seed=seed, scanner=scanner, suite="acc")
    true_bmd = {lv["label"]: lv["bmd_g_cm2"] for lv in s["truth"]["levels"]}
    s["vendor"] = vendor_sr(s["dual_energy"], folder / "src" / "vendor.dcm", true_bmd)
    s["femur"] = femur_image(s["display"], folder / "src" / "femur.dcm", 0)
    s["folder"] = folder
    return s


def _job(study, generation, paths, previous=()):
    return StudyJob(
        study_uid=study["study_uid"],
        generation=generation,
        instances=_instances(paths),
        output_dir=str(study["folder"] / "out" / f"g{generation}"),
        previous=tuple(previous),
    )


def test_one_sr_and_sc_per_ap_spine_image_others_kept_or_skipped(study):
    paths = [study["dual_energy"], study["display"], study["femur"], study["vendor"]]
    report = analyse_study(_job(study, 1, paths))
    assert len(report.analysed) == 4  # every instance was looked at
    assert [i["status"] for i in report.inputs] == ["analysed", "analysed"]
    # The vendor SR is passed on as a vendor result (not interpreted yet), the hip skipped.
    vendor_uid = str(pydicom.dcmread(study["vendor"]).SOPInstanceUID)
    assert report.vendor_results == (vendor_uid,)
    assert len(report.skipped) == 1 and "hip/femur" in report.skipped[0]["reason"]

    by_source: dict[str, dict] = {}
    for output in report.outputs:
        by_source.setdefault(output["source"], {})[output["kind"]] = output
    de_uid, display_uid = study["sop_uids"]["dual_energy"], study["sop_uids"]["display"]
    assert set(by_source) == {de_uid, display_uid}
    for source, outputs in by_source.items():
        assert set(outputs) == {"sr", "sc", "json"}
        sr = pydicom.dcmread(outputs["sr"]["path"])
        sc = pydicom.dcmread(outputs["sc"]["path"])
        assert (sr.SOPClassUID, sc.SOPClassUID) == (SR_CLASS, SC_CLASS)
        # Derived objects stay in the source study, in new series (STYLE.md, highdicom).
        assert sr.StudyInstanceUID == sc.StudyInstanceUID == study["study_uid"]
        assert sr_evidence_uids(sr) == {source}
        assert sr.InstanceNumber == sc.InstanceNumber == 1
        assert sc.Rows > 0 and sc.SamplesPerPixel == 3
    assert_bmd_matches_truth(pydicom.dcmread(by_source[de_uid]["sr"]["path"]), study["truth"])
    # A display export has no BMD (DESIGN.md Contract 1): its SR must carry none.
    assert sr_level_bmd(pydicom.dcmread(by_source[display_uid]["sr"]["path"])) == {}


def test_generations_supersede_and_a_rerun_reproduces_uids(study):
    paths = [study["dual_energy"]]
    first = analyse_study(_job(study, 1, paths))
    again = analyse_study(_job(study, 1, paths))  # the same generation after a crash

    def uids(report):
        return sorted(o["sop_instance_uid"] for o in report.outputs if o["kind"] != "json")

    assert uids(first) == uids(again)

    second = analyse_study(_job(study, 2, paths, previous=first.outputs))
    assert not set(uids(first)) & set(uids(second))
    old_sr = next(o for o in first.outputs if o["kind"] == "sr")
    new_sr_out = next(o for o in second.outputs if o["kind"] == "sr")
    new_sr = pydicom.dcmread(new_sr_out["path"])
    # Same series for every generation of this source's SR; InstanceNumber = generation;
    # PredecessorDocumentsSequence names the SR it replaces (PS3.3 C.17.2).
    assert new_sr.SeriesInstanceUID == old_sr["series_instance_uid"]
    assert new_sr.InstanceNumber == 2
    predecessor = new_sr.PredecessorDocumentsSequence[0]
    assert predecessor.StudyInstanceUID == study["study_uid"]
    ref = predecessor.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == old_sr["sop_instance_uid"]
    assert ref.ReferencedSOPClassUID == SR_CLASS


def test_own_outputs_coming_back_are_not_analysed(study):
    first = analyse_study(_job(study, 1, [study["dual_energy"]]))
    returned = [o["path"] for o in first.outputs if o["kind"] in ("sr", "sc")]
    copies = []
    for path in returned:  # as a PACS would send them back: same files, other folder
        copies.append(shutil.copy(path, study["folder"] / f"back_{len(copies)}.dcm"))
    report = analyse_study(_job(study, 3, [study["dual_energy"], *copies]))
    assert len(report.inputs) == 1
    assert sorted(s["reason"] for s in report.skipped) == ["dxaspine output", "dxaspine output"]
    assert report.vendor_results == ()


def test_a_damaged_image_fails_alone_and_the_study_goes_on(study):
    ds = pydicom.dcmread(study["dual_energy"])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]  # truncated transfer
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    damaged = study["folder"] / "damaged.dcm"
    ds.save_as(damaged, enforce_file_format=True)
    report = analyse_study(_job(study, 4, [damaged, study["dual_energy"]]))
    statuses = {i["instance"]: i["status"] for i in report.inputs}
    assert sorted(statuses.values()) == ["analysed", "error"]
    error = next(i for i in report.inputs if i["status"] == "error")
    assert error["error_class"] == "CorruptDicomError"
    # Messages name instances by tag: no inbox path (made of UIDs) in the record.
    assert str(damaged) not in error["message"] and ds.SOPInstanceUID not in error["message"]
    assert sum(1 for o in report.outputs if o["kind"] == "sr") == 1
