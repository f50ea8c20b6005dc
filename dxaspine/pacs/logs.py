"""Log lines a site can ship: plain text or JSON Lines, and never a patient identifier.

Rules (docs/pacs.md "Logs"):

- A UID is logged only as :func:`uid_tag`: a short SHA-256 digest.  Truncating a UID would
  keep its organisation root and drop the part that tells instances apart; a digest is
  unique enough to follow one study through the log and cannot be turned back into the UID.
- Names, IDs, dates and descriptions from headers are never logged.  dxaspine's messages
  carry tags, counts, AE titles, peer addresses, status codes and error classes only.
- pydicom, pynetdicom and highdicom can log header content (pynetdicom dumps whole PDUs at
  DEBUG, highdicom names the UIDs it copies at INFO), so their loggers are held at WARNING
  (pydicom at ERROR, as ``dxaspine.cli`` does) whatever the verbosity.
- A safety net on the handler, :class:`UidRedactingFilter`, replaces any instance-like UID
  left in a message (other dxaspine modules log file paths, and inbox paths are made of
  UIDs) by its tag.  Well-known DICOM UIDs (SOP classes, transfer syntaxes) are kept.

With ``format = "json"`` every line is one JSON object: ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message`` and the structured fields a call passed in ``extra={"fields": ...}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from typing import Any

__all__ = [
    "LOG_FORMATS",
    "JsonLineFormatter",
    "UidRedactingFilter",
    "configure_node_logging",
    "redact_uids",
    "uid_tag",
]

LOG_FORMATS = ("plain", "json")
_PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Third-party loggers that can print header values, UIDs or PDU dumps below WARNING.
_QUIET_LOGGERS = {
    "pydicom": logging.ERROR,
    "pynetdicom": logging.WARNING,
    "highdicom": logging.WARNING,
}
# A dotted-number token of four or more components: every instance UID, few other things.
_UID_TOKEN = re.compile(r"(?<![\d.])\d+(?:\.\d+){3,}(?!\.?\d)")


def uid_tag(uid: object) -> str:
    """A short, stable tag for a UID in log lines (12 hex digits of its SHA-256)."""
    if uid is None:
        return "-"
    return hashlib.sha256(str(uid).encode("ascii", "replace")).hexdigest()[:12]


def _known_uid(text: str) -> bool:
    from pydicom.uid import UID

    return UID(text).name != text  # in pydicom's dictionary: a SOP class or syntax


def _keep(token: str) -> bool:
    parts = token.split(".")
    is_ipv4 = len(parts) == 4 and all(len(p) <= 3 and int(p) <= 255 for p in parts)
    return is_ipv4 or _known_uid(token)


def redact_uids(text: str) -> str:
    """Replace instance-like UIDs in ``text`` by their :func:`uid_tag` (IPv4 addresses and
    well-known DICOM UIDs are kept)."""
    return _UID_TOKEN.sub(lambda m: m[0] if _keep(m[0]) else f"<{uid_tag(m[0])}>", text)


class UidRedactingFilter(logging.Filter):
    """Handler filter: the message is formatted once, with UIDs replaced by tags."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_uids(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record; structured fields come from ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                line.setdefault(key, value)
        if record.exc_info:
            # The exception class only: a traceback's locals and messages can quote paths
            # that contain UIDs.  ``--debug`` prints full tracebacks on the console instead.
            line["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_node_logging(
    log_format: str = "plain", verbose: int = 0, quiet: bool = False
) -> None:
    """Point the root logger at stderr with the chosen format (commands call this once).

    Parameters
    ----------
    log_format : {"plain", "json"}
    verbose : int
        0 or 1: INFO (a node is a service: its INFO lines are the record of what it did);
        2: DEBUG for dxaspine's own loggers (the third-party ones keep their floors).
    quiet : bool
        Warnings and errors only.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {LOG_FORMATS}")
    level = logging.WARNING if quiet else (logging.DEBUG if verbose >= 2 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else logging.Formatter(_PLAIN))
    handler.addFilter(UidRedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(floor)
    # Python warnings (pydicom's value-validation warnings quote the offending value) go
    # through logging, where "py.warnings" is held at ERROR: none of them is printed raw.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
