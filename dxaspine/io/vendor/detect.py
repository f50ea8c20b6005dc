"""Header-only recognition of vendor results objects, for ``peek`` and the kinds registry.

``HEADER_TAGS`` lists what recognition reads (no pixel data, no content tree beyond the root
concept); :func:`recognise` returns the kind name (``ge_sr``, ``ge_xml``, ``hologic_xml``,
``tid1500_sr``) or None.  The rules (docs/vendor_results.md §1):

- ``tid1500_sr``: an SR whose root concept is DCM 126000 "Imaging Measurement Report" or whose
  ContentTemplateSequence names TID 1500;
- ``ge_sr``: an SR whose root concept meaning is "DXA Report" (GE enCORE, §3);
- ``ge_xml``: ImageComments that is XML naming a ``DXA_RESULTS`` or ``DENSITOMETRY_RESULTS``
  element in its first 4096 characters (§4);
- ``hologic_xml``: (0021,xx01) under private creator ``HOLOGIC``, or (0019,1000), holding text
  that mentions ``ResultsTable`` (§5).

Recognition never parses XML (that is the reader's job, with defusedxml); it looks at the
first characters only, so a hostile document costs nothing here.
"""

from __future__ import annotations

import re

from pydicom.dataset import Dataset

from dxaspine.io.vendor.sr_tree import concept, key

__all__ = [
    "CREATORS",
    "FIXED_TAG",
    "HEADER_TAGS",
    "SR_SOP_PREFIX",
    "find_hologic_xml",
    "recognise",
    "recognise_with_reason",
]

SR_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
# Hologic results XML: under these private creators of group 0021, or at the fixed tag.  Here,
# not in hologic_xml.py, so that recognising a header does not import the XML parser
# (start-up, issue 17).
CREATORS = ("HOLOGIC",)  # compared upper-case: pydicom lists "HOLOGIC" and "Hologic"
FIXED_TAG = 0x00191000
HEADER_TAGS: list[int] = [
    0x00080016,  # SOPClassUID
    0x00080060,  # Modality
    0x00080070,  # Manufacturer
    0x00204000,  # ImageComments (GE STR XML)
    0x0040A043,  # ConceptNameCodeSequence (SR root concept)
    0x0040A504,  # ContentTemplateSequence
    0x00190010,  # private creator of (0019,10xx)
    0x00191000,  # Hologic XML, fixed location (hologic-dxa-maps)
    *[0x00210000 | block for block in range(0x10, 0x100)],  # private creators of group 0021
    *[0x00210000 | (block << 8) | 0x01 for block in range(0x10, 0x100)],  # (0021,xx01)
]
# XML (it starts with "<") naming a GE root element in its first characters; a DOCTYPE before
# the root is allowed here so that the reader can refuse it with a clear message.
_GE_XML = re.compile(
    r"^\s*<.*?<(DXA_RESULTS|DENSITOMETRY_RESULTS)\b|^\s*<(DXA_RESULTS|DENSITOMETRY_RESULTS)\b",
    re.I | re.S,
)
_PROBE_CHARS = 4096


def _head(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value[:_PROBE_CHARS]).decode("latin-1")
    return str(value)[:_PROBE_CHARS]


def find_hologic_xml(ds: Dataset) -> list[tuple[int, str]]:
    """The elements of ``ds`` that may hold Hologic results XML.

    Parameters
    ----------
    ds : pydicom.Dataset
        A header (a header-only read is enough).

    Returns
    -------
    list of (int, str)
        ``(tag, "(gggg,eeee)")`` for each candidate element, (0021,xx01) blocks first.
    """
    found = []
    # Walk the creator elements present rather than probing all 240 slots (every load and
    # peek classifies the header through here); ascending, as the slots are numbered.
    present = sorted(
        int(tag) & 0xFF
        for tag in ds.keys()
        if tag >> 16 == 0x0021 and 0x10 <= (tag & 0xFFFF) <= 0xFF
    )
    for block in present:
        creator = ds.get(0x00210000 | block)
        if creator is not None and str(creator.value).strip().upper() in CREATORS:
            tag = 0x00210000 | (block << 8) | 0x01
            if tag in ds:
                found.append((tag, f"(0021,{(block << 8) | 0x01:04X})"))
    if FIXED_TAG in ds:
        found.append((FIXED_TAG, "(0019,1000)"))
    return found


def _hologic(ds: Dataset) -> str | None:
    for tag, where in find_hologic_xml(ds):
        value = ds[tag].value
        text = (
            _head(value)
            if not isinstance(value, bytes | bytearray)
            else bytes(value).decode("latin-1")
        )
        if "RESULTSTABLE" in text.upper():
            return f"Hologic results XML in {where}"
    return None


def recognise_with_reason(ds: Dataset) -> tuple[str | None, str]:
    """``(kind, how it was recognised)``, or ``(None, why not)``; never raises for a header."""
    try:
        sop_class = str(ds.get("SOPClassUID") or "")
        if sop_class.startswith(SR_SOP_PREFIX) or str(ds.get("Modality") or "") == "SR":
            from dxaspine.io.vendor.tid1500 import is_tid1500

            root = concept(ds)
            if is_tid1500(ds):
                return "tid1500_sr", "SR: TID 1500 Imaging Measurement Report"
            if root is not None and key(root.meaning) == "DXA_REPORT":
                return "ge_sr", "SR: root concept 'DXA Report' (GE enCORE)"
            return (
                None,
                f"SR with root concept {root.meaning if root else '(none)'!r}: no known results layout",
            )
        comments = ds.get("ImageComments")
        if comments and _GE_XML.match(_head(comments)):
            return "ge_xml", "ImageComments holds GE results XML"
        reason = _hologic(ds)
        if reason:
            return "hologic_xml", reason
    except Exception as exc:  # noqa: BLE001 - recognition of a damaged header says "no"
        return None, f"header not recognisable as vendor results ({type(exc).__name__})"
    return None, "no vendor results in this header"


def recognise(ds: Dataset) -> str | None:
    """The vendor results kind of a header, or None (see the module docstring)."""
    return recognise_with_reason(ds)[0]
