"""``dxaspine assess TABLE.csv`` on the NHANES layout and the plain layout."""

import csv
import json

import pytest
from _shared_data import NHANES, needs_nhanes  # noqa: E402

from dxaspine.cli import main
from dxaspine.report.row import row_columns


@needs_nhanes
def test_nhanes_table(tmp_path):
    # First 300 rows keep the test fast; they include invalid levels and missing scans.
    lines = NHANES.read_text().splitlines()[:301]
    src = tmp_path / "nh.csv"
    src.write_text("\n".join(lines) + "\n")
    out_json, out_csv = tmp_path / "o.jsonl", tmp_path / "o.csv"
    assert main(["assess", str(src), "--json", str(out_json), "--csv", str(out_csv)]) == 0
    records = [json.loads(x) for x in out_json.read_text().splitlines()]
    assert len(records) == 300
    source = list(csv.DictReader(lines))
    for rec, raw in zip(records, source, strict=True):
        assert rec["row_id"] == raw["SEQN"][:-2]
        assert rec["patient"]["sex"] == {"1.0": "M", "2.0": "F"}[raw["RIAGENDR"]]
        for lv in rec["levels"]:
            i = lv["label"][1]
            if raw[f"DXXL{i}BCC"] not in ("", "0.0"):
                assert lv["excluded"] and lv["flags"][0]["code"] == "invalid_in_source"
        # The analyst's all-valid L1-L4 total equals our ΣBMC/ΣArea to BMD print precision
        # (0.0015: DXXOSBMD 3 decimals + BMC/area 2 decimals) when it is a sum of L1-L4.
        region = next(r for r in rec["regions"] if r["name"] == "L1-L4")
        if (
            raw["DXXOSBCC"] == "0.0"
            and abs(sum(float(raw[f"DXXL{i}BMC"]) for i in range(1, 5)) - float(raw["DXXOSBMC"]))
            < 0.05
        ):
            assert region["bmd_g_cm2"] == pytest.approx(float(raw["DXXOSBMD"]), abs=0.0015)
        assert rec["reference"]["name"] == "dxaspine-default"
        assert rec["software"]["name"] == "dxaspine"
    with open(out_csv, newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == row_columns(("row_id", "status", "error"))
        rows = list(reader)
    assert len(rows) == 300
    assert {"L1_bmc_g", "L1-L4_bmd_g_cm2", "L1-L4_t_score", "reported_region"} <= set(rows[0])
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes left no temp files


PLAIN = """id,sex,age_years,L1_bmc_g,L1_area_cm2,L2_bmc_g,L2_area_cm2,L3_bmc_g,L3_area_cm2,L4_bmc_g,L4_area_cm2
hologic,F,61,11.58,13.26,12.94,13.72,13.93,14.81,13.40,13.97
bad,F,61,abc,13.26,12.94,13.72,13.93,14.81,13.40,13.97
young,M,40,11.58,13.26,12.94,13.72,13.93,14.81,13.40,13.97
"""


def test_plain_layout_bad_row_recorded(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_text(PLAIN)
    assert main(["assess", str(src), "--json", "-"]) == 1  # one row failed
    captured = capsys.readouterr()
    recs = [json.loads(x) for x in captured.out.splitlines()]
    assert [r["status"] for r in recs] == ["ok", "error", "ok"]
    assert "L1_bmc_g" in recs[1]["error"] and str(src) in captured.err
    hol = recs[0]
    l1l4 = next(r for r in hol["regions"] if r["name"] == "L1-L4")
    assert (
        l1l4["bmd_g_cm2"] == 0.930 and l1l4["who_category"] == "low_bone_mass"
    )  # docs/domain.md §1
    assert (
        recs[2]["interpretation"]["score"] == "Z"
        and recs[2]["interpretation"]["who_category"] is None
    )


def test_bad_header_and_reference(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_text("a,b\n1,2\n")
    assert main(["assess", str(src)]) == 1
    assert "L1_bmc_g" in capsys.readouterr().err
    src.write_text(PLAIN)
    assert main(["assess", str(src), "--reference", str(tmp_path / "none.csv")]) == 1
    assert "no such reference table" in capsys.readouterr().err
