"""The one allow-list of header values that messages and logs may quote (docs/hardening.md §4).

Error messages end up in terminals, ``errors.csv`` ledgers, PACS logs and bug reports, so they
must carry no patient identifier.  Free-text header fields are where identifiers hide: sites
type names into ProtocolName and SeriesDescription, and a damaged file can put any bytes into
any field (PatientOrientation, PixelSpacing, a private element).  The rule is therefore an
allow-list, not a block-list:

- quoted are only the values of :data:`ALLOWED_KEYWORDS` (sizes, bit depths, frame count,
  transfer syntax, SOP class), and only when the value has the form the attribute defines
  (an integer, a UID of digits and dots).  A damaged value of an allowed attribute is
  described ("malformed"), not shown;
- everything else is described without its value ("ProtocolName names a hip scan");
- numbers dxaspine has already parsed (a float spacing, an energy) carry no text and may be
  shown; raw exception texts of third-party libraries may quote values and are never shown
  (:func:`exception_summary`); third-party warning texts are reduced by :func:`redact`.

Every module that names a header value in a message goes through this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.uid import UID

__all__ = [
    "ALLOWED_KEYWORDS",
    "shown",
    "uid_text",
    "defined_term",
    "modality_term",
    "exception_summary",
    "redact",
]

# Non-identifying attributes whose values may be quoted (after validation of their form).
_INTEGER_KEYWORDS = frozenset(
    {
        "Rows",
        "Columns",
        "NumberOfFrames",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "SamplesPerPixel",
        "PixelRepresentation",
    }
)
_UID_KEYWORDS = frozenset({"TransferSyntaxUID", "SOPClassUID", "MediaStorageSOPClassUID"})
ALLOWED_KEYWORDS: frozenset[str] = _INTEGER_KEYWORDS | _UID_KEYWORDS

# PS3.5 §9.1: a UID is at most 64 characters of digits and dots, components without
# leading zeros.  Anything else in a UID field is damage and may be arbitrary text.
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_INTEGER = re.compile(r"^[+-]?[0-9]{1,10}$")


def uid_text(value: object) -> str:
    """A well-formed UID as ``"name (uid)"`` (or the UID itself); ``"(malformed UID)"`` else."""
    text = str(value).strip().rstrip("\x00") if value is not None else ""
    if not text:
        return "(none)"
    if len(text) > 64 or not _UID.match(text):
        return "(malformed UID)"
    name = UID(text).name
    return text if name == text else f"{name} ({text})"


def _integer_text(value: object) -> str:
    text = str(value).strip()
    return text if _INTEGER.match(text) else "(malformed)"


def shown(keyword: str, value: object) -> str:
    """``keyword`` with its value if the keyword is allow-listed, else ``keyword`` alone.

    Parameters
    ----------
    keyword : str
        The DICOM keyword (``"Rows"``, ``"ProtocolName"`` ...).
    value : object
        The header value (raw or converted).

    Returns
    -------
    str
        ``"Rows 788"``, ``"TransferSyntaxUID JPEG 2000 Image Compression (Lossless Only)
        (1.2.840.10008.1.2.4.90)"``, or just ``"ProtocolName"``.

    Examples
    --------
    >>> shown("Rows", 788)
    'Rows 788'
    >>> shown("ProtocolName", "AP Spine DOE^JANE")
    'ProtocolName'
    """
    if value is None or value == "":
        return f"{keyword} (empty)" if keyword in ALLOWED_KEYWORDS else keyword
    if keyword in _INTEGER_KEYWORDS:
        return f"{keyword} {_integer_text(value)}"
    if keyword in _UID_KEYWORDS:
        return f"{keyword} {uid_text(value)}"
    return keyword


def defined_term(value: object, terms: Iterable[str]) -> str | None:
    """``value`` upper-cased if it is one of the standard's defined ``terms``, else None.

    For CS attributes (PhotometricInterpretation, Modality): a defined term is vocabulary,
    not patient text, and may be quoted; any other value may be damage and is not.
    """
    text = str(value or "").strip().upper()
    return text if text in set(terms) else None


# PS3.3 C.7.3.1.1.1 Modality defined terms (current and retired): vocabulary, never patient
# text, so a value from this list may be quoted.
MODALITY_TERMS = frozenset(
    "AR ASMT AU BDUS BI BMD CR CT CTPROTOCOL DG DOC DX ECG EPS ES FID GM HC HD IO IOL IVOCT "
    "IVUS KER KO LEN LS MG MR M3D NM OAM OCT OP OPM OPT OPTBSV OPTENF OPV OSS OT PLAN PR PT PX "
    "REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD RTSEGANN RTSTRUCT RWV SEG SM "
    "SMR SR SRF STAIN TEXTUREMAP TG US VA XA XC CD DD DM DS EC FA FS LP MA MS OPR ST VF".split()
)


def modality_term(value: object) -> str:
    """A Modality value for a message: the defined term, ``(none)`` or ``(not a defined term)``."""
    if value is None or not str(value).strip():
        return "(none)"
    return defined_term(value, MODALITY_TERMS) or "(not a defined term)"


def exception_summary(exc: BaseException) -> str:
    """What may be said about a third-party exception: its class, never its text.

    Library exception texts quote the bytes they choke on (pydicom's
    ``BytesLengthException`` quotes the element value), so only the class name is used.
    ``OSError`` keeps its ``strerror`` (an operating-system phrase such as "No space left on
    device"), which names no header value.
    """
    name = type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: {exc.strerror}"
    return name


_PERSON_NAME = re.compile(r"\S*\^\S*")  # PN components are separated by '^'


def redact(text: str, limit: int = 200) -> str:
    """A third-party warning text without the values it may quote (for logs only).

    The text is cut at its first quote character (pydicom quotes the offending value, and a
    damaged value may itself contain quotes, so matching pairs is not safe); person-name shaped
    tokens (``A^B``) and unprintable characters are removed from what is left, which is cut to
    ``limit`` characters.
    """
    text = " ".join(str(text).split())
    cut = min((i for i in (text.find("'"), text.find('"')) if i >= 0), default=len(text))
    head = text[:cut].rstrip() + (" … (value not shown)" if cut < len(text) else "")
    head = _PERSON_NAME.sub("…", head)
    return "".join(ch if ch.isprintable() else "?" for ch in head)[:limit]
