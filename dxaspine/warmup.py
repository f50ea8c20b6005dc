"""The one warm-up: compile (or load from the on-disk cache) every numba kernel once per process.

Running the whole pipeline on the small bundled phantom exercises every kernel with the exact
argument types real scans use, so no file in a batch pays compile cost (docs/architecture.md,
Kernels).  The bundled scan is Prodigy-sized; its baseline iteration runs on 1 x 2 blocks, and
the resampling kernels are also exercised directly with square blocks, as finer scanners (iDXA,
0.25 mm) use them, and so are the noise-aware edge's walk and the few physics kernels, which
the bundled scan does not need.  ``dxaspine warmup`` runs it once after installation to fill
the cache.
"""

from __future__ import annotations

import logging
import time
from importlib import resources

logger = logging.getLogger(__name__)


def demo_case_path() -> str:
    """Path of the bundled dual-energy demo phantom (package data)."""
    return str(resources.files("dxaspine") / "data" / "demo_prodigy.dual_energy.dcm")


def _resampling_kernels() -> None:
    import numpy as np

    from dxaspine.physics.resample import block_all, block_any, block_mean, upsample_linear

    image = np.zeros((8, 8))
    mask = np.ones((8, 8), dtype=bool)
    block_mean(image, (2, 2))
    block_all(mask, (2, 2))
    block_any(mask, (2, 2))
    upsample_linear(np.zeros((4, 4)), (2, 2), (8, 8))


def _physics_kernels() -> None:
    """The physics kernels the bundled scan does not reach: the full-resolution log pass of
    1 mm scanners (their baseline grid is the image), single-axis Gaussians (a zero detection
    smoothing), and the selection kernel's own range pass."""
    import numpy as np

    from dxaspine.physics import _kernels
    from dxaspine.physics.log_attenuation import log_attenuation
    from dxaspine.physics.smoothing import gaussian_filter_2d

    counts = np.full((4, 4), 100.0)
    log_attenuation(counts, counts, (1e3, 1e3), 0.5, 0.5)
    image = np.zeros((4, 4))
    gaussian_filter_2d(image, (1.0, 0.0), "nearest", 3.0)
    gaussian_filter_2d(image, (0.0, 1.0), "nearest", 3.0)
    _kernels.order_statistics_kernel(np.arange(4.0), np.array([1], dtype=np.int64), np.empty(1))


def _edge_noise_kernel() -> None:
    """The noise-aware edge's isophote walk: the bundled scan's edge is well above its noise,
    so the pipeline never walks there, while every iDXA scan does."""
    import numpy as np

    from dxaspine.segment.edge_noise import isophote_average_at

    image = np.zeros((8, 8))
    valid = np.ones((8, 8), dtype=bool)
    isophote_average_at(image, valid, (0.5, 0.5), 1.0, 0.1, valid)
    from dxaspine.segment.kernels import iso_tangent, near_edge

    rows = np.zeros(8)
    near_edge(image, valid, rows, rows + 4.0, rows, rows, 0.1, 0.1)
    iso_tangent(image, 1.0, 1.0)  # the walk's numpy reference (edge_noise.isophote_average)


def _top_rib_kernel() -> None:
    """The top-level rib cue's half-height edge: it reads only a scan whose rib component
    search found nothing (the bundled scan's ribs are found), while many real fields cut T12."""
    import numpy as np

    from dxaspine.segment.kernels import band_half_edge

    values = np.zeros((8, 8))
    steps = np.arange(8)
    band_half_edge(values, steps, steps[:2], steps[:2], (4.0, 0.0, 0.0), (6.0, 0.0, 0.0), 1, 2, 2)


def warm_up() -> float:
    """Run the pipeline once on the bundled phantom; return the seconds it took."""
    from dxaspine.pipeline import analyze

    start = time.perf_counter()
    analyze(demo_case_path())
    _resampling_kernels()
    _physics_kernels()
    _edge_noise_kernel()
    _top_rib_kernel()
    seconds = time.perf_counter() - start
    logger.debug("warm-up took %.2f s", seconds)
    return seconds
