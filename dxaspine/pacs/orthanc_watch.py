"""Pull mode: follow an Orthanc server's ``/changes`` and analyse every ``StableStudy``.

Orthanc numbers every change (``Seq``) and reports ``StableStudy`` once a study has received
nothing for ``StableAge`` seconds (docs/domain.md §6c).  The watcher:

1. asks ``GET /changes?since=<last>&limit=100`` until ``Done``, then waits
   ``poll_interval_s``;
2. for each ``StableStudy``: reads the study's StudyInstanceUID (``GET /studies/{id}``) and
   its instances (``GET /studies/{id}/instances``), downloads only the instances the node
   has not seen (``GET /instances/{id}/file``) into the same inbox the SCP uses, checking
   that each file's UIDs are valid and match what Orthanc listed, and hands the study to
   the node, which queues it exactly as if it had arrived over DICOM;
3. saves ``last`` (the highest ``Seq`` handled) atomically to ``<state>/orthanc_watch.json``
   after each change, so a restart continues where it stopped.  A change is handled again
   after a crash at most once, and handling it again finds nothing new.

The SR and SC the node posts back make Orthanc report the study stable once more; the node
recognises them as its own outputs (their UIDs are recorded), finds nothing new and does not
analyse again.  On first start the watcher begins at Orthanc's current last change (only
new studies) unless ``from_beginning`` is set.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dxaspine.atomic import atomic_write_text
from dxaspine.errors import DxaError, describe
from dxaspine.pacs.inbox import Inbox
from dxaspine.pacs.logs import uid_tag
from dxaspine.pacs.uids import is_valid_uid

logger = logging.getLogger(__name__)

__all__ = ["OrthancClient", "OrthancError", "OrthancWatcher"]

_PAGE = 100  # changes per request (Orthanc's own default limit is 100)


class OrthancError(DxaError):
    """Orthanc's REST API did not answer as expected."""


class OrthancClient:
    """The few REST calls the node needs (``urllib``; no third-party HTTP client)."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise OrthancError(
                describe(self.url, f"GET {path.split('?')[0]}: HTTP {exc.code}")
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise OrthancError(
                describe(self.url, f"unreachable ({type(exc).__name__})", "is Orthanc running?")
            ) from exc

    def get_json(self, path: str) -> Any:
        try:
            return json.loads(self._get(path).decode("utf-8"))
        except ValueError as exc:
            raise OrthancError(describe(self.url, f"GET {path}: not JSON")) from exc

    def changes(self, since: int, limit: int = _PAGE) -> dict:
        query = urllib.parse.urlencode({"since": since, "limit": limit})
        return self.get_json(f"/changes?{query}")

    def last_change(self) -> int:
        return int(self.get_json("/changes?last").get("Last", 0))

    def study(self, orthanc_id: str) -> dict:
        return self.get_json(f"/studies/{urllib.parse.quote(orthanc_id, safe='')}")

    def study_instances(self, orthanc_id: str) -> list[dict]:
        return self.get_json(f"/studies/{urllib.parse.quote(orthanc_id, safe='')}/instances")

    def instance_file(self, orthanc_id: str) -> bytes:
        return self._get(f"/instances/{urllib.parse.quote(orthanc_id, safe='')}/file")


def _file_uids(data: bytes) -> tuple[str, str]:
    import pydicom

    ds = pydicom.dcmread(
        io.BytesIO(data),
        stop_before_pixels=True,
        specific_tags=["StudyInstanceUID", "SOPInstanceUID"],
    )
    return str(ds.get("StudyInstanceUID", "")), str(ds.get("SOPInstanceUID", ""))


class OrthancWatcher:
    """The pull-mode receiver: a thread that turns ``StableStudy`` changes into ready studies.

    Parameters
    ----------
    client : OrthancClient
    inbox : Inbox
    state_path : path
        Where the last handled change index is kept.
    known : callable ``(study_uid) -> set of SOP UIDs``
        Instances the node already has or made (inbox, analysed, own outputs).
    on_ready : callable ``(study_uid) -> None``
        Hands a study with new instances to the node (thread-safe on the node's side).
    poll_interval_s : float
    from_beginning : bool
        On first start, handle Orthanc's whole change log instead of only new changes.
    """

    def __init__(
        self,
        client: OrthancClient,
        inbox: Inbox,
        state_path: str | Path,
        *,
        known: Callable[[str], set[str]],
        on_ready: Callable[[str], None],
        poll_interval_s: float = 2.0,
        from_beginning: bool = False,
    ) -> None:
        self.client = client
        self.inbox = inbox
        self.state_path = Path(state_path)
        self._known = known
        self._on_ready = on_ready
        self.poll_interval_s = poll_interval_s
        self.from_beginning = from_beginning
        self.last: int | None = self._load()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _load(self) -> int | None:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OrthancError(
                describe(self.state_path, f"unreadable watch state ({exc})", "fix or remove it")
            ) from exc
        if data.get("url") not in (None, self.client.url):
            logger.warning("watch state was written for another Orthanc URL; continuing from it")
        return int(data.get("last_change", 0))

    def _save(self) -> None:
        text = json.dumps({"url": self.client.url, "last_change": self.last}, indent=1) + "\n"
        atomic_write_text(self.state_path, text)

    def start(self) -> None:
        if self.last is not None:
            logger.info("orthanc watch: continuing after change %d", self.last)
        self._thread = threading.Thread(target=self._run, name="orthanc-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                more = self.step()
                failures = 0
            except OrthancError as exc:
                failures += 1
                # Back off while Orthanc is away (capped at 60 s), without losing our place.
                wait_s = min(60.0, self.poll_interval_s * 2 ** min(failures, 6))
                logger.warning("orthanc watch: %s; retrying in %.0f s", exc, wait_s)
                self._stop.wait(wait_s)
                continue
            if not more:
                self._stop.wait(self.poll_interval_s)

    def step(self) -> bool:
        """Handle one page of changes; True when more are waiting."""
        if self.last is None:
            self.last = 0 if self.from_beginning else self.client.last_change()
            self._save()
            logger.info("orthanc watch: starting after change %d", self.last)
        page = self.client.changes(self.last)
        for change in page.get("Changes", []):
            if self._stop.is_set():
                return False
            if change.get("ChangeType") == "StableStudy":
                self._handle_study(str(change.get("ID", "")))
            self.last = max(self.last, int(change.get("Seq", self.last)))
            self._save()
        self.last = max(self.last, int(page.get("Last", self.last)))
        self._save()
        return not page.get("Done", True)

    def _handle_study(self, orthanc_id: str) -> None:
        try:
            study = self.client.study(orthanc_id)
        except OrthancError:
            logger.info("orthanc watch: a stable study is gone before it was fetched")
            return
        study_uid = str(study.get("MainDicomTags", {}).get("StudyInstanceUID", ""))
        if not is_valid_uid(study_uid):
            logger.warning("orthanc watch: a study with an invalid StudyInstanceUID was skipped")
            return
        known = self._known(study_uid)
        fetched = 0
        for item in self.client.study_instances(orthanc_id):
            sop = str(item.get("MainDicomTags", {}).get("SOPInstanceUID", ""))
            if not is_valid_uid(sop):
                logger.warning(
                    "orthanc watch: study %s: invalid instance UID skipped", uid_tag(study_uid)
                )
                continue
            if sop in known:
                continue
            data = self.client.instance_file(str(item["ID"]))
            try:
                file_study, file_sop = _file_uids(data)
            except Exception as exc:  # noqa: BLE001 - a damaged file is recorded, the study goes on
                self.inbox.record_rejected(
                    data, reason=f"undecodable ({type(exc).__name__})", status=0xC210,
                    study_uid=study_uid, sop_uid=sop,
                )  # fmt: skip
                continue
            if (file_study, file_sop) != (study_uid, sop):
                self.inbox.record_rejected(
                    data, reason="file UIDs differ from Orthanc's index", status=0xA900,
                    study_uid=study_uid, sop_uid=sop,
                )  # fmt: skip
                continue
            self.inbox.store(study_uid, sop, data)
            fetched += 1
        if fetched:
            logger.info(
                "orthanc watch: study %s stable, %d new instance(s) fetched",
                uid_tag(study_uid),
                fetched,
            )
            self._on_ready(study_uid)
        else:
            logger.debug("orthanc watch: study %s stable, nothing new", uid_tag(study_uid))
