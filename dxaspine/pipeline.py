"""``analyze``: load -> decompose -> segment -> evidence -> measure -> assess, as plain functions.

The CLI, the batch runner, the benchmark harness and the PACS node all call :func:`analyze`
(docs/architecture.md).  Each stage takes the previous stage's typed object; no stage re-reads
the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pydicom

from dxaspine.errors import DxaError, SegmentationError, describe
from dxaspine.io.scan import Scan
from dxaspine.levels import LEVEL_ORDER
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
    evidence: Any = None  # dxaspine.evidence.Evidence

    @property
    def image_flags(self) -> tuple:
        """The segmenter's own flags and the evidence stage's, as the clinical layer got them."""
        own = tuple(self.segmentation.qc_flags)
        return own + (tuple(self.evidence.flags) if self.evidence is not None else ())


def analyze(
    source: Source,
    *,
    segmenter=None,
    reference=None,
    exclude: Sequence[str] | None = None,
    auto_exclude: bool = True,
) -> ScanResult:
    """Analyse one DXA lumbar spine scan.

    Parameters
    ----------
    source : path, pydicom.Dataset, or a pair of paths (low/high single-frame files)
    segmenter : callable ``(DensityMap, Scan) -> Segmentation``, optional
        Replaces the classical segmenter (segmenters are pluggable; the evidence stage then
        reads the plugged-in segmentation exactly as it reads the classical one).
    reference : str, path or Reference, optional
        Reference table name or CSV for T/Z-scores; the package default when None.
    exclude : sequence of level names, optional
        Levels the user excludes; overrides automatic exclusion for those levels.
    auto_exclude : bool
        Apply the automatic ISCD exclusion proposals (default True).

    Raises
    ------
    DxaError
        Any input, segmentation or reference problem, with a one-line message.
    """
    from dxaspine.clinical import assess
    from dxaspine.evidence import find_evidence
    from dxaspine.io import load
    from dxaspine.measure import measure_levels
    from dxaspine.physics import decompose
    from dxaspine.physics.plausibility import check_dual_energy
    from dxaspine.segment import segment_spine

    stage = "load"
    try:
        scan = load(source)
        stage = "decompose"
        physics_flags = check_dual_energy(scan)  # docs/hardening.md §2: refuse or flag
        density_map = decompose(scan)
        stage = "segment"
        segment = segmenter if segmenter is not None else segment_spine
        segmentation = segment(density_map, scan)
        _check_labels(segmentation, scan)
        stage = "evidence"
        evidence = find_evidence(density_map, segmentation)
        stage = "measure"
        levels = measure_levels(density_map, segmentation)
        stage = "assess"
        assessment = assess(
            levels,
            scan.patient,
            reference=reference,
            exclude=exclude,
            auto_exclude=auto_exclude,
            image_flags=tuple(segmentation.qc_flags) + evidence.flags + physics_flags,
        )
    except Exception as exc:
        named = _naming_the_file(exc, source)
        # The batch runner reports which stage failed (errors.csv "stage" column).
        if not hasattr(named, "stage"):
            named.stage = stage
        if named is exc:
            raise
        raise named from exc
    return ScanResult(scan, density_map, segmentation, levels, assessment, evidence)


def _source_name(source: Source) -> str | None:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, list | tuple) and source:
        return " + ".join(os.fspath(s) for s in source if isinstance(s, str | os.PathLike))
    name = getattr(source, "filename", None)
    return name if isinstance(name, str) else None


def _naming_the_file(exc: Exception, source: Source) -> Exception:
    """A DxaError whose message does not name the input gets the name in front (Errors)."""
    name = _source_name(source)
    if not isinstance(exc, DxaError) or not name or str(exc).startswith(name):
        return exc
    try:
        return type(exc)(describe(name, str(exc)))
    except TypeError:  # a subclass with another constructor: keep it as it is
        return exc


def _check_labels(segmentation: Segmentation, scan: Scan) -> None:
    """Every level name a segmenter returns must be in the vocabulary (dxaspine.levels).

    A field taller than a lumbar spine scan (or a repeated image) makes counting run past
    T11 (issue 12: "T0", "T-14"); that is a failed segmentation of this file, not a label.
    """
    unknown = [label for label in segmentation.labels if label not in LEVEL_ORDER]
    if unknown:
        raise SegmentationError(
            describe(
                scan.path,
                f"{len(unknown)} of {len(segmentation.labels)} levels fall outside "
                f"{LEVEL_ORDER[0]}-{LEVEL_ORDER[-1]} (the field is taller than a lumbar spine "
                "scan, or the spine was counted wrongly)",
                "pass a PA lumbar spine scan covering about T12-L5",
            )
        )
