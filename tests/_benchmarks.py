"""The measurement scripts of ``benchmarks/`` as modules, for tests that measure alike.

A test that asserts a figure the docs quote uses the same code that made the figure
(``benchmarks/ct_family_baseline.py``, ``ct_rib_field.py``), loaded once per session.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@functools.cache
def benchmark_module(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as a module (cached)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
