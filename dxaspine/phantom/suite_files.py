"""A phantom suite on disk: every case's files (DICOM kinds, truth JSON, label PNG) and a
``MANIFEST.json`` listing each file with its sha256, the case parameters and truth.

Byte-for-byte reproducible from the suite name and seed (``dxaspine phantom``).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from dxaspine import __version__
from dxaspine.phantom.case import generate_case
from dxaspine.phantom.suites import SUITES, write_options
from dxaspine.phantom.write import atomic_write, write_case


def png_pixel_sha256(data: bytes) -> str:
    """sha256 of a PNG's decoded pixels (PNG bytes depend on the zlib build; pixels do not)."""
    array = np.asarray(Image.open(io.BytesIO(data)))
    return hashlib.sha256(array.astype("<u2").tobytes()).hexdigest()


def write_suite(name: str, outdir: str | Path, seed: int = 0, count: int | None = None) -> dict:
    """Generate and write a suite; returns the manifest (also written to MANIFEST.json)."""
    regenerate = f"dxaspine phantom {Path(outdir).name} --suite {name} --seed {seed}" + (
        f" --count {count}" if count is not None else ""
    )
    return write_cases(SUITES[name](seed=seed, count=count), outdir, name, seed, count, regenerate)


def _generate(params):
    """A drawn case, or a projected-CT case for :class:`~dxaspine.phantom.ct.CtPhantomParams`."""
    if getattr(params, "ct_path", None) is not None:
        from dxaspine.phantom.ct import generate_ct_case

        return generate_ct_case(params)
    return generate_case(params)


def write_cases(params_iter, outdir: str | Path, suite: str, seed: int, count, regenerate: str):
    """Generate and write the cases of ``params_iter``; returns the manifest (MANIFEST.json)."""
    out = Path(outdir)
    files, cases = [], {}
    for params in params_iter:
        case = _generate(params)
        kinds, flip = write_options(params)
        paths = write_case(case, out, kinds=kinds, flip=flip)
        cases[case.name] = json.loads(paths["truth"].read_text())
        for kind, value in paths.items():
            for path in value if isinstance(value, tuple) else (value,):
                data = path.read_bytes()
                entry = {
                    "file": path.name,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "kind": kind,
                    "case": case.name,
                    "flip": list(flip),
                }
                if path.suffix == ".png":
                    entry["pixel_sha256"] = png_pixel_sha256(data)
                files.append(entry)
    manifest = {
        "suite": suite,
        "seed": seed,
        "count": count,
        "software_version": __version__,
        "regenerate": regenerate,
        "files": files,
        "cases": cases,
    }
    atomic_write(
        out / "MANIFEST.json", (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()
    )
    return manifest
