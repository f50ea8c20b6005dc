"""Safe parsing of vendor XML (GE "STR" ImageComments, Hologic APEX results).

Vendor XML arrives inside DICOM files from archives nobody controls, so it is parsed as
untrusted input with ``defusedxml``:

- no DTD at all (``forbid_dtd``): vendor results have no use for one, and refusing it stops
  entity-expansion bombs ("billion laughs") and external entities (local file or network
  reads) before anything is expanded;
- no entity declarations, no external references (defusedxml's defaults, kept explicitly);
- a size cap, so a damaged length field cannot make the parser allocate gigabytes.

HTML named entities (``&sup2;`` in a Hologic table header, docs/vendor_results.md §5) are not
XML; they are replaced by numeric character references before parsing, which changes no
number.  Anything that still fails to parse is a :class:`~dxaspine.errors.VendorResultsError`
naming the file, the element and the parser's line and column.
"""

from __future__ import annotations

import html.entities
import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from dxaspine.errors import VendorResultsError, describe

__all__ = ["MAX_XML_CHARS", "decode_text", "parse_xml"]

MAX_XML_CHARS = 16 * 1024 * 1024  # far above any results document (kB), far below harm
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")


def decode_text(value: object, source: object, where: str) -> tuple[str, str | None]:
    """The element value as text: ``(text, note)``; note says when latin-1 was needed.

    UTF-8 (with or without BOM) and UTF-16 with BOM are decoded strictly; other bytes fall back
    to latin-1, which maps every byte and therefore cannot change an ASCII digit.
    """
    if isinstance(value, str):
        text, note = value, None
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text, note = raw.decode("utf-16"), None
        else:
            try:
                text, note = raw.decode("utf-8-sig"), None
            except UnicodeDecodeError:
                text, note = raw.decode("latin-1"), f"{where} is not UTF-8; read as latin-1"
    else:
        raise VendorResultsError(
            describe(source, f"{where} holds {type(value).__name__}, not text", "re-export it")
        )
    text = text.rstrip("\x00 ")  # DICOM pads odd-length values with a NUL or a space
    if len(text) > MAX_XML_CHARS:
        raise VendorResultsError(
            describe(source, f"{where} is {len(text)} characters long", "not a results document")
        )
    return text, note


def _html_entities_to_references(text: str) -> str:
    def repl(match: re.Match) -> str:
        name = match.group(1)
        if name in _XML_ENTITIES or name not in html.entities.name2codepoint:
            return match.group(0)
        return f"&#{html.entities.name2codepoint[name]};"

    return _NAMED_ENTITY.sub(repl, text)


def parse_xml(text: str, source: object, where: str) -> ET.Element:
    """Parse ``text`` safely and return the root element.

    Raises
    ------
    VendorResultsError
        A DTD, an entity declaration or an external reference (refused), or XML that is not
        well formed.
    """
    try:
        return fromstring(
            _html_entities_to_references(text),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
    except DefusedXmlException as exc:
        raise VendorResultsError(
            describe(
                source,
                f"{where}: XML with a DTD, entity declaration or external reference is refused "
                f"({type(exc).__name__})",
                "vendor results never need one; the file may have been tampered with",
            )
        ) from exc
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        raise VendorResultsError(
            describe(
                source,
                f"{where}: XML is not well formed (line {line}, column {column})",
                "re-export the results from the vendor software",
            )
        ) from exc
