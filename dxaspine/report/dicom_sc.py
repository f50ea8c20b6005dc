"""DICOM Secondary Capture of the overlay picture (highdicom ``SCImage.from_ref_dataset``).

The picture goes into the source image's study, in a new series, so that a PACS shows the
analysis next to the scan it was made from (derived objects stay in the source
study, new series, algorithm identified).  Patient and study attributes are copied from the
source header by highdicom.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from dxaspine import __version__
from dxaspine.atomic import atomic_open
from dxaspine.errors import InputError, describe
from dxaspine.report._hd_warnings import person_name_warnings_held

logger = logging.getLogger(__name__)

__all__ = ["build_sc", "write_sc", "SC_SERIES_NUMBER"]

SC_SERIES_NUMBER = 991  # next to the SR's series (990)


def build_sc(
    picture: Any,
    header,
    *,
    source_path: str | None = None,
    series_number: int = SC_SERIES_NUMBER,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
):
    """Wrap an RGB picture (the overlay) as a Secondary Capture in the source study.

    Parameters
    ----------
    picture : PIL.Image.Image or (rows, cols, 3) uint8 ndarray
        The overlay, drawn head-up with the patient's left on the right.
    header : pydicom.Dataset
        The source image's dataset (``Scan.header``).
    source_path : str, optional
        Named in the error message when ``header`` is unusable.
    series_number, series_instance_uid, sop_instance_uid : optional
        Identifiers of the new series and instance (fresh UIDs by default).

    Returns
    -------
    highdicom.sc.SCImage
    """
    try:
        import highdicom as hd
    except ModuleNotFoundError as exc:  # the [pacs] extra
        raise ModuleNotFoundError(
            "DICOM SR/SC output needs highdicom: pip install 'dxaspine[pacs]'"
        ) from exc
    if header is None or "StudyInstanceUID" not in header:
        raise InputError(
            describe(
                source_path,
                "no source DICOM header with a study UID to place the overlay in",
                "analyse the DICOM file itself rather than an in-memory array",
            )
        )
    pixels = np.ascontiguousarray(
        np.asarray(picture.convert("RGB") if hasattr(picture, "convert") else picture)
    )
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(
            f"picture must be (rows, cols, 3) uint8 RGB, got {pixels.shape} {pixels.dtype}"
        )
    with person_name_warnings_held():  # highdicom would quote the patient's name
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=header,
            pixel_array=pixels,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            series_instance_uid=series_instance_uid or hd.UID(),
            series_number=series_number,
            sop_instance_uid=sop_instance_uid or hd.UID(),
            instance_number=1,
            manufacturer="dxaspine",
            # The overlay is drawn head-up, patient's left on the picture's right (Contract 1).
            patient_orientation=("L", "F"),
            transfer_syntax_uid="1.2.840.10008.1.2.1",  # explicit VR little endian
            series_description="dxaspine overlay",
        )
    sc.SoftwareVersions = f"dxaspine {__version__}"
    sc.DerivationDescription = "dxaspine analysis overlay of the source scan"
    sc.BurnedInAnnotation = "YES"  # the table beside the scan is text in the pixels
    # An unpaired body part: with BodyPartExamined present, Laterality (General Series, 2C)
    # must be absent.  LSPINE is the DICOM defined term (PS3.16 CID 4030) for lumbar spine.
    sc.BodyPartExamined = header.get("BodyPartExamined") or "LSPINE"
    return sc


def write_sc(path: str | os.PathLike, picture: Any, header, **kwargs: Any) -> str:
    """Build the Secondary Capture (see :func:`build_sc`) and write it atomically.

    Returns
    -------
    str
        The new SOP Instance UID.
    """
    sc = build_sc(picture, header, **kwargs)
    with atomic_open(path, "wb") as handle:
        sc.save_as(handle, enforce_file_format=True)
    logger.debug("wrote Secondary Capture %s", path)
    return str(sc.SOPInstanceUID)
