"""Log records across processes, and the warnings of one work item.

Batch workers run in separate processes (forkserver), which start with no logging
configured: before this module every worker-side warning (spacing fallbacks, photon
starvation, unexpected-exception tracebacks) was lost, even with ``-vv`` (issue 12).

- In a worker, :func:`install_queue_logging` sends every record to the runner through a
  ``logging.handlers.QueueHandler``; the runner's :class:`RunnerLogListener` hands each
  record to the logger of the same name, so the runner's own handlers and levels decide
  (console one line per record, ``--log-file`` with tracebacks).  Tracebacks travel as text
  in ``exc_text``, never inside the message (the console formatter drops them).
- :func:`collect_warnings` gathers the WARNING-and-above messages of dxaspine's loggers while
  one item is analysed, for the ``warnings`` column of ``results.csv``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import logging.handlers
import os
from collections.abc import Iterator

__all__ = [
    "RecordQueueHandler",
    "RunnerLogListener",
    "install_queue_logging",
    "collect_warnings",
]


class RecordQueueHandler(logging.handlers.QueueHandler):
    """QueueHandler that keeps the message and the traceback apart (see module docstring).

    The standard ``prepare`` formats the traceback into ``msg``; here ``msg`` is the plain
    message and the traceback goes to ``exc_text``, which only a file formatter prints.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        record.stack_info = None
        return record


class RunnerLogListener(logging.handlers.QueueListener):
    """Dispatches records from worker processes to the runner's loggers (their levels apply)."""

    def __init__(self, queue) -> None:
        super().__init__(queue)

    def handle(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def below_error_from_pydicom(record: logging.LogRecord) -> bool:
    """Handler filter: False for pydicom's records below ERROR (they can quote header values).

    Setting the "pydicom" logger's level is not enough: importing pydicom sets it to WARNING,
    and commands now import pydicom only when they first read a file (start-up, issue 17).
    """
    from_pydicom = record.name == "pydicom" or record.name.startswith("pydicom.")
    return not from_pydicom or record.levelno >= logging.ERROR


def install_queue_logging(queue, level: int) -> None:
    """In a worker process: replace the root handlers by one that feeds ``queue``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = RecordQueueHandler(queue)
    handler.addFilter(below_error_from_pydicom)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pydicom").setLevel(logging.ERROR)  # may quote header values
    logging.getLogger("numba").setLevel(logging.WARNING)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "dxaspine" or record.name.startswith("dxaspine."):
            self.messages.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def collect_warnings(strip: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Collect the WARNING+ messages dxaspine logs inside the block (in order, deduplicated).

    Parameters
    ----------
    strip : tuple of str
        Path prefixes (``"<path>: "``) removed from the messages: the row names its file.

    Yields
    ------
    list of str
        Filled when the block exits.
    """
    collector = _Collector()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(collector)
    if root.getEffectiveLevel() > logging.WARNING:
        root.setLevel(logging.WARNING)  # --quiet still sees warnings; make sure they arrive
    out: list[str] = []
    try:
        yield out
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)
        prefixes = tuple(f"{os.fspath(p)}: " for p in strip if p)
        for message in dict.fromkeys(collector.messages):
            for prefix in prefixes:
                if message.startswith(prefix):
                    message = message[len(prefix) :]
                    break
            out.append(message)
