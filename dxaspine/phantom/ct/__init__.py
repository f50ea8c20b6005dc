"""A real-anatomy DXA phantom: any CT with a vertebra label map, projected PA.

>>> from dxaspine.phantom.ct import CtPhantomParams, generate_ct_case
>>> params = CtPhantomParams("ct.nii.gz", "labels.nii.gz", scanner="idxa")  # doctest: +SKIP
>>> case = generate_ct_case(params)  # doctest: +SKIP
>>> write_case(case, "out/")  # doctest: +SKIP

Pipeline inside: read and check (volume.py) -> label layout (labels.py) -> HU to materials
(materials.py) -> vertebral bodies (anatomy.py) -> pose, field and PA line integrals
(project.py, field.py) -> truth under a named convention (truth.py) -> counts and the
:class:`~dxaspine.phantom.PhantomCase` (case.py); seeded families (family.py).
docs/ct_phantom.md has the model, every threshold with its source, and the conventions.
nibabel is needed (the ``ct`` extra).
"""

from __future__ import annotations

from dxaspine.phantom.ct.case import generate_ct_case
from dxaspine.phantom.ct.family import ct_family, shared_ct_paths
from dxaspine.phantom.ct.labels import LAYOUTS, LabelLayout, detect_layout, layout_from_option
from dxaspine.phantom.ct.materials import MaterialModel, marrow_fat_fraction
from dxaspine.phantom.ct.params import CtPhantomParams
from dxaspine.phantom.ct.project import Pose
from dxaspine.phantom.ct.truth import TruthConvention
from dxaspine.phantom.ct.volume import CtVolume, load_ct, volume_from_arrays

__all__ = [
    "LAYOUTS",
    "CtPhantomParams",
    "CtVolume",
    "LabelLayout",
    "MaterialModel",
    "Pose",
    "TruthConvention",
    "ct_family",
    "detect_layout",
    "generate_ct_case",
    "layout_from_option",
    "load_ct",
    "marrow_fat_fraction",
    "shared_ct_paths",
    "volume_from_arrays",
]
