"""DICOM in (kinds, spacing chain, orientation) and results out."""

from dxaspine.io.scan import Device, Patient, Scan

__all__ = ["Scan", "Patient", "Device"]
