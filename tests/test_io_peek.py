"""peek(): header-only classification for discovery, and dual-energy pairing."""

from __future__ import annotations

import dataclasses

import _synthetic as syn
import pytest

import dxaspine
from dxaspine.io import PeekResult, pair_dual_energy


def test_peek_kinds(tmp_path):
    de, _ = syn.dual_energy_dataset()
    bmd, _ = syn.bmd_map_dataset()
    disp, _, _ = syn.display_dataset()
    low, high, _ = syn.pair_datasets()
    results = {
        name: dxaspine.peek(syn.save(ds, tmp_path / f"{name}.dcm"))
        for name, ds in [("de", de), ("bmd", bmd), ("disp", disp), ("low", low), ("high", high)]
    }
    assert results["de"].kind == "dual_energy" and results["de"].frames == 2
    assert results["bmd"].kind == "bmd_map"
    assert results["disp"].kind == "display" and results["disp"].modality == "CR"
    assert (results["disp"].rows, results["disp"].cols) == (120, 100)
    assert results["low"].is_pair_member and results["low"].energy_label == "LOW_ENERGY"
    assert results["high"].energy_label == "HIGH_ENERGY"
    assert results["low"].image_type == ("ORIGINAL", "PRIMARY", "LOW_ENERGY")
    assert results["de"].sop_instance_uid == de.SOPInstanceUID
    assert results["de"].series_instance_uid == de.SeriesInstanceUID
    assert not results["de"].is_pair_member
    with pytest.raises(dataclasses.FrozenInstanceError):
        results["de"].kind = None  # frozen


def test_peek_reports_reason_instead_of_raising(tmp_path):
    hip, _, _ = syn.display_dataset(protocol="DualFemur")
    result = dxaspine.peek(syn.save(hip, tmp_path / "hip.dcm"))
    assert result.kind is None and result.error_class == "NotDxaError"
    assert "hip" in result.reason and result.sop_instance_uid == hip.SOPInstanceUID
    text = tmp_path / "x.txt"
    text.write_text("not dicom")
    assert dxaspine.peek(text).error_class == "NotDicomError"
    assert dxaspine.peek(tmp_path / "missing.dcm").error_class == "InputError"
    assert dxaspine.peek(tmp_path).error_class == "InputError"


def test_peek_does_not_need_decodable_pixels(tmp_path):
    # Garbage pixel bytes of the wrong length: only load, which decodes, may complain.
    ds, _, _ = syn.display_dataset()
    ds.PixelData = b"\x01\x02"
    path = syn.save(ds, tmp_path / "d.dcm")
    assert dxaspine.peek(path).kind == "display"
    with pytest.raises(dxaspine.CorruptDicomError):
        dxaspine.load(path)


def _member(path, label, series="s1", rows=96, cols=64, number=None):
    return PeekResult(
        path=path,
        kind="dual_energy",
        energy_label=label,
        series_instance_uid=series,
        study_instance_uid="st",
        rows=rows,
        cols=cols,
        instance_number=number,
    )


def test_pairing_by_series_shape_and_label():
    a_lo, a_hi = _member("a_lo", "LOW_ENERGY"), _member("a_hi", "HIGH_ENERGY")
    b_hi = _member("b_hi", "HIGH_ENERGY", series="s2")  # no partner in its series
    c_lo = _member("c_lo", "LOW_ENERGY", series="s3", rows=80)
    c_hi = _member("c_hi", "HIGH_ENERGY", series="s3")  # same series, other shape
    other = PeekResult(path="disp", kind="display")
    pairs, unpaired = pair_dual_energy([a_hi, other, b_hi, a_lo, c_lo, c_hi])
    assert pairs == [(a_lo, a_hi)]
    assert {r.path for r in unpaired} == {"disp", "b_hi", "c_lo", "c_hi"}


def test_pairing_several_acquisitions_in_one_series_by_instance_number():
    members = [
        _member("lo2", "LOW_ENERGY", number=3),
        _member("hi1", "HIGH_ENERGY", number=2),
        _member("lo1", "LOW_ENERGY", number=1),
        _member("hi2", "HIGH_ENERGY", number=4),
    ]
    pairs, unpaired = pair_dual_energy(members)
    assert [(lo.path, hi.path) for lo, hi in pairs] == [("lo1", "hi1"), ("lo2", "hi2")]
    assert unpaired == []


def test_pairing_real_files_then_loading(tmp_path):
    low, high, truth = syn.pair_datasets()
    paths = [syn.save(low, tmp_path / "1.dcm"), syn.save(high, tmp_path / "2.dcm")]
    pairs, unpaired = pair_dual_energy(dxaspine.peek(p) for p in paths)
    assert len(pairs) == 1 and not unpaired
    scan = dxaspine.load([pairs[0][0].path, pairs[0][1].path])
    assert scan.kind == "dual_energy"


def test_peek_stops_before_the_pixel_bytes(tmp_path):
    # Cut the file right after the Pixel Data element's header: the value is missing
    # entirely.  peek reads no pixel byte, yet sees from the file size that the declared value
    # cannot be there; load reports the same damage.
    ds, _, _ = syn.display_dataset()
    path = tmp_path / "d.dcm"
    syn.save(ds, path)
    data = path.read_bytes()
    cut = data.index(b"\xe0\x7f\x10\x00") + 12  # tag (4) + VR OB (2) + reserved (2) + length (4)
    path.write_bytes(data[:cut])
    assert dxaspine.peek(path).error_class == "CorruptDicomError"
    with pytest.raises(dxaspine.CorruptDicomError):
        dxaspine.load(path)


def test_peek_reports_truncated_pixel_data_from_the_file_size(tmp_path):
    # A copy cut short keeps its header (and SOP Instance UID): discovery must see it as
    # corrupt before de-duplication, or it could shadow the intact original.
    from pathlib import Path

    from dxaspine.io import peek

    source = (
        Path(__file__).resolve().parents[1] / "test_images" / "ti_standard_prodigy.dual_energy.dcm"
    )
    data = source.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 100])
    result = peek(cut)
    assert result.kind is None
    assert result.error_class == "CorruptDicomError"
    assert "truncated" in result.reason and str(cut) in result.reason
    assert peek(source).kind == "dual_energy"


def test_header_tags_follow_the_registered_kinds():
    # all_header_tags is computed once per set of kinds (issue 17); registering a kind with a
    # tag of its own must still add that tag, and removing it must take it away again.
    from dxaspine.io import kinds
    from dxaspine.io.classify import HEADER_TAGS, all_header_tags

    before = all_header_tags()
    assert before[: len(HEADER_TAGS)] == HEADER_TAGS and len(set(before)) == len(before)
    extra = 0x00091234
    assert extra not in before
    kinds.register(dataclasses.replace(kinds.get_kind("display"), name="test_extra_tag",
                                       header_tags=(extra,)))  # fmt: skip
    try:
        assert set(all_header_tags()) == {*before, extra}
    finally:
        del kinds.KINDS["test_extra_tag"]
    assert all_header_tags() == before
