"""Read a CT (Hounsfield units) and its vertebra label map from NIfTI, on one checked grid.

Both images are reoriented to the closest canonical (RAS+) axis order with
``nibabel.as_closest_canonical``: array axis 0 runs to the patient's right, 1 anteriorly,
2 superiorly (nibabel's coordinate-system convention), so the PA projection sums axis 1.
The two grids must match exactly (shape, and affine to 1e-3 mm): a label map resampled to
another grid would put the truth somewhere else than the anatomy.

nibabel is an optional dependency (the ``ct`` extra).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dxaspine.errors import InputError, describe

log = logging.getLogger(__name__)

# Values below this are padding outside a reconstruction's circular field of view (many
# scanners write -2048 or -3024 there); the physical minimum of the HU scale is air, -1000.
PADDING_HU = -1024.0
# A map whose values never reach bone or never reach air is not in Hounsfield units
# (normalised intensities, a mask, an MR image): bone marrow is above ~+100 HU and air is
# -1000 HU by the definition of the scale.
_HU_MAX_AT_LEAST = 200.0
_HU_MIN_AT_MOST = -500.0
_AFFINE_TOLERANCE_MM = 1e-3
_MAX_VOXEL_MM = 10.0  # thicker slices cannot resolve a disc (8-12 mm, docs/domain.md §4)


@dataclass(frozen=True)
class CtVolume:
    """A CT in HU and its label map on the same RAS+ grid.

    ``hu`` is float32 ``(I, J, K)``; ``labels`` int32 of the same shape; ``affine`` maps voxel
    indices to RAS+ world millimetres.
    """

    hu: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    ct_path: str
    labels_path: str
    ct_sha256: str
    labels_sha256: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.hu.shape  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        sx, sy, sz = np.linalg.norm(self.affine[:3, :3], axis=0)
        return float(sx), float(sy), float(sz)

    @property
    def voxel_volume_cm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    def world_mm(self, ijk: np.ndarray) -> np.ndarray:
        """(N, 3) voxel indices -> (N, 3) RAS+ millimetres of the voxel centres."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]


def _nibabel():
    try:
        import nibabel
    except ImportError:
        raise InputError(
            "reading a CT needs nibabel, which is not installed; "
            "install the ct extra: pip install 'dxaspine[ct]'"
        ) from None
    return nibabel


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(path: Path, what: str):
    nib = _nibabel()
    if not path.is_file():
        raise InputError(describe(path, f"{what} file not found", "check the path"))
    try:
        image = nib.load(os.fspath(path))
        image = nib.as_closest_canonical(image)
        data = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises ImageFileError, OSError, EOFError, zlib errors
        raise InputError(
            describe(
                path,
                f"cannot be read as a NIfTI {what} ({type(exc).__name__})",
                "give a .nii or .nii.gz file",
            )
        ) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(
            describe(path, f"{what} has {data.ndim} dimensions, not 3", "give one 3-D volume")
        )
    return image, data


def load_ct(ct_path: str | os.PathLike, labels_path: str | os.PathLike) -> CtVolume:
    """Read and check a CT and its vertebra label map.

    Raises
    ------
    InputError
        Missing nibabel, unreadable files, grids that differ, values that are not HU or not
        integer labels, or voxels too coarse for discs.  The message names the file.
    """
    ct_file, labels_file = Path(ct_path), Path(labels_path)
    ct_image, ct_raw = _read(ct_file, "CT")
    lab_image, lab_raw = _read(labels_file, "label map")
    if ct_raw.shape != lab_raw.shape:
        raise InputError(
            describe(
                labels_file,
                f"label grid {lab_raw.shape} differs from the CT grid {ct_raw.shape}",
                "resample the label map onto the CT (nearest neighbour) first",
            )
        )
    if not np.allclose(ct_image.affine, lab_image.affine, atol=_AFFINE_TOLERANCE_MM):
        raise InputError(
            describe(
                labels_file,
                "label map and CT have different affines (voxel-to-world placement)",
                "resample the label map onto the CT grid first",
            )
        )
    spacing = np.linalg.norm(ct_image.affine[:3, :3], axis=0)
    if not np.all(spacing > 0) or spacing.max() > _MAX_VOXEL_MM:
        raise InputError(
            describe(
                ct_file,
                f"voxel size {np.round(spacing, 2).tolist()} mm is outside 0-{_MAX_VOXEL_MM} mm",
                "use a CT with slices of a few mm or less",
            )
        )
    hu = np.asarray(ct_raw, dtype=np.float32)
    if not np.isfinite(hu).all():
        raise InputError(describe(ct_file, "CT holds NaN or infinite values"))
    if hu.max() < _HU_MAX_AT_LEAST or hu.min() > _HU_MIN_AT_MOST:
        raise InputError(
            describe(
                ct_file,
                f"values {hu.min():.0f}..{hu.max():.0f} do not look like Hounsfield units "
                "(air -1000, bone above +200)",
                "give the CT in HU (apply RescaleSlope/Intercept when converting)",
            )
        )
    hu = np.maximum(hu, PADDING_HU)
    labels = np.asarray(lab_raw)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.rint(labels)):
            raise InputError(
                describe(labels_file, "label map holds non-integer values", "give integer labels")
            )
    if labels.min() < 0:
        raise InputError(describe(labels_file, "label map holds negative values"))
    labels = labels.astype(np.int32)
    if not labels.any():
        raise InputError(describe(labels_file, "label map is empty", "give vertebra labels"))
    return CtVolume(
        hu=np.ascontiguousarray(hu),
        labels=np.ascontiguousarray(labels),
        affine=np.asarray(ct_image.affine, dtype=float),
        ct_path=os.fspath(ct_file),
        labels_path=os.fspath(labels_file),
        ct_sha256=_sha256(ct_file),
        labels_sha256=_sha256(labels_file),
    )


def volume_from_arrays(
    hu: np.ndarray,
    labels: np.ndarray,
    spacing_mm: tuple[float, float, float],
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    name: str = "<synthetic>",
) -> CtVolume:
    """A :class:`CtVolume` from RAS+-ordered arrays (tests, or CTs already in memory)."""
    hu = np.asarray(hu, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int32)
    if hu.shape != labels.shape or hu.ndim != 3:
        raise InputError(describe(name, f"CT {hu.shape} and labels {labels.shape} differ"))
    affine = np.diag([*map(float, spacing_mm), 1.0])
    affine[:3, 3] = origin_mm
    return CtVolume(
        hu=np.ascontiguousarray(np.maximum(hu, PADDING_HU)),
        labels=np.ascontiguousarray(labels),
        affine=affine,
        ct_path=name,
        labels_path=name,
        ct_sha256="",
        labels_sha256="",
    )
