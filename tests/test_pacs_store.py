"""UIDs, inbox, stability tracker and study queue: the node's state, without servers."""

from __future__ import annotations

import json
import os

import pytest

from dxaspine.pacs.inbox import Inbox
from dxaspine.pacs.queue import MAX_ATTEMPTS, StudyQueue
from dxaspine.pacs.stability import StabilityTracker
from dxaspine.pacs.uids import (
    InvalidUidError,
    derived_uid,
    is_conformant_uid,
    is_valid_uid,
    validate_uid,
)

STUDY = "1.2.826.0.1.3680043.8.498.1"
SOP = "1.2.826.0.1.3680043.8.498.1.1"


# PS3.5 9.1: components of digits, separated by ".", at most 64 characters.  The first
# entries are UIDs from the standard itself (Implicit VR Little Endian, CR Image Storage).
@pytest.mark.parametrize(
    ("uid", "valid", "conformant"),
    [
        ("1.2.840.10008.1.2", True, True),
        ("1.2.840.10008.5.1.4.1.1.1", True, True),
        ("1.2.840.10008.1.2\0", True, True),  # NUL padding to even length (PS3.5 6.2)
        ("1.02.3", True, False),  # leading zero: seen in the wild, harmless in a path
        ("1" * 64, True, True),
        ("1" * 65, False, False),
        ("", False, False),
        ("1..2", False, False),
        (".1.2", False, False),
        ("1.2.", False, False),
        ("../../etc/passwd", False, False),
        ("1.2/../3", False, False),
        ("1.2\\3", False, False),
        ("1.2 3", False, False),
        ("C:1.2", False, False),
        (None, False, False),
    ],
)
def test_uid_rules(uid, valid, conformant):
    assert is_valid_uid(uid) is valid
    assert is_conformant_uid(uid) is conformant
    if not valid:
        with pytest.raises(InvalidUidError) as info:
            validate_uid(uid, "StudyInstanceUID")
        if uid:
            assert uid.strip("\0") not in str(info.value)  # never quotes what a peer sent


def test_derived_uids_are_deterministic_2_25_uids():
    a = derived_uid("1.2.3", "sr", "1")
    assert a == derived_uid("1.2.3", "sr", "1")
    assert a != derived_uid("1.2.3", "sr", "2")
    assert derived_uid("ab", "c") != derived_uid("a", "bc")
    assert a.startswith("2.25.") and is_conformant_uid(a)
    assert int(a[5:]) < 2**128  # a UUID as an integer (PS3.5 B.2)


def test_inbox_stores_atomically_and_duplicates_are_idempotent(tmp_path):
    inbox = Inbox(tmp_path / "inbox")
    first = inbox.store(STUDY, SOP, b"DICM one")
    assert first.action == "stored"
    assert first.path == tmp_path / "inbox" / STUDY / f"{SOP}.dcm"
    mtime = first.path.stat().st_mtime_ns
    again = inbox.store(STUDY, SOP, b"DICM one")
    assert again.action == "duplicate" and again.path.stat().st_mtime_ns == mtime
    assert inbox.store(STUDY, SOP, b"DICM two").action == "replaced"
    assert first.path.read_bytes() == b"DICM two"
    assert inbox.instances(STUDY) == {SOP: first.path}
    assert [p.name for p in first.path.parent.iterdir()] == [f"{SOP}.dcm"]  # no temp left


def test_inbox_refuses_path_like_uids_and_writes_nothing(tmp_path):
    inbox = Inbox(tmp_path / "inbox")
    for study, sop in [("../x", SOP), (STUDY, "../../evil"), ("1.2/3", SOP), (STUDY, "/etc/x")]:
        with pytest.raises(InvalidUidError):
            inbox.store(study, sop, b"x")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []


def test_temp_files_of_a_killed_write_are_removed(tmp_path):
    inbox = Inbox(tmp_path / "inbox")
    inbox.store(STUDY, SOP, b"complete")
    stray = tmp_path / "inbox" / STUDY / f".{SOP}.dcm.abc123.tmp"
    stray.write_bytes(b"half")
    assert list(inbox.instances(STUDY)) == [SOP]  # never seen as an instance
    assert inbox.clean_temp_files() == 1 and not stray.exists()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_study_is_ready_only_after_quiet_time_following_the_last_release():
    clock = Clock()
    tracker = StabilityTracker(5.0, clock=clock)
    tracker.touch("A", "assoc1")
    tracker.touch("A", "assoc2")  # the study spread over two parallel associations
    clock.now += 100  # an open association keeps the study waiting however long
    assert tracker.pop_ready() == []
    tracker.release("assoc1")
    clock.now += 10
    assert tracker.pop_ready() == []  # assoc2 still open
    tracker.release("assoc2")
    tracker.release("assoc2")  # release, abort and close may all report the same end
    clock.now += 4.9
    assert tracker.pop_ready() == []
    clock.now += 0.2
    assert tracker.pop_ready() == ["A"]
    assert tracker.pop_ready() == []  # reported once
    tracker.touch("A", "assoc3")  # a late instance: pending again
    tracker.release("assoc3")
    clock.now += 5.0
    assert tracker.pop_ready() == ["A"]


def test_arm_starts_quiet_time_without_an_association():
    clock = Clock()
    tracker = StabilityTracker(2.0, clock=clock)
    tracker.arm("B")
    clock.now += 2.0
    assert tracker.pop_ready() == ["B"]


def test_queue_generations_and_restart(tmp_path):
    queue = StudyQueue(tmp_path)
    state = queue.enqueue(STUDY)
    assert (state.status, state.generation) == ("ready", 1)
    claimed = queue.claim()
    assert claimed.study_uid == STUDY and claimed.status == "running"
    assert queue.claim() is None

    # kill -9 now: a new queue object (a restarted node) finds it ready again, same generation
    restarted = StudyQueue(tmp_path)
    assert (restarted.get(STUDY).status, restarted.get(STUDY).generation) == ("ready", 1)
    restarted.claim()
    restarted.enqueue(STUDY)  # an instance arrived while it ran
    outputs = [{"kind": "sr", "sop_instance_uid": "2.25.1"}]
    done, requeue = restarted.complete(
        STUDY, 1, analysed=[SOP], outputs=outputs, summary={"instances": 1}
    )
    assert done.status == "done" and requeue is True
    assert done.new_instances([SOP, "2.25.1"]) == set()  # analysed, and our own SR
    assert done.new_instances([SOP, "1.2.3.4"]) == {"1.2.3.4"}
    nxt = restarted.enqueue(STUDY)
    assert (nxt.status, nxt.generation) == ("ready", 2)
    on_disk = json.loads((tmp_path / "studies" / f"{STUDY}.json").read_text())
    assert on_disk["generation"] == 2 and on_disk["history"][0]["generation"] == 1


def test_queue_parks_a_study_that_keeps_crashing(tmp_path):
    queue = StudyQueue(tmp_path)
    queue.enqueue(STUDY)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        queue.claim()
        state = queue.fail(STUDY, 1, "a worker process died")
        assert state.status == ("failed" if attempt == MAX_ATTEMPTS else "ready")
    assert queue.claim() is None


def test_queue_state_files_are_written_atomically(tmp_path, monkeypatch):
    queue = StudyQueue(tmp_path)
    queue.enqueue(STUDY)
    path = tmp_path / "studies" / f"{STUDY}.json"
    before = path.read_text()

    def crash(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)  # the rename never happens
    with pytest.raises(OSError):
        queue.claim()
    assert path.read_text() == before  # the old state, whole
    assert [p.name for p in path.parent.iterdir()] == [path.name]
