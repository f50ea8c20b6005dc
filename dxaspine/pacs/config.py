"""The node's configuration: one TOML file (``tomllib``), one frozen dataclass, printable.

Every key, its default and its meaning are listed in docs/pacs.md "Configuration".  The
file is checked strictly: an unknown table or key, or a value of the wrong type, is a
:class:`PacsConfigError` naming the file and the key (a typo must not silently fall back to
a default, e.g. an allow-list that is not applied).  Relative paths in the file are
resolved against the file's own folder, so a service does not depend on its working
directory; paths given on the command line are resolved against the working directory.

:func:`config_to_toml` prints the effective values (``--print-config``) in the same TOML
layout, so its output is itself a valid configuration file.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dxaspine.errors import DxaError, describe

__all__ = [
    "Destination",
    "NodeConfig",
    "PacsConfigError",
    "RetryPolicy",
    "TlsConfig",
    "WatchConfig",
    "config_to_toml",
    "load_config",
    "parse_forward",
]


class PacsConfigError(DxaError):
    """The node configuration (file or command line) is unusable."""


# AE titles: up to 16 characters of the default repertoire, no backslash or control
# characters, not all spaces (PS3.5 Table 6.2-1, VR AE).
_AE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")


@dataclass(frozen=True)
class Destination:
    """Where results go: a C-STORE SCP (``dicom``) or an Orthanc REST API (``orthanc``)."""

    name: str
    type: str  # "dicom" | "orthanc"
    ae_title: str = ""
    host: str = ""
    port: int = 0
    url: str = ""
    timeout_s: float = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: delay ``initial * 2**k`` capped at ``max``, ``attempts`` in all."""

    attempts: int = 8
    initial_delay_s: float = 2.0
    max_delay_s: float = 300.0

    def delay_s(self, failures: int) -> float:
        """The wait after the ``failures``-th failed attempt (1-based)."""
        return min(self.max_delay_s, self.initial_delay_s * 2.0 ** max(0, failures - 1))


@dataclass(frozen=True)
class TlsConfig:
    certificate: str
    private_key: str
    ca_certificates: str = ""
    require_client_certificate: bool = False


@dataclass(frozen=True)
class WatchConfig:
    """``watch-orthanc``: where to follow ``/changes`` and how often."""

    url: str = ""
    poll_interval_s: float = 2.0
    post_back: bool = True
    from_beginning: bool = False


@dataclass(frozen=True)
class NodeConfig:
    ae_title: str = "DXASPINE"
    host: str = "127.0.0.1"
    port: int = 11112
    allowed_calling_aes: tuple[str, ...] = ()
    accept_any_calling_ae: bool = False
    allowed_peers: tuple[str, ...] = ()
    max_associations: int = 16
    min_free_disk_mb: int = 512
    # Orthanc's StableAge default is 60 s (docs/domain.md §6c); the same quiet time is the default.
    stability_delay_s: float = 60.0
    workers: int = 2
    inbox: str = "dxaspine-node/inbox"
    state: str = "dxaspine-node/state"
    dead_letter: str = "dxaspine-node/dead-letter"
    json_dir: str = ""
    reference: str = ""
    destinations: tuple[Destination, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tls: TlsConfig | None = None
    log_format: str = "plain"
    watch: WatchConfig = field(default_factory=WatchConfig)


# TOML table -> {key: NodeConfig field}; the file layout of docs/pacs.md.
_NODE_KEYS = {
    "ae_title": "ae_title",
    "host": "host",
    "port": "port",
    "allowed_calling_aes": "allowed_calling_aes",
    "accept_any_calling_ae": "accept_any_calling_ae",
    "allowed_peers": "allowed_peers",
    "max_associations": "max_associations",
    "min_free_disk_mb": "min_free_disk_mb",
    "stability_delay_s": "stability_delay_s",
    "workers": "workers",
}
_PATH_KEYS = {
    "inbox": "inbox",
    "state": "state",
    "dead_letter": "dead_letter",
    "json_dir": "json_dir",
}
_TABLES = ("node", "paths", "analysis", "retry", "tls", "logging", "orthanc_watch", "destinations")


def _fail(source: object, key: str, problem: str, fix: str) -> PacsConfigError:
    return PacsConfigError(describe(source, f"{key}: {problem}", fix))


def _expect(value: Any, kind: type | tuple, source: object, key: str) -> Any:
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise _fail(
            source, key, f"expected {names}, got {type(value).__name__}", "see docs/pacs.md"
        )
    return value


def _strings(value: Any, source: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, key, "expected a list of strings", 'e.g. ["ORTHANC", "MODALITY1"]')
    return tuple(value)


def _check_keys(table: Mapping, allowed, source: object, prefix: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _fail(
            source,
            f"{prefix}{unknown[0]}",
            "unknown key",
            f"known keys here: {', '.join(sorted(allowed))}",
        )


def _resolve(path: str, base: Path | None) -> str:
    if not path:
        return ""
    expanded = Path(os.path.expanduser(path))
    if base is not None and not expanded.is_absolute():
        expanded = base / expanded
    return str(expanded)


def _destination(item: Mapping, source: object, key: str) -> Destination:
    allowed = {"name", "type", "ae_title", "host", "port", "url", "timeout_s"}
    _check_keys(item, allowed, source, f"{key}.")
    kind = _expect(item.get("type", ""), str, source, f"{key}.type")
    name = _expect(item.get("name", kind), str, source, f"{key}.name")
    timeout = _expect(item.get("timeout_s", 30.0), float, source, f"{key}.timeout_s")
    if kind == "dicom":
        return Destination(
            name=name,
            type=kind,
            ae_title=_expect(item.get("ae_title", ""), str, source, f"{key}.ae_title"),
            host=_expect(item.get("host", ""), str, source, f"{key}.host"),
            port=_expect(item.get("port", 0), int, source, f"{key}.port"),
            timeout_s=timeout,
        )
    if kind == "orthanc":
        url = _expect(item.get("url", ""), str, source, f"{key}.url")
        return Destination(name=name, type=kind, url=url.rstrip("/"), timeout_s=timeout)
    raise _fail(
        source, f"{key}.type", f"unknown destination type {kind!r}", 'use "dicom" or "orthanc"'
    )


def _from_mapping(data: Mapping, source: object, base: Path | None) -> dict[str, Any]:
    _check_keys(data, _TABLES, source, "")
    values: dict[str, Any] = {}
    node = data.get("node", {})
    _check_keys(node, _NODE_KEYS, source, "node.")
    for key, attr in _NODE_KEYS.items():
        if key not in node:
            continue
        default = getattr(NodeConfig(), attr)
        if isinstance(default, tuple):
            values[attr] = _strings(node[key], source, f"node.{key}")
        else:
            values[attr] = _expect(node[key], type(default), source, f"node.{key}")
    paths = data.get("paths", {})
    _check_keys(paths, _PATH_KEYS, source, "paths.")
    for key, attr in _PATH_KEYS.items():
        if key in paths:
            values[attr] = _resolve(_expect(paths[key], str, source, f"paths.{key}"), base)
    analysis = data.get("analysis", {})
    _check_keys(analysis, {"reference"}, source, "analysis.")
    if "reference" in analysis:
        ref = _expect(analysis["reference"], str, source, "analysis.reference")
        # A CSV path is resolved like any path; a table name (no suffix) is kept as given.
        values["reference"] = _resolve(ref, base) if ref.endswith(".csv") else ref
    retry = data.get("retry", {})
    _check_keys(retry, {f.name for f in fields(RetryPolicy)}, source, "retry.")
    values["retry"] = RetryPolicy(
        **{
            k: _expect(v, type(getattr(RetryPolicy(), k)), source, f"retry.{k}")
            for k, v in retry.items()
        }
    )
    if "tls" in data:
        tls = data["tls"]
        _check_keys(tls, {f.name for f in fields(TlsConfig)}, source, "tls.")
        for required in ("certificate", "private_key"):
            if required not in tls:
                raise _fail(source, f"tls.{required}", "missing", "give the PEM file's path")
        values["tls"] = TlsConfig(
            certificate=_resolve(_expect(tls["certificate"], str, source, "tls.certificate"), base),
            private_key=_resolve(_expect(tls["private_key"], str, source, "tls.private_key"), base),
            ca_certificates=_resolve(
                _expect(tls.get("ca_certificates", ""), str, source, "tls.ca_certificates"), base
            ),
            require_client_certificate=_expect(
                tls.get("require_client_certificate", False),
                bool,
                source,
                "tls.require_client_certificate",
            ),
        )
    logging_table = data.get("logging", {})
    _check_keys(logging_table, {"format"}, source, "logging.")
    if "format" in logging_table:
        values["log_format"] = _expect(logging_table["format"], str, source, "logging.format")
    watch = data.get("orthanc_watch", {})
    _check_keys(watch, {f.name for f in fields(WatchConfig)}, source, "orthanc_watch.")
    values["watch"] = WatchConfig(
        **{
            k: _expect(v, type(getattr(WatchConfig(), k)), source, f"orthanc_watch.{k}")
            for k, v in watch.items()
        }
    )
    destinations = data.get("destinations", [])
    if not isinstance(destinations, list):
        raise _fail(source, "destinations", "expected [[destinations]] tables", "see docs/pacs.md")
    values["destinations"] = tuple(
        _destination(item, source, f"destinations[{i}]") for i, item in enumerate(destinations)
    )
    return values


def validate(config: NodeConfig, source: object = "configuration") -> NodeConfig:
    """Check values (not only types); returns ``config`` or raises :class:`PacsConfigError`."""
    if not _AE.fullmatch(config.ae_title) or not config.ae_title.strip():
        raise _fail(
            source, "node.ae_title", "not an AE title", "1-16 printable ASCII, no backslash"
        )
    for ae in config.allowed_calling_aes:
        if not _AE.fullmatch(ae) or not ae.strip():
            raise _fail(
                source, "node.allowed_calling_aes", "an entry is not an AE title", "1-16 characters"
            )
    if not 0 <= config.port <= 65535:
        raise _fail(source, "node.port", f"{config.port} is not a TCP port", "use 1-65535 (0: any)")
    for peer in config.allowed_peers:
        try:
            ipaddress.ip_network(peer, strict=False)
        except ValueError as exc:
            raise _fail(
                source, "node.allowed_peers", f"{peer!r} is not an address or network", str(exc)
            ) from exc
    checks = [
        ("node.stability_delay_s", config.stability_delay_s, 0.0),
        ("node.workers", config.workers, 1),
        ("node.max_associations", config.max_associations, 1),
        ("node.min_free_disk_mb", config.min_free_disk_mb, 0),
        ("retry.attempts", config.retry.attempts, 1),
        ("retry.initial_delay_s", config.retry.initial_delay_s, 0.0),
        ("retry.max_delay_s", config.retry.max_delay_s, 0.0),
        ("orthanc_watch.poll_interval_s", config.watch.poll_interval_s, 0.01),
    ]
    for key, value, low in checks:
        if not (math.isfinite(value) and value >= low):
            raise _fail(source, key, f"{value} is out of range", f"use a value >= {low}")
    if config.log_format not in ("plain", "json"):
        raise _fail(source, "logging.format", f"{config.log_format!r}", 'use "plain" or "json"')
    names = [d.name for d in config.destinations]
    for dest in config.destinations:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", dest.name):
            raise _fail(
                source, "destinations.name", f"{dest.name!r}", "letters, digits, _ . - (a folder)"
            )
        if names.count(dest.name) > 1:
            raise _fail(source, "destinations.name", f"{dest.name!r} twice", "give unique names")
        if dest.type == "dicom" and not (
            _AE.fullmatch(dest.ae_title) and dest.host and 0 < dest.port <= 65535
        ):
            raise _fail(
                source, f"destinations {dest.name}", "needs ae_title, host and port", "AE@host:port"
            )
        if dest.type == "orthanc" and not re.match(r"https?://", dest.url):
            raise _fail(
                source, f"destinations {dest.name}", "url must start with http(s)://", "fix the URL"
            )
    if config.watch.url and not re.match(r"https?://", config.watch.url):
        raise _fail(source, "orthanc_watch.url", "must start with http(s)://", "fix the URL")
    return config


def load_config(path: str | os.PathLike | None = None, **overrides: Any) -> NodeConfig:
    """Read the TOML file (optional), apply ``overrides`` (command-line values), validate.

    Parameters
    ----------
    path : path-like, optional
        The TOML file; defaults are used when None.
    **overrides
        NodeConfig fields to set after the file; ``None`` values are ignored.
    """
    values: dict[str, Any] = {}
    source: object = "command line"
    base = Path.cwd()
    if path is not None:
        source = os.fspath(path)
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError as exc:
            raise PacsConfigError(describe(source, "no such file", "check --config")) from exc
        except tomllib.TOMLDecodeError as exc:
            raise PacsConfigError(describe(source, f"not valid TOML ({exc})", "fix it")) from exc
        base = Path(path).resolve().parent
        values = _from_mapping(data, source, base)
    config = NodeConfig(**values)
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    # Defaults are relative too: anchor them where the file's own paths are anchored.
    anchored = {k: _resolve(getattr(config, k), base) for k in _PATH_KEYS.values()}
    return validate(replace(config, **anchored), source)


def parse_forward(spec: str, name: str | None = None) -> Destination:
    """``AE@host:port`` (``--forward``) -> a ``dicom`` destination."""
    match = re.fullmatch(r"([^@]{1,16})@(\[[^\]]+\]|[^:@]+):(\d{1,5})", spec)
    if not match:
        raise PacsConfigError(
            describe("--forward", f"{spec!r} is not AE@host:port", "e.g. PACS@10.0.0.5:104")
        )
    ae, host, port = match.group(1), match.group(2).strip("[]"), int(match.group(3))
    return Destination(
        name=name or f"dicom-{ae.strip()}", type="dicom", ae_title=ae, host=host, port=port
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON string escaping is valid TOML basic-string escaping for these characters.
        import json

        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def config_to_toml(config: NodeConfig) -> str:
    """The effective configuration as TOML (the same layout :func:`load_config` reads)."""
    lines = ["# dxaspine node: effective configuration", "[node]"]
    lines += [f"{key} = {_toml_value(getattr(config, attr))}" for key, attr in _NODE_KEYS.items()]
    lines += ["", "[paths]"]
    lines += [f"{key} = {_toml_value(getattr(config, attr))}" for key, attr in _PATH_KEYS.items()]
    lines += ["", "[analysis]", f"reference = {_toml_value(config.reference)}"]
    lines += ["", "[retry]"]
    lines += [
        f"{f.name} = {_toml_value(getattr(config.retry, f.name))}" for f in fields(RetryPolicy)
    ]
    lines += ["", "[logging]", f"format = {_toml_value(config.log_format)}"]
    lines += ["", "[orthanc_watch]"]
    lines += [
        f"{f.name} = {_toml_value(getattr(config.watch, f.name))}" for f in fields(WatchConfig)
    ]
    if config.tls is not None:
        lines += ["", "[tls]"]
        lines += [
            f"{f.name} = {_toml_value(getattr(config.tls, f.name))}" for f in fields(TlsConfig)
        ]
    for dest in config.destinations:
        lines += ["", "[[destinations]]"]
        keys = ["name", "type", "timeout_s"]
        keys += ["ae_title", "host", "port"] if dest.type == "dicom" else ["url"]
        lines += [f"{k} = {_toml_value(getattr(dest, k))}" for k in keys]
    return "\n".join(lines) + "\n"
