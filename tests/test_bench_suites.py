"""Suites: the manifest key, the cache (generated once, reused, keyed by the key's hash), the
manifest's content, the CT family's registry entry, and ``dxaspine bench suites``.
"""

from __future__ import annotations

import json

import pytest

from dxaspine.bench import suites
from dxaspine.bench.folder import MANIFEST_NAME, open_folder, sha256_file
from dxaspine.bench.suites import (
    SuitePart,
    SuiteSpec,
    ensure_suite,
    key_hash,
    suite_availability,
    suite_key,
)
from dxaspine.cli import main
from dxaspine.errors import InputError

ONE = SuiteSpec("one_case", "one standard case", (SuitePart("standard", "standard", 1),))


@pytest.fixture
def registered(monkeypatch, tmp_path):
    monkeypatch.setitem(suites.SUITES, ONE.name, ONE)
    monkeypatch.setenv("DXASPINE_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_key_changes_with_what_changes_the_cases():
    base = key_hash(suite_key(ONE))
    assert key_hash(suite_key(ONE)) == base  # deterministic
    assert key_hash(suite_key(ONE, seed=1)) != base
    assert key_hash(suite_key(ONE, count=2)) != base
    other_kinds = SuiteSpec("one_case", "", (SuitePart("standard", "standard", 1, ("display",)),))
    assert key_hash(suite_key(other_kinds)) != base
    key = suite_key(ONE)
    assert key["truth_format"] == "1.0" and len(key["generator"]["source_sha256"]) == 64


def test_suite_is_generated_once_and_reused(registered):
    folder = ensure_suite("one_case")
    assert folder.parent == registered and folder.name.startswith("one_case-")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    mtime = (folder / MANIFEST_NAME).stat().st_mtime_ns
    assert ensure_suite("one_case") == folder
    assert (folder / MANIFEST_NAME).stat().st_mtime_ns == mtime  # not regenerated
    # the manifest: cases with seeds, the generator version, every file's sha256
    assert manifest["key_sha256"] == key_hash(suite_key(ONE))
    assert [c["id"] for c in manifest["cases"]] == ["standard_000.dual_energy"]
    assert manifest["cases"][0]["seed"] == 0 and manifest["generator"]["version"]
    for entry in manifest["files"]:
        assert sha256_file(folder / entry["file"]) == entry["sha256"]
    names = {e["file"] for e in manifest["files"]}
    assert {"standard_000.truth.json", "standard_000.labels.png", "standard_000.bone.png"} <= names
    # a different seed is a different folder beside it
    assert ensure_suite("one_case", seed=3) != folder
    assert open_folder(folder).cases[0].kind == "dual_energy"


def test_unknown_suite_is_one_line():
    with pytest.raises(InputError, match="no such suite"):
        ensure_suite("no_such_suite")


def test_ct_suite_is_one_more_entry_and_says_why_it_cannot_run(monkeypatch):
    spec = suites.SUITES["ct"]
    assert [p.generator for p in spec.parts] == ["ct"] and spec.requires == "dxaspine.phantom.ct"
    # whatever this checkout holds, a missing module is said in one line
    absent = SuiteSpec("ct", spec.description, spec.parts, requires="dxaspine.phantom.not_here")
    reason = suite_availability(absent)
    assert "needs dxaspine.phantom.not_here" in reason and "\n" not in reason
    monkeypatch.setitem(suites.SUITES, "ct", absent)
    with pytest.raises(InputError, match="needs dxaspine.phantom.not_here"):
        ensure_suite("ct")


def test_bench_suites_lists_every_suite(registered, capsys):
    assert main(["bench", "suites"]) == 0
    out = capsys.readouterr().out
    for name in ("standard", "hard", "transitional", "pathology", "display", "scanners", "ct"):
        assert f"\n{name} " in "\n" + out
    assert "not generated yet" in out


def test_run_on_a_suite_that_does_not_exist_is_bad_usage(tmp_path, capsys):
    assert main(["bench", "run", "--suite", str(tmp_path / "nope"), "--segmenter", "oracle"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such suite folder" in err and "\n" not in err
