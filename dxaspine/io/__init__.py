"""DICOM in (kinds, spacing chain, orientation) and results out."""

from dxaspine.io.load import load
from dxaspine.io.peek import PeekResult, pair_dual_energy, peek
from dxaspine.io.scan import Device, Patient, Scan

__all__ = ["Scan", "Patient", "Device", "load", "peek", "PeekResult", "pair_dual_energy"]
