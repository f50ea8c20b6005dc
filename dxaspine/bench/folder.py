"""A suite on disk: its cases (images + truth), what was skipped and why, and its manifest.

A suite folder holds DICOM files and truth files (:mod:`dxaspine.bench.truth`).  With a
``bench_manifest.json`` (written by ``dxaspine bench make-suite``) the case list, groups and
the sha256 of every file come from it, and a file that changed since is skipped.  Without
one, the folder is walked: each ``<case>.truth.json`` claims the images its ``image`` field
names, else ``<case>.dcm`` and the phantom's ``<case>.<kind>.dcm`` files (a ``.low.dcm`` +
``.high.dcm`` pair is one input).  A case's group is the truth's ``group``, else the phantom
suite it came from, else its sub-folder, else ``all``.

Nothing here raises for one bad case: a missing or malformed truth file, a truth without an
image, or an image without truth is listed in ``skipped`` with a one-line reason, and the
rest of the suite runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from dxaspine.bench.truth import load_truth
from dxaspine.errors import DxaError, InputError, describe

__all__ = ["MANIFEST_NAME", "BenchCase", "SuiteFolder", "open_folder", "sha256_file"]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "bench_manifest.json"
MANIFEST_VERSION = 1
_PHANTOM_KINDS = ("dual_energy", "bmd_map", "display")
_PAIR = ("low", "high")
_IMAGE_SUFFIXES = (".dcm", ".dicom", ".DCM", ".ima", ".IMA")


@dataclass(frozen=True)
class BenchCase:
    """One benchmark input: one image (or low/high pair) and its truth."""

    id: str
    group: str
    images: tuple[str, ...]  # absolute paths; two for a dual-energy pair
    truth: str  # absolute path of the truth JSON
    kind: str | None = None  # the phantom kind from the file name, if any

    @property
    def source(self) -> str | list[str]:
        """What ``dxaspine.io.load`` takes."""
        return self.images[0] if len(self.images) == 1 else list(self.images)


@dataclass(frozen=True)
class SuiteFolder:
    name: str
    root: str
    cases: tuple[BenchCase, ...]
    skipped: tuple[tuple[str, str], ...]  # (case or file, one-line reason)
    manifest: dict | None = None
    manifest_sha256: str | None = None
    groups: tuple[str, ...] = field(default=())


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_image(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_IMAGE_SUFFIXES)


def _strip_image_suffix(name: str) -> str:
    for suffix in _IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _images_for(truth_path: Path, case: str, given: tuple[str, ...]):
    """[(case id, (paths...), kind)] for one truth file."""
    folder = truth_path.parent
    if given:
        paths = tuple(str((folder / g).resolve()) for g in given)
        return [(case, paths, "dual_energy_pair" if len(paths) == 2 else None)]
    out = []
    plain = folder / f"{case}.dcm"
    if plain.is_file():
        out.append((case, (str(plain.resolve()),), None))
    for kind in _PHANTOM_KINDS:
        path = folder / f"{case}.{kind}.dcm"
        if path.is_file():
            out.append((f"{case}.{kind}", (str(path.resolve()),), kind))
    pair = [folder / f"{case}.{half}.dcm" for half in _PAIR]
    if all(p.is_file() for p in pair):
        out.append((f"{case}.pair", tuple(str(p.resolve()) for p in pair), "dual_energy_pair"))
    return out


def _truth_group(truth_path: Path, root: Path) -> str | None:
    try:
        data = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("group"):
        return str(data["group"])
    if "params" in data and data.get("suite"):
        return str(data["suite"])
    rel = truth_path.parent.relative_to(root)
    return rel.parts[0] if rel.parts else None


def _walk(root: Path):
    cases, skipped, claimed = [], [], set()
    for truth_path in sorted(root.rglob("*.truth.json")):
        case = truth_path.name[: -len(".truth.json")]
        try:
            truth = load_truth(truth_path)
        except DxaError as exc:
            skipped.append((str(truth_path.relative_to(root)), str(exc)))
            for _, paths, _ in _images_for(truth_path, case, ()):
                claimed.update(paths)
            continue
        found = _images_for(truth_path, case, truth.image)
        missing = [p for _, paths, _ in found for p in paths if not Path(p).is_file()]
        if not found or missing:
            what = Path(missing[0]).name if missing else f"{case}.dcm"
            skipped.append((case, describe(truth_path, f"no image {what}",
                                           "put the DICOM beside its truth file")))  # fmt: skip
            continue
        group = truth.group or _truth_group(truth_path, root) or "all"
        for case_id, paths, kind in found:
            claimed.update(paths)
            cases.append(BenchCase(case_id, group, paths, str(truth_path.resolve()), kind))
    for path in sorted(root.rglob("*")):
        if _is_image(path) and str(path.resolve()) not in claimed:
            stem = _strip_image_suffix(path.name).split(".")[0]
            skipped.append((str(path.relative_to(root)), describe(
                path, "no truth file", f"write {stem}.truth.json beside it (docs/benchmark.md)"
            )))  # fmt: skip
    return cases, skipped


def _from_manifest(root: Path, manifest: dict, verify: bool):
    digests = {f["file"]: f["sha256"] for f in manifest.get("files", [])}
    cases, skipped = [], []
    for entry in manifest.get("cases", []):
        names = [*entry["images"], entry["truth"]]
        problem = None
        for name in names:
            path = root / name
            if not path.is_file():
                problem = describe(path, "listed in the manifest but missing",
                                   "rebuild the suite (dxaspine bench make-suite)")  # fmt: skip
                break
            if verify and name in digests and sha256_file(path) != digests[name]:
                problem = describe(path, "changed since the manifest was written (sha256)",
                                   "rebuild the suite or restore the file")  # fmt: skip
                break
        if problem is None:
            try:
                load_truth(root / entry["truth"])
            except DxaError as exc:
                problem = str(exc)
        if problem is not None:
            skipped.append((entry["id"], problem))
            continue
        cases.append(BenchCase(
            entry["id"], entry.get("group") or "all",
            tuple(str((root / n).resolve()) for n in entry["images"]),
            str((root / entry["truth"]).resolve()), entry.get("kind"),
        ))  # fmt: skip
    return cases, skipped


def open_folder(
    root: str | os.PathLike, name: str | None = None, verify: bool = True
) -> SuiteFolder:
    """The cases of a suite folder (see the module docstring).

    Raises
    ------
    InputError
        The folder does not exist, its manifest is unreadable, or it holds no usable case.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise InputError(describe(root, "no such suite folder",
                                  "give a suite name (dxaspine bench suites) or a folder"))  # fmt: skip
    manifest = manifest_sha = None
    manifest_path = root / MANIFEST_NAME
    if manifest_path.is_file():
        raw = manifest_path.read_bytes()
        try:
            manifest = json.loads(raw)
        except ValueError:
            raise InputError(describe(manifest_path, "not valid JSON",
                                      "delete it and run dxaspine bench make-suite")) from None  # fmt: skip
        manifest_sha = hashlib.sha256(raw).hexdigest()
        cases, skipped = _from_manifest(root, manifest, verify)
    else:
        cases, skipped = _walk(root)
    if not cases:
        reason = f" ({skipped[0][1]})" if skipped else ""
        raise InputError(describe(root, f"no case with an image and a valid truth file{reason}",
                                  "see docs/benchmark.md, Truth"))  # fmt: skip
    for item, reason in skipped:
        logger.warning("skipped %s: %s", item, reason)
    groups = tuple(dict.fromkeys(c.group for c in cases))
    return SuiteFolder(
        name=name or (manifest or {}).get("suite") or root.name,
        root=str(root),
        cases=tuple(cases),
        skipped=tuple(skipped),
        manifest=manifest,
        manifest_sha256=manifest_sha,
        groups=groups,
    )


def index_folder(root: str | os.PathLike, name: str | None = None) -> dict:
    """A manifest for a user folder as it is now (``make-suite --from``): cases and sha256s."""
    folder = open_folder(root, name=name, verify=False)
    base = Path(folder.root)
    files = sorted({p for c in folder.cases for p in (*c.images, c.truth)}
                   | _companions(folder.cases))  # fmt: skip
    return {
        "bench_manifest": MANIFEST_VERSION,
        "suite": folder.name,
        "kind": "user",
        "cases": [
            {
                "id": c.id,
                "group": c.group,
                "kind": c.kind,
                "images": [os.path.relpath(p, base) for p in c.images],
                "truth": os.path.relpath(c.truth, base),
            }
            for c in folder.cases
        ],  # fmt: skip
        "files": [{"file": os.path.relpath(p, base), "sha256": sha256_file(p)} for p in files],
        "skipped": [list(s) for s in folder.skipped],
    }


def _companions(cases) -> set[str]:
    out = set()
    for c in cases:
        stem = c.truth[: -len(".truth.json")]
        for suffix in (".labels.png", ".bone.png"):
            if os.path.isfile(stem + suffix):
                out.add(stem + suffix)
    return out
