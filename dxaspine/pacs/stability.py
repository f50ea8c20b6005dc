"""Study completeness as a quiet-time heuristic after association release.

A Storage SCP is never told that a study is complete (pynetdicom #369/#702; docs/domain.md §6c).
Like Orthanc's ``StableAge``, a study is *ready* when:

1. no open association has sent an instance of it, and
2. ``delay_s`` seconds have passed since the last association that touched it ended
   (released, aborted or dropped; all end in a closed connection).

An association that is still open keeps its studies waiting however long it is quiet:
instances of one study can follow each other slowly over one association (a modality
sending as it acquires).  A study may also be spread over several associations, in series
or in parallel; it waits for all of them.  Instances that arrive after a study was
declared ready simply make it pending again: the queue then decides whether there is
anything new to analyse (docs/pacs.md "Late instances").

The clock is injectable (``clock``), so the logic is tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

__all__ = ["StabilityTracker"]


@dataclass
class _Study:
    open_associations: set = field(default_factory=set)
    quiet_since: float | None = None  # monotonic time the last association ended
    instances: int = 0


class StabilityTracker:
    """Thread-safe: the SCP's association threads touch, the scheduler polls :meth:`pop_ready`."""

    def __init__(self, delay_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.delay_s = float(delay_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._studies: dict[str, _Study] = {}
        self._by_association: dict[Hashable, set[str]] = {}

    def touch(self, study_uid: str, association: Hashable) -> None:
        """An instance of ``study_uid`` arrived on ``association``."""
        with self._lock:
            study = self._studies.setdefault(study_uid, _Study())
            study.open_associations.add(association)
            study.quiet_since = None
            study.instances += 1
            self._by_association.setdefault(association, set()).add(study_uid)

    def release(self, association: Hashable) -> list[str]:
        """``association`` ended; returns the studies whose quiet time starts now.

        Idempotent: release, abort and connection close may all report the same end.
        """
        now = self._clock()
        started = []
        with self._lock:
            for study_uid in self._by_association.pop(association, set()):
                study = self._studies.get(study_uid)
                if study is None:
                    continue
                study.open_associations.discard(association)
                if not study.open_associations:
                    study.quiet_since = now
                    started.append(study_uid)
        return started

    def arm(self, study_uid: str) -> None:
        """Start a study's quiet time now without an association (recovery after a restart)."""
        with self._lock:
            study = self._studies.setdefault(study_uid, _Study())
            if not study.open_associations:
                study.quiet_since = self._clock()

    def pop_ready(self) -> list[str]:
        """Studies quiet for ``delay_s``; they are forgotten until touched again."""
        now = self._clock()
        ready = []
        with self._lock:
            for study_uid, study in list(self._studies.items()):
                if (
                    not study.open_associations
                    and study.quiet_since is not None
                    and now - study.quiet_since >= self.delay_s
                ):
                    ready.append(study_uid)
                    del self._studies[study_uid]
        return sorted(ready)

    def pending(self) -> dict[str, dict]:
        """A snapshot for status reports: open association count and quiet seconds."""
        now = self._clock()
        with self._lock:
            return {
                uid: {
                    "open_associations": len(s.open_associations),
                    "quiet_s": None if s.quiet_since is None else now - s.quiet_since,
                    "instances": s.instances,
                }
                for uid, s in self._studies.items()
            }
