"""The report page (PDF and PNG): rendered by poppler, read back as text, checked against truth.

Ground truth here is independent of what the page printed before:

- a **worked example**: the Hologic APEX 13.6 report of docs/domain.md §1 (per-level BMC and
  area), with the shipped reference table's young-adult L1-L4 row 1.065 / SD 0.122 g/cm²
  (docs/domain.md §8) and its NHANES 2017-2020 age-matched row for women 60-65 y (mean 0.9260,
  SD 0.1454, `dxaspine/clinical/reference_data/dxaspine_default.csv`); every expected number
  on the page is computed by hand below;
- **ISCD rules** (docs/domain.md §2): WHO only on the reported region of a woman >= 50 or a
  man >= 50, a Z-score statement under 50, never extrapolated age bands;
- the bundled **demo phantom**, analysed by the real pipeline, for the writer, the command
  line and the identifiers (the page shows them; nothing logs them; the JSON lacks them).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from dxaspine.clinical import assess
from dxaspine.clinical.reference import load_reference
from dxaspine.report.page_chart import chart_reference
from dxaspine.report.page_evidence import flag_sentences, interlevel_evidence
from dxaspine.report.page_facts import format_person_name, identity_from_header
from dxaspine.report.page_trend import Trend, TrendPoint, trend_from_comparison
from dxaspine.report.record import record_from_assessment

pytest.importorskip("matplotlib")

from dxaspine.report.page import PNG_DPI, report_page_bytes, write_report_page  # noqa: E402

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) not installed",
)

# docs/domain.md §1: Hologic APEX 13.6, (BMC g, area cm2) per level.
HOLOGIC = {"L1": (11.58, 13.26), "L2": (12.94, 13.72), "L3": (13.93, 14.81), "L4": (13.40, 13.97)}
YA_MEAN, YA_SD = 1.065, 0.122  # docs/domain.md §8: young-adult White female L1-L4
AM_MEAN_F_60_65 = 0.9260  # shipped NHANES 2017-2020 row Z,L1-L4,F,,60,65


def _levels():
    return [{"label": k, "bmc_g": bmc, "area_cm2": area} for k, (bmc, area) in HOLOGIC.items()]


def _pdf_text(path: Path) -> str:
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.replace("−", "-")  # the chart's tick labels use U+2212


def _rendered_grey(pdf: Path, tmp_path: Path) -> np.ndarray:
    """The PDF's first page rasterised by poppler at 40 dpi, as grey values 0-255."""
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    (page,) = sorted(tmp_path.glob("p*.png"))
    return np.asarray(Image.open(page).convert("L"), dtype=float)


def _assert_not_blank(grey: np.ndarray, dark_fraction: float = 0.005) -> None:
    # A blank page is one value: no dark pixel, SD 0.  The sparsest real page (numbers only,
    # no scan) has about 1.6 % dark pixels at 40 dpi, one with the scan about 14 %; 0.5 % (a
    # few lines of text) and SD 15 separate "something was drawn" from "blank" with room.
    assert (grey < 128).mean() > dark_fraction
    assert grey.std() > 15


def _table_row(text: str, name: str) -> str:
    """The table line of a level or region: its name then at least 7 cells (the chart's
    point label also starts with the region's name, but has 4 words)."""
    return next(
        line for line in text.splitlines() if line.split()[:1] == [name] and len(line.split()) >= 8
    )


@pytest.fixture(scope="module")
def woman_61():
    a = assess(_levels(), {"sex": "F", "age_years": 61})
    return record_from_assessment(a), a


@needs_poppler
def test_worked_example_page_shows_the_hand_computed_values(woman_61, tmp_path):
    record, a = woman_61
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(report_page_bytes(record, reference=a.reference))
    text = _pdf_text(pdf)
    _assert_not_blank(_rendered_grey(pdf, tmp_path))
    # ΣBMC / ΣArea (docs/domain.md §1).  The printed levels sum to 55.76 cm2 (the report's
    # 55.77 comes from its unrounded level areas); BMD 51.85 / 55.76 = 0.930 either way.
    bmc = sum(b for b, _ in HOLOGIC.values())
    area = sum(a for _, a in HOLOGIC.values())
    bmd = bmc / area
    t = (bmd - YA_MEAN) / YA_SD  # -1.108
    assert (f"{bmc:.2f}", f"{area:.2f}", f"{bmd:.3f}", f"{t:.1f}") == (
        "51.85", "55.76", "0.930", "-1.1"
    )  # fmt: skip
    row = _table_row(text, "L1-L4")
    cells = row.split()
    # L1-L4  area  BMC  BMD  T  YA%  Z  AM%  WHO...
    assert cells[1:4] == ["55.76", "51.85", "0.930"]
    assert cells[4] == "-1.1"
    assert cells[5] == f"{100 * bmd / YA_MEAN:.0f}" == "87"  # young-adult %
    assert cells[7] == f"{100 * bmd / AM_MEAN_F_60_65:.0f}" == "100"  # age-matched %
    assert "low bone mass (osteopenia)" in row
    # ISCD: the WHO category is given on the reported region only, not on all 11 composites.
    assert text.count("low bone mass (osteopenia)") == 2  # the table row and the statement
    assert "WHO category (L1-L4, T-score -1.1): low bone mass (osteopenia)." in " ".join(
        text.split()
    )
    assert "age 50 stands in" in text  # menopause is not in the header: said so
    for label, (bmc, area) in HOLOGIC.items():  # every level with its own BMD
        level_row = _table_row(text, label)
        assert level_row.split()[1:4] == [f"{area:.2f}", f"{bmc:.2f}", f"{bmc / area:.3f}"]


@needs_poppler
def test_man_under_50_gets_a_z_statement_and_no_who(tmp_path):
    a = assess(_levels(), {"sex": "M", "age_years": 45})
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(report_page_bytes(record_from_assessment(a), reference=a.reference))
    text = " ".join(_pdf_text(pdf).split())
    assert "osteopenia" not in text and "osteoporosis ≤" not in text  # no WHO (ISCD)
    assert "Applies: man < 50 y: Z-score" in text
    # NHANES bands start at 50: no Z, and the chart says the band is not extrapolated.
    assert "not extrapolated" in text and "none at 45 y" in text


def test_png_variant_has_a4_size_and_content(woman_61, tmp_path):
    record, a = woman_61
    path = tmp_path / "page.PNG"  # the suffix chooses the format, in any case
    write_report_page(path, record, None)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(path)
    # A4 at PNG_DPI: 8.27 x 11.69 in; matplotlib rounds each side to whole pixels.
    assert abs(image.width - 8.27 * PNG_DPI) <= 1 and abs(image.height - 11.69 * PNG_DPI) <= 1
    _assert_not_blank(np.asarray(image.convert("L"), dtype=float))


def test_pdf_is_written_for_any_other_suffix(woman_61, tmp_path):
    record, _ = woman_61
    write_report_page(tmp_path / "page.pdf", record, None)
    assert (tmp_path / "page.pdf").read_bytes()[:5] == b"%PDF-"


def test_chart_reference_uses_the_rows_the_scores_used():
    table = load_reference(None)
    ref = chart_reference(table, "L1-L4", "F")
    assert ref.young_adult_mean_g_cm2 == pytest.approx(YA_MEAN)
    assert ref.young_adult_sd_g_cm2 == pytest.approx(YA_SD)
    # NHANES 2017-2020 covers 50-80 y (docs/domain.md §8); bands are [50, 81) half-open.
    assert ref.band_range_years == (50.0, 81.0)
    band = next(b for b in ref.bands if b.age_min_years <= 64 < b.age_max_years)
    row, _ = table.z_reference("L1-L4", "F", 64, None)
    assert (band.mean_g_cm2, band.sd_g_cm2) == (row.mean_g_cm2, row.sd_g_cm2)
    assert band.mean_g_cm2 == pytest.approx(AM_MEAN_F_60_65)
    assert chart_reference(table, "L1-L4", None).bands == ()  # Z needs a sex


def _spine(factor_l4: float) -> dict:
    """A record whose levels follow the NHANES level ratios exactly, L4 scaled by a factor."""
    from dxaspine.clinical.interlevel import load_interlevel_model

    ratio = load_interlevel_model().level_ratio
    return {
        "input": {"quantitative": True},
        "levels": [
            {"label": lv, "bmd_g_cm2": 1.0 * ratio[lv] * (factor_l4 if lv == "L4" else 1.0),
             "t_score": None, "flags": []}
            for lv in ("L1", "L2", "L3", "L4")
        ],
    }  # fmt: skip


def test_interlevel_evidence_worked_examples():
    # Levels exactly on the NHANES gradient: each is predicted exactly (0 %).
    flat = interlevel_evidence(_spine(1.0))
    for pct in flat.percent_from_prediction.values():
        assert pct == pytest.approx(0.0, abs=1e-9)
    # L4 10 % high: L4 is predicted from L1-L3 exactly, so it reads +10 %; each other level's
    # prediction is the geometric mean over three neighbours, one of them 10 % high, so it
    # reads 1.1**(-1/3) - 1 = -3.13 %.  L4's score (log 1.1 + 0.000092) / 0.065194 = 1.46 is
    # below the 2.5 threshold: no level is removed (clinical/interlevel.py).
    mild = interlevel_evidence(_spine(1.1))
    assert mild.percent_from_prediction["L4"] == pytest.approx(10.0, abs=1e-6)
    for lv in ("L1", "L2", "L3"):
        assert mild.percent_from_prediction[lv] == pytest.approx(100 * (1.1 ** (-1 / 3) - 1))
    # L4 20 % high: score (log 1.2 + 0.000092) / 0.065194 = 2.80 > 2.5, so L4 is set aside
    # and the others are re-scored among themselves: back to 0 %.
    strong = interlevel_evidence(_spine(1.2))
    assert strong.deviation_score["L4"] == pytest.approx(2.797, abs=0.002)
    assert strong.percent_from_prediction["L4"] == pytest.approx(20.0, abs=1e-6)
    for lv in ("L1", "L2", "L3"):
        assert strong.percent_from_prediction[lv] == pytest.approx(0.0, abs=1e-9)
    assert interlevel_evidence({"levels": _spine(1.0)["levels"][:2]}) is None  # 2 levels


def test_flag_sentences_say_the_interlevel_evidence_in_words():
    # L4 raised 20 % on Hologic's L1-L3: the clinical layer flags it (deviation and ISCD ΔT).
    levels = _levels()
    levels[3] = {"label": "L4", "bmc_g": 13.40 * 1.2, "area_cm2": 13.97}
    a = assess(levels, {"sex": "F", "age_years": 61})
    record = record_from_assessment(a)
    evidence = interlevel_evidence(record)
    sentences = flag_sentences(record, evidence)
    on_l4 = [s for s in sentences if "L4" in s.levels]
    assert on_l4, sentences
    pct = evidence.percent_from_prediction["L4"]
    assert pct > 15
    worded = [s.plain for s in on_l4 if s.plain]
    assert worded and all(f"{pct:.0f} % above what the other levels predict" in w for w in worded)


def test_person_name_and_identity():
    assert format_person_name("DOE^JANE^M") == "DOE, JANE M"
    assert format_person_name("ap") == "ap"  # single component: valid DICOM, shown as is
    assert format_person_name("") is None
    header = SimpleNamespace(
        get=lambda k, d=None: {"PatientName": "DOE^JANE", "PatientID": "X123",
                               "PatientBirthDate": "19600311"}.get(k, d)
    )  # fmt: skip
    identity = identity_from_header(header)
    assert (identity.name, identity.patient_id) == ("DOE, JANE", "X123")
    assert identity.birth_date == dt.date(1960, 3, 11)
    assert "DOE" not in repr(identity) and "X123" not in repr(identity)


@needs_poppler
def test_trend_chart_same_region_and_lsc(woman_61, tmp_path):
    record, a = woman_61
    record = {**record, "input": {"study_date": "2024-03-12"}}
    trend = Trend(
        (
            TrendPoint(dt.date(2020, 3, 1), 0.964, "L1-L4"),
            TrendPoint(dt.date(2022, 3, 1), 0.950, "L1-L4"),
            TrendPoint(dt.date(2023, 3, 1), 0.900, "L2-L4"),  # another region: not drawn
            TrendPoint(dt.date(2024, 3, 12), 0.930, "L1-L4"),
        ),
        lsc_g_cm2=0.030,
    )
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(report_page_bytes(record, reference=a.reference, trend=trend))
    text = " ".join(_pdf_text(pdf).split())
    assert "Trend: L1-L4 BMD" in text
    # 0.930 - 0.964 = -0.034 g/cm2 = -3.5 %; |-0.034| >= LSC 0.030: beyond it (ISCD).
    assert "-0.034 g/cm² (-3.5 %), beyond the LSC 0.030 g/cm²" in text
    assert "1 point(s) of other regions not drawn" in text
    assert "never T-scores" in text  # ISCD monitoring statement


def test_trend_from_comparison_reads_monitoring_by_name():
    visits = [SimpleNamespace(date=dt.date(2020, 1, 1), bmd_g_cm2=1.0),
              SimpleNamespace(date=dt.date(2022, 1, 1), bmd_g_cm2=0.95)]  # fmt: skip
    lsc = SimpleNamespace(g_cm2=lambda bmd: 0.028 * bmd)  # e.g. ISCD 2.8 % of baseline
    comparison = SimpleNamespace(comparable=True, region="L1-L4", visits=visits, lsc=lsc)
    trend = trend_from_comparison(comparison)
    assert [p.bmd_g_cm2 for p in trend.points] == [1.0, 0.95]
    assert trend.lsc_g_cm2 == pytest.approx(0.028)
    assert trend_from_comparison(SimpleNamespace(comparable=False)) is None


# --- the real pipeline: the bundled demo ----------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    from dxaspine.commands.demo import bundled_paths
    from dxaspine.pipeline import analyze

    dcm, truth = bundled_paths()
    return dcm, analyze(str(dcm)), json.loads(truth.read_text())


@needs_poppler
def test_demo_page_through_the_writer_registry(demo, tmp_path, caplog):
    from dxaspine.report.writers import write_result

    dcm, result, truth = demo
    caplog.set_level(logging.DEBUG)
    record = write_result(result, json=tmp_path / "r.json", report=tmp_path / "r.pdf")
    text = _pdf_text(tmp_path / "r.pdf")
    # The scan picture covers a fifth of the page: well over 5 % of it is dark.
    _assert_not_blank(_rendered_grey(tmp_path / "r.pdf", tmp_path), dark_fraction=0.05)
    # The region values: every composite's BMD, and the reported one, as the JSON has them.
    saved = json.loads((tmp_path / "r.json").read_text())
    for region in saved["regions"]:
        line = _table_row(text, region["name"])
        assert f"{region['bmd_g_cm2']:.3f}" in line.split()
    # ... and they are the phantom's truth within the pipeline's accuracy: the demo's L1-L4
    # is within 1 % of truth (README: L1-L4 <= 0.65 % on standard phantoms).
    l1l4 = next(r for r in saved["regions"] if r["name"] == "L1-L4")
    assert l1l4["bmd_g_cm2"] == pytest.approx(truth["composites"]["L1-L4"]["bmd_g_cm2"], rel=0.01)
    # The page shows whose scan it is (PatientName PHANTOM^DEMO_PRODIGY, birth date
    # 1960-03-11 in the phantom's header) ...
    assert "PHANTOM, DEMO_PRODIGY" in text and "1960-03-11" in text
    # ... the JSON does not, and no log line does (docs/report_page.md, "Identifiers").
    blob = (tmp_path / "r.json").read_text()
    assert "PHANTOM" not in blob and "19600311" not in blob and "1960-03-11" not in blob
    for message in caplog.messages:
        assert "PHANTOM" not in message and "1960" not in message, message
    assert record["input"]["study_date"] == "2024-03-12"  # the scan date is not an identifier


def test_analyze_command_writes_png_report(demo, tmp_path):
    from dxaspine.cli import main

    dcm, _, _ = demo
    assert main(["analyze", str(dcm), "--report", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").size[0] == pytest.approx(8.27 * PNG_DPI, abs=1)


def test_sr_and_sc_keep_the_single_component_name_warning_off(demo, caplog):
    pytest.importorskip("highdicom")
    from dxaspine.report.dicom_sc import build_sc
    from dxaspine.report.dicom_sr import build_sr
    from dxaspine.report.overlay import render_overlay
    from dxaspine.report.record import record_from_scan

    _, result, _ = demo
    header = result.scan.header.copy()
    header.PatientName = "ap"  # as on a real GE iDXA export: valid DICOM, one component
    record = record_from_scan(result)
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_sr(record, header)
        build_sc(render_overlay(record, result), header)
    assert not [w for w in caught if "person name" in str(w.message)]
    assert not [m for m in caplog.messages if '"ap"' in m or "'ap'" in m]


def _without_matplotlib(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )


def test_core_install_report_option_is_a_usage_error(demo, tmp_path, monkeypatch, capsys):
    from dxaspine.cli import main

    _without_matplotlib(monkeypatch)
    dcm, _, _ = demo
    assert main(["analyze", str(dcm), "--report", str(tmp_path / "r.pdf")]) == 2  # Contract 3
    assert "--report needs matplotlib: pip install 'dxaspine[report]'" in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()


def test_demo_on_a_core_install_skips_the_page_in_one_line(tmp_path, monkeypatch, capsys):
    from dxaspine.cli import main

    _without_matplotlib(monkeypatch)
    overlay, page = tmp_path / "d.png", tmp_path / "d.pdf"
    assert main(["demo", "--overlay", str(overlay), "--report", str(page)]) == 0
    out = capsys.readouterr().out
    assert "report page skipped: it needs matplotlib (pip install 'dxaspine[report]')" in out
    assert overlay.exists() and not page.exists()


def test_demo_writes_the_report_page(tmp_path, capsys):
    from dxaspine.cli import main

    page = tmp_path / "d.pdf"
    assert main(["demo", "--overlay", str(tmp_path / "d.png"), "--report", str(page)]) == 0
    assert f"report page written to {page}" in capsys.readouterr().out
    assert page.read_bytes()[:5] == b"%PDF-"


@needs_poppler
def test_trend_from_a_real_monitoring_comparison(tmp_path):
    """Two visits through dxaspine.clinical.monitoring.compare, then onto the page."""
    from dxaspine.clinical.monitoring import compare, visit_from_result

    def visit(bmc_factor: float, date: str):
        levels = [{**lv, "bmc_g": lv["bmc_g"] * bmc_factor} for lv in _levels()]
        a = assess(levels, {"sex": "F", "age_years": 61})
        record = record_from_assessment(a, input_info={"study_date": date, "kind": "bmd_map"})
        return record, a

    baseline, _ = visit(1.0, "2022-03-10")
    follow_up, a = visit(0.97, "2024-03-12")  # every level's BMC 3 % lower
    comparison = compare(
        [visit_from_result(baseline, "base.json"), visit_from_result(follow_up, "now.json")],
        lsc=0.030,
        force=True,  # the hand-made visits carry no patient key
    )
    trend = trend_from_comparison(comparison)
    assert trend is not None and trend.region == "L1-L4"
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(report_page_bytes(follow_up, reference=a.reference, trend=trend))
    text = " ".join(_pdf_text(pdf).split())
    # L1-L4: 51.85 / 55.76 = 0.92988 g/cm2, then x 0.97 = 0.90198: -0.0279 g/cm2 (-3.0 %),
    # below the 0.030 LSC: "within" (ISCD: only a change >= LSC counts).
    assert "-0.028 g/cm² (-3.0 %), within the LSC 0.030 g/cm²" in text
    assert "points: dxaspine compare" in text


def test_analysis_box_names_the_conventions_and_hides_unstated_ones():
    from dxaspine.report.page_facts import analysis_rows

    record = {
        "software": {"name": "dxaspine", "version": "9"},
        "analysis": {"segmenter": "dxaspine classical", "edge": "relative:0.1",
                     "box": "L4 body width + 7 mm", "physics_model": "unstated"},
        "exclusion": {"mode": "user", "excluded": ["L4"]},
        "reference": {"name": "dxaspine-default"},
    }  # fmt: skip
    rows = dict(analysis_rows(record, "label confidence 0.95 (all levels)"))
    assert rows["Segmenter"] == "dxaspine classical"
    assert rows["Conventions"] == "bone edge relative:0.1; box L4 body width + 7 mm"
    assert "physics" not in rows["Conventions"]  # "unstated" is not a setting
    assert (rows["Exclusion"], rows["Excluded"]) == ("chosen by the user", "L4")
