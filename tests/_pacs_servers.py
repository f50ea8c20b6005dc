"""Real servers for the PACS tests, on 127.0.0.1 only, always stopped.

- :func:`free_port` asks the kernel for a free TCP port on loopback.
- :class:`OrthancServer` starts the Debian ``Orthanc`` binary from a generated JSON config
  in a temp folder (own storage and index, its own DICOM and HTTP ports, no remote access,
  no authentication, ``DicomModalities`` naming dxaspine's SCP, a small ``StableAge``).
- :class:`NodeProcess` runs ``python -m dxaspine listen|watch-orthanc`` from this checkout
  as a subprocess (so ``kill -9`` is real), with its stderr log in a file.
- :func:`dcmtk` finds dcmtk's ``storescu``/``echoscu``/``storescp``: pynetdicom installs
  Python apps of the same names that can come first on PATH, so the binary is checked to be
  OFFIS dcmtk.

Every wait is a poll with a deadline (:func:`wait_until`); nothing sleeps forever.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pydicom
import pytest

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def _is_dcmtk(path: str) -> bool:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "OFFIS" in out.stdout or "dcmtk" in out.stdout.lower()


def dcmtk(tool: str) -> str | None:
    """Path of dcmtk's ``tool`` (not pynetdicom's Python app of the same name), or None."""
    candidates = [f"/usr/bin/{tool}"]
    found = shutil.which(tool)
    if found:
        candidates.append(found)
    for candidate in candidates:
        if os.path.exists(candidate) and _is_dcmtk(candidate):
            return candidate
    return None


def orthanc_binary() -> str | None:
    found = shutil.which("Orthanc")
    if found:
        return found
    return "/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None


needs_dcmtk = pytest.mark.skipif(
    dcmtk("storescu") is None or dcmtk("echoscu") is None,
    reason="dcmtk (storescu, echoscu) not installed: apt-get install dcmtk",
)
needs_orthanc = pytest.mark.skipif(
    orthanc_binary() is None, reason="Orthanc not installed: apt-get install orthanc"
)


def http_json(url: str, data: bytes | None = None, method: str | None = None, timeout=10.0):
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def http_bytes(url: str, timeout=10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class OrthancServer:
    """An Orthanc process with its own config, storage and ports; a context manager."""

    AET = "ORTHANC"

    def __init__(self, folder: Path, *, dxaspine_port: int | None = None, stable_age_s: int = 1):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.url = f"http://{LOOPBACK}:{self.http_port}"
        modalities = {}
        if dxaspine_port is not None:
            modalities["dxaspine"] = ["DXASPINE", LOOPBACK, dxaspine_port]
        self.config = {
            "Name": "dxaspine-test",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"),
            "DicomAet": self.AET,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomModalities": modalities,
            "StableAge": stable_age_s,
            "Plugins": [],
            "HttpServerEnabled": True,
            "DicomServerEnabled": True,
            "DicomScuTimeout": 10,
            "LogExportedResources": False,
        }
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> OrthancServer:
        config_path = self.folder / "orthanc.json"
        config_path.write_text(json.dumps(self.config, indent=1))
        self._log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [orthanc_binary(), str(config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        wait_until(self._up, 30, what="Orthanc to answer /system")
        return self

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(
                f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}"
            )
        try:
            return bool(http_json(f"{self.url}/system", timeout=2))
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST helpers used by the tests -------------------------------------------------
    def get(self, path: str):
        return http_json(f"{self.url}{path}")

    def post(self, path: str, body) -> object:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return http_json(f"{self.url}{path}", data=data, method="POST", timeout=60)

    def upload(self, path: Path) -> dict:
        return self.post("/instances", Path(path).read_bytes())

    def study_id(self, study_uid: str) -> str | None:
        found = self.post("/tools/lookup", study_uid.encode())
        for item in found or []:
            if item.get("Type") == "Study":
                return item["ID"]
        return None

    def instances_of(self, study_uid: str) -> list[dict]:
        """Every instance of the study with its SOP class and series tags."""
        study = self.study_id(study_uid)
        if study is None:
            return []
        out = []
        for item in self.get(f"/studies/{study}/instances"):
            tags = self.get(f"/instances/{item['ID']}/simplified-tags")
            out.append({"id": item["ID"], **tags})
        return out

    def file(self, instance_id: str) -> bytes:
        return http_bytes(f"{self.url}/instances/{instance_id}/file")


def node_config_text(
    folder: Path,
    *,
    port: int,
    allowed=("STORESCU", "ORTHANC", "PYTEST"),
    stability_delay_s: float = 1.0,
    workers: int = 1,
    destinations: list[dict] | None = None,
    retry: dict | None = None,
    extra_node: dict | None = None,
    log_format: str = "json",
    watch: dict | None = None,
) -> str:
    """A node TOML for tests (paths inside ``folder``)."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    node = {
        "ae_title": "DXASPINE",
        "host": LOOPBACK,
        "port": port,
        "allowed_calling_aes": list(allowed),
        "stability_delay_s": float(stability_delay_s),
        "workers": workers,
        "min_free_disk_mb": 1,
        **(extra_node or {}),
    }
    lines = ["[node]", *(f"{k} = {value(v)}" for k, v in node.items())]
    lines += [
        "[paths]",
        f"inbox = {value(str(folder / 'inbox'))}",
        f"state = {value(str(folder / 'state'))}",
        f"dead_letter = {value(str(folder / 'dead-letter'))}",
        f"json_dir = {value(str(folder / 'json'))}",
        "[logging]",
        f"format = {value(log_format)}",
    ]
    if retry:
        lines += ["[retry]", *(f"{k} = {value(v)}" for k, v in retry.items())]
    if watch:
        lines += ["[orthanc_watch]", *(f"{k} = {value(v)}" for k, v in watch.items())]
    for dest in destinations or []:
        lines += ["[[destinations]]", *(f"{k} = {value(v)}" for k, v in dest.items())]
    return "\n".join(lines) + "\n"


class NodeProcess:
    """``python -m dxaspine <command> --config FILE`` from this checkout, as a subprocess."""

    def __init__(self, folder: Path, config_text: str, command: str = "listen", args=()):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path = self.folder / "node.toml"
        self.config_path.write_text(config_text)
        self.command = command
        self.args = list(args)
        self.process: subprocess.Popen | None = None
        self.log_path = self.folder / f"node-{command}.log"
        self._log = None

    def start(self) -> NodeProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dxaspine",
                self.command,
                "--config",
                str(self.config_path),
                *self.args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
            env=env,
            start_new_session=True,  # its own process group: workers die with it on kill
        )
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL the node and its worker processes (the whole process group)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self._close_log()

    def stop(self, timeout_s: float = 30) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers of a stopped node exit with it; make sure none is left behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._close_log()
        return self.process.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def study_states(state_dir: Path) -> dict[str, dict]:
    """The node's per-study state files, by StudyInstanceUID."""
    folder = Path(state_dir) / "studies"
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.glob("*.json"):
        with contextlib.suppress(ValueError, OSError):
            out[path.name[:-5]] = json.loads(path.read_text())
    return out


def echo(port: int, calling="PYTEST", called="DXASPINE", timeout_s: float = 5.0) -> float | None:
    """C-ECHO round trip in seconds with pynetdicom, or None when it failed."""
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.add_requested_context("1.2.840.10008.1.1")
    start = time.perf_counter()
    assoc = ae.associate(LOOPBACK, port, ae_title=called)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status is None or getattr(status, "Status", None) != 0:
        return None
    return time.perf_counter() - start


SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture


# dcmtk 3.6.7 keeps Nagle's algorithm on unless TCP_NODELAY=1: each C-STORE then waits for a
# delayed ACK (~40 ms).  The senders in the tests switch it off, as a site would.
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def storescu(port, files, calling="STORESCU"):
    result = subprocess.run(
        [dcmtk("storescu"), "-aet", calling, "-aec", "DXASPINE", LOOPBACK, str(port), *map(str, files)],
        capture_output=True, text=True, timeout=120, env=DCMTK_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def dxaspine_outputs(orthanc: OrthancServer, study_uid: str) -> dict[str, list]:
    """dxaspine's SRs and SCs in the study, as datasets fetched from Orthanc."""
    out = {"sr": [], "sc": []}
    for item in orthanc.instances_of(study_uid):
        if item.get("Manufacturer") != "dxaspine":
            continue
        ds = pydicom.dcmread(io.BytesIO(orthanc.file(item["id"])))
        out["sr" if ds.SOPClassUID == SR_CLASS else "sc"].append(ds)
    return out


def wait_for_outputs(orthanc, study_uid, n_sr, n_sc, timeout_s=120):
    def ready():
        found = dxaspine_outputs(orthanc, study_uid)
        return found if len(found["sr"]) >= n_sr and len(found["sc"]) >= n_sc else None

    return wait_until(ready, timeout_s, interval_s=0.5, what=f"{n_sr} SR + {n_sc} SC in Orthanc")
