"""DICOM Comprehensive SR: the result as a TID 1500 Measurement Report (highdicom).

The report goes into the source image's study, in a new series, with the algorithm
identified (``dxaspine`` + version), as the DICOM derived-object convention (highdicom) asks.  Content:

- one *planar ROI* measurement group per level (TID 1410): tracking identifier, finding site
  (SNOMED CT vertebra, docs/domain.md §6), the level's region as a closed polyline (the
  quadrilateral between its two intervertebral lines, in stored pixel coordinates) selected
  from the source image, and the measurements BMD, BMC, area, T-score and Z-score (plus
  height and width when known); excluded levels carry a qualitative evaluation naming the
  reason, flagged levels one per flag;
- one measurement group per composite region (TID 1501), with each member vertebra as a
  finding site, its WHO category, and "reported region = yes" on the reported one.

Codes: LOINC for the DXA lumbar spine BMD/T/Z observables (24966-4, 38267-1, 85394-5; their
LOINC example UCUM units are ``g/cm2``, ``{T-score}``, ``{Z-score}``), SNOMED CT for anatomy,
area, width and the WHO categories, DCM for height.  The WHO category is a DCM "Finding"
(121071) whose value is SNOMED CT Normal / Osteopenia / Osteoporosis.  Concepts with no
standard code found (BMC, exclusion, QC flag, reported region) use the one private scheme
``99DXASPINE``, declared once in CodingSchemeIdentificationSequence.

Values are written at the Contract 2 output precision (BMD 3 decimals, T/Z 1, BMC and area 2),
so reading the SR back reproduces the JSON.  SCOORD coordinates follow DICOM PS3.3 C.18.6.1.1:
the image's top-left pixel *corner* is (0, 0), so a pixel centre ``[c, r]`` is ``c + 0.5,
r + 0.5``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dxaspine import __version__
from dxaspine.atomic import atomic_open
from dxaspine.errors import InputError, describe
from dxaspine.report import codes
from dxaspine.report._hd_warnings import person_name_warnings_held
from dxaspine.report.codes import PRIVATE_SCHEME
from dxaspine.report.record import round_for_output

logger = logging.getLogger(__name__)

__all__ = ["build_sr", "write_sr", "read_sr_measurements", "PRIVATE_SCHEME", "SR_SERIES_NUMBER"]

SR_SERIES_NUMBER = 990  # high, so derived series sort after the acquisition's own series


def _hd():
    try:
        import highdicom
    except ModuleNotFoundError as exc:  # the [pacs] extra
        raise ModuleNotFoundError(
            "DICOM SR/SC output needs highdicom: pip install 'dxaspine[pacs]'"
        ) from exc
    return highdicom


def _concept(code: codes.Code):
    return _hd().sr.CodedConcept(
        value=code.value, scheme_designator=code.scheme, meaning=code.meaning
    )


def _measurements(item: Mapping[str, Any]) -> list:
    # The group carries the algorithm identification; repeating it per value adds nothing.
    hd = _hd()
    out = []
    for key, (name, unit) in codes.MEASUREMENT.items():
        value = item.get(key)
        if value is None:
            continue  # display inputs have no BMD/BMC/T/Z (Contract 1): omit, never invent
        out.append(hd.sr.Measurement(name=_concept(name), value=float(value), unit=_concept(unit)))
    return out


def _exclusion_reason(level: Mapping[str, Any], mode: str | None) -> dict:
    """The reason for an exclusion that carries no flag of its own."""
    if level.get("bmd_g_cm2") is None:
        return {"code": "no_bmd", "detail": "no BMD measured (display image or unusable level)"}
    if mode == "user":
        return {"code": "user_excluded", "detail": "excluded at the user's request"}
    return {"code": "excluded", "detail": "excluded by the clinical rules (see the report)"}


def _level_evaluations(level: Mapping[str, Any], exclusion_mode: str | None) -> list:
    hd = _hd()
    evaluations = []
    flags = list(level.get("flags") or [])
    if level.get("excluded"):
        reasons = flags or [_exclusion_reason(level, exclusion_mode)]
        for flag in reasons:
            evaluations.append(
                hd.sr.QualitativeEvaluation(
                    name=_concept(codes.EXCLUDED),
                    value=_concept(codes.private(flag["code"], flag.get("detail") or flag["code"])),
                )
            )
    else:
        for flag in flags:
            evaluations.append(
                hd.sr.QualitativeEvaluation(
                    name=_concept(codes.QC_FLAG),
                    value=_concept(codes.private(flag["code"], flag.get("detail") or flag["code"])),
                )
            )
    return evaluations


def _level_polygon(level: Mapping[str, Any], header) -> np.ndarray | None:
    """Closed quadrilateral between the level's lines, SCOORD (pixel-corner) convention.

    Clipped to the image (a box reaching past the field edge would otherwise give
    coordinates outside the referenced image).
    """
    upper, lower = level.get("upper_line_px"), level.get("lower_line_px")
    if upper is None or lower is None:
        return None
    points = np.asarray([upper[0], upper[1], lower[1], lower[0], upper[0]], dtype=np.float64)
    points += 0.5
    points[:, 0] = np.clip(points[:, 0], 0.0, float(header.Columns))
    points[:, 1] = np.clip(points[:, 1], 0.0, float(header.Rows))
    return points.astype(np.float32)


def _source_for_region(header):
    frames = int(header.get("NumberOfFrames", 1) or 1)
    # The two frames of a dual-energy file share one geometry; the region is drawn on frame 1.
    numbers = [1] if frames > 1 else None
    return _hd().sr.SourceImageForRegion.from_source_image(header, referenced_frame_numbers=numbers)


def _level_group(level: Mapping[str, Any], header, algorithm, exclusion_mode: str | None):
    hd = _hd()
    label = level["label"]
    site = codes.VERTEBRA.get(label, codes.LUMBAR_SPINE)
    sites = [hd.sr.FindingSite(_concept(site))]
    polygon = _level_polygon(level, header)
    region = None
    if polygon is not None:
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=polygon,
            source_image=_source_for_region(header),
        )
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{label} vertebra"),
        referenced_region=region,
        finding_type=_concept(codes.BONE),
        finding_sites=sites,
        algorithm_id=algorithm,
        measurements=_measurements(level) or None,
        qualitative_evaluations=_level_evaluations(level, exclusion_mode) or None,
    )


def _region_group(region: Mapping[str, Any], reported: str | None, header, algorithm):
    hd = _hd()
    sites = [
        hd.sr.FindingSite(_concept(codes.VERTEBRA[lv]))
        for lv in region["levels"]
        if lv in codes.VERTEBRA
    ]
    evaluations = []
    if region.get("who_category") in codes.WHO_CATEGORY:
        evaluations.append(
            hd.sr.QualitativeEvaluation(
                # DCM "Finding" with the SNOMED CT disorder as its value: no private code needed.
                name=_concept(codes.FINDING),
                value=_concept(codes.WHO_CATEGORY[region["who_category"]]),
            )
        )
    if region["name"] == reported:
        evaluations.append(
            hd.sr.QualitativeEvaluation(
                name=_concept(codes.REPORTED),
                value=_concept(codes.YES),
            )
        )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=region["name"]),
        finding_type=_concept(codes.BONE),
        finding_sites=sites or [hd.sr.FindingSite(_concept(codes.LUMBAR_SPINE))],
        algorithm_id=algorithm,
        measurements=_measurements(region) or None,
        qualitative_evaluations=evaluations or None,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(header)],
    )


# Type 2 attributes (present, possibly empty) of the Patient Module (PS3.3 C.7.1.1) and the
# General Study Module (C.7.2.1) that highdicom copies from the evidence with attribute
# access.  Anonymised sources often drop them (issue 12: no PatientBirthDate raised an
# AttributeError inside highdicom).  A missing one is added empty, which is what Type 2
# allows for an unknown value (PS3.5 §7.4.2); nothing is invented.
_TYPE2_FROM_SOURCE = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)


def _with_type2(header):
    """A shallow copy of ``header`` with every missing :data:`_TYPE2_FROM_SOURCE` empty."""
    from pydicom.dataset import Dataset

    missing = [k for k in _TYPE2_FROM_SOURCE if k not in header]
    if not missing:
        return header
    copy = Dataset()
    copy.update(header)
    if hasattr(header, "file_meta"):
        copy.file_meta = header.file_meta
    for keyword in missing:
        setattr(copy, keyword, None)
    return copy


def _vendor_groups(plain: Mapping[str, Any], header, algorithm) -> list:
    """The study's vendor numbers, one group per level and reported region, named as the
    vendor's (tracking identifier ``"L1 vertebra, vendor ge_sr"``) with the source stated.

    A display image has no BMD of its own: the SR then carries the vendor's numbers as the
    ISCD rules (with dxaspine's image evidence) read them, each group saying where they came
    from.
    """
    hd = _hd()
    groups = []
    for block in plain.get("vendor") or ():
        assessment = block.get("assessment") or {}
        source = hd.sr.QualitativeEvaluation(
            name=_concept(codes.SOURCE),
            value=_concept(codes.private(block["kind"], f"vendor results ({block['kind']})")),
        )
        for level in assessment.get("levels", ()):
            if level.get("bmd_g_cm2") is None:
                continue
            site = codes.VERTEBRA.get(level["label"], codes.LUMBAR_SPINE)
            evaluations = [source]
            if level.get("excluded"):
                evaluations.append(
                    hd.sr.QualitativeEvaluation(
                        name=_concept(codes.EXCLUDED),
                        value=_concept(codes.private("excluded", "excluded by the clinical rules")),
                    )
                )
            groups.append(
                hd.sr.MeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=hd.UID(),
                        identifier=f"{level['label']} vertebra, vendor {block['kind']}",
                    ),
                    finding_type=_concept(codes.BONE),
                    finding_sites=[hd.sr.FindingSite(_concept(site))],
                    algorithm_id=algorithm,
                    measurements=_measurements(level) or None,
                    qualitative_evaluations=evaluations,
                    source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(header)],
                )
            )
        name = assessment.get("reported_region")
        region = next((r for r in assessment.get("regions", ()) if r["name"] == name), None)
        if region is not None:
            sites = [
                hd.sr.FindingSite(_concept(codes.VERTEBRA[lv]))
                for lv in region["levels"]
                if lv in codes.VERTEBRA
            ]
            groups.append(
                hd.sr.MeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=hd.UID(), identifier=f"{name}, vendor {block['kind']}"
                    ),
                    finding_type=_concept(codes.BONE),
                    finding_sites=sites or [hd.sr.FindingSite(_concept(codes.LUMBAR_SPINE))],
                    algorithm_id=algorithm,
                    measurements=_measurements(region) or None,
                    qualitative_evaluations=[source],
                    source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(header)],
                )
            )
    return groups


def build_sr(
    result: Mapping[str, Any],
    header,
    *,
    series_number: int = SR_SERIES_NUMBER,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
):
    """Build the Comprehensive SR (TID 1500 Measurement Report) of one result.

    Parameters
    ----------
    result : mapping
        The Contract 2 result (full precision; rounded here to the output precision).
    header : pydicom.Dataset
        The source image's dataset (``Scan.header``; pixel data not needed).  Patient and
        study come from it, and the level regions reference it.
    series_number, series_instance_uid, sop_instance_uid : optional
        Identifiers of the new series and instance (fresh UIDs by default).

    Returns
    -------
    highdicom.sr.ComprehensiveSR
    """
    hd = _hd()
    if header is None or "StudyInstanceUID" not in header or "SOPInstanceUID" not in header:
        raise InputError(
            describe(
                result["input"].get("path"),
                "no source DICOM header with study and instance UIDs to derive an SR from",
                "analyse the DICOM file itself rather than an in-memory array",
            )
        )
    header = _with_type2(header)
    plain = round_for_output(result)
    algorithm = hd.sr.AlgorithmIdentification(name="dxaspine", version=__version__)
    observer = hd.sr.ObserverContext(
        observer_type=_concept(codes.DEVICE),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="dxaspine", manufacturer_name="dxaspine", model_name=__version__
        ),
    )
    mode = (plain.get("exclusion") or {}).get("mode")
    groups = [_level_group(level, header, algorithm, mode) for level in plain["levels"]]
    groups += [
        _region_group(region, plain.get("reported_region"), header, algorithm)
        for region in plain["regions"]
        if region.get("bmd_g_cm2") is not None  # display inputs: no composite exists
    ]
    groups += _vendor_groups(plain, header, algorithm)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=_concept(codes.DXA_PROCEDURE),
        imaging_measurements=groups,
    )
    with person_name_warnings_held():  # highdicom would quote the patient's name
        sr = hd.sr.ComprehensiveSR(
            evidence=[header],
            content=report[0],
            series_instance_uid=series_instance_uid or hd.UID(),
            series_number=series_number,
            sop_instance_uid=sop_instance_uid or hd.UID(),
            instance_number=1,
            manufacturer="dxaspine",
            series_description="dxaspine lumbar spine BMD",
            is_complete=True,
        )
    _declare_private_scheme(sr)
    return sr


def _declare_private_scheme(sr) -> None:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = "dxaspine private codes"
    item.CodingSchemeResponsibleOrganization = "dxaspine project"
    item.CodingSchemeVersion = __version__
    sr.CodingSchemeIdentificationSequence = [item]


def write_sr(path: str | os.PathLike, result: Mapping[str, Any], header, **kwargs: Any) -> str:
    """Build the SR (see :func:`build_sr`) and write it atomically; returns its SOP UID."""
    sr = build_sr(result, header, **kwargs)
    with atomic_open(path, "wb") as handle:
        sr.save_as(handle, enforce_file_format=True)
    logger.debug("wrote SR %s", path)
    return str(sr.SOPInstanceUID)


def read_sr_measurements(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Read back a dxaspine SR: ``{tracking identifier: {concept meaning: value}}``.

    Levels are keyed ``"L1 vertebra"`` …, composites by region name (``"L1-L4"``).  Concept
    meanings are those written (e.g. ``"DXA Lumbar spine [Mass/Area] Bone density"``).
    """
    hd = _hd()
    sr = hd.sr.srread(path)
    out: dict[str, dict[str, float]] = {}
    groups: Sequence = [
        *sr.content.get_planar_roi_measurement_groups(),
        *sr.content.get_image_measurement_groups(),
    ]
    for group in groups:
        values = {m.name.meaning: float(m.value) for m in group.get_measurements()}
        out[group.tracking_identifier] = values
    return out
