"""Vendor results objects: GE enCORE Enhanced SR and STR XML, Hologic APEX XML, TID 1500 SRs.

Read with :func:`read_vendor_results`; recognise from a header with :func:`recognise` (the
tags it needs are :data:`HEADER_TAGS`).  Their output shape (the result record's ``vendor``
blocks, the flat row's vendor columns) is in :mod:`dxaspine.report.vendor`.  Structures, sources and what is unverified:
docs/vendor_results.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dxaspine._lazy import lazy_exports

# Exported lazily (PEP 562): classifying a header needs only ``detect``; the readers (XML and
# SR parsers) load when a results object is read (start-up, issue 17).
_EXPORTS = {
    **dict.fromkeys(
        ("HEADER_TAGS", "recognise", "recognise_with_reason"), "dxaspine.io.vendor.detect"
    ),
    "read_vendor_results": "dxaspine.io.vendor.reader",
    **dict.fromkeys(
        (
            "KINDS",
            "ItemNotUnderstood",
            "TrendPoint",
            "VendorRegion",
            "VendorResults",
            "VendorValue",
        ),
        "dxaspine.io.vendor.results",
    ),  # fmt: skip
    **dict.fromkeys(("StudyFiles", "group_by_study"), "dxaspine.io.vendor.study"),
}

if TYPE_CHECKING:
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


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
