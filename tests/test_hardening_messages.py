"""No patient identifier in any message or log line (issue 12, docs/hardening.md §4).

Each test plants the identifying values of ``_damage.PLANTED`` into a committed test image
(patient fields, and the free-text fields sites fill with names), damages one field so that
dxaspine has to talk about it, and checks the message, the log records and, for the CLI at
``-vv``, the terminal.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings

import pydicom
import pytest
from _damage import PLANTED, TEST_IMAGES, leaked, plant_identifiers

import dxaspine
from dxaspine.errors import DxaError
from dxaspine.io.safe_values import redact, shown, uid_text

DUAL = TEST_IMAGES / "ti_standard_prodigy.dual_energy.dcm"
DISPLAY = TEST_IMAGES / "ti_standard_prodigy.display.dcm"
NAME = PLANTED["PatientName"]


def _planted_copy(source, path, change=None) -> str:
    ds = plant_identifiers(pydicom.dcmread(source))
    if change is not None:
        change(ds)
    with warnings.catch_warnings():  # pydicom warns about the damage it is asked to write
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    return str(path)


def _set(keyword, value):
    def change(ds):
        setattr(ds, keyword, value)

    return change


def _raw(tag: int, vr: str, value: bytes):
    def change(ds):
        # A raw value bypasses pydicom's validation, as a damaged file does.
        ds.add(pydicom.dataelem.RawDataElement(tag, vr, len(value), value, 0, False, True))

    return change


CASES = {
    "hip protocol": (DISPLAY, _set("ProtocolName", f"Left Femur {NAME}")),
    "unrelated protocol": (DISPLAY, _set("ProtocolName", f"Knee {NAME}")),
    "series description only": (DISPLAY, _set("ProtocolName", "")),
    "orientation": (DUAL, _raw(0x00200020, "CS", f"{NAME}\\F ".encode()[:18])),
    "pixel spacing": (DUAL, _raw(0x00280030, "DS", f"{NAME}\\1 ".encode())),
    "frame labels": (DUAL, _raw(0x00182002, "CS", f"LOW_ENERGY\\{NAME} ".encode())),
    "modality": (DISPLAY, _raw(0x00080060, "CS", b"ZZDOE JANE ")),
    "photometric": (DISPLAY, _raw(0x00280004, "CS", b"ZZDOE JANE ")),
    "sop class": (DISPLAY, _raw(0x00080016, "UI", b"ZZDOE.JANE.PHI12345\x00")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_messages_and_logs_name_the_field_not_its_value(tmp_path, caplog, case):
    source, change = CASES[case]
    path = _planted_copy(source, tmp_path / "planted.dcm", change)
    caplog.set_level(logging.DEBUG)
    try:
        dxaspine.analyze(path)
        message = ""
    except DxaError as exc:
        message = str(exc)
    peeked = dxaspine.peek(path).reason or ""
    # pydicom's own logger quotes values; the CLI sets it to ERROR (library users should too).
    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("pydicom"))
    assert leaked(message) == [] and leaked(peeked) == [] and leaked(logs) == []


def test_a_group_length_quoting_a_name_is_not_repeated(tmp_path):
    # pydicom's BytesLengthException quotes the bytes: "received b'ZZDOE^JANE^PHI12345'".
    data = bytearray(DUAL.read_bytes())
    at = data.find(b"\x02\x00\x00\x00UL\x04\x00")
    value = NAME.encode()[:18].ljust(18, b"^")
    data[at : at + 12] = b"\x02\x00\x00\x00UL" + len(value).to_bytes(2, "little") + value[:4]
    data[at + 12 : at + 12] = value[4:]
    path = tmp_path / "group_length.dcm"
    path.write_bytes(bytes(data))
    with pytest.raises(DxaError) as info:
        dxaspine.load(str(path))
    raw = info.value.__cause__
    assert raw is not None and leaked(str(raw)), "the library text does quote the name ..."
    assert leaked(str(info.value)) == []  # ... dxaspine's message does not


def test_cli_at_debug_verbosity_prints_no_identifier(tmp_path):
    paths = [
        _planted_copy(source, tmp_path / f"{i}.dcm", change)
        for i, (source, change) in enumerate(CASES.values())
    ]
    paths.append(_planted_copy(DUAL, tmp_path / "good.dcm"))
    log = tmp_path / "run.log"
    proc = subprocess.run(
        [sys.executable, "-m", "dxaspine", "-vv", "--debug", "--log-file", str(log), "analyze",
         *paths, "--json", str(tmp_path / "r.jsonl"), "--csv", str(tmp_path / "r.csv")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert leaked(proc.stdout) == [] and leaked(proc.stderr) == []
    assert leaked((tmp_path / "r.jsonl").read_text()) == []
    assert leaked((tmp_path / "r.csv").read_text()) == []
    # The log file the user asked for holds the tracebacks (which may quote values).
    assert "Traceback" in log.read_text()


def test_the_allow_list():
    assert shown("Rows", 788) == "Rows 788"
    assert shown("Rows", "78 DOE") == "Rows (malformed)"
    assert shown("ProtocolName", f"AP Spine {NAME}") == "ProtocolName"
    assert shown("PatientOrientation", "L\\F") == "PatientOrientation"
    assert uid_text("1.2.840.10008.1.2.4.90").startswith("JPEG 2000")
    assert uid_text("1.2.3.DOE") == "(malformed UID)"
    assert leaked(redact(f"Invalid value for VR PN: '{NAME}' and b'{NAME}' and {NAME}")) == []
