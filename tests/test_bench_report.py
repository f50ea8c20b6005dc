"""``dxaspine bench run`` end to end: files, the report's content, and the HTML page rendered
in headless Chromium (Debian's ``chromium``).  Aggregates are checked on hand-made rows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dxaspine.bench.results import aggregate, load_run
from dxaspine.bench.suites import SuitePart, SuiteSpec, write_phantom_suite
from dxaspine.cli import main

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


def _row(**over):
    row = {"segmenter": "s", "case": "c", "group": "g", "kind": "dual_energy", "status": "ok",
           "labels_scan_correct": True, "scan_warned": False, "levels_json": "[]",
           "lines_json": "[]", "masks_json": "{}"}  # fmt: skip
    row.update(over)
    return row


def test_aggregates_pool_lines_and_count_failures_as_wrong():
    # case 1: lines 1 and 3 mm, L1 named L2 (warned); case 2: line 2 mm, labels right;
    # case 3: failed.  Pooled line median over 3 lines = 2 mm; scans right 1 of 3 (the
    # failure counts as wrong); wrong labels 1, all warned; silent wrong scans 0 (warned).
    lines1 = json.dumps([{"name": "a", "midpoint_mm": 1.0, "tilt_deg": 0.5},
                         {"name": "b", "midpoint_mm": 3.0, "tilt_deg": 1.5}])  # fmt: skip
    levels1 = json.dumps([{"predicted": "L2", "truth": "L1", "confidence": 0.4, "warned": True}])
    rows = [
        _row(case="1", labels_scan_correct=False, scan_warned=True, lines_json=lines1,
             levels_json=levels1),
        _row(case="2", lines_json=json.dumps([{"name": "a", "midpoint_mm": 2.0, "tilt_deg": 1.0}]),
             levels_json=json.dumps([{"predicted": "L1", "truth": "L1", "confidence": 0.9,
                                      "warned": False}])),
        _row(case="3", status="failed", labels_scan_correct=False),
    ]  # fmt: skip
    a = aggregate(rows)
    assert a["line_midpoint_error_median_mm"] == 2.0 and a["lines_n"] == 3
    assert a["scan_labels_correct_rate"] == pytest.approx(1 / 3)
    assert a["failed_n"] == 1 and a["wrong_labels_n"] == 1
    assert a["wrong_labels_warned_share"] == 1.0 and a["silent_wrong_scans_n"] == 0
    assert a["level_label_accuracy"] == 0.5
    # ECE: bin 4 (0.4) accuracy 0 -> 0.4; bin 9 (0.9) accuracy 1 -> 0.1; weights 1/2 each
    assert a["ece"] == pytest.approx(0.25)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """classical + the watershed example + oracle + naive on one standard case, 3 inputs."""
    root = tmp_path_factory.mktemp("run")
    write_phantom_suite(SuiteSpec("one", "one standard case",
                                  (SuitePart("standard", "standard", 1,
                                             ("dual_energy", "bmd_map", "display")),)),
                        root / "suite")  # fmt: skip
    status = main(["bench", "run", "--suite", str(root / "suite"),
                   "--segmenter", "dxaspine.segment:segment_spine",
                   "--segmenter", f"{REPO / 'examples' / 'watershed.py'}:segment",
                   "--out", str(root / "out"), "--workers", "1", "-q"])  # fmt: skip
    assert status == 0
    return root / "out"


def test_run_writes_every_output_with_reference_rows(finished_run):
    for name in ("cases.csv", "cases.parquet", "results.json", "report.md", "report.html"):
        assert (finished_run / name).is_file(), name
    results, rows = load_run(finished_run)
    names = [s["name"] for s in results["segmenters"]]
    assert names[-2:] == ["oracle", "naive"] and len(rows) == 4 * 3
    assert results["software"]["dxaspine"] and results["suite"]["manifest_sha256"]
    markdown = (finished_run / "report.md").read_text()
    board = markdown.split("## Leaderboard")[1].split("##")[0]
    assert "| oracle (reference) |" in board and "| naive (reference) |" in board
    # the table shows the aggregate: the classical segmenter's pooled line median
    classical = results["aggregates"]["dxaspine.segment:segment_spine"]["all"]
    assert f"{classical['line_midpoint_error_median_mm']:.2f}" in board
    import pyarrow.parquet as pq

    table = pq.read_table(finished_run / "cases.parquet")
    assert table.num_rows == len(rows) and table.schema.field("dice_mean").type == "double"


def test_html_is_self_contained(finished_run):
    page = (finished_run / "report.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in page and "<link" not in page
    assert page.count("<img") >= 4  # figures and worst-case thumbnails


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (CI installs it)")
def test_html_renders_in_headless_chromium(finished_run, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1400,2400", (finished_run / "report.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    artifacts = os.environ.get("DXASPINE_ARTIFACTS")  # CI keeps the screenshot
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "bench_report.png")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1400)
    # a blank page is one grey; tables, text and plots give a spread of greys everywhere down
    # the page (top and bottom halves both, so the figures below the tables rendered too)
    assert pixels.std() > 10
    assert pixels[:1200].std() > 5 and pixels[1200:].std() > 5
