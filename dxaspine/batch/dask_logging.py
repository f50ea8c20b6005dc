"""Dask's log lines follow dxaspine's log level (issue 18: ``--quiet`` still printed ~35 lines).

``distributed`` sets its own loggers to INFO when it is imported (its ``logging`` config), so
its scheduler, nanny and worker start/stop lines reach dxaspine's stderr handler whatever
``-v``/``--quiet`` said.  Here they are held at WARNING unless dxaspine runs at DEBUG
(``-vv``), where they help to debug a cluster; warnings and errors from Dask always show.
"""

from __future__ import annotations

import logging

__all__ = ["distributed_log_level", "quiet_distributed_logs"]


def distributed_log_level() -> int:
    """The level Dask's loggers get: WARNING, or DEBUG's INFO lines when dxaspine is at DEBUG."""
    ours = logging.getLogger("dxaspine").getEffectiveLevel()
    return logging.INFO if ours <= logging.DEBUG else logging.WARNING


def quiet_distributed_logs() -> int:
    """Set Dask's loggers (in this process) to :func:`distributed_log_level`; returns it.

    Call after ``import distributed`` (which resets them).  Worker processes get the same
    level through ``LocalCluster(silence_logs=...)``.
    """
    level = distributed_log_level()
    # The children (distributed.scheduler, .nanny, .worker, .core ...) inherit this level;
    # distributed.client and tornado are already quieter by distributed's own defaults.
    logging.getLogger("distributed").setLevel(level)
    return level
