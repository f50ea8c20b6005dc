"""Studies, not files: a study's image is analysed together with the vendor's own results.

Truth: the phantom writes the vendor objects from its own truth, as a vendor would print it
(BMD 3 decimals, BMC and area 2; dxaspine/phantom/vendor_results.py), so every vendor number
read back is checked against the phantom truth rounded the same way.
"""

from __future__ import annotations

import json

import pytest

import dxaspine
from dxaspine.cli import main
from dxaspine.errors import InputError
from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.phantom.vendor_results import VendorReportOptions, write_vendor_results

pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One phantom study: its display export and two vendor objects; a second, results only."""
    folder = tmp_path_factory.mktemp("study")
    case = generate_case(PhantomParams(seed=4, scanner="idxa", case="study_a"))
    image = write_case(case, folder, kinds=("display",))["display"]
    vendor = write_vendor_results(case, folder, variants=("ge_sr", "hologic_xml_0021"))
    other = generate_case(PhantomParams(seed=5, scanner="prodigy", case="study_b"))
    alone = write_vendor_results(other, folder, variants=("ge_xml",))["ge_xml"]
    return {"case": case, "other": other, "image": image, "vendor": vendor, "alone": alone,
            "folder": folder}  # fmt: skip


def _truth(case):
    return {lv["label"]: lv for lv in case.truth["levels"]}


def test_peek_names_the_vendor_kinds_and_load_refuses_them(study):
    for variant, path in study["vendor"].items():
        expected = "ge_sr" if variant == "ge_sr" else "hologic_xml"
        assert dxaspine.peek(path).kind == expected
        with pytest.raises(InputError, match="vendor results object"):
            dxaspine.load(path)
    assert dxaspine.peek(study["alone"]).kind == "ge_xml"


def test_image_with_vendor_results_carries_both(study):
    result = dxaspine.analyze(str(study["image"]), vendor=list(study["vendor"].values()))
    truth = _truth(study["case"])
    assert len(result.vendor) == 2
    for reading in result.vendor:
        for level in reading.results.clinical_levels:
            t = truth[level.name]
            # the vendor prints BMD to 3 decimals, BMC and area to 2 (docs/domain.md §1)
            assert level.bmd_g_cm2.value == pytest.approx(round(t["bmd_g_cm2"], 3), abs=1e-9)
            assert level.area_cm2.value == pytest.approx(round(t["area_cm2"], 2), abs=1e-9)
        # unshifted, consistent report: the second reading raises nothing
        assert not [f.code for f in reading.flags]
        # the ISCD rules ran on the vendor's numbers: a display image alone has no BMD at all
        assert reading.assessment.reported_region == "L1-L4"
    assert result.assessment.reported_region is None  # our own display analysis: geometry only


def _device_bias(tmp_path, seeds=(11, 12, 13, 14, 15)):
    """The iDXA-like device's vendor/dxaspine area bias from unshifted studies, as a batch
    calibrates it (docs/vendor_results.md §8: display areas read +2 % on this geometry)."""
    from dxaspine.clinical.area_sequence import AreaModel, estimate_area_bias

    pairs = []
    for seed in seeds:
        case = generate_case(PhantomParams(seed=seed, scanner="idxa", case=f"cal_{seed}"))
        image = write_case(case, tmp_path / f"cal{seed}", kinds=("display",))["display"]
        ours = {lv.label: lv.area_cm2 for lv in dxaspine.analyze(str(image)).levels}
        vendor = {lv["label"]: lv["area_cm2"] for lv in case.truth["levels"]}
        pairs.append((vendor, ours))
    return AreaModel().calibrated(estimate_area_bias(pairs))


@pytest.mark.parametrize("shift", [-1, 1])
def test_shifted_vendor_labels_are_flagged(study, tmp_path, shift):
    case = study["case"]
    shifted = write_vendor_results(
        case, tmp_path, variants=("ge_sr",), options=VendorReportOptions(label_shift=shift)
    )["ge_sr"]
    model = _device_bias(tmp_path) if shift > 0 else None
    # A +1 shift leaves the vendor three levels (its "L4" would be the clipped L5), which an
    # uncalibrated single study can miss; a batch calibrates the device's bias first.
    result = dxaspine.analyze(str(study["image"]), vendor=[shifted], vendor_area_model=model)
    codes = [f.code for f in result.vendor[0].flags]
    assert "vendor_labels_shifted" in codes
    unshifted = dxaspine.analyze(
        str(study["image"]), vendor=[study["vendor"]["ge_sr"]], vendor_area_model=model
    )
    assert "vendor_labels_shifted" not in [f.code for f in unshifted.vendor[0].flags]


def test_analyze_command_groups_files_by_study(study, capsys):
    files = [str(study["image"]), *map(str, study["vendor"].values()), str(study["alone"])]
    out = study["folder"] / "out.jsonl"
    assert main(["analyze", *files, "--json", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2  # one per study, not one per file
    with_image, alone = records
    assert with_image["input"]["kind"] == "display"
    assert {b["kind"] for b in with_image["vendor"]} == {"ge_sr", "hologic_xml"}
    # the results-only study: its levels are the vendor's numbers, assessed by the ISCD rules
    assert alone["input"]["kind"] == "ge_xml" and alone["input"]["pixel_spacing_mm"] is None
    truth = _truth(study["other"])
    for level in alone["levels"]:
        if level["label"] in ("L1", "L2", "L3", "L4"):
            assert level["bmd_g_cm2"] == pytest.approx(round(truth[level["label"]]["bmd_g_cm2"], 3))
    assert alone["reported_region"] == "L1-L4"
    printed = capsys.readouterr().out
    assert "vendor results: ge_sr" in printed and "ge_xml" in printed


def test_sr_of_a_display_study_carries_the_vendor_numbers_with_their_source(study, tmp_path):
    from dxaspine.report.dicom_sr import read_sr_measurements, write_sr
    from dxaspine.report.record import record_from_scan

    result = dxaspine.analyze(str(study["image"]), vendor=[study["vendor"]["ge_sr"]])
    path = tmp_path / "sr.dcm"
    write_sr(path, record_from_scan(result), result.scan.header)
    groups = read_sr_measurements(path)
    truth = _truth(study["case"])
    bmd = "DXA Lumbar spine [Mass/Area] Bone density"
    for label in ("L1", "L2", "L3", "L4"):
        ours = groups[f"{label} vertebra"]
        assert bmd not in ours  # a display image has no BMD of its own (Contract 1)
        vendor = groups[f"{label} vertebra, vendor ge_sr"]
        assert vendor[bmd] == pytest.approx(round(truth[label]["bmd_g_cm2"], 3), abs=1e-9)
    assert "L1-L4, vendor ge_sr" in groups


def test_report_page_draws_the_vendor_trend(study, tmp_path):
    """The GE SR's trend containers (the phantom writes two earlier exams) feed the page."""
    pytest.importorskip("matplotlib")
    from dxaspine.report.page_trend import vendor_trend
    from dxaspine.report.record import record_from_scan, round_for_output

    result = dxaspine.analyze(str(study["image"]), vendor=[study["vendor"]["ge_sr"]])
    record = round_for_output(record_from_scan(result))
    trend = vendor_trend(record)
    assert trend is not None
    points, _ = trend.for_region("L1-L4")
    # the phantom's earlier exams read higher (bone loss over time), so BMD falls with date
    assert len(points) >= 2
    assert all(a.bmd_g_cm2 >= b.bmd_g_cm2 for a, b in zip(points, points[1:], strict=False))
    page = tmp_path / "page.png"
    from dxaspine.report.writers import ScanOutput, write_outputs

    write_outputs(ScanOutput(result, record_from_scan(result)), {"report": page})
    assert page.stat().st_size > 10_000
