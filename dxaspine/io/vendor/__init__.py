"""Vendor results objects: GE enCORE Enhanced SR and STR XML, Hologic APEX XML, TID 1500 SRs.

Read with :func:`read_vendor_results`; recognise from a header with :func:`recognise` (the
tags it needs are :data:`HEADER_TAGS`).  Their output shape (the result record's ``vendor``
blocks, the flat row's vendor columns) is in :mod:`dxaspine.report.vendor`.  Structures, sources and what is unverified:
docs/vendor_results.md.
"""

from dxaspine.io.vendor.detect import HEADER_TAGS, recognise, recognise_with_reason
from dxaspine.io.vendor.reader import read_vendor_results
from dxaspine.io.vendor.results import (
    KINDS,
    ItemNotUnderstood,
    TrendPoint,
    VendorRegion,
    VendorResults,
    VendorValue,
)
from dxaspine.io.vendor.study import StudyFiles, group_by_study

__all__ = [
    "HEADER_TAGS",
    "KINDS",
    "ItemNotUnderstood",
    "StudyFiles",
    "TrendPoint",
    "VendorRegion",
    "VendorResults",
    "VendorValue",
    "group_by_study",
    "read_vendor_results",
    "recognise",
    "recognise_with_reason",
]
