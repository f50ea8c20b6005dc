"""The CT family: N seeded variations of one CT, varied as the drawn phantom varies.

Case 0 is the CT as it lies (no rotation, tilt, shift or added tissue, nominal dose); the
others draw, from ``numpy.random.default_rng([crc32(suite), seed, index])``:

- rotation about the long axis ~ N(0, 1.5 deg) clipped to +-3 deg, in-plane tilt ~ N(0, 2 deg)
  and a lateral shift U(-10, 10) mm: the drawn ``standard`` suite's ranges
  (phantom/suites.py);
- a longitudinal shift U(-8, 8) mm (the field then moves back inside the CT if it must);
- an added soft-tissue layer U(0, 8) cm, 80 % fat (the shared CT is 24 cm thick at the
  spine: 24-32 cm, inside the 12-35 cm the drawn phantom covers);
- a dose factor U(0.6, 1.4) on the drawn phantom's photon fluence;
- the scanner geometry cycling Prodigy, iDXA, Hologic-like (as the drawn suites do).

The patient header (sex, age) is the CT patient's: it is the same person in every case.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dxaspine.errors import InputError, describe
from dxaspine.phantom.ct.params import CtPhantomParams

SCANNER_CYCLE = ("prodigy", "idxa", "hologic")
DEFAULT_COUNT = 12
SHARED_CT = ("totalseg", "example_ct.nii.gz", "example_ct_vertebrae.nii.gz")
# The shared CT's patient: male, 55 y (shared/data/totalseg/README.md, from the report file).
SHARED_CT_PATIENT = {"sex": "M", "age_years": 55.0}


def shared_ct_paths() -> tuple[str, str]:
    """The shared TotalSegmentator CT and its vertebra labels (``../shared/data/totalseg``).

    Found as tests/_shared_data.py finds it: ``$DXASPINE_SHARED_DATA``, else ``shared/data``
    beside the repository.

    Raises
    ------
    InputError
        If the files are not there.
    """
    override = os.environ.get("DXASPINE_SHARED_DATA")
    root = Path(override) if override else Path(__file__).resolve().parents[4] / "shared" / "data"
    folder = root / SHARED_CT[0]
    ct, labels = folder / SHARED_CT[1], folder / SHARED_CT[2]
    for path in (ct, labels):
        if not path.is_file():
            raise InputError(
                describe(
                    path,
                    "the shared CT for the ct suite is not there",
                    "set DXASPINE_SHARED_DATA to the folder holding totalseg/, "
                    "or use dxaspine phantom --from-ct CT --labels LABELS",
                )
            )
    return os.fspath(ct), os.fspath(labels)


def ct_family(
    ct_path: str,
    labels_path: str,
    count: int | None = None,
    seed: int = 0,
    suite: str = "ct",
    scanners: tuple[str, ...] = SCANNER_CYCLE,
    **fixed,
) -> Iterator[CtPhantomParams]:
    """Yield ``count`` seeded :class:`CtPhantomParams` of one CT (module docstring).

    ``fixed`` sets fields for every case (``sex``, ``age_years``, ``label_layout``,
    ``marrow``, ``findings`` ...).
    """
    n = DEFAULT_COUNT if count is None else count
    for index in range(n):
        rng = np.random.default_rng([zlib.crc32(suite.encode()), seed, index])
        fields = dict(
            ct_path=ct_path,
            labels_path=labels_path,
            seed=seed * 1000 + index,
            suite=suite,
            case=f"{suite}_{index:03d}",
            scanner=scanners[index % len(scanners)],
        )
        if index > 0:
            fields.update(
                rotation_deg=float(np.round(np.clip(rng.normal(0.0, 1.5), -3.0, 3.0), 2)),
                tilt_deg=float(np.round(rng.normal(0.0, 2.0), 2)),
                lateral_shift_mm=float(np.round(rng.uniform(-10.0, 10.0), 1)),
                longitudinal_shift_mm=float(np.round(rng.uniform(-8.0, 8.0), 1)),
                added_soft_tissue_cm=float(np.round(rng.uniform(0.0, 8.0), 1)),
                dose_factor=float(np.round(rng.uniform(0.6, 1.4), 3)),
            )
        fields.update(fixed)
        yield CtPhantomParams(**fields)
