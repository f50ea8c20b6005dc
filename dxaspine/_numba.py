"""numba set-up shared by every ``_kernels.py``: on-disk cache, read-only fallback, warm-up.

docs/architecture.md (Kernels): compile cost is part of the product.  Kernels are compiled with
``cache=True``; numba stores the cache beside the source, and when the package directory is
read-only (a system install) we point ``NUMBA_CACHE_DIR`` at a per-user cache *before* numba
is imported.  ``fastmath`` is never used: it drops NaN/Inf semantics.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _ensure_cache_dir() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    if os.access(_PACKAGE_DIR, os.W_OK):
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    target = Path(base) / "dxaspine" / "numba"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        target = Path(tempfile.gettempdir()) / f"dxaspine-numba-{os.getuid()}"
        target.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(target)


_ensure_cache_dir()

import numba  # noqa: E402  (must follow the cache-dir decision)


def jit(*args, **kwargs):
    """``numba.njit`` with the project's defaults: cached, no fastmath."""
    kwargs.setdefault("cache", True)
    kwargs.setdefault("nogil", True)
    if kwargs.get("fastmath"):
        raise ValueError("fastmath drops NaN/Inf semantics; docs/architecture.md forbids it")
    return numba.njit(*args, **kwargs)


def pin_single_thread() -> None:
    """In worker processes, one numba thread each so threads do not multiply (docs/architecture.md)."""
    numba.set_num_threads(1)
