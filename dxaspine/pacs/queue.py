"""The persistent queue of studies to analyse: one small JSON file per study.

``<state>/studies/<StudyInstanceUID>.json`` holds the study's state, rewritten atomically
(temp file, fsync, rename) at every transition, so ``kill -9`` at any moment leaves either
the old or the new state, never a torn one:

``ready`` -> ``running`` -> ``done`` (or back to ``ready`` on a retryable failure, or
``failed`` after :data:`MAX_ATTEMPTS`).

- **Generations.**  Each analysis of a study is a *generation* (1, 2, ...).  Queuing a study
  that is ``done`` starts the next generation; outputs carry it (docs/pacs.md "Late
  instances"), and their UIDs are derived from it, so a generation re-run after a crash
  reproduces the same UIDs.
- **Restart.**  On load, ``running`` becomes ``ready`` again (its worker died with the
  node): nothing received is lost, at worst analysed twice with identical output UIDs.
- **What is new.**  A state remembers the SOP Instance UIDs its last completed generation
  analysed and every UID dxaspine itself produced for the study, so a duplicate re-send, or
  dxaspine's own SR coming back from a PACS, never starts a new generation.

The file names are validated UIDs (:mod:`dxaspine.pacs.uids`).  All methods are called from
one thread of the node (the scheduler) or under the queue's lock.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dxaspine.atomic import atomic_write_text
from dxaspine.pacs.logs import uid_tag
from dxaspine.pacs.uids import is_valid_uid, validate_uid

logger = logging.getLogger(__name__)

__all__ = ["MAX_ATTEMPTS", "StudyQueue", "StudyState"]

MAX_ATTEMPTS = 3  # a study whose worker crashes three times is parked as "failed"
STATUSES = ("ready", "running", "done", "failed")


@dataclass
class StudyState:
    study_uid: str
    status: str = "ready"
    generation: int = 1
    queued_at: float = 0.0  # wall time the current generation was queued
    attempts: int = 0  # failed attempts of the current generation
    requeue: bool = False  # instances arrived while running: look again when it finishes
    analysed: list[str] = field(default_factory=list)  # SOP UIDs of the last completed run
    own_outputs: list[str] = field(default_factory=list)  # every SOP UID dxaspine made here
    last_outputs: list[dict] = field(default_factory=list)  # the last run's outputs
    history: list[dict] = field(default_factory=list)  # one entry per completed generation
    error: str = ""

    def new_instances(self, present: Iterable[str]) -> set[str]:
        """SOP UIDs in ``present`` neither analysed before nor produced by dxaspine."""
        return set(present) - set(self.analysed) - set(self.own_outputs)


class StudyQueue:
    """Study states on disk, with an in-memory index; see the module docstring."""

    def __init__(self, state_dir: str | os.PathLike) -> None:
        self.folder = Path(state_dir) / "studies"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._states: dict[str, StudyState] = {}
        self._load()

    def _path(self, study_uid: str) -> Path:
        return self.folder / f"{validate_uid(study_uid, 'StudyInstanceUID')}.json"

    def _load(self) -> None:
        for path in sorted(self.folder.glob("*.json")):
            uid = path.name[:-5]
            if not is_valid_uid(uid):
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                state = StudyState(**data)
            except (OSError, ValueError, TypeError) as exc:
                # Atomic writes make this unexpected; keep the file, skip the study, say so.
                logger.error("study %s: unreadable state file (%s)", uid_tag(uid), exc)
                continue
            if state.status == "running":
                state.status = "ready"
                logger.info(
                    "study %s: generation %d was running when the node stopped; queued again",
                    uid_tag(uid),
                    state.generation,
                )
                self._save(state)
            self._states[uid] = state
        for tmp in self.folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def _save(self, state: StudyState) -> None:
        atomic_write_text(self._path(state.study_uid), json.dumps(asdict(state), indent=1) + "\n")

    def get(self, study_uid: str) -> StudyState | None:
        with self._lock:
            return self._states.get(study_uid)

    def states(self) -> list[StudyState]:
        with self._lock:
            return list(self._states.values())

    def enqueue(self, study_uid: str) -> StudyState:
        """Queue the study's next generation (or flag a running one to be looked at again)."""
        with self._lock:
            state = self._states.get(study_uid)
            if state is None:
                state = StudyState(study_uid=validate_uid(study_uid, "StudyInstanceUID"))
                state.queued_at = time.time()
            elif state.status == "running":
                state.requeue = True
            elif state.status in ("done", "failed"):
                state.generation += 1
                state.status, state.attempts, state.error = "ready", 0, ""
                state.queued_at = time.time()
            else:  # already ready: nothing changes
                return state
            self._states[study_uid] = state
            self._save(state)
            return state

    def claim(self) -> StudyState | None:
        """The oldest ``ready`` study, now ``running``; None when nothing is ready."""
        with self._lock:
            ready = [s for s in self._states.values() if s.status == "ready"]
            if not ready:
                return None
            state = min(ready, key=lambda s: (s.queued_at, s.study_uid))
            state.status, state.requeue = "running", False
            self._save(state)
            return state

    def complete(
        self,
        study_uid: str,
        generation: int,
        *,
        analysed: Iterable[str],
        outputs: list[dict],
        summary: dict,
    ) -> tuple[StudyState, bool]:
        """Record a finished generation; its outputs' UIDs join ``own_outputs``.

        Returns the state and whether instances arrived while it ran (the caller then
        checks whether any of them is new and queues the next generation).
        """
        with self._lock:
            state = self._states[study_uid]
            if state.generation != generation:
                raise ValueError(f"generation {generation} finished, {state.generation} expected")
            state.status = "done"
            state.analysed = sorted(set(analysed))
            state.last_outputs = outputs
            state.own_outputs = sorted(
                set(state.own_outputs) | {o["sop_instance_uid"] for o in outputs}
            )
            state.history.append({"generation": generation, "finished_at": time.time(), **summary})
            requeue, state.requeue = state.requeue, False
            state.attempts, state.error = 0, ""
            self._save(state)
            return state, requeue

    def fail(self, study_uid: str, generation: int, reason: str) -> StudyState:
        """A generation crashed (not a bad image: those are per-image errors in the summary)."""
        with self._lock:
            state = self._states[study_uid]
            state.attempts += 1
            state.error = reason
            state.status = "ready" if state.attempts < MAX_ATTEMPTS else "failed"
            self._save(state)
            return state

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = dict.fromkeys(STATUSES, 0)
            for state in self._states.values():
                out[state.status] = out.get(state.status, 0) + 1
            return out
