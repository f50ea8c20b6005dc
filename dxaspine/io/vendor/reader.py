"""``read_vendor_results(path_or_dataset)``: recognise the kind and run its reader."""

from __future__ import annotations

import logging
import os

from pydicom.dataset import Dataset

from dxaspine.errors import VendorResultsError, describe
from dxaspine.io.reading import file_boundary, read_dataset
from dxaspine.io.vendor.detect import recognise_with_reason
from dxaspine.io.vendor.ge_sr import read_ge_sr
from dxaspine.io.vendor.ge_xml import read_ge_xml
from dxaspine.io.vendor.hologic_xml import read_hologic_xml
from dxaspine.io.vendor.results import KINDS, VendorResults
from dxaspine.io.vendor.tid1500 import read_tid1500

__all__ = ["READERS", "read_vendor_results"]

logger = logging.getLogger(__name__)

READERS = {
    "ge_sr": read_ge_sr,
    "ge_xml": read_ge_xml,
    "hologic_xml": read_hologic_xml,
    "tid1500_sr": read_tid1500,
}


def read_vendor_results(
    source: str | os.PathLike | Dataset, kind: str | None = None
) -> VendorResults:
    """Read a vendor results object (GE SR or XML, Hologic XML, TID 1500 SR).

    Parameters
    ----------
    source : path or pydicom.Dataset
        A DICOM Part 10 file, or a dataset already read.
    kind : str, optional
        One of ``KINDS``; recognised from the header when None.

    Returns
    -------
    VendorResults

    Raises
    ------
    VendorResultsError
        Not a known results object, or its content is unsafe or malformed (the message names
        the file and the element).
    InputError, NotDicomError, CorruptDicomError
        The file cannot be read as DICOM.
    """
    if isinstance(source, Dataset):
        ds, name = source, getattr(source, "filename", None)
    else:
        name = os.fspath(source)
        with file_boundary(name):
            ds = read_dataset(name)
    if kind is None:
        kind, reason = recognise_with_reason(ds)
        if kind is None:
            raise VendorResultsError(
                describe(name, reason, f"pass a vendor results object ({', '.join(KINDS)})")
            )
    elif kind not in READERS:
        raise ValueError(f"kind {kind!r}: use one of {KINDS}")
    with file_boundary(name):
        try:
            results = READERS[kind](ds, name)
        except VendorResultsError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            # a structure no reader rule anticipated: say so, never a crash or a guess
            logger.debug("%s: vendor reader failed", name, exc_info=True)
            raise VendorResultsError(
                describe(
                    name,
                    f"unexpected {kind} layout ({type(exc).__name__})",
                    "report the file's structure (not its values) to dxaspine",
                )  # fmt: skip
            ) from exc
    logger.debug(
        "%s: %s with %d levels, %d regions", name, kind, len(results.levels), len(results.regions)
    )
    return results
