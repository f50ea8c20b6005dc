"""Vendor results objects: GE enCORE Enhanced SR and STR XML, Hologic APEX XML, TID 1500 SRs.

Read with :func:`read_vendor_results`; recognise from a header with :func:`recognise` (the
tags it needs are :data:`HEADER_TAGS`).  Their output shape (the result record's ``vendor``
blocks, the flat row's vendor columns) is in :mod:`dxaspine.report.vendor`.  Structures, sources and what is unverified:
docs/vendor_results.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Exported lazily (PEP 562): classifying a header needs only ``detect``; the readers (XML and
# SR parsers) load when a results object is read (start-up, issue 17).
_EXPORTS = {
    **dict.fromkeys(("HEADER_TAGS", "recognise", "recognise_with_reason"), "detect"),
    "read_vendor_results": "reader",
    **dict.fromkeys(
        (
            "KINDS",
            "ItemNotUnderstood",
            "TrendPoint",
            "VendorRegion",
            "VendorResults",
            "VendorValue",
        ),
        "results",
    ),  # fmt: skip
    **dict.fromkeys(("StudyFiles", "group_by_study"), "study"),
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


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
