"""Test studies for the PACS tests, all derived from the drawn phantom (no patient data).

- :func:`phantom_study` writes one phantom case's files (dual-energy interchange file,
  display export, optionally BMD map) plus its truth, all in one study (the phantom writer
  gives every kind of a case the same StudyInstanceUID), and optionally the case's vendor
  results objects (:mod:`dxaspine.phantom.vendor_results`: GE Enhanced SR, GE STR XML,
  Hologic XML page, TID 1500) in the same study, whose numbers are the truth as a vendor
  prints it.
- :func:`femur_image` turns a display export into a hip image (ProtocolName "Left Femur",
  new UIDs) that the node must store but not analyse.
- :func:`reuid_study` copies files into a new study (new study, series and instance UIDs).
- :func:`sr_measurements` reads a dxaspine SR's content tree with pydicom alone (not with
  dxaspine's own reader), so the tests do not trust the code they test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dxaspine.phantom import PhantomParams, generate_case, write_case
from dxaspine.phantom.vendor_results import write_vendor_results

LEVELS = ("L1", "L2", "L3", "L4")
BMD_CODE = "24966-4"  # LOINC DXA lumbar spine BMD (docs/domain.md §6b)
TRACKING_ID = "112039"  # DCM Tracking Identifier


def _sop(path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def phantom_study(
    folder: Path, seed: int, kinds=("dual_energy", "display"), vendor=(), **params
) -> dict:
    """Write one phantom study.

    Returns ``{kind: path, "vendor": {variant: path}, "truth": dict, "study_uid": str,
    "sop_uids": {kind or "vendor:<variant>": SOP UID}}``.
    """
    case = generate_case(PhantomParams(seed=seed, **params))
    target = Path(folder) / f"seed{seed}"
    paths = write_case(case, target, kinds=kinds)
    out = {k: v for k, v in paths.items() if k in kinds}
    out["vendor"] = write_vendor_results(case, target, variants=vendor) if vendor else {}
    out["truth"] = json.loads(Path(paths["truth"]).read_text())
    first = next(iter(out[k] for k in kinds if k != "dual_energy_pair"))
    out["study_uid"] = str(pydicom.dcmread(first, stop_before_pixels=True).StudyInstanceUID)
    out["sop_uids"] = {k: _sop(out[k]) for k in kinds if k != "dual_energy_pair"}
    out["sop_uids"].update({f"vendor:{k}": _sop(v) for k, v in out["vendor"].items()})
    return out


def vendor_printed_bmd(truth: dict) -> dict[str, float]:
    """Per-level BMD as the phantom's vendor objects print it: round(BMC / area, 3) of truth
    (dxaspine/phantom/vendor_results.py; tests/test_vendor_roundtrip.py checks the writer)."""
    return {
        lv["label"]: round(lv["bmc_g"] / lv["area_cm2"], 3)
        for lv in truth["levels"]
        if lv["label"] in LEVELS and lv.get("complete", True)
    }


def femur_image(display_path: Path, target: Path, index: int) -> Path:
    """A hip image of the same study: stored by the node, not analysed."""
    ds = pydicom.dcmread(display_path)
    ds.ProtocolName = "Left Femur"
    ds.SeriesDescription = "Left Femur"
    ds.BodyPartExamined = "HIP"
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(ds.StudyInstanceUID), "femur series"])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(ds.StudyInstanceUID), "femur", str(index)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = index + 1
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def reuid_study(paths: list[Path], folder: Path, key: str) -> tuple[str, list[Path]]:
    """Copies of ``paths`` in a new study (deterministic UIDs from ``key``)."""
    study = generate_uid(entropy_srcs=["reuid", key, "study"])
    out = []
    for i, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["reuid", key, str(ds.SeriesInstanceUID)])
        ds.SOPInstanceUID = generate_uid(entropy_srcs=["reuid", key, str(ds.SOPInstanceUID)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = Path(folder) / f"{key}_{i:03d}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)
        out.append(target)
    return study, out


def _walk(items):
    for item in items or []:
        yield item
        yield from _walk(item.get("ContentSequence"))


def sr_measurements(ds: Dataset) -> dict[str, dict[str, float]]:
    """``{tracking identifier: {LOINC/SCT code value: number}}`` from an SR's content tree."""
    out: dict[str, dict[str, float]] = {}
    for group in _walk(ds.get("ContentSequence")):
        if group.get("ValueType") != "CONTAINER":
            continue
        children = group.get("ContentSequence") or []
        names = [
            c.TextValue
            for c in children
            if c.get("ValueType") in ("TEXT", "UIDREF")
            and c.ConceptNameCodeSequence[0].CodeValue == TRACKING_ID
        ]
        if not names:
            continue
        values = {}
        for child in children:
            if child.get("ValueType") == "NUM" and child.get("MeasuredValueSequence"):
                code = child.ConceptNameCodeSequence[0].CodeValue
                values[code] = float(child.MeasuredValueSequence[0].NumericValue)
        out[names[0]] = values
    return out


def sr_level_bmd(ds: Dataset) -> dict[str, float]:
    """Per-level BMD (g/cm2) from a dxaspine SR: ``{"L1": 0.93, ...}``."""
    found = sr_measurements(ds)
    return {
        name.split()[0]: values[BMD_CODE]
        for name, values in found.items()
        if name.endswith(" vertebra") and BMD_CODE in values
    }


def sr_evidence_uids(ds: Dataset) -> set[str]:
    """SOP Instance UIDs the SR lists as evidence (CurrentRequestedProcedureEvidence)."""
    uids = set()
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in study.get("ReferencedSeriesSequence", []):
            for ref in series.get("ReferencedSOPSequence", []):
                uids.add(str(ref.ReferencedSOPInstanceUID))
    return uids


# Tolerances: tests/test_pipeline_accuracy.py holds the pipeline to per-level BMD within 2 % of
# truth (95th percentile) and L1-L4 within 1 % on its standard cases, seeds 300-315 of suite
# "acc" with the physics the decomposition models (ACCURACY_PARAMS: no marrow displacement, no
# midline fat excess, so DXA's own fat error, -0.8 to -1.5 % BMC with fat marrow, is not in
# the figure).  The PACS tests draw their studies from those same cases (ACCURACY_CASES, with
# ACCURACY_PARAMS: with fat marrow the iDXA case reads L1-L4 -1.68 % once the noise-aware edge
# no longer hides the fat error behind a missing area, docs/segmentation.md §8), on which
# every single level is within 2 % (largest: 1.94 % dual-energy, 1.63 % BMD map; L1-L4 0.72 %,
# measured on this branch), so 2 % per level and 1 % for L1-L4 is what the pipeline meets
# there.  The SR stores BMD rounded to 0.001 g/cm2 (Contract 2): at most 0.0005 g/cm2 more.
LEVEL_TOLERANCE, COMPOSITE_TOLERANCE, ROUNDING_G_CM2 = 0.02, 0.01, 0.0005
# (seed, scanner) of test_pipeline_accuracy's cases: PhantomParams(seed, scanner, suite="acc").
ACCURACY_CASES = tuple((300 + i, "prodigy" if i % 2 == 0 else "idxa") for i in range(16))
# ... and their physics (as test_pipeline_accuracy's standard cases)
ACCURACY_PARAMS = {"suite": "acc", "marrow": "none", "midline_fat_excess": 0.0}


def assert_bmd_matches_truth(sr: Dataset, truth: dict) -> None:
    """Per-level and L1-L4 BMD in a dxaspine SR against the phantom truth."""
    measured = sr_level_bmd(sr)
    true_levels = {lv["label"]: lv["bmd_g_cm2"] for lv in truth["levels"]}
    for level in LEVELS:
        allowed = LEVEL_TOLERANCE * true_levels[level] + ROUNDING_G_CM2
        assert abs(measured[level] - true_levels[level]) <= allowed, (level, measured, true_levels)
    composite = sr_measurements(sr)["L1-L4"]["24966-4"]
    true_composite = truth["composites"]["L1-L4"]["bmd_g_cm2"]
    assert abs(composite - true_composite) <= COMPOSITE_TOLERANCE * true_composite + ROUNDING_G_CM2
