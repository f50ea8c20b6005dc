"""``analyze``: load -> decompose -> segment -> measure -> assess, as plain functions.

The CLI, the batch runner and PACS scripts all call :func:`analyze` (DESIGN.md).  Each stage
takes the previous stage's typed object; no stage re-reads the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydicom

from dxaspine.io.scan import Scan
from dxaspine.physics.density_map import DensityMap
from dxaspine.segment.segmentation import Segmentation

logger = logging.getLogger(__name__)

Source = str | os.PathLike | pydicom.Dataset | Sequence[str | os.PathLike]


@dataclass(frozen=True)
class ScanResult:
    """Everything one analysis produced, stage by stage."""

    scan: Scan
    density_map: DensityMap
    segmentation: Segmentation
    levels: tuple[Any, ...]  # dxaspine.measure.LevelMeasurement, top to bottom
    assessment: Any  # dxaspine.clinical.Assessment


def analyze(
    source: Source,
    *,
    segmenter=None,
    reference=None,
    exclude: Sequence[str] | None = None,
    auto_exclude: bool = True,
    marrow: str = "none",
) -> ScanResult:
    """Analyse one DXA lumbar spine scan.

    Parameters
    ----------
    source : path, pydicom.Dataset, or a pair of paths (low/high single-frame files)
    segmenter : callable ``(DensityMap, Scan) -> Segmentation``, optional
        Replaces the classical segmenter (DESIGN.md: segmenters are pluggable).
    reference : str, path or Reference, optional
        Reference table name or CSV for T/Z-scores; the package default when None.
    exclude : sequence of level names, optional
        Levels the user excludes; overrides automatic exclusion for those levels.
    auto_exclude : bool
        Apply the automatic ISCD exclusion proposals (default True).
    marrow : {"none", "lean"}
        Bone-basis model of the decomposition: ``"none"`` (default) is the vendors'
        two-material model; ``"lean"`` the lean-marrow model assumption (docs/physics.md).

    Raises
    ------
    DxaError
        Any input, segmentation or reference problem, with a one-line message.
    """
    from dxaspine.clinical import assess
    from dxaspine.io import load
    from dxaspine.measure import measure_levels
    from dxaspine.physics import decompose
    from dxaspine.segment import segment_spine

    stage = "load"
    try:
        scan = load(source)
        stage = "decompose"
        density_map = decompose(scan, marrow=marrow)
        stage = "segment"
        segment = segmenter if segmenter is not None else segment_spine
        segmentation = segment(density_map, scan)
        stage = "measure"
        levels = measure_levels(density_map, segmentation)
        stage = "assess"
        assessment = assess(
            levels,
            scan.patient,
            reference=reference,
            exclude=exclude,
            auto_exclude=auto_exclude,
            image_flags=segmentation.qc_flags,
        )
    except Exception as exc:
        # The batch runner reports which stage failed (errors.csv "stage" column).
        if not hasattr(exc, "stage"):
            exc.stage = stage
        raise
    return ScanResult(scan, density_map, segmentation, levels, assessment)
