"""Phantom studies with vendor results, shared by the vendor tests (generated once per run)."""

from __future__ import annotations

import functools

from dxaspine.phantom import generate_case
from dxaspine.phantom.suites import standard


@functools.cache
def standard_cases(count: int = 3) -> tuple:
    """The first ``count`` standard-suite cases (scanners cycle prodigy, iDXA, Hologic-like)."""
    return tuple(generate_case(p) for p in standard(seed=0, count=count))


def resolve_sr_path(ds, path: str):
    """The content item an SR path (``A > B[i] > C[j]``) names, checking each concept meaning."""
    item = ds
    for part in path.split(" > ")[1:]:
        meaning, _, index = part.rpartition("[")
        item = item.ContentSequence[int(index.rstrip("]"))]
        assert item.ConceptNameCodeSequence[0].CodeMeaning == meaning, (path, part)
    return item
