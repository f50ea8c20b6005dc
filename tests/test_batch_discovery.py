"""Discovery: the three INPUT forms, pairing by series, de-duplication, unmatched halves.

Uses a stand-in for ``io.peek`` whose answers are the ground truth of each case, so the
pairing and de-duplication logic is checked exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from dxaspine.batch.discovery import (
    Failure,
    Skip,
    Work,
    discover,
    index_vendor_results,
    iter_input_paths,
)


@dataclass(frozen=True)
class FakePeek:
    kind: str | None
    sop_instance_uid: str | None = None
    series_instance_uid: str | None = None
    energy_label: str | None = None
    reason: str | None = None
    error_class: str | None = None


def test_folder_list_and_glob_name_the_same_files(tmp_path):
    for rel in ("a/1.dcm", "a/b/2.dcm", "c/3.dcm", "c/.hidden.dcm", "c/notes.txt"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    folder = sorted(iter_input_paths(str(tmp_path), "*.dcm"))
    assert [p.split(str(tmp_path))[1] for p in folder] == ["/a/1.dcm", "/a/b/2.dcm", "/c/3.dcm"]
    listing = tmp_path / "files.txt"
    listing.write_text("# archive\na/1.dcm\n\n" + str(tmp_path / "c/3.dcm") + "\n")
    assert list(iter_input_paths(str(listing))) == [
        str(tmp_path / "a/1.dcm"),
        str(tmp_path / "c/3.dcm"),
    ]
    globbed = list(iter_input_paths(str(tmp_path / "**" / "*.dcm")))
    assert sorted(globbed) == folder  # the glob skips dot files as the walk does


def test_pairs_by_series_dedups_and_reports_unmatched_halves():
    answers = {
        "low1": FakePeek("dual_energy", "u-low1", "s1", "LOW_ENERGY"),
        "junk": FakePeek(None, reason="junk: not a DICOM file", error_class="NotDicomError"),
        "broken": FakePeek(None, reason="broken: truncated", error_class="CorruptDicomError"),
        "high1": FakePeek("dual_energy", "u-high1", "s1", "HIGH_ENERGY"),
        "map": FakePeek("bmd_map", "u-map"),
        "map-copy": FakePeek("bmd_map", "u-map"),
        "lonely": FakePeek("dual_energy", "u-lonely", "s2", "HIGH_ENERGY"),
    }
    records = list(discover(list(answers), peek=answers.__getitem__))
    work = [r for r in records if isinstance(r, Work)]
    skips = {r.path: r.reason for r in records if isinstance(r, Skip)}
    failures = {r.path: r for r in records if isinstance(r, Failure)}
    assert [w.paths for w in work] == [("low1", "high1"), ("map",)]
    assert work[0].key == "uid:u-low1+u-high1"
    assert "duplicate" in skips["map-copy"] and "map" in skips["map-copy"]
    assert skips["junk"].startswith("junk")  # non-DICOM: a skip with its reason
    assert failures["broken"].stage == "discover"  # damaged: an error, not a skip
    assert "LOW_ENERGY" in failures["lonely"].message  # names the missing half


def test_seen_uids_carry_over_a_resumed_run():
    seen: set[bytes] = set()
    answers = {"a": FakePeek("bmd_map", "u1"), "b": FakePeek("bmd_map", "u1")}
    first = list(discover(["a"], peek=answers.__getitem__, seen_uids=seen))
    second = list(discover(["b"], peek=answers.__getitem__, seen_uids=seen))
    assert isinstance(first[0], Work) and isinstance(second[0], Skip)


def test_discovery_reuses_the_first_pass_headers_up_to_its_bound():
    # The runner reads every header in the first pass (vendor results, file count); discover
    # reuses the first `keep` of them instead of reading those headers again (issue 17).
    answers = {
        "low1": FakePeek("dual_energy", "u-low1", "s1", "LOW_ENERGY"),
        "high1": FakePeek("dual_energy", "u-high1", "s1", "HIGH_ENERGY"),
        "map": FakePeek("bmd_map", "u-map"),
        "map-copy": FakePeek("bmd_map", "u-map"),
        "junk": FakePeek(None, reason="junk: not a DICOM file", error_class="NotDicomError"),
    }
    calls: list[str] = []

    def peek(path):
        calls.append(path)
        return answers[path]

    plain = list(discover(list(answers), peek=answers.__getitem__))
    for keep, reread in ((len(answers), []), (2, ["map", "map-copy", "junk"])):
        calls.clear()
        index = index_vendor_results(list(answers), peek=peek, keep=keep)
        assert calls == list(answers)
        calls.clear()
        assert list(discover(list(answers), peek=peek, vendor=index)) == plain
        assert calls == reread
