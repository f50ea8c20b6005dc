"""Where the project's shared reference data lives: ``../shared/data`` beside the repository.

CI clones the repository into a fresh folder with a copy of ``shared/`` beside it; a developer
checkout has it at the same relative place.  ``DXASPINE_SHARED_DATA`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    override = os.environ.get("DXASPINE_SHARED_DATA")
    if override:
        return Path(override)
    return _REPO.parent / "shared" / "data"


NHANES = shared_data_dir() / "nhanes" / "P_DXXSPN_with_demo.csv"
needs_nhanes = pytest.mark.skipif(not NHANES.exists(), reason=f"shared NHANES data not at {NHANES}")

# The TotalSegmentator example CT and its vertebra labels (shared/data/totalseg/README.md).
TOTALSEG_CT = shared_data_dir() / "totalseg" / "example_ct.nii.gz"
TOTALSEG_LABELS = shared_data_dir() / "totalseg" / "example_ct_vertebrae.nii.gz"
needs_totalseg = pytest.mark.skipif(
    not (TOTALSEG_CT.exists() and TOTALSEG_LABELS.exists()),
    reason=f"shared TotalSegmentator CT not at {TOTALSEG_CT.parent}",
)
