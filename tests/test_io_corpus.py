"""Walk pydicom's whole test-data corpus: every file loads as a DXA kind or raises DxaError.

The corpus is a zoo of odd files (CT, MR, RT, SR, DICOMDIR, raw datasets without file meta,
big-endian, deflated, compressed, truncated, non-DICOM text and JSON).  No other exception
type may escape, and no warning may escape (pytest turns warnings into errors).  ``peek``
must never raise and must agree with ``load``.
"""

from __future__ import annotations

import collections
import os

import pytest
from pydicom.data import get_testdata_files

import dxaspine
from dxaspine.errors import DxaError

# get_testdata_files() also lists a few directories; they are inputs too (InputError).
CORPUS = sorted(get_testdata_files())
# Errors that need the pixels or the full header, which peek does not read.
_LOAD_ONLY_ERRORS = {"CorruptDicomError", "UnsupportedPixelDataError", "MissingSpacingError"}


def _load_outcome(path: str) -> str:
    try:
        return dxaspine.load(path).kind
    except DxaError as exc:
        assert "\n" not in str(exc)
        return type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - the point of the test is to count these
        return f"UNCAUGHT {type(exc).__name__}: {exc}"


def test_corpus_walk_has_no_uncaught_exceptions():
    assert len(CORPUS) > 100  # the walk really covers the corpus (pydicom 3.0: 193 entries)
    outcomes = {path: _load_outcome(path) for path in CORPUS}
    uncaught = {p: o for p, o in outcomes.items() if o.startswith("UNCAUGHT")}
    summary = collections.Counter(o.split(":")[0] for o in outcomes.values())
    print(f"\ncorpus: {len(CORPUS)} entries -> {dict(sorted(summary.items()))}")
    assert not uncaught, uncaught
    by_name = {os.path.basename(p): o for p, o in outcomes.items()}
    # Facts about specific corpus files:
    assert by_name["CT_small.dcm"] == "NotDxaError"  # CT
    assert by_name["README.txt"] == "NotDicomError"  # text
    assert by_name["ExplVR_BigEndNoMeta.dcm"] == "CorruptDicomError"  # no file meta
    assert by_name["SC_rgb_rle.dcm"] == "NotDxaError"  # colour
    assert by_name["test-SR.dcm"] == "NotDxaError"  # structured report, no pixels
    assert all(outcomes[p] == "InputError" for p in CORPUS if os.path.isdir(p))


@pytest.mark.parametrize(
    "path", CORPUS, ids=lambda p: os.path.relpath(p, os.path.dirname(CORPUS[0]))
)
def test_peek_never_raises_and_agrees_with_load(path):
    result = dxaspine.peek(path)
    assert result.path == path
    assert (result.kind is None) == (result.reason is not None)
    outcome = _load_outcome(path)
    assert not outcome.startswith("UNCAUGHT"), outcome
    if result.kind is None:
        assert outcome == result.error_class  # the same rejection, from the header alone
    else:
        assert outcome == result.kind or outcome in _LOAD_ONLY_ERRORS
