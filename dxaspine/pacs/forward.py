"""Forwarding results: C-STORE SCU or Orthanc REST, with retries, backoff and a dead letter.

Each destination has a **spool folder** ``<state>/forward/<name>/``: :meth:`Forwarder.submit`
hard-links (or copies) an output file into it atomically, and the forwarder thread sends
what is there, oldest first, deleting each file once the destination has confirmed it.  The
spool is on disk, so a restart (or ``kill -9``) resends whatever was not confirmed; a
destination that sees the same SOP Instance UID twice keeps one copy (Orthanc answers
``AlreadyStored``; a conformant SCP overwrites), because output UIDs are deterministic.

A failed attempt waits ``retry.initial_delay_s * 2**(k-1)`` (capped at ``max_delay_s``)
before the next; after ``retry.attempts`` failures the file moves to
``<dead_letter>/<name>/`` with a JSON note of the last error.  Moving it back into the spool
folder resends it.  Attempt counts live in memory: after a restart every spooled file gets
a fresh set of attempts.

Destinations:

- ``dicom``: one association per batch of due files (pynetdicom SCU), proposing each file's
  SOP class with explicit and implicit VR little endian; a status other than success or a
  warning (0x0000, 0xB000, 0xB006, 0xB007) counts as a failure;
- ``orthanc``: ``POST <url>/instances`` with the file as ``application/dicom`` (``urllib``),
  success when Orthanc answers 200 with ``Status`` ``Success`` or ``AlreadyStored``.

Log lines name the destination, the output kind and a UID tag; never a patient identifier.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dxaspine.atomic import atomic_write_text
from dxaspine.errors import DxaError
from dxaspine.pacs.config import Destination, RetryPolicy
from dxaspine.pacs.logs import uid_tag

logger = logging.getLogger(__name__)

__all__ = ["DicomSender", "ForwardError", "Forwarder", "OrthancSender", "make_sender"]

_OK_STATUSES = {0x0000, 0xB000, 0xB006, 0xB007}  # success and the Storage warnings (PS3.4 B.2.3)


class ForwardError(DxaError):
    """A destination did not confirm a file (connection, rejection or failure status)."""


def _sop_uid_of(path: str | os.PathLike) -> str:
    # Spool names end in "<kind>_<SOPInstanceUID>.dcm" (analysis output names).
    stem = Path(path).name.rsplit(".", 1)[0]
    return stem.rsplit("_", 1)[-1]


class DicomSender:
    """C-STORE SCU to one AE; one association per :meth:`send_batch` call."""

    def __init__(self, destination: Destination, calling_ae: str) -> None:
        self.destination = destination
        self.calling_ae = calling_ae

    def send_batch(self, paths: list[Path]) -> dict[Path, str | None]:
        """Send files; returns ``{path: None on success, or the reason it failed}``."""
        import pydicom
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
        from pynetdicom import AE

        datasets, results = {}, {}
        for path in paths:
            try:
                datasets[path] = pydicom.dcmread(path)
            except Exception as exc:  # noqa: BLE001 - an unreadable spool file never succeeds
                results[path] = f"unreadable output file ({type(exc).__name__})"
        if not datasets:
            return results
        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.destination.timeout_s
        for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets.values()}):
            ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        dest = self.destination
        from pynetdicom import evt

        from dxaspine.pacs.scp import _no_delay

        try:
            assoc = ae.associate(
                dest.host,
                dest.port,
                ae_title=dest.ae_title,
                evt_handlers=[(evt.EVT_CONN_OPEN, _no_delay)],
            )
        except (OSError, RuntimeError) as exc:
            reason = f"cannot connect ({type(exc).__name__})"
            return {**results, **dict.fromkeys(datasets, reason)}
        if not assoc.is_established:
            if assoc.is_rejected:
                reason = "association rejected by the destination (check its AE settings)"
            else:  # pynetdicom reports a refused TCP connection as an aborted association
                reason = "cannot connect or aborted (nothing listening, network, or peer)"
            return {**results, **dict.fromkeys(datasets, reason)}
        try:
            for path, ds in datasets.items():
                try:
                    status = assoc.send_c_store(ds)
                except (ValueError, RuntimeError, OSError) as exc:
                    results[path] = f"C-STORE not sent ({type(exc).__name__}: {exc})"
                    continue
                code = getattr(status, "Status", None)
                if code is None:
                    results[path] = "no response (timeout or aborted association)"
                elif int(code) not in _OK_STATUSES:
                    results[path] = f"status 0x{int(code):04X}"
                else:
                    results[path] = None
                if not assoc.is_established:
                    break
        finally:
            if assoc.is_established:
                assoc.release()
        for path in datasets:
            results.setdefault(path, "association ended before this file was sent")
        return results


class OrthancSender:
    """``POST /instances`` to an Orthanc server (no credentials in the URL or config)."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    def send_batch(self, paths: list[Path]) -> dict[Path, str | None]:
        return {path: self._post(path) for path in paths}

    def _post(self, path: Path) -> str | None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return f"unreadable output file ({exc.strerror})"
        request = urllib.request.Request(
            f"{self.destination.url}/instances",
            data=data,
            method="POST",
            headers={"Content-Type": "application/dicom"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.destination.timeout_s) as response:
                body = json.loads(response.read().decode("utf-8") or "{}")
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"cannot reach Orthanc ({type(exc).__name__})"
        status = body.get("Status") if isinstance(body, dict) else None
        if status not in ("Success", "AlreadyStored"):
            return f"Orthanc answered {status!r}"
        return None


def make_sender(destination: Destination, calling_ae: str):
    if destination.type == "dicom":
        return DicomSender(destination, calling_ae)
    if destination.type == "orthanc":
        return OrthancSender(destination)
    raise ValueError(f"unknown destination type {destination.type!r}")


class Forwarder:
    """One destination's spool and sending thread (see the module docstring)."""

    def __init__(
        self,
        destination: Destination,
        sender,
        spool_dir: str | os.PathLike,
        dead_letter_dir: str | os.PathLike,
        retry: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.destination = destination
        self.sender = sender
        self.spool = Path(spool_dir)
        self.dead_letter = Path(dead_letter_dir)
        self.retry = retry
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}
        self._last_error: dict[str, str] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.spool.mkdir(parents=True, exist_ok=True)
        self.sent = 0
        self.dead = 0

    # -- queueing -------------------------------------------------------------------------
    def submit(self, paths: list[str | os.PathLike]) -> None:
        """Spool files for sending (atomic: a link under a temp name, then a rename)."""
        for path in paths:
            source = Path(path)
            name = f"{time.time_ns():020d}_{source.name}"
            tmp = self.spool / f".{name}.tmp"
            try:
                os.link(source, tmp)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(source, tmp)
            os.replace(tmp, self.spool / name)
        self._wake.set()

    def pending(self) -> list[Path]:
        return sorted(p for p in self.spool.iterdir() if p.is_file() and not p.name.startswith("."))

    # -- thread ---------------------------------------------------------------------------
    def start(self) -> None:
        for tmp in self.spool.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        self._thread = threading.Thread(
            target=self._run, name=f"forward-{self.destination.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait_s = self.step()
            self._wake.wait(timeout=wait_s)
            self._wake.clear()

    def step(self) -> float:
        """One pass: send what is due; returns how long to wait before the next pass."""
        now = self._clock()
        files = self.pending()
        due = [p for p in files if self._next_try.get(p.name, 0.0) <= now]
        if due:
            try:
                results = self.sender.send_batch(due)
            except Exception as exc:  # noqa: BLE001 - a sender bug must not kill the thread
                logger.exception("forward to %s: sender failed", self.destination.name)
                results = dict.fromkeys(due, f"sender error ({type(exc).__name__})")
            for path, error in results.items():
                self._settle(path, error)
        now = self._clock()
        waits = [t - now for name, t in self._next_try.items() if (self.spool / name).exists()]
        return max(0.05, min(waits)) if waits else 1.0

    def _settle(self, path: Path, error: str | None) -> None:
        name, tag = path.name, uid_tag(_sop_uid_of(path))
        kind = path.name.split("_", 2)[1] if path.name.count("_") >= 2 else "file"
        if error is None:
            path.unlink(missing_ok=True)
            self._failures.pop(name, None)
            self._next_try.pop(name, None)
            self.sent += 1
            logger.info("forward to %s: %s %s delivered", self.destination.name, kind, tag)
            return
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        self._last_error[name] = error
        if failures >= self.retry.attempts:
            self._dead_letter(path, failures, error)
            return
        delay = self.retry.delay_s(failures)
        self._next_try[name] = self._clock() + delay
        logger.warning(
            "forward to %s: %s %s failed (attempt %d of %d: %s); next try in %.1f s",
            self.destination.name,
            kind,
            tag,
            failures,
            self.retry.attempts,
            error,
            delay,
        )

    def _dead_letter(self, path: Path, failures: int, error: str) -> None:
        folder = self.dead_letter / self.destination.name
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(path, folder / path.name)
        note = {
            "destination": self.destination.name,
            "attempts": failures,
            "last_error": error,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "resend": f"move the file back into {self.spool}",
        }
        atomic_write_text(folder / f"{path.name}.json", json.dumps(note, indent=1) + "\n")
        self._failures.pop(path.name, None)
        self._next_try.pop(path.name, None)
        self.dead += 1
        logger.error(
            "forward to %s: %s gave up after %d attempts (%s); moved to the dead-letter folder",
            self.destination.name,
            uid_tag(_sop_uid_of(path)),
            failures,
            error,
        )
