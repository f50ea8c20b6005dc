"""Which segmenters a benchmark runs: ``module:callable`` specs and the two built-in references.

A spec is ``[NAME=]TARGET``; TARGET is ``package.module:callable`` (importable from
``sys.path``), ``path/to/file.py:callable`` (loaded from the file) or one of the reference
names ``oracle`` and ``naive`` (:mod:`dxaspine.bench.references`).  NAME, when given, is
what the tables call it; otherwise the spec itself is.  Specs are strings so that worker
processes resolve them themselves (a callable need not be picklable): each worker imports a
module once and keeps it, so a learned model loads its weights once per worker.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dxaspine.errors import DxaError

__all__ = ["REFERENCES", "SegmenterImportError", "SegmenterSpec", "parse_spec", "resolve"]

REFERENCES = ("oracle", "naive")


class SegmenterImportError(DxaError):
    """A segmenter spec that cannot be imported or is not callable."""


@dataclass(frozen=True)
class SegmenterSpec:
    name: str  # shown in every table
    target: str  # "module:callable", "file.py:callable", "oracle" or "naive"

    @property
    def is_reference(self) -> bool:
        return self.target in REFERENCES


def parse_spec(text: str) -> SegmenterSpec:
    """``[NAME=]TARGET`` -> SegmenterSpec (no import yet)."""
    name, sep, target = text.partition("=")
    if not sep or ":" in name or "/" in name:  # "=" belongs to the target
        name, target = text, text
    name, target = name.strip(), target.strip()
    if target not in REFERENCES and target.count(":") < 1:
        raise SegmenterImportError(
            f"--segmenter {text!r}: expected MODULE:CALLABLE, FILE.py:CALLABLE, oracle or naive"
        )
    module_name, _, attr = target.rpartition(":")
    if module_name.endswith(".py"):  # workers may run elsewhere: pin the file's absolute path
        target = f"{Path(module_name).resolve()}:{attr}"
    return SegmenterSpec(name or text.strip(), target)


def _module_from_file(path: Path):
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"_dxaspine_bench_plugin_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@functools.cache
def resolve(target: str) -> Callable:
    """The callable of a non-reference target (cached per process).

    Raises
    ------
    SegmenterImportError
        One line naming the module and why it cannot be used.
    """
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise SegmenterImportError(f"segmenter {target!r}: expected MODULE:CALLABLE")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise SegmenterImportError(f"segmenter {target!r}: no file {module_name}")
            module = _module_from_file(path)
        else:
            module = importlib.import_module(module_name)
    except SegmenterImportError:
        raise
    except Exception as exc:  # ImportError, or the plug-in's own error at import time
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise SegmenterImportError(
            f"segmenter {target!r}: cannot import {module_name} ({type(exc).__name__}: "
            f"{detail}); check the module path and that its dependencies are installed"
        ) from exc
    value = module
    for part in attr.split("."):
        value = getattr(value, part, None)
        if value is None:
            raise SegmenterImportError(f"segmenter {target!r}: {module_name} has no {attr!r}")
    if not callable(value):
        raise SegmenterImportError(f"segmenter {target!r}: {attr!r} is not callable")
    return value
