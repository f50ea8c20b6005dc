"""Kind ``bmd_map``: the interchange profile's areal BMD map (content ``AREAL_BMD_MAP``).

One frame whose value after the Modality LUT is bone-mineral areal density in g/cm2
(docs/architecture.md, Contract 1).
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from dxaspine.errors import CorruptDicomError, describe
from dxaspine.io.classify import Recognition, check_pixels, frame_count
from dxaspine.io.kinds import Kind
from dxaspine.io.pixels import decode_frames
from dxaspine.io.private_block import CONTENT_BMD_MAP, read_private_block

NAME = "bmd_map"


def recognise(ds: Dataset, pixel, source: object = None) -> Recognition | None:
    """An AREAL_BMD_MAP profile file; None for anything else."""
    block = read_private_block(ds)
    if block is None or block.content != CONTENT_BMD_MAP:
        return None
    check_pixels(ds, pixel, source)
    frames = frame_count(ds)
    if frames != 1:
        raise CorruptDicomError(
            describe(
                source, f"AREAL_BMD_MAP with {frames} frames (profile: 1)", "re-export the map"
            )
        )
    return Recognition(NAME, "private content AREAL_BMD_MAP", frames=1)


def build(ds: Dataset, recognition: Recognition, name: str | None) -> dict:
    decoded = decode_frames(ds, 1, name)
    return {
        "frames": {"bmd": decoded[0]},
        "field_mask": np.ones(decoded.shape[1:], dtype=bool),  # the whole matrix is measured
    }


KIND = Kind(
    name=NAME,
    content="areal_bmd",
    quantitative=True,
    frames=("bmd",),
    picture_frame=None,
    recognise=recognise,
    build=build,
    description="areal BMD map in g/cm2 (interchange profile, AREAL_BMD_MAP)",
)
