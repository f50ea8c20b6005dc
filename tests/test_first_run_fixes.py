"""Issue 18's first-run fixes, one test each (each can regress on its own).

- ``--json`` pixel spacing rounded (ExposedArea / matrix gave 0.25256410256410255);
- the terminal table's label confidence said once, with its legend, not "(0.95)" per label;
- ``dxaspine.__all__`` / ``dir(dxaspine)`` list the pipeline functions; the Python example of
  writing JSON and an overlay (docs/report_page.md, README proposal) runs;
- the batch progress bar counts the two files of a dual-energy pair (it ended at 90 %);
- the flat row carries study date, scanner, spacing source, and display geometry;
- Dask's INFO lines follow dxaspine's level;
- "is a another body part scan" reads as English;
- the schema's minor version moved (new optional fields, old fields kept).
"""

from __future__ import annotations

import json
import logging

import _synthetic as syn
import pytest

import dxaspine
from dxaspine.batch.discovery import Skip, Work
from dxaspine.batch.progress import Progress
from dxaspine.errors import NotDxaError
from dxaspine.levels import CLINICAL_LEVELS
from dxaspine.report.json_output import dumps_result
from dxaspine.report.row import region_columns, row_columns, row_from_record
from dxaspine.report.schema import SCHEMA_VERSION
from dxaspine.report.table import LABEL_CONFIDENCE_LEGEND, format_report


def _record(kind: str = "dual_energy", confidences=(0.95, 0.95, 0.95, 0.95)) -> dict:
    quantitative = kind != "display"
    levels = []
    for label, confidence in zip(CLINICAL_LEVELS, confidences, strict=True):
        levels.append(
            {
                "label": label, "bmc_g": 12.0 if quantitative else None, "area_cm2": 14.0,
                "bmd_g_cm2": 12.0 / 14.0 if quantitative else None, "t_score": None,
                "z_score": None, "excluded": False, "flags": [],
                "upper_line_px": None, "lower_line_px": None, "label_confidence": confidence,
                "height_mm": 25.04, "width_mm": 44.96, "density_index": 0.8571,
            }
        )  # fmt: skip
    return {
        "schema_version": SCHEMA_VERSION,
        "input": {
            "path": "scan.dcm", "kind": kind, "sop_instance_uid": "1.2.3",
            # docs/domain.md §6: iDXA ExposedArea 197 mm over 780 rows, 180 mm over 716 cols
            "pixel_spacing_mm": [197 / 780, 180 / 716], "pixel_spacing_source": "ExposedArea",
            "quantitative": quantitative, "study_date": "2024-03-12",
            "manufacturer": "GE Healthcare", "model": "Lunar iDXA", "software_version": "16",
        },
        "patient": {"sex": "F", "age_years": 61.0, "ethnicity": None},
        "levels": levels, "regions": [], "reported_region": None, "flags": [],
        "reference": {"name": "dxaspine-default", "source": "docs/domain.md 8"},
        "software": {"name": "dxaspine", "version": dxaspine.__version__},
    }  # fmt: skip


def test_pixel_spacing_is_rounded_in_the_json():
    assert 197 / 780 == 0.25256410256410255  # the value
    written = json.loads(dumps_result(_record()))
    # 4 decimals (0.1 µm): docs/report_page.md, "Small fixes".
    assert written["input"]["pixel_spacing_mm"] == [0.2526, 0.2514]


def test_schema_minor_version_moved_and_old_fields_kept():
    major, minor = SCHEMA_VERSION.split(".")
    assert major == "1" and int(minor) >= 1  # additions are minor bumps (Contract 2)
    written = json.loads(dumps_result(_record()))
    for key in ("path", "kind", "sop_instance_uid", "pixel_spacing_mm", "pixel_spacing_source"):
        assert key in written["input"]


def test_label_confidence_is_one_line_with_a_legend():
    text = format_report(_record())
    assert "(0.95)" not in text  # no bare number after each label
    assert "label confidence 0.95 (all levels): how sure the labeller is" in " ".join(text.split())
    mixed = format_report(_record(confidences=(0.6, 0.6, 0.95, 0.95)))
    assert "label confidence L1 0.60, L2 0.60, L3 0.95, L4 0.95" in mixed
    assert LABEL_CONFIDENCE_LEGEND.split()[0] in mixed


def test_terminal_table_gives_who_on_the_reported_region_only():
    from dxaspine.clinical import assess
    from dxaspine.report.record import record_from_assessment, round_for_output

    # Hologic APEX levels (docs/domain.md §1), woman 61: T/WHO apply (ISCD, docs/domain.md §2);
    # every composite is low bone mass, but the category belongs to the reported region.
    levels = [{"label": k, "bmc_g": b, "area_cm2": a} for k, b, a in
              (("L1", 11.58, 13.26), ("L2", 12.94, 13.72), ("L3", 13.93, 14.81),
               ("L4", 13.40, 13.97))]  # fmt: skip
    info = {"path": "vendor.csv", "kind": "bmd_map", "pixel_spacing_mm": [1.0, 1.0],
            "pixel_spacing_source": "default", "quantitative": True}  # fmt: skip

    def table(patient):
        return format_report(round_for_output(record_from_assessment(assess(levels, patient),
                                                                     input_info=info)))  # fmt: skip

    text = table({"sex": "F", "age_years": 61})
    region_rows = [ln for ln in text.splitlines() if ln.startswith(("L1-", "L1,", "L2", "L3-"))]
    assert len(region_rows) >= 11
    assert [ln.split()[0] for ln in region_rows if "osteopenia" in ln] == ["L1-L4"]
    assert "WHO category: low bone mass (osteopenia)" in text
    # a man of 45: Z applies, no WHO anywhere
    text = table({"sex": "M", "age_years": 45})
    assert "osteopenia" not in text and "WHO category: not determined" in text


def test_public_api_lists_the_pipeline_functions():
    for name in ("load", "peek", "analyze", "assess"):
        assert name in dxaspine.__all__ and name in dir(dxaspine)
        assert callable(getattr(dxaspine, name))


def test_progress_bar_reaches_its_total_with_paired_files():
    from dxaspine.batch.ledger import ChunkWriter  # noqa: F401  (the runner's own import)
    from dxaspine.batch.runner import _route

    # 3 files: one dual-energy pair (two files, one scan) and one single file.
    records = [Work("uid:a+b", ("low.dcm", "high.dcm")), Work("uid:c", ("c.dcm",))]
    progress = Progress(total=3, quiet=False)

    class Writer:
        def add(self, record):  # skips/failures are committed directly; none here
            raise AssertionError(record)

    files_of: dict[str, int] = {}
    routed = list(_route(iter(records), set(), Writer(), progress, files_of))
    for work in routed:  # each result, as the executor hands it back
        progress.update("result", files=files_of.pop(work.key, 1))
    assert progress.files_done == 3 == progress.total  # it stopped at 2 of 3 before
    assert progress.counts["result"] == 2  # scans, as in results.csv
    if progress._bar is not None:
        assert progress._bar.n == progress._bar.total == 3
    progress.close()


def test_resumed_progress_total_counts_committed_pairs_as_two_files():
    from dxaspine.batch.runner import _route

    records = [Work("uid:a+b", ("low.dcm", "high.dcm")), Work("uid:c", ("c.dcm",)),
               Skip("path:x", "x.txt", "not DICOM")]  # fmt: skip
    done = {"uid:a+b"}  # committed by the first run
    progress = Progress(total=4, quiet=True, already=len(done))  # 4 files, 1 scan committed

    class Writer:
        def add(self, record):
            pass

    files_of: dict[str, int] = {}
    routed = list(_route(iter(records), done, Writer(), progress, files_of))
    for work in routed:
        progress.update("result", files=files_of.pop(work.key, 1))
    # 4 files - the pair's 2 = 2 left: c.dcm (result) and x.txt (skip)
    assert progress.total == 2 == progress.files_done


def test_flat_row_has_scan_facts_and_display_geometry():
    columns = row_columns()
    # Contract 2's columns come first, in their documented order (docs/architecture.md).
    head = ["path", "sop_instance_uid", "kind", "patient_sex", "patient_age_years"]
    for lv in CLINICAL_LEVELS:
        head += [f"{lv}_{k}" for k in ("bmc_g", "area_cm2", "bmd_g_cm2", "t_score", "z_score",
                                        "excluded", "flags")]  # fmt: skip
    for name in region_columns():
        head += [f"{name}_bmd_g_cm2", f"{name}_t_score", f"{name}_z_score"]
    head += ["reported_region", "reported_bmd_g_cm2", "reported_t_score", "reported_z_score",
             "who_category", "flags"]  # fmt: skip
    assert columns[: len(head)] == head
    from dxaspine.report.record import round_for_output

    row = row_from_record(round_for_output(_record("display")))
    assert row["study_date"] == "2024-03-12"
    assert (row["manufacturer"], row["model"]) == ("GE Healthcare", "Lunar iDXA")
    assert row["pixel_spacing_source"] == "ExposedArea"
    # display input: geometry instead of BMD, at the record's output precision
    assert (row["L1_height_mm"], row["L1_width_mm"], row["L1_density_index"]) == (25.0, 45.0,
                                                                                  0.857)  # fmt: skip
    assert row["L1_bmd_g_cm2"] is None


def test_dask_info_lines_follow_our_level():
    pytest.importorskip("distributed")
    import distributed  # noqa: F401  (importing it sets its loggers to INFO)

    from dxaspine.batch.dask_logging import quiet_distributed_logs

    ours = logging.getLogger("dxaspine")
    before = ours.level
    try:
        ours.setLevel(logging.WARNING)  # the default and --quiet
        assert quiet_distributed_logs() == logging.WARNING
        assert not logging.getLogger("distributed.scheduler").isEnabledFor(logging.INFO)
        assert logging.getLogger("distributed.worker").isEnabledFor(logging.WARNING)
        ours.setLevel(logging.DEBUG)  # -vv: the cluster's own lines help
        assert quiet_distributed_logs() == logging.INFO
        assert logging.getLogger("distributed.nanny").isEnabledFor(logging.INFO)
    finally:
        ours.setLevel(before)
        quiet_distributed_logs()


def test_dask_cluster_start_and_stop_log_nothing_at_warning(caplog):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from dxaspine.batch.dask_logging import quiet_distributed_logs

    # caplog's handler sits on the root logger and sees every record that propagates to it
    # (a logger's own level decides, not the root's), as the CLI's stderr handler does.
    caplog.handler.setLevel(logging.NOTSET)
    logging.getLogger("dxaspine").setLevel(logging.WARNING)
    try:
        level = quiet_distributed_logs()
        # In-process workers: the scheduler, worker and nanny lines all come through here.
        with LocalCluster(n_workers=1, processes=False, dashboard_address=None,
                          silence_logs=level) as cluster, Client(cluster) as client:  # fmt: skip
            assert client.submit(sum, [1, 2]).result() == 3
    finally:
        logging.getLogger("dxaspine").setLevel(logging.NOTSET)
    info = [r for r in caplog.records if r.name.startswith("distributed") and r.levelno < 30]
    assert info == []


def test_body_part_message_reads_as_english(tmp_path):
    ds, _, _ = syn.display_dataset(protocol="Knee")
    path = syn.save(ds, tmp_path / "k.dcm")
    with pytest.raises(NotDxaError) as info:
        dxaspine.load(path)
    message = str(info.value)
    assert "is a scan of another body part, not a PA lumbar spine" in message
    assert "a another" not in message
    ds, _, _ = syn.display_dataset(protocol="Left Forearm")
    with pytest.raises(NotDxaError, match="is a forearm scan, not a PA lumbar spine"):
        dxaspine.load(syn.save(ds, tmp_path / "f.dcm"))


def test_python_example_writes_json_overlay_and_page(tmp_path):
    """The README proposal (docs/report_page.md, "README proposal"), as written there."""
    from dxaspine.commands.demo import bundled_paths
    from dxaspine.report import write_result

    scan_path = str(bundled_paths()[0])
    result = dxaspine.analyze(scan_path)
    outputs = {"json": tmp_path / "scan.json", "overlay": tmp_path / "scan.png"}
    if pytest.importorskip("matplotlib"):
        outputs["report"] = tmp_path / "scan.pdf"
    record = write_result(result, **outputs)
    written = json.loads((tmp_path / "scan.json").read_text())
    assert written["reported_region"] == record["reported_region"] == "L1-L4"
    assert (tmp_path / "scan.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "scan.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(TypeError, match="no writer named"):
        write_result(result, jsn=tmp_path / "x.json")
