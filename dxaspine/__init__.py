"""dxaspine: DXA lumbar spine analysis.

Pipeline (docs/architecture.md): load -> decompose -> segment -> measure -> assess -> write.
"""

from __future__ import annotations

import logging

from dxaspine.errors import (
    CorruptDicomError,
    DxaError,
    ImplausibleValueError,
    InputError,
    MissingExtraError,
    MissingSpacingError,
    NotDicomError,
    NotDxaError,
    OutputError,
    ReferenceDataError,
    SegmentationError,
    UnsupportedPixelDataError,
)

__version__ = "0.1.0"

# Library code never prints; the CLI configures handlers (pydicom's convention).
logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = ("load", "peek", "analyze", "assess")

__all__ = [
    "__version__",
    *_LAZY,
    "DxaError",
    "InputError",
    "NotDicomError",
    "NotDxaError",
    "UnsupportedPixelDataError",
    "MissingSpacingError",
    "CorruptDicomError",
    "ImplausibleValueError",
    "SegmentationError",
    "ReferenceDataError",
    "OutputError",
    "MissingExtraError",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    # Lazy re-exports keep `import dxaspine` cheap (no numba/scipy import at start-up).
    if name in ("load", "peek"):
        from dxaspine import io

        return getattr(io, name)
    if name == "analyze":
        from dxaspine.pipeline import analyze

        return analyze
    if name == "assess":
        from dxaspine.clinical import assess

        return assess
    raise AttributeError(f"module 'dxaspine' has no attribute {name!r}")
