"""The ground-truth PA lumbar spine DXA simulator (docs/architecture.md, Ground truth: the phantom).

>>> from dxaspine.phantom import PhantomParams, generate_case, write_case
>>> case = generate_case(PhantomParams(seed=3, scanner="prodigy"))
>>> paths = write_case(case, "out/")  # doctest: +SKIP

Pipeline inside: params -> anatomy (anatomy.py) -> rendered bone (skeleton.py, lesions.py,
render.py) -> density calibration + truth (case.py, truth.py) -> soft tissue and physics
(soft_tissue.py, physics.py) -> files (dicom_writer.py, display.py, write.py).
"""

from __future__ import annotations

from dxaspine.phantom.case import PhantomCase, generate_case
from dxaspine.phantom.params import (
    LESION_TYPES,
    NHANES_LEVEL_RATIOS,
    SCANNERS,
    TRANSITIONAL_TYPES,
    Lesion,
    PhantomParams,
)
from dxaspine.phantom.write import KINDS, write_case

__all__ = [
    "KINDS",
    "LESION_TYPES",
    "NHANES_LEVEL_RATIOS",
    "SCANNERS",
    "SUITES",
    "TRANSITIONAL_TYPES",
    "Lesion",
    "PhantomCase",
    "PhantomParams",
    "generate_case",
    "write_case",
]


def __getattr__(name: str):
    if name == "SUITES":
        from dxaspine.phantom.suites import SUITES

        return SUITES
    raise AttributeError(f"module 'dxaspine.phantom' has no attribute {name!r}")
