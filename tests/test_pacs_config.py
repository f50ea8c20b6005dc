"""Node configuration: TOML keys, strict checking, ``--print-config`` round trip."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from _pacs_servers import REPO

from dxaspine.pacs.config import (
    PacsConfigError,
    RetryPolicy,
    config_to_toml,
    load_config,
    parse_forward,
)

SITE = """
[node]
ae_title = "DXA_NODE"
host = "0.0.0.0"
port = 11112
allowed_calling_aes = ["PACS", "LUNAR1"]
allowed_peers = ["10.1.2.0/24", "192.168.0.7"]
stability_delay_s = 30
workers = 3

[paths]
inbox = "data/inbox"
state = "/var/lib/dxaspine/state"

[retry]
attempts = 5
initial_delay_s = 1.5

[logging]
format = "json"

[[destinations]]
name = "pacs"
type = "dicom"
ae_title = "PACS"
host = "10.1.2.3"
port = 104

[[destinations]]
name = "orthanc"
type = "orthanc"
url = "http://127.0.0.1:8042/"
"""


def test_site_file_is_read_and_relative_paths_follow_the_file(tmp_path):
    path = tmp_path / "site" / "node.toml"
    path.parent.mkdir()
    path.write_text(SITE)
    config = load_config(path)
    assert config.ae_title == "DXA_NODE" and config.port == 11112
    assert config.allowed_calling_aes == ("PACS", "LUNAR1")
    assert config.stability_delay_s == 30.0 and config.workers == 3
    assert config.inbox == str(path.parent / "data" / "inbox")  # relative to the file
    assert config.state == "/var/lib/dxaspine/state"
    assert config.dead_letter == str(path.parent / "dxaspine-node" / "dead-letter")  # default
    assert config.retry == RetryPolicy(attempts=5, initial_delay_s=1.5, max_delay_s=300.0)
    assert [d.name for d in config.destinations] == ["pacs", "orthanc"]
    assert config.destinations[1].url == "http://127.0.0.1:8042"  # trailing slash dropped
    assert config.log_format == "json"


def test_printed_config_is_a_config_with_the_same_values(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text(SITE)
    config = load_config(path)
    printed = tmp_path / "printed.toml"
    printed.write_text(config_to_toml(config))
    tomllib.loads(printed.read_text())  # valid TOML
    assert load_config(printed) == config


def test_print_config_command_shows_command_line_overrides(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text(SITE)
    out = subprocess.run(
        [sys.executable, "-m", "dxaspine", "listen", "--config", str(path), "--port", "4104",
         "--forward", "ARCHIVE@10.9.9.9:11112", "--print-config"],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=True,
    )  # fmt: skip
    printed = tomllib.loads(out.stdout)
    assert printed["node"]["port"] == 4104
    assert printed["destinations"][-1] == {
        "name": "dicom-ARCHIVE",
        "type": "dicom",
        "timeout_s": 30.0,
        "ae_title": "ARCHIVE",
        "host": "10.9.9.9",
        "port": 11112,
    }


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[node]\nallowed_calling_ae = ['X']\n", "node.allowed_calling_ae"),  # a typo
        ("[node]\nport = '104'\n", "node.port"),
        ("[node]\nport = 70000\n", "node.port"),
        ("[node]\nae_title = 'AN_AE_TITLE_TOO_LONG'\n", "node.ae_title"),
        ("[node]\nallowed_peers = ['10.0.0.300']\n", "node.allowed_peers"),
        ("[node]\nstability_delay_s = -1\n", "node.stability_delay_s"),
        ("[retry]\nattempts = 0\n", "retry.attempts"),
        ("[[destinations]]\ntype = 'ftp'\n", "destinations[0].type"),
        ("[[destinations]]\ntype = 'dicom'\nae_title = 'X'\n", "destinations"),
        ("[[destinations]]\ntype = 'orthanc'\nurl = 'ftp://x'\n", "destinations"),
        ("[tls]\ncertificate = 'a.pem'\n", "tls.private_key"),
        ("[logging]\nformat = 'xml'\n", "logging.format"),
        ("[nodes]\n", "nodes"),
    ],
)
def test_bad_values_name_the_file_and_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PacsConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)) and key in message and "\n" not in message


def test_not_toml_and_missing_file_are_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\n")
    with pytest.raises(PacsConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(PacsConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_forward_spec_and_backoff():
    dest = parse_forward("PACS@10.0.0.5:104")
    assert (dest.type, dest.ae_title, dest.host, dest.port) == ("dicom", "PACS", "10.0.0.5", 104)
    assert parse_forward("ARCH@[::1]:11112").host == "::1"
    for spec in ("PACS10.0.0.5:104", "PACS@host", "TOOLONGAETITLE1234@h:1"):
        with pytest.raises(PacsConfigError):
            parse_forward(spec)
    # initial * 2**(k-1), capped: 2, 4, 8, ... 300 (hand-computed)
    policy = RetryPolicy(attempts=10, initial_delay_s=2.0, max_delay_s=300.0)
    assert [policy.delay_s(k) for k in (1, 2, 3, 8, 9)] == [2.0, 4.0, 8.0, 256.0, 300.0]
