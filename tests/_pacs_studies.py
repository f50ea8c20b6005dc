"""Test studies for the PACS tests, all derived from the drawn phantom (no patient data).

- :func:`phantom_study` writes one phantom case's files (dual-energy interchange file,
  display export, optionally BMD map) plus its truth, all in one study (the phantom writer
  gives every kind of a case the same StudyInstanceUID).
- :func:`vendor_sr` builds a stand-in for a vendor's Enhanced SR in the same study: the
  real vendor SR inputs are another engineer's work in progress, so this object only has
  to be a valid SR instance that the node must store and pass to the analysis adapter.
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
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dxaspine.phantom import PhantomParams, generate_case, write_case

ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
LEVELS = ("L1", "L2", "L3", "L4")
BMD_CODE = "24966-4"  # LOINC DXA lumbar spine BMD (docs/domain.md §6b)
TRACKING_ID = "112039"  # DCM Tracking Identifier


def phantom_study(folder: Path, seed: int, kinds=("dual_energy", "display"), **params) -> dict:
    """Write one phantom study; returns {kind: path, "truth": dict, "study_uid": str, ...}."""
    case = generate_case(PhantomParams(seed=seed, **params))
    paths = write_case(case, Path(folder) / f"seed{seed}", kinds=kinds)
    out = {k: v for k, v in paths.items() if k in kinds}
    out["truth"] = json.loads(Path(paths["truth"]).read_text())
    first = next(iter(out[k] for k in kinds if k != "dual_energy_pair"))
    out["study_uid"] = str(pydicom.dcmread(first, stop_before_pixels=True).StudyInstanceUID)
    out["sop_uids"] = {
        k: str(pydicom.dcmread(out[k], stop_before_pixels=True).SOPInstanceUID)
        for k in kinds
        if k != "dual_energy_pair"
    }
    return out


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def vendor_sr(reference_image: Path, target: Path, bmd_by_level: dict[str, float]) -> Path:
    """An Enhanced SR shaped like GE enCORE's (docs/domain.md §6b) in the image's study."""
    ref = pydicom.dcmread(reference_image, stop_before_pixels=True)
    ds = Dataset()
    ds.SOPClassUID = ENHANCED_SR
    ds.SOPInstanceUID = generate_uid()
    for keyword in ("StudyInstanceUID", "PatientName", "PatientID", "PatientBirthDate",
                    "PatientSex", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
                    "ReferringPhysicianName"):  # fmt: skip
        setattr(ds, keyword, ref.get(keyword, ""))
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 500
    ds.InstanceNumber = 1
    ds.Modality = "SR"
    ds.Manufacturer = "GE Healthcare"
    ds.ContentDate, ds.ContentTime = ref.StudyDate, ref.StudyTime
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ConceptNameCodeSequence = [_code("DXA Report", "99GEMS", "DXA Report")]
    regions = []
    for level, bmd in bmd_by_level.items():
        num = Dataset()
        num.RelationshipType, num.ValueType = "CONTAINS", "NUM"
        num.ConceptNameCodeSequence = [_code("BMD", "99GEMS", "BMD")]
        value = Dataset()
        value.NumericValue = f"{bmd:.3f}"
        value.MeasurementUnitsCodeSequence = [_code("g/cm2", "UCUM", "g/cm2")]
        num.MeasuredValueSequence = [value]
        region = Dataset()
        region.RelationshipType, region.ValueType = "CONTAINS", "CONTAINER"
        region.ContinuityOfContent = "SEPARATE"
        region.ConceptNameCodeSequence = [_code(level, "99GEMS", level)]
        region.ContentSequence = [num]
        regions.append(region)
    spine = Dataset()
    spine.RelationshipType, spine.ValueType = "CONTAINS", "CONTAINER"
    spine.ContinuityOfContent = "SEPARATE"
    spine.ConceptNameCodeSequence = [_code("AP Spine", "99GEMS", "AP Spine")]
    spine.ContentSequence = regions
    ds.ContentSequence = [spine]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


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
# "acc".  The PACS tests draw their studies from those same cases (ACCURACY_CASES), on which
# every single level is within 2 % (largest: 1.94 % dual-energy, 1.63 % BMD map; L1-L4 0.72 %,
# measured on this branch), so 2 % per level and 1 % for L1-L4 is what the pipeline meets
# there.  The SR stores BMD rounded to 0.001 g/cm2 (Contract 2): at most 0.0005 g/cm2 more.
LEVEL_TOLERANCE, COMPOSITE_TOLERANCE, ROUNDING_G_CM2 = 0.02, 0.01, 0.0005
# (seed, scanner) of test_pipeline_accuracy's cases: PhantomParams(seed, scanner, suite="acc").
ACCURACY_CASES = tuple((300 + i, "prodigy" if i % 2 == 0 else "idxa") for i in range(16))


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
