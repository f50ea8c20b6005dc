"""Lazy package exports (PEP 562) for the packages a header-only command must not load.

``physics``, ``report`` and ``io.vendor`` name their public objects in their ``__init__``, but
importing those objects' modules would pull in numba kernels, scipy or the XML/SR parsers; a
command that refuses a file from its header alone must start without them (docs/performance.md,
start-up).  Each package gives :func:`lazy_exports` a table ``{name: module}`` and binds the
two functions it returns as its module-level ``__getattr__`` and ``__dir__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: MutableMapping[str, object]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name imported from its module on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (named in the AttributeError for an unknown name).
    exports : mapping of str to str
        Exported name -> the absolute module that defines it.
    namespace : dict
        The package's ``globals()``: a name, once imported, is cached there, so later lookups
        no longer reach ``__getattr__``.
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
