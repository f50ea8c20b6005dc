"""Physics stage: attenuation tables and the dual-energy decomposition (Scan -> DensityMap)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dxaspine._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = ["DensityMap", "decompose"]
