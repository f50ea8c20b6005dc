"""The package's structure holds: stages import forward only, io and report never meet, the kinds
registry and the schema agree, and evidence does not depend on which segmenter ran.

docs/architecture.md describes the pipeline these tests defend.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import dxaspine
from dxaspine.io.kinds import kind_names
from dxaspine.report.schema import load_schema

PACKAGE = Path(dxaspine.__file__).resolve().parent

# Pipeline order (docs/architecture.md): a module may import its own stage and earlier ones.
STAGES = ["io", "physics", "segment", "evidence", "measure", "clinical", "pipeline", "report"]
# The layer above the pipeline: drives it, may import any stage.
TOP = {"batch", "commands", "pacs", "bench", "phantom", "warmup", "cli", "__main__"}
# Shared by every layer; they import no stage themselves.
BASE = {"errors", "levels", "atomic", "_numba", "_lazy", "_threads", "__init__"}


def _component(module: str) -> str:
    """``dxaspine.segment.axis`` -> ``segment``; ``dxaspine.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """Every dxaspine module the file imports, at top level or inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = "dxaspine." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dxaspine")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the importing module
                base = package.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "dxaspine":  # from dxaspine import errors (a module), __version__ (root)
                for alias in node.names:
                    is_module = (PACKAGE / alias.name).is_dir() or (
                        PACKAGE / f"{alias.name}.py"
                    ).exists()
                    found.add(f"dxaspine.{alias.name}" if is_module else "dxaspine")
            elif name.startswith("dxaspine"):
                found.add(name)
    return found


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts[0] if len(parts) > 1 else parts[0]


def _rank(component: str) -> int | None:
    return STAGES.index(component) if component in STAGES else None


def _violations(importer: str, targets: set[str]) -> list[str]:
    """What is wrong with a module of component ``importer`` importing ``targets``."""
    problems = []
    for target in sorted(targets):
        imported = _component(target)
        if imported == importer:
            continue
        if importer in BASE:
            if imported not in BASE:
                problems.append(f"{target}: a shared base module imports a stage")
        elif imported in BASE:
            continue
        elif imported in TOP:
            problems.append(f"{target}: a pipeline stage imports a tool")
        elif {importer, imported} == {"io", "report"}:
            problems.append(f"{target}: io and report never import each other")
        elif _rank(imported) is None or _rank(importer) is None:
            problems.append(f"{target}: unknown component")
        elif _rank(imported) > _rank(importer):
            problems.append(f"{target}: a later stage")
    return problems


def test_stages_import_forward_only_and_io_never_meets_report():
    problems = []
    for path, importer in _modules():
        if importer == "__init__" or importer in TOP:
            continue  # the package root re-exports the API; tools drive every stage
        for problem in _violations(importer, _imports(path)):
            problems.append(f"{path.relative_to(PACKAGE)} imports {problem}")
    assert not problems, "\n".join(problems)


def test_the_rule_catches_what_it_forbids():
    # The checker must be able to fail (a test that cannot fail is a defect).
    assert _violations("io", {"dxaspine.segment.classical"})  # a later stage
    assert _violations("report", {"dxaspine.io.scan"})  # io and report
    assert _violations("io", {"dxaspine.report.writers"})
    assert _violations("segment", {"dxaspine.phantom.case"})  # a stage importing a tool
    assert _violations("levels", {"dxaspine.physics"})  # a base module importing a stage
    assert not _violations("evidence", {"dxaspine.segment.axis", "dxaspine.errors"})
    assert not _violations("report", {"dxaspine.measure.composites", "dxaspine.atomic"})


def test_every_registered_kind_is_in_the_schema():
    schema = load_schema()
    enum = schema["properties"]["input"]["properties"]["kind"]["enum"]
    assert set(enum) == set(kind_names())


def test_every_kind_says_what_its_frames_mean():
    from dxaspine.io.kinds import get_kind

    for name in kind_names():
        kind = get_kind(name)
        assert kind.content in ("counts", "areal_bmd", "display_grey", "results"), name
        assert kind.quantitative == (kind.content != "display_grey"), name
        assert (kind.role == "results") == (kind.content == "results") == (kind.read is not None)
        assert kind.picture_frame is None or kind.picture_frame in kind.frames, name


@pytest.fixture(scope="module")
def classical(tmp_path_factory):
    """A pathological phantom (osteophyte at L4, flagged and excluded) analysed classically."""
    from dxaspine.phantom import Lesion, PhantomParams, generate_case, write_case
    from dxaspine.pipeline import analyze

    params = PhantomParams(seed=5, scanner="prodigy", lesions=(Lesion("osteophyte", "L4", 0.8),))
    path = write_case(
        generate_case(params), tmp_path_factory.mktemp("plug"), kinds=("dual_energy",)
    )
    return str(path["dual_energy"]), analyze(str(path["dual_energy"]))


def test_plugged_in_segmenter_gets_the_classical_flags_and_exclusions(classical):
    from dxaspine.pipeline import analyze
    from dxaspine.segment import segment_spine

    path, reference = classical
    calls = []

    def plugged(density_map, scan):  # a "new method" that happens to agree with the classical
        calls.append(scan.path)
        return segment_spine(density_map, scan)

    result = analyze(path, segmenter=plugged)
    assert calls == [path]
    # the lesion must be there for the comparison to mean anything (docs/domain.md §2: exclude it)
    assert "L4" in reference.assessment.excluded
    assert [(f.code, f.level) for f in result.image_flags] == [
        (f.code, f.level) for f in reference.image_flags
    ]
    assert result.assessment.excluded == reference.assessment.excluded
    assert result.assessment.reported_region == reference.assessment.reported_region
    assert [(f.code, f.level) for f in result.assessment.flags] == [
        (f.code, f.level) for f in reference.assessment.flags
    ]


def test_evidence_reads_only_the_segmentation(classical):
    """The same Segmentation from a different object path gives the same evidence."""
    import dataclasses

    from dxaspine.evidence import find_evidence

    _, reference = classical
    seg = reference.segmentation
    copy = dataclasses.replace(
        seg,
        qc_flags=(),  # a segmenter that reports nothing of its own
        bone_mask=np.array(seg.bone_mask, copy=True),
    )
    ours = find_evidence(reference.density_map, copy)
    assert [(f.code, f.level) for f in ours.flags] == [
        (f.code, f.level) for f in reference.evidence.flags
    ]


def test_evidence_does_not_depend_on_the_kept_work_image(classical):
    """Evidence after the segmentation (which reuses the segmenter's work image of the map,
    segment/bone_mask.make_work_image) equals evidence on a copy of the map made afresh."""
    import dataclasses

    from dxaspine.evidence import find_evidence

    _, reference = classical
    dm = reference.density_map
    fresh = dataclasses.replace(dm, values=dm.values.copy(), field_mask=dm.field_mask.copy())
    ours = find_evidence(fresh, reference.segmentation)
    assert [(f.code, f.level, f.detail, f.evidence) for f in ours.flags] == [
        (f.code, f.level, f.detail, f.evidence) for f in reference.evidence.flags
    ]
    assert repr(ours.rotation) == repr(reference.evidence.rotation)  # NaN-safe


def test_results_name_their_conventions(classical):
    """The analysis block names the conventions used (docs/architecture.md, Conventions)."""
    from dxaspine.report.record import record_from_scan

    _, reference = classical
    analysis = record_from_scan(reference)["analysis"]
    assert analysis["edge"] == "relative:0.1"
    assert analysis["box"] == "L4 body width + 7 mm"
    assert analysis["segmenter"] == "dxaspine classical"


def test_lazy_exports_survive_any_import_order():
    # A submodule named like its package's lazy export ("physics.decompose" is both) is bound
    # to the package attribute when it is first loaded; importing it first must not turn
    # ``from dxaspine.physics import decompose`` or ``dxaspine.analyze`` into a TypeError.
    # A fresh interpreter, because this process has long since imported everything.
    import subprocess
    import sys

    root = Path(dxaspine.__file__).resolve().parents[1]
    image = root / "test_images" / "ti_flipped_prodigy.dual_energy.dcm"
    code = (
        "from dxaspine.physics.decompose import BaselineOptions\n"
        "from dxaspine.physics import decompose\n"
        "from dxaspine.io import load\n"
        "import dxaspine\n"
        f"density = decompose(load({str(image)!r}))\n"
        "assert density.quantitative\n"
        f"result = dxaspine.analyze({str(image)!r})\n"
        "assert 'L1' in result.segmentation.labels\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
