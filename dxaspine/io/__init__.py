"""Reading DXA inputs: the kinds registry, header-only ``peek``, ``load`` (DICOM -> Scan).

``load`` is imported on first use, so that header-only classification (``peek``, batch
discovery) does not pay for the pixel and image-processing imports.
"""

from dxaspine.io.peek import PeekResult, pair_dual_energy, peek
from dxaspine.io.scan import Device, Patient, Scan

__all__ = ["Scan", "Patient", "Device", "load", "peek", "PeekResult", "pair_dual_energy"]


def __getattr__(name: str):
    if name == "load":
        from dxaspine.io.loader import load

        return load
    raise AttributeError(f"module 'dxaspine.io' has no attribute {name!r}")
