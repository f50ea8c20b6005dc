"""Kind ``dual_energy``: the interchange profile's detected counts at two energies (Contract 1).

Recognised by the ``DXASPINE 1`` private block with content ``DE_COUNTS`` (two frames, or one
frame per file with ImageType value 3 ``LOW_ENERGY``/``HIGH_ENERGY``), or by that ImageType
alone.  Frames ``low`` and ``high`` hold counts after the Modality LUT; the block gives the
effective energies, I0 and optionally the bone-basis coefficients (docs/architecture.md,
Contract 1).  The two single-frame halves of a pair are loaded together by
:func:`dxaspine.io.load`.
"""

from __future__ import annotations

import logging

import numpy as np
from pydicom.dataset import Dataset

from dxaspine.errors import CorruptDicomError, InputError, describe
from dxaspine.io.classify import (
    DISPLAY_MODALITIES,
    Recognition,
    check_pixels,
    energy_label,
    frame_count,
    header_text,
)
from dxaspine.io.kinds import Kind
from dxaspine.io.pixels import decode_frames
from dxaspine.io.private_block import (
    CONTENT_DE_COUNTS,
    PrivateBlock,
    calibration_table,
    read_private_block,
)

logger = logging.getLogger(__name__)

NAME = "dual_energy"


def recognise(ds: Dataset, pixel, source: object = None) -> Recognition | None:
    """A DE_COUNTS profile file or one single-energy half; None for anything else."""
    block = read_private_block(ds)
    label = energy_label(ds)
    if block is not None and block.content:
        if block.content != CONTENT_DE_COUNTS:
            return None
        check_pixels(ds, pixel, source)
        frames = frame_count(ds)
        if frames == 2:
            return Recognition(NAME, "private content DE_COUNTS, 2 frames", frames=2)
        if frames == 1 and label is not None:
            return Recognition(NAME, f"private content DE_COUNTS, ImageType {label}", label)
        raise CorruptDicomError(
            describe(
                source,
                f"DE_COUNTS with {frames} frame(s) and no LOW_ENERGY/HIGH_ENERGY ImageType",
                "write 2 frames, or one file per energy with ImageType value 3 set",
            )
        )
    if label is not None and header_text(ds, "Modality").upper() in DISPLAY_MODALITIES | {""}:
        check_pixels(ds, pixel, source)
        if frame_count(ds) != 1:
            raise CorruptDicomError(
                describe(source, f"{label} file with several frames", "one file per energy")
            )
        return Recognition(NAME, f"ImageType {label} (no DXASPINE block)", label)
    return None


def _pair_values(
    values: tuple[float, ...] | None, what: str, name: str | None
) -> tuple[float, float] | None:
    if values is None:
        return None
    if len(values) != 2 or not all(np.isfinite(v) and v > 0 for v in values):
        raise CorruptDicomError(
            describe(
                name,
                f"DXASPINE {what} {list(values)} must be two positive numbers [low, high]",
                "fix the private block (docs/architecture.md, Contract 1)",
            )
        )
    return float(values[0]), float(values[1])


def physics_fields(block: PrivateBlock | None, name: str | None) -> dict:
    """``Scan`` fields from the private block: energies, I0, bone-basis coefficients and the
    optional beam-hardening calibration table (docs/interchange.md)."""
    if block is None:
        logger.warning("%s: no DXASPINE private block; energies and I0 unknown", name)
        return {"energies_kev": None, "i0_counts": None, "bone_mu_cm2_g": None, "calibration": None}
    energies = _pair_values(block.energies_kev, "energies_kev", name)
    if energies is not None and not energies[0] < energies[1]:
        raise CorruptDicomError(
            describe(
                name,
                f"DXASPINE energies {list(energies)} keV are not [low, high]",
                "write the low energy first (docs/architecture.md, Contract 1)",
            )
        )
    return {
        "energies_kev": energies,
        "i0_counts": _pair_values(block.i0_counts, "I0", name),
        "bone_mu_cm2_g": _pair_values(block.bone_mu_cm2_g, "bone coefficients", name),
        "calibration": calibration_table(block, name),
    }


def frame_order(ds: Dataset, name: str | None) -> tuple[int, int]:
    """(index of the low frame, index of the high frame) from FrameLabelVector."""
    labels = ds.get("FrameLabelVector")
    if labels is None or labels == "":
        return 0, 1  # profile default: low, high
    values = [labels] if isinstance(labels, str) else [str(v) for v in labels]
    values = [v.strip().upper() for v in values]
    if sorted(values) != ["HIGH_ENERGY", "LOW_ENERGY"]:
        raise CorruptDicomError(
            describe(
                name,
                "FrameLabelVector must be LOW_ENERGY and HIGH_ENERGY (value not shown)",
                "set FrameLabelVector to LOW_ENERGY\\HIGH_ENERGY (docs/architecture.md)",
            )
        )
    return values.index("LOW_ENERGY"), values.index("HIGH_ENERGY")


def build(ds: Dataset, recognition: Recognition, name: str | None) -> dict:
    """Frames ``low``/``high`` and the profile's physics (header checks before decoding)."""
    if recognition.energy_label is not None:
        raise InputError(
            describe(
                name,
                f"one half ({recognition.energy_label}) of a dual-energy pair",
                "pass both files together: dxaspine.load([low_path, high_path])",
            )
        )
    low, high = frame_order(ds, name)
    extra = physics_fields(read_private_block(ds), name)
    decoded = decode_frames(ds, recognition.frames, name)
    return {
        "frames": {"low": decoded[low], "high": decoded[high]},
        "field_mask": np.ones(decoded.shape[1:], dtype=bool),  # the whole matrix is measured
        **extra,
    }


KIND = Kind(
    name=NAME,
    content="counts",
    quantitative=True,
    frames=("low", "high"),
    picture_frame=None,
    recognise=recognise,
    build=build,
    description="dual-energy detected counts (interchange profile, 2 frames or a LOW/HIGH pair)",
)
