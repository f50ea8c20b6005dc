"""The one adapter between the PACS node and the pipeline: a ready study in, DICOM objects out.

Runs in a worker process (:func:`analyse_study` is what the node submits).  For the study's
instances on disk it:

1. sorts them: dxaspine's own earlier outputs (recognised by Manufacturer ``dxaspine`` and
   the SR/SC series numbers) are skipped; the study's **vendor results** (GE Enhanced SR and
   STR XML, Hologic XML, TID 1500 reports) are recognised from their headers by
   :mod:`dxaspine.io.vendor` (``group_by_study``, the entry point ``dxaspine analyze`` uses);
   images are classified (:func:`dxaspine.io.peek`), single-energy halves are paired, and
   anything that is not a PA lumbar spine, or a non-image object that is not vendor results,
   is skipped with its reason;
2. analyses every AP-spine input with ``dxaspine.analyze(image, vendor=<the study's vendor
   results>)``, so the result carries the vendor's numbers, the ISCD rules on them with our
   image evidence, and the second reading (docs/vendor_results.md); vendor results that
   cannot be read are recorded and the image is analysed without them.  Per input it builds
   the Comprehensive SR and the Secondary Capture of the overlay, plus the result JSON.  A
   study with vendor results and no AP-spine image is assessed on the vendor's numbers
   (``analyze_vendor_only``) and gets the result JSON only (the SR places every level on an
   image region);
3. writes them atomically into the generation's output folder and returns a plain
   :class:`StudyReport` (picklable; no patient data in it, messages sanitised).

**Superseding** (docs/pacs.md "Late instances"): every output of one source image goes into
one series per kind whose UID is derived from (study, source), so all generations of that
image's SR sit in one series; InstanceNumber is the generation; a newer SR lists the one it
replaces in PredecessorDocumentsSequence (PS3.3 C.17.2).  Output UIDs are derived from
(study, source, generation), so re-running a generation after a crash gives the same UIDs.

The writers (:mod:`dxaspine.report`) are imported here and nowhere else in
:mod:`dxaspine.pacs`: the result JSON goes through the writers registry; the SR and SC are
built with the functions the registry's ``sr``/``sc`` writers wrap, because the node sets
their UIDs, InstanceNumber and predecessor itself (see :func:`_analyse_input`).
"""

from __future__ import annotations

import logging
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxaspine.errors import DxaError
from dxaspine.pacs.logs import uid_tag
from dxaspine.pacs.uids import derived_uid

logger = logging.getLogger(__name__)

__all__ = ["StudyJob", "StudyReport", "analyse_study", "is_own_output", "SR_CLASS", "SC_CLASS"]

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR Storage
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
# SR classes and Raw Data Storage (the class dxaspine's GE "STR" fixture uses): no pixels.
_NON_IMAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.11",
    "1.2.840.10008.5.1.4.1.1.88.22",
    "1.2.840.10008.5.1.4.1.1.88.33",
    "1.2.840.10008.5.1.4.1.1.88.34",
    "1.2.840.10008.5.1.4.1.1.66",
}
_OWN_MANUFACTURER = "dxaspine"


@dataclass(frozen=True)
class StudyJob:
    """One generation of one study, as the worker needs it (plain data, picklable)."""

    study_uid: str
    generation: int
    instances: tuple[tuple[str, str], ...]  # (SOPInstanceUID, path), every instance on disk
    output_dir: str
    json_dir: str = ""
    reference: str = ""
    previous: tuple[dict, ...] = ()  # the last completed generation's outputs


@dataclass(frozen=True)
class StudyReport:
    study_uid: str
    generation: int
    analysed: tuple[str, ...]  # every SOP UID this generation looked at
    outputs: tuple[dict, ...] = ()  # kind, path, sop/series/class UIDs, source
    inputs: tuple[dict, ...] = ()  # per AP-spine input: sources, kind, status, error
    skipped: tuple[dict, ...] = ()  # per instance not analysed: sop tag, reason
    vendor_results: tuple[str, ...] = ()  # SOP UIDs of the study's vendor results objects
    vendor_kinds: tuple[str, ...] = ()  # their kinds (ge_sr, ge_xml, hologic_xml, tid1500_sr)

    def summary(self) -> dict:
        """What the queue keeps in the study's history (tags and counts, no UIDs' text)."""
        return {
            "instances": len(self.analysed),
            "inputs": [{k: v for k, v in item.items() if k != "sources"} for item in self.inputs],
            "outputs": len(self.outputs),
            "skipped": len(self.skipped),
            "vendor_results": len(self.vendor_results),
            "vendor_kinds": sorted(self.vendor_kinds),
        }


def _header(path: str):
    import pydicom

    return pydicom.dcmread(
        path,
        stop_before_pixels=True,
        specific_tags=["SOPClassUID", "Manufacturer", "SeriesNumber", "Modality"],
    )


def is_own_output(header) -> bool:
    """True for dxaspine's SR or SC (by SOP class, Manufacturer and series number)."""
    from dxaspine.report.dicom_sc import SC_SERIES_NUMBER
    from dxaspine.report.dicom_sr import SR_SERIES_NUMBER

    sop_class = str(header.get("SOPClassUID", ""))
    manufacturer = str(header.get("Manufacturer", "") or "")
    try:
        series = int(header.get("SeriesNumber") or -1)
    except (TypeError, ValueError):
        series = -1
    return manufacturer == _OWN_MANUFACTURER and (
        (sop_class == SR_CLASS and series == SR_SERIES_NUMBER)
        or (sop_class == SC_CLASS and series == SC_SERIES_NUMBER)
    )


def _sanitise(message: str, paths: dict[str, str]) -> str:
    # Inbox paths contain the study and instance UIDs: replace them by tags.
    for sop, path in paths.items():
        message = message.replace(path, f"instance {uid_tag(sop)}")
    return " ".join(message.split())


def _sort_instances(job: StudyJob) -> tuple[list, list[tuple[str, str]], list[dict]]:
    """(AP-spine inputs as sources, vendor results as (SOP UID, kind), skipped records)."""
    from dxaspine.io import pair_dual_energy, peek
    from dxaspine.io.vendor.study import group_by_study

    paths = dict(job.instances)
    sop_of = {path: sop for sop, path in job.instances}
    skipped, candidates = [], []
    for sop, path in job.instances:
        try:
            header = _header(path)
        except Exception as exc:  # noqa: BLE001 - unreadable: recorded, the study goes on
            skipped.append(
                {"instance": uid_tag(sop), "reason": f"unreadable ({type(exc).__name__})"}
            )
            continue
        if is_own_output(header):  # before vendor detection: ours is a TID 1500 SR too
            skipped.append({"instance": uid_tag(sop), "reason": "dxaspine output"})
        else:
            candidates.append((path, str(header.get("SOPClassUID", ""))))
    # Vendor results (GE SR/XML, Hologic XML, TID 1500) are recognised from the header by
    # dxaspine.io.vendor, the same entry point ``dxaspine analyze`` uses for a study.
    studies, unreadable = group_by_study([path for path, _ in candidates])
    for path, reason in unreadable:
        skipped.append({"instance": uid_tag(sop_of[path]), "reason": _sanitise(reason, paths)})
    vendor = [(sop_of[p], kind) for study in studies.values() for p, kind in study.vendor]
    others = {p for study in studies.values() for p in study.others}
    peeked = []
    for path, sop_class in candidates:
        if path not in others:
            continue
        if sop_class in _NON_IMAGE_CLASSES:
            reason = "a non-image object not recognised as vendor results"
            skipped.append({"instance": uid_tag(sop_of[path]), "reason": reason})
            continue
        result = peek(path)
        if result.kind is None:
            reason = _sanitise(result.reason or "not a DXA spine image", paths)
            skipped.append({"instance": uid_tag(sop_of[path]), "reason": reason})
            continue
        peeked.append(result)
    pairs, singles = pair_dual_energy(peeked)
    inputs: list = []
    for low, high in pairs:
        inputs.append(((sop_of[low.path], sop_of[high.path]), [low.path, high.path]))
    for single in singles:
        if single.is_pair_member:  # a half without its partner cannot be decomposed
            skipped.append(
                {"instance": uid_tag(sop_of[single.path]), "reason": "unpaired energy half"}
            )
            continue
        inputs.append(((sop_of[single.path],), single.path))
    return inputs, vendor, skipped


def _previous_sr(job: StudyJob, source: str) -> dict | None:
    for item in job.previous:
        if item.get("kind") == "sr" and item.get("source") == source:
            return item
    return None


def _predecessor(job: StudyJob, previous: dict):
    from pydicom.dataset import Dataset

    ref = Dataset()
    ref.ReferencedSOPClassUID = previous["sop_class_uid"]
    ref.ReferencedSOPInstanceUID = previous["sop_instance_uid"]
    series = Dataset()
    series.SeriesInstanceUID = previous["series_instance_uid"]
    series.ReferencedSOPSequence = [ref]
    item = Dataset()
    item.StudyInstanceUID = job.study_uid
    item.ReferencedSeriesSequence = [series]
    return [item]


def _save(dataset, path: Path) -> None:
    from dxaspine.atomic import atomic_open

    with atomic_open(path, "wb") as handle:
        dataset.save_as(handle, enforce_file_format=True)


def _analyse(source: Any, job: StudyJob, vendor_paths: list[str], record: dict):
    """``dxaspine.analyze`` with the study's vendor results; without them if they fail."""
    from dxaspine.pipeline import analyze

    reference = job.reference or None
    try:
        return analyze(source, reference=reference, vendor=vendor_paths)
    except DxaError as exc:
        if not vendor_paths or getattr(exc, "stage", None) != "vendor":
            raise
        # Bad vendor numbers must not cost the site our own analysis of the image.
        record["vendor_error"] = f"{type(exc).__name__}: {_sanitise(str(exc), {})}"
        return analyze(source, reference=reference)


def _analyse_input(
    job: StudyJob, sources: tuple[str, ...], source: Any, vendor_paths: list[str], record: dict
) -> list[dict]:
    from dxaspine.report import WRITERS, ScanOutput, record_from_scan
    from dxaspine.report.dicom_sc import SC_SERIES_NUMBER, build_sc
    from dxaspine.report.dicom_sr import SR_SERIES_NUMBER, build_sr
    from dxaspine.report.overlay import render_overlay

    key = sources[0]  # the low half's UID for a pair
    scan_result = _analyse(source, job, vendor_paths, record)
    record["vendor_read"] = len(getattr(scan_result, "vendor", ()) or ())
    output = ScanOutput(scan_result, record_from_scan(scan_result, source))
    header = scan_result.scan.header
    out_dir = Path(job.output_dir)
    outputs = []

    # The registry's "sr" and "sc" writers wrap build_sr/build_sc with fresh UIDs; the node
    # needs derived UIDs, the generation as InstanceNumber and the predecessor reference,
    # which Writer.write(output, destination) does not carry, so it calls the builders.
    sr = build_sr(
        output.record,
        header,
        series_number=SR_SERIES_NUMBER,
        series_instance_uid=derived_uid(job.study_uid, key, "sr series"),
        sop_instance_uid=derived_uid(job.study_uid, key, str(job.generation), "sr"),
    )
    sr.InstanceNumber = job.generation
    previous = _previous_sr(job, key)
    if previous is not None:
        sr.PredecessorDocumentsSequence = _predecessor(job, previous)
    output.cache.setdefault("overlay", render_overlay(output.record, scan_result))
    sc = build_sc(
        output.cache["overlay"],
        header,
        source_path=None,
        series_number=SC_SERIES_NUMBER,
        series_instance_uid=derived_uid(job.study_uid, key, "sc series"),
        sop_instance_uid=derived_uid(job.study_uid, key, str(job.generation), "sc"),
    )
    sc.InstanceNumber = job.generation
    for kind, dataset in (("sr", sr), ("sc", sc)):
        path = out_dir / f"{kind}_{dataset.SOPInstanceUID}.dcm"
        _save(dataset, path)
        outputs.append(
            {
                "kind": kind,
                "path": str(path),
                "source": key,
                "sop_instance_uid": str(dataset.SOPInstanceUID),
                "series_instance_uid": str(dataset.SeriesInstanceUID),
                "sop_class_uid": str(dataset.SOPClassUID),
            }
        )
    json_path = out_dir / f"result_{key}.json"
    WRITERS["json"].write(output, json_path)
    outputs.append({"kind": "json", "path": str(json_path), "source": key, "sop_instance_uid": ""})
    if job.json_dir:
        WRITERS["json"].write(
            output, Path(job.json_dir) / job.study_uid / f"{key}.g{job.generation}.json"
        )
    return outputs


def _vendor_only(job: StudyJob, vendor_paths: list[str], key: str, record: dict) -> list[dict]:
    """A study with vendor results and no AP-spine image: the vendor's numbers assessed.

    Only the result JSON is written: the SR writer places every level on an image region,
    and there is no image (``dxaspine analyze`` does the same for a results-only study).
    """
    from dxaspine.pipeline import analyze_vendor_only
    from dxaspine.report import WRITERS, ScanOutput
    from dxaspine.report.record import record_from_vendor_only

    vendor_result = analyze_vendor_only(vendor_paths, reference=job.reference or None)
    output = ScanOutput(vendor_result, record_from_vendor_only(vendor_result))
    record["vendor_read"] = len(vendor_result.vendor)
    path = Path(job.output_dir) / f"result_{key}.json"
    WRITERS["json"].write(output, path)
    if job.json_dir:
        WRITERS["json"].write(
            output, Path(job.json_dir) / job.study_uid / f"{key}.g{job.generation}.json"
        )
    return [{"kind": "json", "path": str(path), "source": key, "sop_instance_uid": ""}]


def analyse_study(job: StudyJob) -> StudyReport:
    """Analyse one generation of one study (in a worker); never raises for a bad image."""
    from dxaspine.batch.worker import init_worker

    init_worker()
    Path(job.output_dir).mkdir(parents=True, exist_ok=True)
    paths = dict(job.instances)
    inputs, vendor, skipped = _sort_instances(job)
    vendor_paths = [paths[sop] for sop, _ in vendor]
    outputs: list[dict] = []
    records: list[dict] = []
    if not inputs and vendor:  # results only: assessed on the vendor's numbers
        inputs = [((vendor[0][0],), None)]
    for sources, source in inputs:
        record = {"sources": list(sources), "instance": uid_tag(sources[0]), "status": "analysed"}
        try:
            if source is None:
                produced = _vendor_only(job, vendor_paths, sources[0], record)
                record["status"] = "vendor results only"
            else:
                produced = _analyse_input(job, sources, source, vendor_paths, record)
            outputs.extend(produced)
        except DxaError as exc:
            record.update(status="error", error_class=type(exc).__name__,
                          message=_sanitise(str(exc), paths))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a bug on one image must not sink the study
            logger.error(
                "study %s: unexpected %s on instance %s:\n%s",
                uid_tag(job.study_uid),
                type(exc).__name__,
                uid_tag(sources[0]),
                _sanitise(traceback.format_exc(), paths),
            )
            record.update(status="error", error_class=type(exc).__name__,
                          message=_sanitise(str(exc), paths))  # fmt: skip
        records.append(record)
    for record in records:
        if record["status"] == "error":
            logger.warning(
                "study %s: instance %s not analysed: %s",
                uid_tag(job.study_uid),
                record["instance"],
                record["message"],
            )
    return StudyReport(
        study_uid=job.study_uid,
        generation=job.generation,
        analysed=tuple(sop for sop, _ in job.instances),
        outputs=tuple(outputs),
        inputs=tuple(records),
        skipped=tuple(skipped),
        vendor_results=tuple(sop for sop, _ in vendor),
        vendor_kinds=tuple(kind for _, kind in vendor),
    )


def output_files(report: StudyReport, kinds=("sr", "sc")) -> list[str]:
    """The DICOM files a forwarder sends for this report."""
    return [o["path"] for o in report.outputs if o["kind"] in kinds and os.path.exists(o["path"])]
