"""The one warm-up (``dxaspine.warmup.warm_up``, ``dxaspine warmup``) compiles every kernel."""

from __future__ import annotations

import numba

from dxaspine.evidence import _kernels as evidence_kernels
from dxaspine.measure import _kernels as measure_kernels
from dxaspine.physics import _calibration_kernels as calibration_kernels
from dxaspine.physics import _kernels as physics_kernels
from dxaspine.segment import _kernels as segment_kernels
from dxaspine.warmup import warm_up


def _dispatchers(module):
    return {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, numba.core.registry.CPUDispatcher) and not name.startswith("_")
    }


def test_warm_up_compiles_every_public_kernel():
    warm_up()
    kernels = {}
    for module in (
        physics_kernels,
        calibration_kernels,
        segment_kernels,
        evidence_kernels,
        measure_kernels,
    ):
        kernels.update({f"{module.__name__}.{k}": v for k, v in _dispatchers(module).items()})
    assert len(kernels) >= 15  # the test is only meaningful if it sees the kernels
    not_compiled = [name for name, kernel in kernels.items() if not kernel.signatures]
    assert not not_compiled, not_compiled
