"""Ctrl-C and process pools (batch runner, PACS node): two halves of one rule.

Ctrl-C belongs to the process that started the pool.  It stops submitting, waits for the
items already running and commits them; workers that died of the same SIGINT would only turn
that into a broken pool (docs/hardening.md §5).

- **Workers ignore SIGINT from their first instruction.**  A pool initializer runs only after
  the worker has unpickled its call, which imports the initializer's module and everything it
  imports (about half a second for the analysis modules).  A terminal's Ctrl-C reaches the
  whole process group, so a worker still starting (the second worker of a fast run, or a
  replacement for a dead one) printed a ``KeyboardInterrupt`` traceback from the import
  machinery.  :func:`pool_context` therefore starts multiprocessing's forkserver with this
  module as its preload: imported *by that forkserver*, it sets SIGINT to ignored before the
  forkserver records the handlers it hands to every child (CPython's
  ``multiprocessing.forkserver.main`` imports the preload modules first).  The parent's own
  handler is never touched, so no Ctrl-C of the user's is lost.
- **The runner takes Ctrl-C only where it chooses** (:class:`DeferredInterrupt`).  A
  ``KeyboardInterrupt`` raised at an arbitrary instruction can land inside
  ``concurrent.futures`` or ``multiprocessing`` while they hold a lock or are half-way through
  a hand-over, after which ``shutdown(wait=True)`` may wait for ever.  The handler only sets a
  flag; the loop raises ``KeyboardInterrupt`` itself, between two waits.  A second Ctrl-C
  raises at once: the user insists.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.context import BaseContext

__all__ = ["DeferredInterrupt", "pool_context"]

# Set, to the starting process's pid, only while that process starts the forkserver.  The pid
# makes the import below act in that forkserver alone: any other process that happens to
# import this module (the parent itself, a test, a grandchild) leaves its handlers alone.
_FORKSERVER_ENV = "DXASPINE_FORKSERVER_IGNORES_SIGINT"

if os.environ.get(_FORKSERVER_ENV) == str(os.getppid()):
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pool_context() -> BaseContext:
    """The multiprocessing context for dxaspine's worker pools.

    POSIX: ``forkserver`` (no fork of a threaded parent), started with this module as its
    preload so that every worker it forks ignores SIGINT from its first instruction.  If a
    forkserver is already running in this process it is reused as it is (the first pool
    started it; one started by other code without the preload still works, only without the
    early SIGINT guard).  Elsewhere: ``spawn``.
    """
    if os.name != "posix":
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    os.environ[_FORKSERVER_ENV] = str(os.getpid())
    try:
        forkserver.ensure_running()  # inherits the variable; nothing happens if running
    finally:
        os.environ.pop(_FORKSERVER_ENV, None)
    return context


class DeferredInterrupt:
    """SIGINT as a flag inside the ``with`` block; :meth:`check` raises it.

    In a generator the block stays entered while the generator is suspended, so a Ctrl-C
    during the consumer's work on a yielded item is raised at the next :meth:`check`.

    Installed only in the main thread (the only thread that may set signal handlers, and the
    one that receives them); elsewhere it does nothing and :meth:`check` never raises.  The
    previous handler is restored on exit.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        self._installed = False

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            previous = self._previous
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
            self._installed = False

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` here if a Ctrl-C arrived since the block began."""
        if self.requested:
            raise KeyboardInterrupt
