"""The vendor block, flat columns and trend rows carry the numbers exactly; studies group
files by StudyInstanceUID from headers."""

from __future__ import annotations

import json

import jsonschema

from dxaspine.clinical.second_reading import second_reading
from dxaspine.io.vendor import group_by_study, read_vendor_results
from dxaspine.phantom import write_case
from dxaspine.phantom.dicom_writer import uid
from dxaspine.phantom.vendor_results import (
    VARIANTS,
    VendorReportOptions,
    vendor_numbers,
    write_vendor_results,
)
from dxaspine.report.vendor import flat_columns, load_block_schema, trend_rows, vendor_block
from tests._vendor_cases import standard_cases


def test_block_is_schema_valid_json_with_every_number(tmp_path):
    case = standard_cases(1)[0]
    numbers = vendor_numbers(case)
    for variant, path in write_vendor_results(case, tmp_path).items():
        r = read_vendor_results(path)
        flags, summary = second_reading(r)
        block = json.loads(json.dumps(vendor_block(r, flags, summary)))  # plain JSON types only
        jsonschema.validate(block, load_block_schema())
        for lv, want in zip(block["levels"], numbers.levels, strict=True):
            assert (lv["name"], lv["bmd_g_cm2"], lv["t_score"]) == (
                want.label,
                want.bmd_g_cm2,
                want.t_score,
            )
            assert lv["provenance"]["bmd_g_cm2"]["source"] == r.level(want.label).bmd_g_cm2.source
        assert block["study_instance_uid"] == uid(case, "study"), variant


def test_flat_columns_and_trend_rows(tmp_path):
    case = standard_cases(1)[0]
    numbers = vendor_numbers(case)
    r = read_vendor_results(write_vendor_results(case, tmp_path, ("ge_sr",))["ge_sr"])
    flags, _ = second_reading(r)
    row = flat_columns(r, flags)
    assert row["study_date"] == "2024-03-12" and row["device_model"] == r.model
    for lv in numbers.levels:
        assert row[f"vendor_{lv.label}_bmd_g_cm2"] == lv.bmd_g_cm2
        assert row[f"vendor_{lv.label}_area_cm2"] == lv.area_cm2
    assert row["vendor_L1-L4_bmd_g_cm2"] == numbers.composite("L1-L4").bmd_g_cm2
    assert row["vendor_flags"] is None
    empty = flat_columns(None)
    assert set(empty) <= set(row) and all(v is None for v in empty.values())
    rows = trend_rows(r)
    assert [(x["date"], x["bmd_g_cm2"]) for x in rows] == [
        (e["date"].isoformat(), e["bmd_g_cm2"]) for e in numbers.trend
    ]
    assert all(x["study_instance_uid"] == uid(case, "study") for x in rows)


def test_group_by_study(tmp_path):
    cases = standard_cases(2)
    for case, variant in zip(cases, ("ge_sr", "hologic_xml_0019"), strict=True):
        write_case(case, tmp_path, kinds=("display",))
        write_vendor_results(case, tmp_path, (variant,), VendorReportOptions(label_shift=0))
    (tmp_path / "notes.dcm").write_bytes(b"not a dicom file" * 10)
    studies, unreadable = group_by_study(sorted(tmp_path.glob("*.dcm")))
    assert set(studies) == {uid(c, "study") for c in cases}
    for case, variant in zip(cases, ("ge_sr", "hologic_xml_0019"), strict=True):
        files = studies[uid(case, "study")]
        assert [k for _, k in files.vendor] == [VARIANTS[variant][0]]
        assert [p.rsplit("/", 1)[1] for p in files.others] == [f"{case.name}.display.dcm"]
    assert [p.rsplit("/", 1)[1] for p, _ in unreadable] == ["notes.dcm"]
