"""Benchmark ground truth: the documented truth format and its loader (docs/benchmark.md, "Truth").

One truth file ``<case>.truth.json`` describes one scan.  Two layouts are read:

- **format 1.0** (``"truth_format": "1.0"``): what a person can annotate on a real scan, and
  optionally more.  Required: intervertebral ``lines`` (``{"name": "L1/L2", "left": [c, r],
  "right": [c, r]}``, pixel ``[column, row]`` of the image *as stored*), or a label image.
  Optional: ``levels`` (``{"label", "complete", "bmc_g", "area_cm2", "bmd_g_cm2", "lesions"}``;
  derived from the line names when absent), a label image (``label_image``, default
  ``<case>.labels.png``: a 16-bit PNG on the stored grid, value k = level ``label_codes[k]``),
  ``level_masks`` (``"regions"``: the label image holds the box regions between lines, as
  dxaspine's own export and the phantom do; ``"bone"``: it holds traced vertebra outlines), a
  bone mask (``bone_mask``, default ``<case>.bone.png``, non-zero = bone), ``pixel_spacing_mm``
  (else the image's), ``patient`` (``sex``, ``age_years``, ``ethnicity``), ``composites``,
  ``group`` and ``image`` (the DICOM file name, or ``[low, high]``).
- **the phantom's truth** (``dxaspine.phantom``; recognised by its ``params`` block): everything
  the simulator knows, read as format 1.0 with all optional parts present.

Bad truth raises :class:`TruthError` (an :class:`~dxaspine.errors.InputError`) with a one-line
message naming the file, the problem and the fix.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dxaspine.errors import InputError, describe
from dxaspine.levels import CLINICAL_LEVELS, SEQUENCE, level_index

__all__ = [
    "TRUTH_FORMAT_VERSION",
    "CaseTruth",
    "TruthError",
    "TruthLevel",
    "TruthLine",
    "load_truth",
]

TRUTH_FORMAT_VERSION = "1.0"
PHANTOM_FORMAT = "phantom"
# Every vertebra name a truth file may use (the standard numbering T8-S1, and L6).
_NAMES = frozenset((*SEQUENCE, "L6"))
_MEASURES = ("bmc_g", "area_cm2", "bmd_g_cm2")


class TruthError(InputError):
    """A truth file (or its label image or bone mask) is missing or malformed."""


@dataclass(frozen=True)
class TruthLine:
    """An intervertebral line in stored ``[column, row]`` pixel coordinates."""

    name: str  # "L1/L2"
    left: tuple[float, float]
    right: tuple[float, float]


@dataclass(frozen=True)
class TruthLevel:
    label: str
    complete: bool = True  # both lines inside the image
    bmc_g: float | None = None
    area_cm2: float | None = None
    bmd_g_cm2: float | None = None
    lesions: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseTruth:
    """One case's truth, on the stored pixel grid."""

    case: str
    path: str
    format: str  # "1.0" or "phantom"
    lines: tuple[TruthLine, ...]
    levels: tuple[TruthLevel, ...]
    label_codes: Mapping[int, str] = field(default_factory=dict)
    label_image: np.ndarray | None = None  # int32 (rows, cols), stored orientation
    bone_mask: np.ndarray | None = None  # bool (rows, cols)
    level_masks: str = "regions"  # "regions" | "bone"
    pixel_spacing_mm: tuple[float, float] | None = None
    patient: Mapping[str, object] | None = None
    composites: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    group: str | None = None
    image: tuple[str, ...] = ()  # image file names given in the truth (relative to it)
    shape: tuple[int, int] | None = None

    def level(self, name: str) -> TruthLevel | None:
        return next((lv for lv in self.levels if lv.label == name), None)

    @property
    def complete_clinical(self) -> tuple[str, ...]:
        """The L1-L4 levels wholly inside the image: the ones a segmenter must label."""
        return tuple(lv.label for lv in self.levels if lv.complete and lv.label in CLINICAL_LEVELS)

    @property
    def has_measurements(self) -> bool:
        return any(lv.bmd_g_cm2 is not None for lv in self.levels)

    def code_of(self, name: str) -> int | None:
        return next((k for k, v in self.label_codes.items() if v == name), None)


def _fail(path, problem: str, fix: str) -> TruthError:
    return TruthError(describe(path, problem, fix))


def _point(value, path, where: str) -> tuple[float, float]:
    ok = isinstance(value, list | tuple) and len(value) == 2
    if ok:
        try:
            c, r = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            ok = False
        else:
            ok = math.isfinite(c) and math.isfinite(r)
    if not ok:
        raise _fail(path, f"{where} is {value!r}, not a [column, row] pair of numbers",
                    "write pixel coordinates of the image as stored")  # fmt: skip
    return c, r


def _lines(raw, path) -> tuple[TruthLine, ...]:
    if not isinstance(raw, list):
        raise _fail(path, "'lines' is not a list", 'write "lines": [{"name": "L1/L2", ...}]')
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise _fail(path, f"lines[{i}] has no name", 'give each line "name": "L1/L2"')
        name = item["name"]
        parts = name.split("/")
        if len(parts) != 2 or not all(p in _NAMES for p in parts):
            raise _fail(path, f"line name {name!r} is not UPPER/LOWER", 'name lines like "L1/L2"')
        left = _point(item.get("left"), path, f"lines[{i}].left")
        right = _point(item.get("right"), path, f"lines[{i}].right")
        out.append(TruthLine(name, left, right))
    # top to bottom by the vertebra order of the upper level
    return tuple(sorted(out, key=lambda ln: level_index(ln.name.split("/")[0])))


def _number(value, path, where: str) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if not math.isfinite(x) or x < 0 or isinstance(value, bool):
        raise _fail(path, f"{where} is {value!r}", "give a finite number >= 0 or null")
    return x


def _levels(raw, path) -> tuple[TruthLevel, ...]:
    if not isinstance(raw, list):
        raise _fail(path, "'levels' is not a list", 'write "levels": [{"label": "L1"}, ...]')
    out = []
    for i, item in enumerate(raw):
        label = item.get("label") if isinstance(item, Mapping) else None
        if label not in _NAMES:
            raise _fail(path, f"levels[{i}] label {label!r} is not a vertebra name",
                        "use T12, L1 ... L5 (docs/benchmark.md)")  # fmt: skip
        values = {k: _number(item.get(k), path, f"levels[{i}].{k}") for k in _MEASURES}
        if values["bmd_g_cm2"] is None and values["bmc_g"] and values["area_cm2"]:
            values["bmd_g_cm2"] = values["bmc_g"] / values["area_cm2"]
        lesions = item.get("lesions") or ()
        out.append(
            TruthLevel(
                label=label,
                complete=bool(item.get("complete", True)),
                lesions=tuple(str(x.get("type") if isinstance(x, Mapping) else x) for x in lesions),
                **values,
            )
        )
    return tuple(sorted(out, key=lambda lv: level_index(lv.label)))


def _levels_from_lines(lines: tuple[TruthLine, ...]) -> tuple[TruthLevel, ...]:
    """Level L lies between lines "X/L" and "L/Y": complete when both are annotated."""
    uppers = {ln.name.split("/")[1] for ln in lines}
    lowers = {ln.name.split("/")[0] for ln in lines}
    names = sorted(uppers | lowers, key=level_index)
    return tuple(TruthLevel(n, complete=n in uppers and n in lowers) for n in names)


def _read_png(path: Path, owner) -> tuple[np.ndarray, dict | None]:
    from dxaspine.report.labels import read_label_png

    try:
        return read_label_png(path)
    except (OSError, ValueError, SyntaxError) as exc:
        raise _fail(owner, f"cannot read {path.name} ({type(exc).__name__})",
                    "write a 16-bit greyscale PNG") from exc  # fmt: skip


def _codes(raw, path) -> dict[int, str]:
    if not isinstance(raw, Mapping):
        raise _fail(path, "'label_codes' is not an object", 'write {"1": "L1", ...}')
    out = {}
    for key, name in raw.items():
        try:
            code = int(key)
        except (TypeError, ValueError):
            code = 0
        if code < 1 or name not in _NAMES:
            raise _fail(path, f"label code {key!r}: {name!r}",
                        'map each value >= 1 to a vertebra name, e.g. {"1": "L1"}')  # fmt: skip
        out[code] = str(name)
    return out


def _companion(path: Path, case: str, given, suffix: str) -> Path | None:
    if given:
        return path.parent / str(given)
    candidate = path.parent / f"{case}{suffix}"
    return candidate if candidate.is_file() else None


def load_truth(path: str | os.PathLike) -> CaseTruth:
    """Read and check one truth file (and its label image and bone mask, when present).

    Parameters
    ----------
    path : path of ``<case>.truth.json``

    Returns
    -------
    CaseTruth

    Raises
    ------
    TruthError
        Missing file, invalid JSON, an unknown format, bad coordinates or names, a label
        image whose values are not in ``label_codes``, or arrays of different shapes.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "no truth file", "write <case>.truth.json beside the image") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read the truth file ({type(exc).__name__})",
                    "check the file") from exc  # fmt: skip
    except json.JSONDecodeError as exc:
        raise _fail(path, f"not valid JSON (line {exc.lineno})", "fix the JSON syntax") from None
    if not isinstance(data, Mapping):
        raise _fail(path, "the truth is not a JSON object", "see docs/benchmark.md, Truth")
    name = path.name
    case = name[: -len(".truth.json")] if name.endswith(".truth.json") else path.stem
    if "params" in data and "label_codes" in data:
        fmt = PHANTOM_FORMAT
    elif data.get("truth_format") == TRUTH_FORMAT_VERSION:
        fmt = TRUTH_FORMAT_VERSION
    else:
        raise _fail(path, f"truth_format is {data.get('truth_format')!r}",
                    f'add "truth_format": "{TRUTH_FORMAT_VERSION}" (docs/benchmark.md)')  # fmt: skip
    lines = _lines(data.get("lines", []), path)
    levels = _levels(data["levels"], path) if "levels" in data else _levels_from_lines(lines)
    codes = _codes(data["label_codes"], path) if "label_codes" in data else {}

    label_image = bone = None
    label_path = _companion(path, case, data.get("label_image"), ".labels.png")
    if label_path is not None:
        if not label_path.is_file():
            raise _fail(path, f"label image {label_path.name} is missing",
                        "put it beside the truth file or drop 'label_image'")  # fmt: skip
        label_image, png_codes = _read_png(label_path, path)
        codes = codes or (png_codes or {})
        if label_image.ndim != 2:
            raise _fail(path, f"{label_path.name} is not a greyscale image", "write 16-bit grey")
        unknown = sorted(set(np.unique(label_image).tolist()) - set(codes) - {0})
        if unknown:
            raise _fail(path, f"label image values {unknown[:5]} are not in label_codes",
                        "map every non-zero value to a level name")  # fmt: skip
    bone_path = _companion(path, case, data.get("bone_mask"), ".bone.png")
    if bone_path is not None:
        if not bone_path.is_file():
            raise _fail(path, f"bone mask {bone_path.name} is missing",
                        "put it beside the truth file or drop 'bone_mask'")  # fmt: skip
        raw_bone, _ = _read_png(bone_path, path)
        bone = raw_bone > 0
        if label_image is not None and bone.shape != label_image.shape:
            raise _fail(path, f"bone mask {bone.shape} and label image {label_image.shape} differ",
                        "write both on the stored image grid")  # fmt: skip
    if not lines and label_image is None:
        raise _fail(path, "no lines and no label image: nothing to compare with",
                    "annotate the intervertebral lines (docs/benchmark.md)")  # fmt: skip
    level_masks = str(data.get("level_masks", "regions"))
    if level_masks not in ("regions", "bone"):
        raise _fail(path, f"level_masks is {level_masks!r}", 'use "regions" or "bone"')
    spacing = data.get("pixel_spacing_mm")
    if spacing is not None:
        spacing = _point(spacing, path, "pixel_spacing_mm")
        if min(spacing) <= 0:
            raise _fail(path, f"pixel_spacing_mm is {list(spacing)}", "give [row, column] > 0 mm")
    image = data.get("image") or ()
    image = (image,) if isinstance(image, str) else tuple(str(x) for x in image)
    shape = data.get("shape")
    return CaseTruth(
        case=str(data.get("case") or case),
        path=str(path),
        format=fmt,
        lines=lines,
        levels=levels,
        label_codes=codes,
        label_image=label_image,
        bone_mask=bone,
        level_masks=level_masks,
        pixel_spacing_mm=spacing,
        patient=data.get("patient") if isinstance(data.get("patient"), Mapping) else None,
        composites=data.get("composites") if isinstance(data.get("composites"), Mapping) else {},
        group=str(data["group"]) if data.get("group") else None,
        image=image,
        shape=(int(shape[0]), int(shape[1]))
        if isinstance(shape, list) and len(shape) == 2
        else None,
    )
