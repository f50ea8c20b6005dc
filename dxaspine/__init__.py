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
    VendorResultsError,
)

__version__ = "0.1.0"

# Library code never prints; the CLI configures handlers (pydicom's convention).
logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = ("load", "peek", "analyze", "assess")
# Modules of the public API, imported on first use (docs/monitoring.md).
_LAZY_MODULES = {
    "monitoring": "dxaspine.clinical.monitoring",
    "precision": "dxaspine.clinical.precision",
    "cohort": "dxaspine.clinical.cohort",
}

__all__ = [
    "__version__",
    *_LAZY,
    *_LAZY_MODULES,
    "DxaError",
    "InputError",
    "NotDicomError",
    "NotDxaError",
    "UnsupportedPixelDataError",
    "MissingSpacingError",
    "CorruptDicomError",
    "ImplausibleValueError",
    "VendorResultsError",
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
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'dxaspine' has no attribute {name!r}")
