"""Benchmark suites: the registry, their manifests, and the cache (docs/benchmark.md, "Suites").

A registered suite is a list of parts, each a group of phantom cases: which phantom generator
(``dxaspine.phantom.SUITES``, including the projected-CT ``ct`` family when that module and its
CT are present), how many cases, which input kinds are written, and an optional named variant
of the parameters.  A suite is generated on demand into the user cache
(``$DXASPINE_BENCH_CACHE``, else ``$XDG_CACHE_HOME/dxaspine/bench``, else
``~/.cache/dxaspine/bench``) in a folder named by the hash of its **key**: suite definition,
seed, count, the phantom generator's version (the package version and a digest of the
phantom's source), a digest of every case's parameters and the truth format version.  Any
change to one of them is a new folder; an unchanged suite is generated once.

Each generated folder holds the DICOM files, ``<case>.truth.json``, ``<case>.labels.png``,
``<case>.bone.png`` and ``bench_manifest.json`` (cases, seeds, generator version, truth
format version and the sha256 of every file).  :func:`register_suite` adds a suite.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from dxaspine import __version__
from dxaspine.atomic import atomic_write_text
from dxaspine.bench.folder import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    SuiteFolder,
    open_folder,
    sha256_file,
)
from dxaspine.bench.truth import TRUTH_FORMAT_VERSION
from dxaspine.errors import DxaError, InputError, describe

__all__ = [
    "SUITES",
    "SuitePart",
    "SuiteSpec",
    "cache_root",
    "ensure_suite",
    "open_suite",
    "register_suite",
    "suite_availability",
    "suite_key",
    "write_phantom_suite",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuitePart:
    group: str  # the group name in every table
    generator: str  # a phantom suite: dxaspine.phantom.SUITES[generator]
    count: int | None  # cases (None: the generator's own default)
    kinds: tuple[str, ...] = ("dual_energy",)  # files written per case; each is one input
    variant: str | None = None  # a name in VARIANTS


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    description: str
    parts: tuple[SuitePart, ...]
    seed: int = 0
    # the module the generator needs, e.g. "dxaspine.phantom.ct" (None: the drawn phantom)
    requires: str | None = None


def _display_export(index: int, params):
    """The vendor-like 8-bit export with burned-in graphics, both photometric senses."""
    return params.replace(
        suite="display",
        case=f"display_{index:03d}",
        display_annotations=True,
        display_photometric="MONOCHROME1" if index % 2 else "MONOCHROME2",
    )


VARIANTS: dict[str, Callable] = {"display_export": _display_export}
BOTH = ("dual_energy", "display")
SUITES: dict[str, SuiteSpec] = {}


def register_suite(spec: SuiteSpec) -> SuiteSpec:
    """Add a suite to the registry (a later one of the same name replaces it)."""
    SUITES[spec.name] = spec
    return spec


# The default groups reproduce the test suite's sweeps case for case (same generators,
# seeds, counts and kinds as tests/test_segment_accuracy.py), so the classical segmenter's
# figures here are the ones its tests assert.
register_suite(SuiteSpec("standard", "no pathology, scoliosis <= 10 mm, three scanners; "
                         "dual-energy, BMD map and display inputs of each case",
                         (SuitePart("standard", "standard", 30,
                                    ("dual_energy", "bmd_map", "display")),)))  # fmt: skip
register_suite(SuiteSpec("hard", "scoliosis to 25 mm, rotation +-5 deg, 12-35 cm tissue, gas, "
                         "each pathology, metal", (SuitePart("hard", "hard", 30, BOTH),)))  # fmt: skip
register_suite(SuiteSpec("transitional", "six lumbar vertebrae, a rib on L1, no rib on T12",
                         (SuitePart("transitional", "transitional", 30, BOTH),)))  # fmt: skip
register_suite(SuiteSpec("pathology", "each lesion type at one level, four times",
                         (SuitePart("pathology", "pathology", 24, BOTH),)))  # fmt: skip
register_suite(SuiteSpec("display", "vendor-like 8-bit exports with burned-in graphics, "
                         "MONOCHROME1 and 2", (SuitePart("display", "standard", 30, ("display",),
                                                         "display_export"),)))  # fmt: skip
register_suite(SuiteSpec("scanners", "one anatomy on each scanner geometry (10 anatomies)",
                         (SuitePart("scanners", "scanners", 30),)))  # fmt: skip
register_suite(SuiteSpec("ct", "projected CT: real vertebral shapes in 12 poses, tissues and "
                         "doses (dxaspine.phantom.ct and its CT)", (SuitePart("ct", "ct", None),),
                         requires="dxaspine.phantom.ct"))  # fmt: skip
register_suite(SuiteSpec("mixed", "100 dual-energy/display inputs over every drawn group "
                         "(the speed benchmark's suite)", (
                             SuitePart("standard", "standard", 25),
                             SuitePart("hard", "hard", 20),
                             SuitePart("pathology", "pathology", 12),
                             SuitePart("transitional", "transitional", 15),
                             SuitePart("display", "standard", 16, ("display",), "display_export"),
                             SuitePart("scanners", "scanners", 12),
                         )))  # fmt: skip


def cache_root() -> Path:
    """Where generated suites live (see the module docstring)."""
    override = os.environ.get("DXASPINE_BENCH_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "dxaspine" / "bench"


def phantom_source_sha256() -> str:
    """Digest of the phantom generator's source: a changed simulator is a new suite."""
    import dxaspine.phantom

    root = Path(dxaspine.phantom.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def suite_availability(spec: SuiteSpec) -> str | None:
    """None when the suite can be generated here, else the one-line reason it cannot."""
    import importlib.util

    if spec.requires and importlib.util.find_spec(spec.requires) is None:
        return (f"suite {spec.name} needs {spec.requires}, which this dxaspine does not have "
                "(it comes with the projected-CT phantom)")  # fmt: skip
    from dxaspine.phantom import SUITES as PHANTOM_SUITES

    for part in spec.parts:
        if part.generator not in PHANTOM_SUITES:
            return f"suite {spec.name}: no phantom generator {part.generator!r} in dxaspine.phantom"
    return None


def _part_params(part: SuitePart, seed: int, count: int | None) -> Iterator:
    from dxaspine.phantom import SUITES as PHANTOM_SUITES

    n = part.count if count is None else count
    for i, params in enumerate(PHANTOM_SUITES[part.generator](seed=seed, count=n)):
        yield VARIANTS[part.variant](i, params) if part.variant else params


def _params_json(params) -> str:
    to_json = getattr(params, "to_json", None)
    value = to_json() if callable(to_json) else asdict(params)
    return json.dumps(value, sort_keys=True, default=str)


def suite_key(spec: SuiteSpec, seed: int | None = None, count: int | None = None) -> dict:
    """The key a generated suite is cached under (see the module docstring).

    Raises
    ------
    DxaError
        The generator cannot enumerate its cases here (e.g. the CT is absent).
    """
    seed = spec.seed if seed is None else seed
    digest = hashlib.sha256()
    for part in spec.parts:
        for params in _part_params(part, seed, count):
            digest.update(_params_json(params).encode())
    return {
        "suite": spec.name,
        "parts": [asdict(p) for p in spec.parts],
        "seed": seed,
        "count": count,
        "generator": {
            "name": "dxaspine.phantom",
            "version": __version__,
            "source_sha256": phantom_source_sha256(),
        },  # fmt: skip
        "params_sha256": digest.hexdigest(),
        "truth_format": TRUTH_FORMAT_VERSION,
        "manifest_version": MANIFEST_VERSION,
    }


def key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _write_one(job: tuple) -> list[dict]:
    """Generate one case and write its files; returns the manifest's case entries (picklable)."""
    group, params, kinds, outdir = job
    import numpy as np
    from PIL import Image

    from dxaspine.atomic import atomic_write_bytes
    from dxaspine.phantom import generate_case, write_case

    if getattr(params, "ct_path", None) is not None:  # a projected-CT case
        from dxaspine.phantom.ct import generate_ct_case

        case = generate_ct_case(params)
    else:
        case = generate_case(params)
    out = Path(outdir)
    paths = write_case(case, out, kinds=kinds)
    bone = out / f"{case.name}.bone.png"
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(case.bone_mask, dtype=np.uint8) * 255).save(buffer, format="PNG")
    atomic_write_bytes(bone, buffer.getvalue())
    entries = []
    for kind in kinds:
        images = paths[kind] if isinstance(paths[kind], tuple) else (paths[kind],)
        suffix = "pair" if kind == "dual_energy_pair" else kind
        entries.append({
            "id": f"{case.name}.{suffix}", "group": group, "kind": kind,
            "images": [p.name for p in images], "truth": paths["truth"].name,
            "seed": getattr(params, "seed", None),
        })  # fmt: skip
    return entries


def write_phantom_suite(
    spec: SuiteSpec,
    outdir: str | os.PathLike,
    seed: int | None = None,
    count: int | None = None,
    workers: int = 1,
    key: dict | None = None,
) -> dict:
    """Generate ``spec`` into ``outdir`` (files and ``bench_manifest.json``); returns the manifest.

    ``workers`` > 1 generates cases in a process pool.  ``count`` replaces each part's count.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    seed = spec.seed if seed is None else seed
    key = key or suite_key(spec, seed, count)
    jobs = [(part.group, params, part.kinds, str(out))
            for part in spec.parts for params in _part_params(part, seed, count)]  # fmt: skip
    if workers > 1 and len(jobs) > 1:
        import multiprocessing

        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
            results = list(pool.map(_write_one, jobs, chunksize=2))
    else:
        results = [_write_one(job) for job in jobs]
    cases = [entry for entries in results for entry in entries]
    names = sorted(p.name for p in out.iterdir() if p.is_file() and p.name != MANIFEST_NAME)
    manifest = {
        "bench_manifest": MANIFEST_VERSION,
        "suite": spec.name,
        "description": spec.description,
        "kind": "phantom",
        "key": key,
        "key_sha256": key_hash(key),
        "seed": seed,
        "count": count,
        "truth_format": TRUTH_FORMAT_VERSION,
        "generator": key["generator"],
        "regenerate": f"dxaspine bench make-suite {spec.name} --seed {seed}"
        + (f" --count {count}" if count is not None else ""),
        "cases": cases,
        "files": [{"file": n, "sha256": sha256_file(out / n)} for n in names],
    }
    atomic_write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def ensure_suite(
    name: str,
    seed: int | None = None,
    count: int | None = None,
    workers: int = 1,
    rebuild: bool = False,
    cache: str | os.PathLike | None = None,
) -> Path:
    """The cached folder of a registered suite, generating it first when needed.

    Raises
    ------
    InputError
        Unknown suite name, or the suite cannot be generated here (the reason says why).
    """
    spec = SUITES.get(name)
    if spec is None:
        raise InputError(describe(name, "no such suite",
                                  f"use one of {', '.join(SUITES)} or a suite folder"))  # fmt: skip
    reason = suite_availability(spec)
    if reason:
        raise InputError(describe(name, reason, "see dxaspine bench suites"))
    try:
        key = suite_key(spec, seed, count)
    except DxaError as exc:  # e.g. the ct family without its CT
        raise InputError(describe(name, f"cannot enumerate its cases ({exc})",
                                  "see dxaspine bench suites")) from exc  # fmt: skip
    root = Path(cache) if cache is not None else cache_root()
    folder = root / f"{name}-{key_hash(key)[:16]}"
    if (folder / MANIFEST_NAME).is_file() and not rebuild:
        logger.info("suite %s: cached at %s", name, folder)
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    try:
        logger.info("suite %s: generating into %s", name, folder)
        write_phantom_suite(spec, tmp, seed=seed, count=count, workers=workers, key=key)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.chmod(0o755)  # mkdtemp makes 0700; a cache may be shared by a group
        os.replace(tmp, folder)  # the folder appears whole or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def open_suite(
    name_or_dir: str,
    seed: int | None = None,
    count: int | None = None,
    workers: int = 1,
    cache: str | os.PathLike | None = None,
) -> SuiteFolder:
    """A registered suite (generated or cached) or a suite folder, ready to run."""
    if name_or_dir in SUITES and not Path(name_or_dir).is_dir():
        folder = ensure_suite(name_or_dir, seed, count, workers=workers, cache=cache)
        return open_folder(folder, name=name_or_dir)
    return open_folder(name_or_dir)


def suite_listing(names: Iterable[str] | None = None) -> list[dict]:
    """One row per registered suite: name, inputs, groups, availability, cached folder."""
    rows = []
    for name in names or SUITES:
        spec = SUITES[name]
        reason = suite_availability(spec)
        cached = None
        if reason is None:
            try:
                key = suite_key(spec)
            except DxaError as exc:
                reason = str(exc)
            else:
                candidate = cache_root() / f"{name}-{key_hash(key)[:16]}"
                cached = str(candidate) if (candidate / MANIFEST_NAME).is_file() else None
        inputs = sum((p.count or 0) * len(p.kinds) for p in spec.parts)
        rows.append({
            "name": name, "description": spec.description, "inputs": inputs or None,
            "groups": list(dict.fromkeys(p.group for p in spec.parts)),
            "available": reason is None, "reason": reason, "cached": cached,
        })  # fmt: skip
    return rows
