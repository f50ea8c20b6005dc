"""Result JSON (Contract 2): output-only rounding, schema validation, JSON/JSONL, the table.

The fixture is the Hologic APEX 13.6 report quoted in docs/domain.md §1 (per-level BMC/area), with
T-scores from the White-female young-adult reference of docs/domain.md §8 (1.065, SD 0.122): a
result whose every number is known independently of dxaspine.
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest

from dxaspine.report.json_output import results_json_text, write_results_json
from dxaspine.report.record import round_for_output
from dxaspine.report.schema import SCHEMA_VERSION, ResultSchemaError, load_schema, validate_result
from dxaspine.report.table import format_report

jsonschema = pytest.importorskip("jsonschema")

# docs/domain.md §1: Hologic APEX 13.6 report, (area cm2, BMC g) per level.
HOLOGIC = {"L1": (13.26, 11.58), "L2": (13.72, 12.94), "L3": (14.81, 13.93), "L4": (13.97, 13.40)}
YA_MEAN, YA_SD = 1.065, 0.122  # docs/domain.md §8, White women L1-L4


def _t(bmd: float) -> float:
    return (bmd - YA_MEAN) / YA_SD


def hologic_result(kind: str = "bmd_map") -> dict:
    """A hand-built Contract 2 result at full precision (a fixture, not dxaspine output)."""
    levels = []
    for i, (label, (area, bmc)) in enumerate(HOLOGIC.items()):
        bmd = bmc / area
        quantitative = kind != "display"
        levels.append(
            {
                "label": label,
                "bmc_g": bmc if quantitative else None,
                "area_cm2": area,
                "bmd_g_cm2": bmd if quantitative else None,
                "t_score": _t(bmd) if quantitative else None,
                "z_score": None,
                "excluded": False,
                "flags": [],
                "upper_line_px": [[40.04, 20.0 + 40 * i], [139.96, 22.26 + 40 * i]],
                "lower_line_px": [[40.04, 60.0 + 40 * i], [139.96, 62.26 + 40 * i]],
                "label_confidence": 1.0,
                "height_mm": 37.123,
                "width_mm": 45.678,
            }
        )
    bmc = sum(b for _, b in HOLOGIC.values())
    area = sum(a for a, _ in HOLOGIC.values())
    regions = []
    if kind != "display":
        regions.append(
            {
                "name": "L1-L4",
                "levels": list(HOLOGIC),
                "bmc_g": bmc,
                "area_cm2": area,
                "bmd_g_cm2": bmc / area,
                "t_score": _t(bmc / area),
                "z_score": None,
                "who_category": "low_bone_mass",
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "input": {
            "path": "scan.dcm",
            "kind": kind,
            "sop_instance_uid": "1.2.3",
            "pixel_spacing_mm": [1.05, 0.6],
            "pixel_spacing_source": "PixelSpacing",
        },
        "patient": {"sex": "F", "age_years": np.float64(61.0), "ethnicity": "White"},
        "levels": levels,
        "regions": regions,
        "reported_region": "L1-L4" if regions else None,
        "flags": [],
        "reference": {"name": "White female L1-L4", "source": "docs/domain.md §8"},
        "software": {"name": "dxaspine", "version": "0.1.0"},
    }


def test_schema_ships_in_package_with_version():
    schema = load_schema()
    assert schema["schema_version"] == SCHEMA_VERSION
    assert SCHEMA_VERSION.startswith("1.")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_rounding_happens_only_at_output_and_matches_vendor_precision():
    result = hologic_result()
    out = round_for_output(result)
    # Input untouched: the pipeline keeps full precision.
    assert result["levels"][0]["bmd_g_cm2"] == 11.58 / 13.26
    # docs/domain.md §1: L1 11.58 g / 13.26 cm2 = 0.8733 -> printed 0.873; T (docs/architecture.md example) -1.6.
    assert out["levels"][0]["bmd_g_cm2"] == 0.873
    assert out["levels"][0]["t_score"] == -1.6
    # The composite is sum BMC / sum area from unrounded values: 51.85 / 55.77 = 0.930, while
    # the mean of the four rounded level BMDs is 0.929 (docs/domain.md §1).
    assert out["regions"][0]["bmd_g_cm2"] == 0.930
    # (The report prints 55.77 cm2 from its unrounded level areas; the printed ones sum to 55.76.)
    assert out["regions"][0]["bmc_g"] == 51.85 and out["regions"][0]["area_cm2"] == 55.76
    assert round(np.mean([lv["bmd_g_cm2"] for lv in out["levels"]]), 3) == 0.929
    assert out["regions"][0]["t_score"] == -1.1
    # Coordinates to 0.1 px, nested lists included; mm to 0.1.
    assert out["levels"][0]["upper_line_px"] == [[40.0, 20.0], [140.0, 22.3]]
    assert out["levels"][0]["height_mm"] == 37.1
    # numpy scalars become plain JSON numbers.
    assert type(out["patient"]["age_years"]) is float


def test_non_finite_becomes_null_and_numpy_arrays_become_lists():
    result = hologic_result()
    result["levels"][1]["bmd_g_cm2"] = float("nan")
    result["levels"][1]["upper_line_px"] = np.array([[1.26, 2.0], [3.0, 4.04]])
    out = round_for_output(result)
    assert out["levels"][1]["bmd_g_cm2"] is None
    assert out["levels"][1]["upper_line_px"] == [[1.3, 2.0], [3.0, 4.0]]
    json.dumps(out, allow_nan=False)  # would raise on NaN


def test_fixture_validates_and_broken_results_are_rejected_with_the_path():
    assert validate_result(round_for_output(hologic_result())) is True
    assert validate_result(round_for_output(hologic_result("display"))) is True
    bad = round_for_output(hologic_result())
    bad["input"]["kind"] = "xray"
    with pytest.raises(ResultSchemaError, match="input/kind"):
        validate_result(bad)
    missing = round_for_output(hologic_result())
    del missing["levels"][2]["excluded"]
    with pytest.raises(ResultSchemaError, match="levels/2"):
        validate_result(missing)


def test_single_object_and_json_lines():
    one = results_json_text([hologic_result()], lines=False)
    parsed = json.loads(one)
    assert parsed["levels"][3]["bmd_g_cm2"] == round(13.40 / 13.97, 3)
    assert one.endswith("\n") and one.count("\n") > 10  # indented for people
    many = results_json_text([hologic_result(), hologic_result("display")], lines=True)
    lines = many.splitlines()
    assert len(lines) == 2
    for line in lines:
        validate_result(json.loads(line))
    assert json.loads(lines[1])["input"]["kind"] == "display"
    assert results_json_text([], lines=True) == ""
    with pytest.raises(ValueError, match="exactly one"):
        results_json_text([hologic_result(), hologic_result()], lines=False)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "out" / "result.json"
    write_results_json(target, [hologic_result()], lines=False)
    assert json.loads(target.read_text())["reported_region"] == "L1-L4"
    assert os.listdir(target.parent) == ["result.json"]
    # A failure while serialising must leave the previous file intact.
    broken = copy.deepcopy(hologic_result())
    broken["levels"][0]["label"] = "X9"
    with pytest.raises(ResultSchemaError):
        write_results_json(target, [broken], lines=False)
    assert json.loads(target.read_text())["reported_region"] == "L1-L4"
    assert os.listdir(target.parent) == ["result.json"]


def test_table_lists_levels_composite_reported_region_and_who():
    text = format_report(round_for_output(hologic_result()))
    for label, (area, bmc) in HOLOGIC.items():
        row = next(line for line in text.splitlines() if line.startswith(label + " "))
        assert f"{bmc / area:.3f}" in row and f"{area:.2f}" in row and f"{bmc:.2f}" in row
    assert "L1-L4" in text and "0.930" in text
    assert "reported region: L1-L4" in text
    assert "low bone mass" in text


def test_table_for_display_input_gives_geometry_and_says_why_no_bmd():
    result = round_for_output(hologic_result("display"))
    text = format_report(result)
    assert "no BMD" in text and "display image" in text
    assert "BMD g/cm2" not in text
    assert "height mm" in text and "37.1" in text
