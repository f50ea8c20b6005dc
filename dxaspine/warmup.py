"""Warm-up: compile (or load from the on-disk cache) every numba kernel once per process.

Running the whole pipeline on the small bundled phantom exercises every kernel with the exact
argument types real scans use, so no file in a batch pays compile cost (DESIGN.md, Kernels).
"""

from __future__ import annotations

import logging
import time
from importlib import resources

logger = logging.getLogger(__name__)


def demo_case_path() -> str:
    """Path of the bundled dual-energy demo phantom (package data)."""
    return str(resources.files("dxaspine") / "data" / "demo_prodigy.dual_energy.dcm")


def warm_up() -> float:
    """Run the pipeline once on the bundled phantom; return the seconds it took."""
    from dxaspine.pipeline import analyze

    start = time.perf_counter()
    analyze(demo_case_path())
    seconds = time.perf_counter() - start
    logger.debug("warm-up took %.2f s", seconds)
    return seconds
