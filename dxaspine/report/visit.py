"""A monitoring :class:`~dxaspine.clinical.monitoring.visits.Visit` from one analysed scan.

The result record (:func:`dxaspine.report.record.record_from_scan`) carries the numbers; the
scan adds what only the image knows: the study date, the PatientID (hashed at once, never
kept) and the scanner's software version.  Kept in ``report`` because it turns a
``ScanResult`` into something else, as every module here does (docs/architecture.md), while
:mod:`dxaspine.clinical.monitoring` stays on numbers.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from dxaspine.clinical.monitoring.visits import Visit, hash_patient_id, visit_from_result
from dxaspine.report.record import record_from_scan

__all__ = ["visit_from_scan"]


def visit_from_scan(scan_result: Any, path: str | os.PathLike | None = None) -> Visit:
    """The visit of one analysed scan.

    Parameters
    ----------
    scan_result : dxaspine.pipeline.ScanResult
        From :func:`dxaspine.analyze` (with ``exclude=`` for levels excluded at this visit).
    path : path, optional
        The input as the user named it (default: the scan's own path).

    Returns
    -------
    Visit

    Examples
    --------
    >>> import dxaspine
    >>> from dxaspine.report.visit import visit_from_scan
    >>> baseline = visit_from_scan(dxaspine.analyze("2021.dcm"))  # doctest: +SKIP
    >>> follow_up = visit_from_scan(dxaspine.analyze("2023.dcm", exclude=["L4"]))  # doctest: +SKIP
    >>> dxaspine.monitoring.compare([baseline, follow_up], lsc=0.03).region  # doctest: +SKIP
    'L1-L3'
    """
    record = record_from_scan(scan_result, path)
    scan = scan_result.scan
    header = scan.header
    pid = None
    if header is not None:
        pid = hash_patient_id(header.get("PatientID"), header.get("IssuerOfPatientID"))
    source = os.fspath(path) if path is not None else (scan.path or "<scan>")
    visit = visit_from_result(record, source, date=scan.study_date, patient_id_hash=pid)
    if scan.device.software and not visit.software:
        visit = replace(visit, software=str(scan.device.software))
    return visit
