"""Overlay PNG, DICOM SR and Secondary Capture, built from phantom ground truth.

Fixture (deliberately independent of the segmentation/measurement/clinical stages): a phantom
case written with ``write_case`` and loaded with ``dxaspine.io.load`` (for the real header and
orientation), a ``Segmentation`` made from the phantom's truth label image, lines and bone
mask, and a hand-built Contract 2 result from the truth numbers.  So every value checked in
the written objects is a phantom truth value, not something dxaspine computed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from dxaspine.io import load
from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.physics.density_map import DensityMap
from dxaspine.pipeline import ScanResult
from dxaspine.report.dicom_sc import build_sc, write_sc
from dxaspine.report.dicom_sr import PRIVATE_SCHEME, read_sr_measurements, write_sr
from dxaspine.report.overlay import OKABE_ITO, render_overlay, write_overlay
from dxaspine.report.record import round_for_output
from dxaspine.report.schema import SCHEMA_VERSION, validate_result
from dxaspine.segment.segmentation import IntervertebralLine, Segmentation

pytest.importorskip("highdicom")

YA_MEAN, YA_SD = 1.065, 0.122  # docs/domain.md §8, White women L1-L4: T-scores of the fixture
SCT_VERTEBRA = {"L1": "66794005", "L2": "14293000", "L3": "36470004", "L4": "11994002"}
BMD_CONCEPT = "DXA Lumbar spine [Mass/Area] Bone density"
EXCLUDED = "L3"  # the fixture excludes L3 (with a reason) to exercise exclusion output


def _head_up(point, shape, flip):
    c, r = point
    if "columns" in flip:
        c = shape[1] - 1 - c
    if "rows" in flip:
        r = shape[0] - 1 - r
    return (float(c), float(r))


def truth_fixture(case, path, flip) -> tuple[ScanResult, dict]:
    truth = case.truth
    shape = tuple(truth["shape"])
    lines = tuple(
        IntervertebralLine(
            _head_up(ln["left"], shape, flip), _head_up(ln["right"], shape, flip), ln["name"]
        )
        for ln in truth["lines"]
    )
    if "columns" in flip:  # a flipped line runs right to left; keep left < right head-up
        lines = tuple(IntervertebralLine(ln.right, ln.left, ln.name) for ln in lines)
    labels = tuple(ln.name.split("/")[1] for ln in lines[:-1])
    code_of = {name: int(code) for code, name in truth["label_codes"].items()}
    label_image = np.zeros(shape, np.int32)
    for i, label in enumerate(labels):
        label_image[case.label_image == code_of[label]] = i + 1
    seg = Segmentation(
        bone_mask=case.bone_mask,
        axis_rows=np.arange(shape[0], dtype=float),
        axis_columns=np.full(shape[0], shape[1] / 2),
        box_mask=case.label_image > 0,
        lines=lines,
        labels=labels,
        label_confidence=tuple(0.8 if lb == "L1" else 1.0 for lb in labels),
        label_image=label_image,
    )
    scan = load(path)
    density = DensityMap(
        values=case.bone_density_g_cm2,
        quantitative=scan.kind != "display",
        units="g/cm2" if scan.kind != "display" else "relative",
        pixel_spacing_mm=tuple(truth["pixel_spacing_mm"]),
        field_mask=np.ones(shape, bool),
    )
    quantitative = scan.kind != "display"
    levels = []
    for lv in truth["levels"]:
        if lv["label"] not in labels:
            continue
        bmd = lv["bmd_g_cm2"]
        excluded = lv["label"] == EXCLUDED
        levels.append(
            {
                "label": lv["label"],
                "bmc_g": lv["bmc_g"] if quantitative else None,
                "area_cm2": lv["area_cm2"],
                "bmd_g_cm2": bmd if quantitative else None,
                "t_score": (bmd - YA_MEAN) / YA_SD if quantitative else None,
                "z_score": None,
                "excluded": excluded,
                "flags": [{"code": "adjacent_t_difference", "detail": "fixture exclusion"}]
                if excluded
                else [],
                "upper_line_px": lv["upper_line_px"],
                "lower_line_px": lv["lower_line_px"],
                "label_confidence": 0.8 if lv["label"] == "L1" else 1.0,
            }
        )
    regions = []
    if quantitative:
        for name, comp in truth["composites"].items():
            members = list(comp["levels"])
            t = (comp["bmd_g_cm2"] - YA_MEAN) / YA_SD
            who = "normal" if t >= -1.0 else ("osteoporosis" if t <= -2.5 else "low_bone_mass")
            regions.append(
                {
                    "name": name,
                    "levels": members,
                    "bmc_g": comp["bmc_g"],
                    "area_cm2": comp["area_cm2"],
                    "bmd_g_cm2": comp["bmd_g_cm2"],
                    "t_score": t,
                    "z_score": None,
                    "who_category": who,
                }
            )
    result = {
        "schema_version": SCHEMA_VERSION,
        "input": {
            "path": str(path),
            "kind": scan.kind,
            "sop_instance_uid": scan.sop_instance_uid,
            "pixel_spacing_mm": list(truth["pixel_spacing_mm"]),
            "pixel_spacing_source": scan.pixel_spacing_source,
        },
        "patient": {"sex": "F", "age_years": 61.0, "ethnicity": "White"},
        "levels": levels,
        "regions": regions,
        "reported_region": "L2-L4" if quantitative else None,
        "flags": [],
        "reference": {"name": "White female L1-L4", "source": "docs/domain.md §8"},
        "software": {"name": "dxaspine", "version": "0.1.0"},
    }
    validate_result(round_for_output(result))
    return ScanResult(scan, density, seg, (), None), result


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    case = generate_case(PhantomParams(seed=3))
    out = tmp_path_factory.mktemp("phantom")
    plain = write_case(case, out / "plain", kinds=("dual_energy", "display"))
    flipped = write_case(
        generate_case(PhantomParams(seed=3)),
        out / "flipped",
        kinds=("dual_energy",),
        flip=("columns",),
    )
    return case, plain, flipped


def _dciodvfy(path) -> tuple[list[str], list[str]]:
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    lines = (proc.stdout + proc.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [
        ln for ln in lines if ln.startswith("Warning")
    ]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize("kind", ["dual_energy", "display"])
def test_sr_and_sc_pass_dciodvfy(phantom, tmp_path, kind):
    case, plain, _ = phantom
    scan_result, result = truth_fixture(case, plain[kind], ())
    write_sr(tmp_path / "sr.dcm", result, scan_result.scan.header)
    write_sc(tmp_path / "sc.dcm", render_overlay(result, scan_result), scan_result.scan.header)
    for name in ("sr.dcm", "sc.dcm"):
        errors, warnings = _dciodvfy(tmp_path / name)
        assert errors == [], f"{name}: {errors}"
        # Warnings are allowed; the only expected ones name our private coding scheme.
        assert all(PRIVATE_SCHEME in w for w in warnings), warnings


def _sr_text(path) -> str:
    return subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("dsrdump") is None, reason="dsrdump (dcmtk) not installed")
def test_dsrdump_renders_every_level_bmd(phantom, tmp_path):
    case, plain, _ = phantom
    scan_result, result = truth_fixture(case, plain["dual_energy"], ())
    write_sr(tmp_path / "sr.dcm", result, scan_result.scan.header)
    text = _sr_text(tmp_path / "sr.dcm")
    # dsrdump prints `NUM:(,,"<concept>")="<value>" (<unit>)`; level groups come first, in
    # the result's top-to-bottom order, then the composites.
    rendered = re.findall(rf'NUM:\(,,"{re.escape(BMD_CONCEPT)}"\)="([-0-9.]+)" \(g/cm2', text)
    levels = result["levels"]
    assert len(rendered) == len(levels) + len(result["regions"])
    for level, shown in zip(levels, rendered, strict=False):
        assert float(shown) == round(level["bmd_g_cm2"], 3), level["label"]


def test_sr_reads_back_truth_bmd_in_source_study(phantom, tmp_path):
    case, plain, _ = phantom
    scan_result, result = truth_fixture(case, plain["dual_energy"], ())
    write_sr(tmp_path / "sr.dcm", result, scan_result.scan.header)
    values = read_sr_measurements(tmp_path / "sr.dcm")
    truth = {lv["label"]: lv for lv in case.truth["levels"]}
    for level in result["levels"]:
        got = values[f"{level['label']} vertebra"]
        # Written at 3 decimals (Contract 2 precision): equal to the rounded truth exactly.
        assert got[BMD_CONCEPT] == round(truth[level["label"]]["bmd_g_cm2"], 3)
        assert got["Bone mineral content"] == round(truth[level["label"]]["bmc_g"], 2)
        assert got["Area"] == round(truth[level["label"]]["area_cm2"], 2)
    for name, comp in case.truth["composites"].items():
        assert values[name][BMD_CONCEPT] == round(comp["bmd_g_cm2"], 3)
    source = pydicom.dcmread(plain["dual_energy"], stop_before_pixels=True)
    sr = pydicom.dcmread(tmp_path / "sr.dcm")
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert sr.SeriesInstanceUID != source.SeriesInstanceUID
    assert sr.Modality == "SR"
    schemes = [item.CodingSchemeDesignator for item in sr.CodingSchemeIdentificationSequence]
    assert schemes == [PRIVATE_SCHEME]


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


def test_sr_codes_regions_and_exclusion(phantom, tmp_path):
    """Finding sites are docs/domain.md §6 SNOMED codes; regions are the truth lines, as stored."""
    case, _, flipped = phantom
    scan_result, result = truth_fixture(case, flipped["dual_energy"], ("columns",))
    write_sr(tmp_path / "sr.dcm", result, scan_result.scan.header)
    sr = pydicom.dcmread(tmp_path / "sr.dcm")
    groups = [
        it
        for it in _walk(sr.ContentSequence)
        if it.ValueType == "CONTAINER" and it.ConceptNameCodeSequence[0].CodeValue == "125007"
    ]
    truth = {lv["label"]: lv for lv in case.truth["levels"]}  # stored (flipped) coordinates
    seen = set()
    for group in groups:
        items = list(group.ContentSequence)
        ident = next(
            it.TextValue for it in items if it.ConceptNameCodeSequence[0].CodeValue == "112039"
        )
        if not ident.endswith(" vertebra"):
            continue
        label = ident.split()[0]
        seen.add(label)
        site = next(it for it in items if it.ConceptNameCodeSequence[0].CodeValue == "363698007")
        assert site.ConceptCodeSequence[0].CodeValue == SCT_VERTEBRA[label]
        scoord = next(it for it in items if it.ValueType == "SCOORD")
        polygon = np.asarray(scoord.GraphicData, float).reshape(-1, 2) - 0.5  # pixel-corner origin
        upper, lower = truth[label]["upper_line_px"], truth[label]["lower_line_px"]
        expected = np.asarray([upper[0], upper[1], lower[1], lower[0], upper[0]], float)
        # float32 in the SCOORD: agreement to 0.05 px, far below a pixel.
        np.testing.assert_allclose(polygon, expected, atol=0.05)
        reasons = [
            it.ConceptCodeSequence[0]
            for it in items
            if it.ValueType == "CODE" and it.ConceptNameCodeSequence[0].CodeValue == "EXCLUDED"
        ]
        if label == EXCLUDED:
            assert [r.LongCodeValue for r in reasons] == ["adjacent_t_difference"]
        else:
            assert reasons == []
    assert seen == set(SCT_VERTEBRA)


def test_display_sr_has_area_but_no_bmd(phantom, tmp_path):
    case, plain, _ = phantom
    scan_result, result = truth_fixture(case, plain["display"], ())
    write_sr(tmp_path / "sr.dcm", result, scan_result.scan.header)
    values = read_sr_measurements(tmp_path / "sr.dcm")
    for level in result["levels"]:
        got = values[f"{level['label']} vertebra"]
        assert BMD_CONCEPT not in got and "Bone mineral content" not in got
        assert got["Area"] == round(level["area_cm2"], 2)


def test_sc_wraps_overlay_in_source_study(phantom):
    case, plain, _ = phantom
    scan_result, result = truth_fixture(case, plain["dual_energy"], ())
    picture = render_overlay(result, scan_result)
    sc = build_sc(picture, scan_result.scan.header)
    source = pydicom.dcmread(plain["dual_energy"], stop_before_pixels=True)
    assert sc.StudyInstanceUID == source.StudyInstanceUID
    assert sc.PatientID == source.PatientID
    assert sc.SeriesInstanceUID != source.SeriesInstanceUID
    np.testing.assert_array_equal(sc.pixel_array, np.asarray(picture))


def test_overlay_tints_levels_and_hatches_the_excluded_one(phantom, tmp_path):
    case, plain, _ = phantom
    scan_result, result = truth_fixture(case, plain["dual_energy"], ())
    write_overlay(tmp_path / "o.png", result, scan_result)
    from PIL import Image

    page = np.asarray(Image.open(tmp_path / "o.png").convert("RGB")).astype(int)
    seg = scan_result.segmentation
    rows, cols = seg.label_image.shape
    spacing = scan_result.scan.pixel_spacing_mm
    # Picture geometry (overlay module): 900 px tall scan at physical aspect, 200 px left
    # margin for labels, 16 px top margin.
    sy = 900 / rows
    sx = sy * spacing[1] / spacing[0]
    for index, label in enumerate(seg.labels):
        if label not in ("L1", "L2", "L3", "L4"):
            continue
        bone = (seg.label_image == index + 1) & seg.bone_mask
        rr, cc = np.nonzero(bone)
        ys = (16 + (rr + 0.5) * sy).astype(int)
        xs = (200 + (cc + 0.5) * sx).astype(int)
        pixels = page[ys, xs]
        if label == EXCLUDED:
            # Hatching: a third of the stripes are dark (30, 30, 30); sampled bone pixels
            # should hit them about that often (accept 15-50 %).
            dark = np.all(pixels < 40, axis=1).mean()
            assert 0.15 < dark < 0.5, dark
            continue
        colour = np.array(
            OKABE_ITO[
                ("sky_blue", "orange", "bluish_green", "reddish_purple", "yellow", "blue")[
                    index % 6
                ]
            ]
        )
        # Tinted bone moves from grey toward the level colour: the dominant channel of the
        # colour exceeds the weakest one on average (grey would have them equal).
        hi, lo = int(np.argmax(colour)), int(np.argmin(colour))
        assert pixels[:, hi].mean() - pixels[:, lo].mean() > 30, label
