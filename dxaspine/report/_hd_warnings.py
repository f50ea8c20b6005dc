"""Keep highdicom's person-name warning, which quotes the name, off the terminal.

highdicom warns ``The string "<name>" is unlikely to represent the intended person name``
whenever a PN value has a single component (``highdicom.valuerep.check_person_name``), and
it does so for the patient's name it copies from the source header into an SR or Secondary
Capture.  A single-component name is valid DICOM (PS3.5 6.2.1.2: trailing components may be
empty), and vendor exports and anonymisers write them ("ap" on a real GE iDXA export), so the
warning is noise for us, and a leak: it prints the patient's name (docs/architecture.md,
Errors: messages and logs carry no identifying header values).  Only that warning is held
back; any other warning is passed on unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator

logger = logging.getLogger(__name__)

__all__ = ["person_name_warnings_held"]

_PERSON_NAME_WARNING = re.compile(r"is unlikely to represent the intended person name")


@contextlib.contextmanager
def person_name_warnings_held() -> Iterator[None]:
    """Run the block with highdicom's single-component person-name warning held back."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    held = 0
    for warning in caught:
        if _PERSON_NAME_WARNING.search(str(warning.message)):
            held += 1
            continue
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if held:  # counted, never quoted
        logger.debug("%d single-component person name(s) in the source header (valid DICOM)", held)
