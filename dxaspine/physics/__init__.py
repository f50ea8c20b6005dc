"""Physics stage: attenuation tables and the dual-energy decomposition (Scan -> DensityMap)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Exported lazily (PEP 562): the io stage's kinds and the plausibility checks import
# ``physics.attenuation`` / ``physics.bone_basis``, which must not pull in the decomposition
# (numba kernels, scipy) for a header-only classification (issue 17).
_EXPORTS = {
    "decompose": "dxaspine.physics.decompose",
    "DensityMap": "dxaspine.physics.density_map",
}

if TYPE_CHECKING:
    from dxaspine.physics.decompose import decompose
    from dxaspine.physics.density_map import DensityMap


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = ["DensityMap", "decompose"]
