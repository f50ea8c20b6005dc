"""The DICOM Storage SCP (pynetdicom): C-ECHO, and C-STORE into the inbox.

**SOP classes** (:data:`STORAGE_SOP_CLASSES`; docs/pacs.md "What the SCP accepts"): the
classes DXA arrives in, i.e. CR, DX (for presentation and for processing), Secondary Capture
and the four multi-frame SC classes, plus the classes that carry vendor results: the SR
classes (Basic Text, Enhanced, Comprehensive, Comprehensive 3D) and Raw Data Storage.  "OT"
is not a storage class: it is a Modality value, and OT images travel as Secondary Capture
(PS3.3 A.8), so they are covered.

**Transfer syntaxes**: image classes accept the uncompressed syntaxes plus every compressed
syntax for which pydicom has a working decoder *in this environment* (asked at start-up via
``pydicom.pixels.get_decoder(uid).is_available``), so the SCP never accepts pixels the
analysis cannot read; the results classes (no pixel data) accept the uncompressed syntaxes.

**Access**: the calling AE title must be in ``allowed_calling_aes`` (pynetdicom's
``require_calling_aet`` rejects others at association, "calling AE title not recognised"),
unless ``accept_any_calling_ae`` is set; when ``allowed_peers`` is given, an association
from any other address is rejected too (permanent, no reason given).  Optional TLS wraps
every accepted socket (``ssl.SSLContext``; TLS 1.2 at least).

**C-STORE**: the dataset is checked (:mod:`dxaspine.pacs.instance_check`), then the bytes as
received are written to the inbox (no re-encoding).  Statuses: 0x0000 stored or duplicate;
0xA900/0xC210 refused (recorded under ``_rejected``); 0xA700 when the disk is short of
``min_free_disk_mb`` or the write fails.  Never success for anything not on disk.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dxaspine.pacs.config import NodeConfig, PacsConfigError, TlsConfig
from dxaspine.pacs.inbox import Inbox
from dxaspine.pacs.instance_check import (
    STATUS_CANNOT_UNDERSTAND,
    STATUS_OUT_OF_RESOURCES,
    STATUS_SUCCESS,
    Refusal,
    check_instance,
)
from dxaspine.pacs.logs import uid_tag
from dxaspine.pacs.stability import StabilityTracker
from dxaspine.pacs.uids import InvalidUidError

logger = logging.getLogger(__name__)

__all__ = [
    "IMAGE_SOP_CLASSES",
    "RESULT_SOP_CLASSES",
    "SR_SOP_CLASSES",
    "STORAGE_SOP_CLASSES",
    "StorageSCP",
    "build_ssl_context",
    "image_transfer_syntaxes",
    "uncompressed_transfer_syntaxes",
]

IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
}
SR_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR Storage",
}
# GE enCORE's "STR" results object: its SOP class is not public; dxaspine's vendor fixture
# uses Raw Data Storage (docs/vendor_results.md), which carries no pixels.
RESULT_SOP_CLASSES = {**SR_SOP_CLASSES, "1.2.840.10008.5.1.4.1.1.66": "Raw Data Storage"}
STORAGE_SOP_CLASSES = {**IMAGE_SOP_CLASSES, **RESULT_SOP_CLASSES}
VERIFICATION = "1.2.840.10008.1.1"


def uncompressed_transfer_syntaxes() -> list[str]:
    """Explicit VR LE first (the usual preference), implicit LE, deflated, big endian."""
    from pydicom import uid

    return [
        uid.ExplicitVRLittleEndian,
        uid.ImplicitVRLittleEndian,
        uid.DeflatedExplicitVRLittleEndian,
        uid.ExplicitVRBigEndian,
    ]


def image_transfer_syntaxes() -> list[str]:
    """Uncompressed syntaxes plus the compressed ones pydicom can decode here."""
    from pydicom import uid
    from pydicom.pixels import get_decoder

    out = uncompressed_transfer_syntaxes()
    for syntax in uid.AllTransferSyntaxes:
        if not syntax.is_compressed or syntax in out:
            continue
        try:
            if get_decoder(syntax).is_available:
                out.append(syntax)
        except NotImplementedError:  # pydicom has no decoder for it at all (video, JPIP)
            continue
    return out


def build_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """Server-side TLS context: the node's certificate, optional client verification."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.certificate, tls.private_key)
        if tls.ca_certificates:
            context.load_verify_locations(tls.ca_certificates)
    except (OSError, ssl.SSLError) as exc:
        raise PacsConfigError(
            f"tls: cannot load the certificate, key or CA file ({exc}); check [tls] paths"
        ) from exc
    if tls.require_client_certificate:
        if not tls.ca_certificates:
            raise PacsConfigError(
                "tls.require_client_certificate needs tls.ca_certificates to verify clients"
            )
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _no_delay(event) -> None:
    """Disable Nagle's algorithm on the connection.

    A C-STORE exchange is a large write followed by a small response; with Nagle on, the
    small write waits for the peer's delayed ACK (~40 ms on Linux) once per instance.  dcmtk
    makes the same switch available as ``TCP_NODELAY=1`` (docs/pacs.md "Throughput").
    """
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket (tests with socket pairs), or already closed
            pass


@dataclass
class _AssociationStats:
    calling_ae: str
    peer: str
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    studies: set | None = None


class StorageSCP:
    """The node's SCP.  ``start()`` returns once it listens; handlers run per association."""

    def __init__(
        self,
        config: NodeConfig,
        inbox: Inbox,
        tracker: StabilityTracker,
        *,
        on_stored: Callable[[str, str], None] | None = None,
    ) -> None:
        if not config.allowed_calling_aes and not config.accept_any_calling_ae:
            raise PacsConfigError(
                "node.allowed_calling_aes is empty: every association would be rejected; "
                "list the calling AE titles of your PACS/modalities (or set "
                "accept_any_calling_ae = true on a closed network)"
            )
        self.config = config
        self.inbox = inbox
        self.tracker = tracker
        self._on_stored = on_stored
        self._networks = [ipaddress.ip_network(p, strict=False) for p in config.allowed_peers]
        self._stats: dict[object, _AssociationStats] = {}
        self._lock = threading.Lock()
        self._server = None
        self._ae = None
        self.counters = {"stored": 0, "duplicates": 0, "refused": 0, "out_of_resources": 0}

    # -- set-up ---------------------------------------------------------------------------
    def _build_ae(self):
        from pynetdicom import AE

        ae = AE(ae_title=self.config.ae_title)
        ae.maximum_associations = self.config.max_associations
        # 0 = no limit on the PDUs we receive: fewer, larger PDUs per instance (pynetdicom's
        # default 16382 bytes is what dcmtk proposes too; larger is faster on loopback/LAN).
        ae.maximum_pdu_size = 0
        if not self.config.accept_any_calling_ae:
            ae.require_calling_aet = list(self.config.allowed_calling_aes)
        ae.add_supported_context(VERIFICATION)
        images, plain = image_transfer_syntaxes(), uncompressed_transfer_syntaxes()
        for sop_class in IMAGE_SOP_CLASSES:
            ae.add_supported_context(sop_class, images)
        for sop_class in RESULT_SOP_CLASSES:
            ae.add_supported_context(sop_class, plain)
        return ae

    def start(self) -> tuple[str, int]:
        """Listen on (host, port); port 0 picks a free one.  Returns the bound address."""
        from pynetdicom import evt

        self._ae = self._build_ae()
        ssl_context = build_ssl_context(self.config.tls) if self.config.tls else None
        handlers = [
            (evt.EVT_CONN_OPEN, _no_delay),
            (evt.EVT_C_STORE, self._handle_store),
            (evt.EVT_REQUESTED, self._handle_requested),
            (evt.EVT_ESTABLISHED, self._handle_established),
            (evt.EVT_REJECTED, self._handle_rejected),
            (evt.EVT_RELEASED, self._handle_end),
            (evt.EVT_ABORTED, self._handle_end),
            (evt.EVT_CONN_CLOSE, self._handle_end),
        ]
        try:
            self._server = self._ae.start_server(
                (self.config.host, self.config.port),
                block=False,
                ssl_context=ssl_context,
                evt_handlers=handlers,
            )
        except OSError as exc:
            raise PacsConfigError(
                f"cannot listen on {self.config.host}:{self.config.port} ({exc.strerror}); "
                "choose a free node.port or stop the other listener"
            ) from exc
        host, port = self._server.server_address[:2]
        logger.info(
            "storage SCP %s listening on %s:%d%s",
            self.config.ae_title,
            host,
            port,
            " (TLS)" if ssl_context else "",
        )
        return host, port

    @property
    def address(self) -> tuple[str, int]:
        return tuple(self._server.server_address[:2]) if self._server else ("", 0)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._ae is not None:
            self._ae.shutdown()
            self._ae = None

    # -- association events -----------------------------------------------------------------
    def _handle_requested(self, event) -> None:
        if not self._networks:
            return
        address = event.assoc.requestor.address
        try:
            allowed = any(ipaddress.ip_address(address) in net for net in self._networks)
        except ValueError:
            allowed = False
        if not allowed:
            logger.warning(
                "association from %s rejected: address not in node.allowed_peers", address
            )
            # Rejected permanent, by the service user, no reason given (PS3.8 9.3.4).
            event.assoc.acse.send_reject(0x01, 0x01, 0x01)
            event.assoc.kill()

    def _handle_established(self, event) -> None:
        requestor = event.assoc.requestor
        with self._lock:
            self._stats[event.assoc] = _AssociationStats(
                requestor.ae_title.strip(), requestor.address, studies=set()
            )

    def _handle_rejected(self, event) -> None:
        requestor = event.assoc.requestor
        logger.warning(
            "association from AE %r at %s rejected (calling AE title not allowed, address not "
            "allowed, or too many associations)",
            requestor.ae_title.strip(),
            requestor.address,
        )

    def _handle_end(self, event) -> None:
        self.tracker.release(event.assoc)
        with self._lock:
            stats = self._stats.pop(event.assoc, None)
        if stats is not None and (stats.stored or stats.duplicates or stats.refused):
            logger.info(
                "association from AE %r at %s ended: %d stored, %d duplicate, %d refused, "
                "%d stud%s",
                stats.calling_ae,
                stats.peer,
                stats.stored,
                stats.duplicates,
                stats.refused,
                len(stats.studies),
                "y" if len(stats.studies) == 1 else "ies",
            )

    def _count(self, assoc, key: str, study: str | None = None) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            stats = self._stats.get(assoc)
            if stats is not None:
                field = {"stored": "stored", "duplicates": "duplicates"}.get(key, "refused")
                setattr(stats, field, getattr(stats, field) + 1)
                if study:
                    stats.studies.add(study)

    # -- C-STORE ------------------------------------------------------------------------------
    def _refuse(self, event, status: int, reason: str, data: bytes | None, **uids) -> int:
        self._count(event.assoc, "refused")
        logger.warning(
            "instance %s refused with 0x%04X: %s",
            uid_tag(uids.get("sop_uid")),
            status,
            reason,
        )
        try:
            self.inbox.record_rejected(data, reason=reason, status=status, **uids)
        except OSError:
            logger.error("could not record the refused instance (disk full?)")
        return status

    def _handle_store(self, event) -> int:
        request = event.request
        affected = str(request.AffectedSOPInstanceUID or "")
        try:
            data = event.encoded_dataset(include_meta=True)
        except Exception:  # noqa: BLE001 - no bytes at all: nothing to store or record
            return self._refuse(event, STATUS_CANNOT_UNDERSTAND, "no data set", None)
        try:
            dataset = event.dataset
            checked = check_instance(
                dataset,
                affected_sop_class=str(request.AffectedSOPClassUID or ""),
                affected_sop_instance=affected,
                transfer_syntax=str(event.context.transfer_syntax),
                is_image=str(request.AffectedSOPClassUID) in IMAGE_SOP_CLASSES,
            )
        except Refusal as refusal:
            return self._refuse(event, refusal.status, refusal.reason, data)
        except Exception as exc:  # noqa: BLE001 - undecodable stream
            reason = f"data set cannot be decoded ({type(exc).__name__})"
            return self._refuse(event, STATUS_CANNOT_UNDERSTAND, reason, data)
        study, sop = checked.study_instance_uid, checked.sop_instance_uid
        if not self._disk_has_room():
            self._count(event.assoc, "out_of_resources")
            logger.error(
                "instance %s refused with 0xA700: less than %d MB free in the inbox",
                uid_tag(sop),
                self.config.min_free_disk_mb,
            )
            return STATUS_OUT_OF_RESOURCES
        try:
            outcome = self.inbox.store(study, sop, data)
        except InvalidUidError as exc:  # unreachable after check_instance; kept as a guard
            return self._refuse(event, 0xA900, str(exc), data)
        except OSError as exc:
            self._count(event.assoc, "out_of_resources")
            logger.error("instance %s not written (%s): 0xA700", uid_tag(sop), exc.strerror)
            return STATUS_OUT_OF_RESOURCES
        self.tracker.touch(study, event.assoc)
        self._count(event.assoc, "duplicates" if outcome.action == "duplicate" else "stored", study)
        if self._on_stored is not None and outcome.action != "duplicate":
            self._on_stored(study, sop)
        return STATUS_SUCCESS

    def _disk_has_room(self) -> bool:
        if self.config.min_free_disk_mb <= 0:
            return True
        try:
            free = shutil.disk_usage(Path(self.inbox.root)).free
        except OSError:
            return False
        return free >= self.config.min_free_disk_mb * 1024 * 1024
