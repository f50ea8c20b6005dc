"""UID validation: the only text from the network that ever becomes part of a path.

A DICOM UID is a string of numeric components separated by dots, at most 64 characters
(DICOM PS3.5 section 9.1, copied into docs/pacs.md "UIDs and paths").  The inbox names its
folders and files after the StudyInstanceUID and SOPInstanceUID, so a UID is checked here
before it reaches any path: what passes is ``[0-9]+(\\.[0-9]+)*`` and nothing else, which
excludes every path separator, ``..``, NUL, whitespace and drive letters.

PS3.5 also forbids leading zeros in a component (``1.02``).  Real archives contain such
UIDs, and they are harmless as file names, so they are accepted (refusing them would lose a
study for no safety gain); :func:`is_conformant_uid` reports them for callers that care.

Deterministic UIDs for dxaspine's own outputs (:func:`derived_uid`) are ``2.25.`` followed by
the decimal form of a name-based UUID (RFC 4122 version 5) of the parts, the UUID-derived
root of PS3.5 Annex B.2, so re-running an analysis after a crash gives the same UIDs and a
destination sees a duplicate, not a second report.
"""

from __future__ import annotations

import re
import uuid

from dxaspine.errors import DxaError, describe

__all__ = [
    "InvalidUidError",
    "MAX_UID_LENGTH",
    "derived_uid",
    "is_conformant_uid",
    "is_valid_uid",
    "validate_uid",
]

MAX_UID_LENGTH = 64  # PS3.5 9.1

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "pacs.dxaspine")
_SEPARATOR = "\x1f"
_SAFE = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_CONFORMANT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")


class InvalidUidError(DxaError):
    """A UID from the network is not digits and dots of at most 64 characters."""


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    # DICOM pads UI values to even length with NUL (PS3.5 6.2); pydicom usually strips it.
    return value.rstrip("\0")


def is_valid_uid(value: object) -> bool:
    """True when ``value`` is digits and dots, no empty component, at most 64 characters."""
    text = _clean(value)
    return (
        text is not None and 0 < len(text) <= MAX_UID_LENGTH and _SAFE.fullmatch(text) is not None
    )


def is_conformant_uid(value: object) -> bool:
    """:func:`is_valid_uid` and no component with a leading zero (strict PS3.5 9.1)."""
    text = _clean(value)
    return is_valid_uid(text) and _CONFORMANT.fullmatch(text or "") is not None


def validate_uid(value: object, what: str, source: object = None) -> str:
    """Return the UID (NUL padding removed) or raise :class:`InvalidUidError`.

    The message names the attribute and the problem but never quotes the value: a refused
    UID can be anything a peer sent, including identifying text.
    """
    text = _clean(value)
    if text is None or text == "":
        problem = f"{what} is missing or empty"
    elif len(text) > MAX_UID_LENGTH:
        problem = f"{what} is {len(text)} characters long, more than {MAX_UID_LENGTH}"
    elif _SAFE.fullmatch(text) is None:
        problem = f"{what} contains characters other than digits and single dots"
    else:
        return text
    raise InvalidUidError(
        describe(source or "<network>", problem, "fix the sender's UID generation (PS3.5 9.1)")
    )


def derived_uid(*parts: str) -> str:
    """A deterministic ``2.25.`` UID for dxaspine's own objects, from ``parts``."""
    # Unit separator between parts: ("ab", "c") and ("a", "bc") must not collide.
    return f"2.25.{uuid.uuid5(_NAMESPACE, _SEPARATOR.join(parts)).int}"
