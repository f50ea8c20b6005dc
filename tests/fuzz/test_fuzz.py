"""The fuzz suite in CI: 300 seeded cases (about 50 s on 2 cores; docs/hardening.md §6).

Every outcome must be a plausible (or flagged) result or a DxaError, with no planted
identifier in any message, log record or output.  The full run is
``PYTHONPATH=$PWD python tests/fuzz/run.py --cases 10000 --seed 0``.
"""

from __future__ import annotations

import collections

import fuzzer
import pytest
import run

CI_CASES = 300
CI_SEED = 12  # any seed; fixed so a failure replays with --seed 12 --case N


@pytest.mark.slow
def test_fuzzed_cases_end_in_a_result_or_a_dxa_error_and_leak_nothing():
    outcomes = run.run_cases(list(range(CI_CASES)), CI_SEED, workers=2)
    failures = [o for o in outcomes if not o.ok]
    assert failures == [], run.table(outcomes)
    # The run exercised what it claims to: every family, and both kinds of outcome.
    families = collections.Counter(o.family for o in outcomes)
    assert set(families) == set(fuzzer.FAMILIES)
    kinds = collections.Counter(o.kind.split(":")[0] for o in outcomes)
    assert kinds["DxaError"] > 50 and kinds["result"] + kinds["result_flagged"] > 30


def test_cases_are_reproducible():
    from pathlib import Path

    sources = fuzzer.build_corpus(Path(run.tempfile.gettempdir()) / "dxaspine-fuzz-corpus")
    first = fuzzer.make_case(sources, 3, 17)
    again = fuzzer.make_case(sources, 3, 17)
    assert first.files == again.files and first.mutations == again.mutations
