"""``analyze``: load -> decompose -> segment -> evidence -> measure -> assess, as plain functions.

The CLI, the batch runner, the benchmark harness and the PACS node all call :func:`analyze`
(docs/architecture.md).  Each stage takes the previous stage's typed object; no stage re-reads
the file.
"""

from __future__ import annotations

import functools
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
    # dxaspine.clinical.vendor_reading.VendorReading per vendor results object of the study
    vendor: tuple[Any, ...] = ()

    @property
    def image_flags(self) -> tuple:
        """The segmenter's own flags and the evidence stage's, as the clinical layer got them."""
        own = tuple(self.segmentation.qc_flags)
        return own + (tuple(self.evidence.flags) if self.evidence is not None else ())


def _conventions(
    edge: str | None, box_margin_mm: float | None, edge_noise: str | None = None
) -> dict:
    from dxaspine.segment.conventions import BoxConvention, EdgeConvention, EdgeNoise

    out = {}
    if edge is not None:
        out["edge"] = EdgeConvention.parse(edge)
    if edge_noise is not None:
        out["edge_noise"] = EdgeNoise.parse(edge_noise)
    if box_margin_mm is not None:
        out["box"] = BoxConvention(margin_mm=float(box_margin_mm))
    return out


def analyze(
    source: Source,
    *,
    segmenter=None,
    reference=None,
    exclude: Sequence[str] | None = None,
    auto_exclude: bool = True,
    edge: str | None = None,
    box_margin_mm: float | None = None,
    edge_noise: str | None = None,
    vendor: Sequence[Any] = (),
    vendor_area_model: Any = None,
    marrow: str = "none",
    noise_guard: bool = False,
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
    edge : str, optional
        Bone-edge convention of the classical segmenter, ``"relative:0.1"`` (default) or
        ``"absolute:0.1"`` (:mod:`dxaspine.segment.conventions`).
    box_margin_mm : float, optional
        Analysis-box margin beyond half the L4 body width (default 7 mm).
    edge_noise : str, optional
        How the classical segmenter estimates the edge under noise: ``"isophote:3,2mm"``
        (default) or ``"none"`` (:class:`dxaspine.segment.conventions.EdgeNoise`).
    vendor : sequence of path, Dataset or VendorResults, optional
        The vendor's own results objects of the same study (GE/Hologic SR or XML, TID 1500):
        each is read, checked against this analysis (second reading) and assessed with the
        ISCD rules on its numbers together with this image's evidence
        (``ScanResult.vendor``).
    vendor_area_model : dxaspine.clinical.area_sequence.AreaModel, optional
        The area-comparison model of the second reading (a batch calibrates it per device).
    marrow : {"none", "lean"}
        Bone-basis model of the decomposition: ``"none"`` (default) is the vendors'
        two-material model; ``"lean"`` the lean-marrow model assumption (docs/physics.md).
    noise_guard : bool
        Dual energy: the soft-tissue baseline's noise guard with a straight bridge (an
        option, docs/physics.md §7: it removes the noise-driven error of noisy Hologic-like
        scans of real anatomy, and is not yet the default).  Recorded in
        ``physics_model`` (``"+noise-guard+straight-bridge"``).

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
        guard = {"noise_guard": True, "bridge": "straight"} if noise_guard else {}
        density_map = decompose(scan, marrow=marrow, **guard)
        stage = "segment"
        if segmenter is not None:
            segment = segmenter
        else:
            segment = functools.partial(
                segment_spine, **_conventions(edge, box_margin_mm, edge_noise)
            )
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
        stage = "vendor"
        readings = read_study_vendor(
            vendor,
            levels=levels,
            image_flags=tuple(segmentation.qc_flags) + evidence.flags,
            patient=scan.patient,
            reference=reference,
            model=vendor_area_model,
        )
    except Exception as exc:
        named = _naming_the_file(exc, source)
        # The batch runner reports which stage failed (errors.csv "stage" column).
        if not hasattr(named, "stage"):
            named.stage = stage
        if named is exc:
            raise
        raise named from exc
    return ScanResult(scan, density_map, segmentation, levels, assessment, evidence, readings)


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
    head = str(exc).split(": ", 1)[0]
    if " " not in head and any(ch in head for ch in "/\\."):
        return exc  # it names another file (a vendor results object of the study)
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


def read_study_vendor(
    vendor: Sequence[Any],
    *,
    levels: Sequence[Any] = (),
    image_flags: Sequence[Any] = (),
    patient: Any = None,
    reference=None,
    model: Any = None,
) -> tuple[Any, ...]:
    """Read and check a study's vendor results objects (paths, datasets or VendorResults).

    Without ``levels`` (a study with results only) only the number checks and the ISCD rules
    on the vendor's numbers run.  Returns ``VendorReading`` objects.
    """
    if not vendor:
        return ()
    from dxaspine.clinical.vendor_reading import read_vendors
    from dxaspine.io.vendor import VendorResults, read_vendor_results

    objects = [v if isinstance(v, VendorResults) else read_vendor_results(v) for v in vendor]
    demographics = None
    if patient is not None and (patient.sex or patient.age_years is not None):
        demographics = {"sex": patient.sex, "age_years": patient.age_years,
                        "ethnicity": patient.ethnicity}  # fmt: skip
    return read_vendors(objects, levels, image_flags, patient=demographics, reference=reference,
                        model=model)  # fmt: skip


@dataclass(frozen=True)
class VendorOnlyResult:
    """A study with a vendor's results and no image: the vendor's numbers, checked and assessed."""

    paths: tuple[str, ...]
    vendor: tuple[Any, ...]  # VendorReading per results object

    @property
    def assessment(self) -> Any:
        """The ISCD assessment of the first results object that has numbers."""
        return next((r.assessment for r in self.vendor if r.assessment is not None), None)


def analyze_vendor_only(paths: Sequence[str | os.PathLike], *, reference=None) -> VendorOnlyResult:
    """Assess a study from its vendor results objects alone (no image).

    The number checks of the second reading and the ISCD rules on the vendor's numbers run;
    the image checks (labels on the right vertebrae, area agreement) need the study's image.

    Raises
    ------
    DxaError
        A results object cannot be read, or none of them holds per-level numbers.
    """
    from dxaspine.errors import VendorResultsError, describe

    names = tuple(os.fspath(p) for p in paths)
    try:
        readings = read_study_vendor(list(names), reference=reference)
    except Exception as exc:
        if not hasattr(exc, "stage"):
            exc.stage = "vendor"
        raise
    if not any(r.assessment is not None for r in readings):
        raise VendorResultsError(
            describe(
                " + ".join(names),
                "no per-level spine numbers in the vendor results",
                "pass the AP spine report, or analyse it together with the study's image",
            )
        )
    return VendorOnlyResult(names, readings)
