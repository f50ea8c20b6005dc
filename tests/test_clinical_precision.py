"""ISCD precision calculator against worked examples computed by hand.

Every expected number below is typed in, with the arithmetic written out in the comment
(calculator-level: squares, means, square roots).  The chi-square quantiles come from a
printed chi-square table (4 significant figures), so the CI bounds carry a relative rounding
error of at most ~1e-4 (half a unit in the 4th figure of chi2, halved again by the square
root); the CI tolerance is rel 5e-4.  Other numbers are exact to the 6-7 figures written,
tolerance rel 1e-5.
"""

from __future__ import annotations

import json

import pytest

from dxaspine.cli import main
from dxaspine.clinical.precision import precision_study, region_precision
from dxaspine.errors import DxaError

EXACT = 1e-5  # relative; hand values written to 6-7 significant figures
TABLE = 5e-4  # relative; chi-square quantiles typed from a 4-figure table


def test_worked_example_three_patients_two_scans():
    # Pairs (1.00, 1.01), (0.90, 0.92), (0.80, 0.82): a pair's SD is |d|/sqrt(2), so
    # SD^2 = d^2/2 = 0.00005, 0.0002, 0.0002; sum 0.00045; df = 3 x (2-1) = 3.
    # RMS-SD = sqrt(0.00045 / 3) = sqrt(0.00015) = 0.0122474 g/cm2.
    # LSC = 2.77 x 0.0122474 = 0.0339254 g/cm2.
    # chi2(3): 0.025 quantile 0.2158, 0.975 quantile 9.348 (table).
    # CI low = 0.0122474 x sqrt(3/9.348) = 0.0122474 x 0.566502 = 0.0069382
    # CI high = 0.0122474 x sqrt(3/0.2158) = 0.0122474 x 3.728506 = 0.0456644
    # %CV: means 1.005, 0.91, 0.81; CV = SD/mean = 0.0070359, 0.0155408, 0.0174594;
    # CV^2 = 4.95039e-5, 2.41517e-4, 3.04831e-4; mean 1.98617e-4; sqrt -> 1.40932 %.
    # Arithmetic mean SD = (0.0070711 + 0.0141421 + 0.0141421)/3 = 0.0117851,
    # 1 - 0.0117851/0.0122474 = 3.775 % below the RMS-SD.
    r = region_precision({"a": [1.00, 1.01], "b": [0.90, 0.92], "c": [0.80, 0.82]})
    assert r.degrees_of_freedom == 3 and r.n_patients == 3 and r.n_scans == 6
    assert r.rms_sd_g_cm2 == pytest.approx(0.0122474, rel=EXACT)
    assert r.lsc_g_cm2 == pytest.approx(0.0339254, rel=EXACT)
    assert r.rms_cv_percent == pytest.approx(1.40932, rel=EXACT)
    assert r.lsc_percent == pytest.approx(2.77 * 1.40932, rel=EXACT)
    assert r.rms_sd_ci95_g_cm2[0] == pytest.approx(0.0069382, rel=TABLE)
    assert r.rms_sd_ci95_g_cm2[1] == pytest.approx(0.0456644, rel=TABLE)
    assert r.lsc_ci95_g_cm2[1] == pytest.approx(2.77 * 0.0456644, rel=TABLE)
    assert r.arithmetic_mean_sd_g_cm2 == pytest.approx(0.0117851, rel=EXACT)
    assert r.arithmetic_shortfall_percent == pytest.approx(3.775, abs=0.001)
    assert not r.design_ok  # 3 df, ISCD wants >= 30
    assert any("below the ISCD design" in w for w in r.warnings)


def test_worked_example_two_patients_three_scans():
    # A: 1.00, 1.01, 1.02 -> mean 1.01, deviations -0.01, 0, +0.01, SS 0.0002, SD^2 0.0001.
    # B: 0.80, 0.80, 0.83 -> mean 0.81, deviations -0.01, -0.01, +0.02, SS 0.0006,
    #    SD^2 0.0003, SD 0.0173205.  df = 2 + 2 = 4.
    # RMS-SD = sqrt((2 x 0.0001 + 2 x 0.0003)/4) = sqrt(0.0002) = 0.0141421.
    # LSC = 2.77 x 0.0141421 = 0.0391737.
    # chi2(4): 0.025 quantile 0.4844, 0.975 quantile 11.143.
    # CI low = 0.0141421 x sqrt(4/11.143) = 0.0141421 x 0.599141 = 0.0084731
    # CI high = 0.0141421 x sqrt(4/0.4844) = 0.0141421 x 2.873611 = 0.0406389
    # %CV: 0.01/1.01 = 0.00990099, 0.0173205/0.81 = 0.0213833; squares 9.80296e-5 and
    # 4.57246e-4, mean 2.77638e-4, sqrt -> 1.66625 %.
    study = precision_study({"L1-L4": {"A": [1.00, 1.01, 1.02], "B": [0.80, 0.80, 0.83]}})
    r = study.region("L1-L4")
    assert r.degrees_of_freedom == 4
    assert r.rms_sd_g_cm2 == pytest.approx(0.0141421, rel=EXACT)
    assert r.lsc_g_cm2 == pytest.approx(0.0391737, rel=EXACT)
    assert r.rms_cv_percent == pytest.approx(1.66625, rel=EXACT)
    assert r.rms_sd_ci95_g_cm2[0] == pytest.approx(0.0084731, rel=TABLE)
    assert r.rms_sd_ci95_g_cm2[1] == pytest.approx(0.0406389, rel=TABLE)
    assert r.mean_bmd_g_cm2 == pytest.approx(0.91, rel=EXACT)


def test_iscd_design_thirty_by_two_met_and_ci():
    # 30 patients x 2 scans, every pair 0.02 apart: SD_j = 0.02/sqrt(2) = 0.0141421 for all,
    # RMS-SD = arithmetic mean = 0.0141421 (no shortfall), df = 30: the ISCD design is met.
    # chi2(30): 0.025 quantile 16.791, 0.975 quantile 46.979.
    # CI low = 0.0141421 x sqrt(30/46.979) = 0.0141421 x 0.799114 = 0.0113012
    # CI high = 0.0141421 x sqrt(30/16.791) = 0.0141421 x 1.336664 = 0.0189033
    scans = {f"p{i}": [0.90 + 0.001 * i, 0.92 + 0.001 * i] for i in range(30)}
    r = region_precision(scans)
    assert r.design_ok and r.degrees_of_freedom == 30
    assert r.rms_sd_g_cm2 == pytest.approx(0.0141421, rel=EXACT)
    assert r.arithmetic_shortfall_percent == pytest.approx(0.0, abs=1e-9)
    assert r.rms_sd_ci95_g_cm2[0] == pytest.approx(0.0113012, rel=TABLE)
    assert r.rms_sd_ci95_g_cm2[1] == pytest.approx(0.0189033, rel=TABLE)
    # 15 x 3 is the other ISCD design: df = 15 x 2 = 30.
    r3 = region_precision({f"p{i}": [0.9, 0.91, 0.92] for i in range(15)})
    assert r3.design_ok and r3.degrees_of_freedom == 30


def test_arithmetic_mean_shortfall_reported():
    # Unequal patients: pair differences 0.002 and 0.04 -> SD 0.0014142 and 0.0282843.
    # RMS-SD = sqrt((0.000002 + 0.0008)/2) = sqrt(0.000401) = 0.0200250;
    # arithmetic mean = (0.0014142 + 0.0282843)/2 = 0.0148492, 1 - 0.0148492/0.0200250
    # = 25.85 % below: the Glueer 1995 warning names it.
    r = region_precision({"a": [1.000, 1.002], "b": [1.00, 1.04]})
    assert r.rms_sd_g_cm2 == pytest.approx(0.0200250, rel=EXACT)
    assert r.arithmetic_mean_sd_g_cm2 == pytest.approx(0.0148492, rel=EXACT)
    assert r.arithmetic_shortfall_percent == pytest.approx(25.85, abs=0.01)
    assert any("41 %" in w and "arithmetic" in w for w in r.warnings)


def test_cv_above_iscd_minimum_warned():
    # CV = SD/mean: pair 1.00/1.04 has SD 0.0282843 -> 2.77 %, above ISCD's 1.9 %.
    r = region_precision({"a": [1.00, 1.04], "b": [1.00, 1.04]})
    assert r.rms_cv_percent > 1.9
    assert any("1.9 %" in w for w in r.warnings)


def test_table_long_and_wide_layouts_and_cli(tmp_path):
    # The same numbers as the 2 x 3 worked example, as a long table (one row per scan, as a
    # batch results table with a patient column added) and as the ISCD spreadsheet layout.
    long = tmp_path / "long.csv"
    long.write_text(
        "patient_id,L1-L4_bmd_g_cm2,L2-L4_bmd_g_cm2\n"
        "A,1.00,1.10\nA,1.01,1.10\nA,1.02,1.10\nB,0.80,0.90\nB,0.80,0.90\nB,0.83,0.90\n"
    )
    wide = tmp_path / "wide.csv"
    wide.write_text("patient,scan_1,scan_2,scan_3\nA,1.00,1.01,1.02\nB,0.80,0.80,0.83\n")
    for path in (long, wide):
        r = precision_study(path).region("L1-L4")
        assert r.rms_sd_g_cm2 == pytest.approx(0.0141421, rel=EXACT)
    l2l4 = precision_study(long).region("L2-L4")
    assert l2l4.rms_sd_g_cm2 == 0.0  # identical repeats: no error
    out = tmp_path / "p.json"
    assert main(["precision", str(long), "--json", str(out), "--csv", str(tmp_path / "p.csv")]) == 0
    data = json.loads(out.read_text())
    r = next(x for x in data["regions"] if x["region"] == "L1-L4")
    assert r["lsc_g_cm2"] == pytest.approx(0.0391737, rel=EXACT)
    assert "region,n_patients" in (tmp_path / "p.csv").read_text()


def test_bad_tables_are_one_line_errors(tmp_path, capsys):
    single = tmp_path / "single.csv"
    single.write_text("patient_id,L1-L4\nA,1.0\nB,0.9\nC,0.95\n")
    with pytest.raises(DxaError, match=r"single\.csv.*one scan per patient.*2-3 times"):
        precision_study(single)
    assert main(["precision", str(single)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "single.csv" in err[0]
    nopatient = tmp_path / "nopatient.csv"
    nopatient.write_text("L1-L4\n1.0\n1.0\n")
    with pytest.raises(DxaError, match="no patient column.*--patient-column"):
        precision_study(nopatient)
    nobmd = tmp_path / "nobmd.csv"
    nobmd.write_text("patient_id,t_score\nA,-1\nA,-1.1\n")
    with pytest.raises(DxaError, match="no BMD columns"):
        precision_study(nobmd)
    # T-scores or mg/cm2 in a BMD column cannot be right: an error, not a silent result.
    mg = tmp_path / "mg.csv"
    mg.write_text("patient_id,L1-L4\nA,1010\nA,1020\n")
    with pytest.raises(DxaError, match="not a BMD in g/cm2"):
        precision_study(mg)
    text = tmp_path / "text.csv"
    text.write_text("patient_id,L1-L4\nA,abc\nA,1.0\n")
    with pytest.raises(DxaError, match=r"text\.csv row 1: L1-L4 is not a number"):
        precision_study(text)


@pytest.mark.parametrize("argv", [["--help"], ["precision", "--help"], ["compare", "--help"],
                                  ["cohort", "--help"]])  # fmt: skip
def test_help_renders(argv, capsys):
    # argparse %-formats help strings: a bare "%" (as in "%CV") once broke `dxaspine --help`
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0 and "usage:" in capsys.readouterr().out
