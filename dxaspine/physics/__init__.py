"""Physics stage: attenuation tables and the dual-energy decomposition (Scan -> DensityMap)."""

from dxaspine.physics.decompose import decompose
from dxaspine.physics.density_map import DensityMap

__all__ = ["DensityMap", "decompose"]
