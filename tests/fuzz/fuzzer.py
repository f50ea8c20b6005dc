"""A seeded, bounded mutation fuzzer for ``dxaspine.analyze`` (issue 12; docs/hardening.md §6).

Every case is a pure function of ``(seed, index)``: :func:`make_case` picks a source from the
corpus and one or two mutations, :func:`run_case` analyses the damaged file(s) and classifies
the outcome.  The corpus is the committed ``test_images/`` (phantoms) with identifying values
planted in every file (``_damage.PLANTED``), plus RLE, JPEG 2000 and JPEG-LS copies made with
pydicom's encoders, plus the committed LOW/HIGH pair.

Mutation families (each bounded: at most two mutations of at most ~2 kB of bytes):

- ``bytes``: 1-16 random bit flips or byte overwrites, anywhere, in the header, or in the pixels;
- ``truncate``: cut at a random length (anywhere, or near the header/pixel boundary);
- ``header``: one element set to a damaging value (zero, negative, huge, NaN, text with a
  planted name, empty, deleted), over the sizes, bit depths, Modality LUT, spacing,
  orientation, frame labels, photometric, modality, SOP class, transfer syntax, group length
  and the private block (energies, I0, coefficients, content);
- ``fragment``: one compressed fragment damaged (random burst, zeroed tail, truncated,
  replaced by random bytes, emptied, swapped with the other frame's);
- ``pair``: one half of the LOW/HIGH pair damaged (header or bytes) or mismatched (series,
  size, energy label);
- ``pairs``: two mutations of the above on one file.

An outcome is **ok** when it is a result whose every number is plausible or flagged, or a
``DxaError``; it is a **failure** when any other exception escapes, a result holds a BMD
outside the physiological range without the flag, or a planted identifier appears in a
message, a log record or an output file (JSON, CSV, table).  A worker process that dies is a
failure too (recorded by the runner, :mod:`run`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (for _damage)

import _damage  # noqa: E402

FAMILIES = ("bytes", "truncate", "header", "fragment", "pair", "pairs")
# Relative frequency of the families (fragment damage needs a compressed source).
FAMILY_WEIGHTS = (0.2, 0.12, 0.3, 0.18, 0.1, 0.1)
PIXEL_TAG = b"\xe0\x7f\x10\x00"


@dataclass(frozen=True)
class Source:
    name: str
    files: tuple[bytes, ...]  # one file, or (low, high)
    compressed: bool


@dataclass
class Case:
    index: int
    source: str
    family: str
    mutations: list[str]
    files: list[bytes]


@dataclass
class Outcome:
    index: int
    source: str
    family: str
    mutations: list[str]
    kind: str  # "result", "result_flagged", "DxaError:<class>", or a failure kind
    failure: str | None = None  # None when ok
    detail: str = ""
    bmd_shift: float | None = None  # reported composite vs the undamaged source (results)
    flags: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


# --- the corpus -------------------------------------------------------------------------


def _dataset_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def _planted(path: Path) -> pydicom.Dataset:
    return _damage.plant_identifiers(pydicom.dcmread(path))


def build_corpus(cache: Path) -> list[Source]:
    """The sources, built once into ``cache`` (compressed copies take a few seconds)."""
    cache.mkdir(parents=True, exist_ok=True)
    sources: list[Source] = []
    for path in sorted(_damage.TEST_IMAGES.glob("*.dcm")):
        if path.name.endswith((".low.dcm", ".high.dcm")):
            continue
        sources.append(Source(path.stem, (_dataset_bytes(_planted(path)),), False))
    for syntax in ("rle", "j2k", "jls"):
        for stem in ("ti_standard_prodigy.dual_energy", "ti_standard_prodigy.bmd_map",
                     "ti_standard_prodigy.display", "ti_pathology_idxa.dual_energy"):  # fmt: skip
            original = _damage.TEST_IMAGES / f"{stem}.dcm"
            digest = hashlib.sha256(original.read_bytes()).hexdigest()[:12]  # stale-proof
            target = cache / f"{stem}.{digest}.{syntax}.dcm"
            if not target.exists():
                _damage.compressed_copy(original, target, syntax)
            sources.append(Source(f"{stem}.{syntax}", (_dataset_bytes(_planted(target)),), True))
    pair = tuple(
        _dataset_bytes(_planted(_damage.TEST_IMAGES / f"ti_standard_prodigy.{h}.dcm"))
        for h in ("low", "high")
    )
    sources.append(Source("ti_standard_prodigy.pair", pair, False))
    return sources


# --- mutations ----------------------------------------------------------------------------

# Values a header mutation may write.  Text values carry a planted name: a message that
# quotes the field would leak it.
_NAME = _damage.PLANTED["PatientName"]
_NUMERIC_VALUES = ["0", "-1", "65535", "4294967296", "1e308", "nan", "inf", "-0", "3.5", "", _NAME]
_TEXT_VALUES = ["", _NAME, f"L\\{_NAME}", "\\", "X" * 70, "\x00\x01\x02", "LOW_ENERGY"]

# (keyword, VR, candidate values); a few numeric ones are written raw (binary VRs).
_HEADER_TARGETS = [
    ("Rows", "US", [0, 1, 7, 8193, 65535, "+7", "*2"]),
    ("Columns", "US", [0, 1, 9, 8193, 65535, "+3", "*2"]),
    ("BitsAllocated", "US", [0, 1, 8, 12, 16, 32, 64]),
    ("BitsStored", "US", [0, 1, 8, 12, 17, 64]),
    ("HighBit", "US", [0, 31, 64]),
    ("PixelRepresentation", "US", [1, 2]),
    ("SamplesPerPixel", "US", [0, 3]),
    ("NumberOfFrames", "IS", ["0", "1", "2", "3", "1000", "-1", _NAME]),
    ("RescaleSlope", "DS", _NUMERIC_VALUES + ["0.5", "2", "100"]),
    ("RescaleIntercept", "DS", _NUMERIC_VALUES + ["-1000", "1000"]),
    ("PixelSpacing", "DS", [*_NUMERIC_VALUES, "0\\0", "1\\1\\1", "1e-9\\1e-9", f"{_NAME}\\1"]),
    ("ImagerPixelSpacing", "DS", ["0.25\\0.25", "0\\1", _NAME]),
    ("ExposedArea", "DS", ["180\\197", "0\\0", _NAME, "1e30\\1e30"]),
    ("PatientOrientation", "CS", _TEXT_VALUES + ["F\\L", "A\\F", "L\\L", "R\\H"]),
    (
        "FrameLabelVector",
        "CS",
        _TEXT_VALUES + ["HIGH_ENERGY\\LOW_ENERGY", "LOW_ENERGY\\LOW_ENERGY"],
    ),
    ("PhotometricInterpretation", "CS", _TEXT_VALUES + ["MONOCHROME1", "RGB", "YBR_FULL"]),
    ("Modality", "CS", _TEXT_VALUES + ["CT", "MR", "BMD", "CR"]),
    (
        "SOPClassUID",
        "UI",
        ["", _NAME, "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.88.22"],
    ),
    ("ImageType", "CS", _TEXT_VALUES + ["ORIGINAL\\PRIMARY\\LOW_ENERGY"]),
    ("ProtocolName", "LO", ["", f"Left Femur {_NAME}", f"Knee {_NAME}", f"LVA {_NAME}"]),
    ("BodyPartExamined", "CS", ["", "HIP", "LSPINE", _NAME]),
    ("PatientAge", "AS", ["", "999Y", _NAME, "000D"]),
    ("PatientSex", "CS", ["", "X", _NAME]),
    ("PatientSize", "DS", ["", "180", _NAME, "-1"]),
]
_PRIVATE_ELEMENTS = {"energies": 0x01, "i0": 0x02, "content": 0x03, "bone_mu": 0x04}
_SYNTAXES = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.100",
    _NAME,
]


def _read(data: bytes) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data))


def _raw(ds: pydicom.Dataset, keyword_or_tag, vr: str, value: bytes) -> None:
    tag = (
        pydicom.datadict.tag_for_keyword(keyword_or_tag)
        if isinstance(keyword_or_tag, str)
        else keyword_or_tag
    )
    if len(value) % 2:
        value += b" " if vr not in ("UI", "OB", "UN") else b"\x00"
    ds[tag] = RawDataElement(pydicom.tag.Tag(tag), vr, len(value), value, 0, False, True)


def _mutate_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    out = bytearray(data)
    pixel = data.find(PIXEL_TAG)
    region = rng.choice(["anywhere", "header", "pixels"])
    lo, hi = 0, len(out)
    if region == "header":
        lo, hi = 128, max(129, pixel if pixel > 0 else min(len(out), 2048))
    elif region == "pixels" and pixel > 0:
        lo = pixel + 12
    n = int(rng.integers(1, 17))
    flips = rng.random() < 0.5
    for _ in range(n):
        at = int(rng.integers(lo, max(lo + 1, hi)))
        if at >= len(out):
            continue
        out[at] = out[at] ^ (1 << int(rng.integers(0, 8))) if flips else int(rng.integers(0, 256))
    return bytes(out), f"bytes:{region}:{'flip' if flips else 'set'}x{n}"


def _truncate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    pixel = data.find(PIXEL_TAG)
    if rng.random() < 0.4 and pixel > 0:
        at = int(np.clip(pixel + rng.integers(-400, 400), 1, len(data) - 1))
        return data[:at], f"truncate:near-pixels:{at}"
    if rng.random() < 0.2:
        at = int(rng.integers(1, min(len(data), 400)))
        return data[:at], f"truncate:header:{at}"
    at = int(rng.integers(1, len(data)))
    return data[:at], f"truncate:{at}"


def _mutate_header(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    ds = _read(data)
    choice = rng.random()
    if choice < 0.22 and ds.get((0x0071, 0x0010)) is not None:
        return _mutate_private(ds, rng)
    if choice < 0.30:
        syntax = str(rng.choice(_SYNTAXES))
        ds.file_meta.TransferSyntaxUID = syntax if syntax != _NAME else "1.2.3"
        if syntax == _NAME:
            _raw(ds.file_meta, 0x00020010, "UI", _NAME.encode())
        return _dataset_bytes(ds), f"header:TransferSyntaxUID={syntax[:24]}"
    if choice < 0.34:
        data = _group_length(data, rng)
        return data, "header:group-length"
    if choice < 0.40:
        keys = [e.keyword for e in ds if e.keyword and e.tag.group != 0x7FE0]
        keyword = str(rng.choice(keys))
        del ds[keyword]
        return _dataset_bytes(ds), f"header:delete:{keyword}"
    keyword, vr, values = _HEADER_TARGETS[int(rng.integers(0, len(_HEADER_TARGETS)))]
    value = values[int(rng.integers(0, len(values)))]
    if isinstance(value, str) and value[:1] in "+*" and vr == "US":
        base = int(ds.get(keyword) or 1)
        value = base + int(value[1:]) if value[0] == "+" else base * int(value[1:])
    if vr == "US":
        _raw(
            ds,
            keyword,
            "US",
            int(value).to_bytes(4, "little")[:2] if int(value) < 65536 else b"\xff\xff",
        )
    else:
        _raw(ds, keyword, vr, str(value).encode("latin-1", "replace"))
    return _dataset_bytes(ds), f"header:{keyword}={str(value)[:24]!s}"


def _group_length(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    at = out.find(b"\x02\x00\x00\x00UL")
    if at < 0:
        return data[: int(rng.integers(128, 200))]
    if rng.random() < 0.5:
        return bytes(out[: at + int(rng.integers(6, 12))])  # `head -c` inside the element
    value = _NAME.encode()[:18].ljust(18, b"^")
    out[at + 6 : at + 12] = len(value).to_bytes(2, "little") + value[:4]
    out[at + 12 : at + 12] = value[4:]
    return bytes(out)


def _mutate_private(ds: pydicom.Dataset, rng: np.random.Generator) -> tuple[bytes, str]:
    block = ds.private_block(0x0071, "DXASPINE 1")
    name = str(rng.choice(list(_PRIVATE_ELEMENTS)))
    element = _PRIVATE_ELEMENTS[name]
    tag = block.get_tag(element)
    if name == "content":
        value = str(rng.choice(["DE_COUNTS", "AREAL_BMD_MAP", "", _NAME, "OTHER"]))
        if tag in ds:
            del ds[tag]
        if value:
            block.add_new(element, "CS", value)
        return _dataset_bytes(ds), f"private:content={value[:16]}"
    how = str(rng.choice(["scale", "absolute", "delete", "swap", "one", "text"]))
    current = list(ds[tag].value) if tag in ds and ds[tag].value else [1.0, 1.0]
    if how == "delete":
        if tag in ds:
            del ds[tag]
        return _dataset_bytes(ds), f"private:{name}:delete"
    if how == "text":
        _raw(ds, tag, "UN", _NAME.encode())
        return _dataset_bytes(ds), f"private:{name}:text"
    if how == "scale":
        factor = float(rng.choice([0.25, 0.5, 0.9, 1.1, 2.0, 4.0, -1.0, 0.0]))
        new = [v * factor for v in current]
    elif how == "absolute":
        new = [float(rng.choice([1e12, 1e308, 1e-300, 50.0, 1.0]))] * 2
    elif how == "swap":
        new = current[::-1]
    else:
        new = current[:1] + [float("nan")] if rng.random() < 0.5 else current[:1]
    if tag in ds:
        del ds[tag]
    block.add_new(element, "FD", new)
    return _dataset_bytes(ds), f"private:{name}:{how}"


def _mutate_fragment(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    ds = _read(data)
    frags = _damage.fragments(ds)
    index = int(rng.integers(0, len(frags)))
    frame = bytearray(frags[index])
    how = str(rng.choice(["burst", "zero-tail", "truncate", "random", "empty", "swap", "flip"]))
    if how == "burst" and len(frame) > 64:
        at = int(rng.integers(0, len(frame) - 1))
        n = int(rng.integers(1, min(2048, len(frame) - at) + 1))
        frame[at : at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif how == "zero-tail":
        at = int(rng.integers(0, len(frame)))
        frame[at:] = bytes(len(frame) - at)
    elif how == "truncate":
        frame = frame[: int(rng.integers(0, len(frame)))]
    elif how == "random":
        frame = bytearray(rng.integers(0, 256, len(frame), dtype=np.uint8).tobytes())
    elif how == "empty":
        frame = bytearray()
    elif how == "swap" and len(frags) > 1:
        frame = bytearray(frags[1 - index])
    else:
        for _ in range(int(rng.integers(1, 9))):
            at = int(rng.integers(0, len(frame)))
            frame[at] ^= 1 << int(rng.integers(0, 8))
    if len(frame) % 2:
        frame.append(0)
    frags[index] = bytes(frame)
    ds.PixelData = pydicom.encaps.encapsulate(frags)
    return _dataset_bytes(ds), f"fragment:{index}:{how}"


def _mismatch_pair(files: list[bytes], rng: np.random.Generator) -> tuple[list[bytes], str]:
    which = int(rng.integers(0, 2))
    ds = _read(files[which])
    how = str(rng.choice(["series", "label", "shape", "spacing"]))
    if how == "series":
        ds.SeriesInstanceUID = generate_uid()
    elif how == "label":
        ds.ImageType = list(_read(files[1 - which]).ImageType)
    elif how == "shape":
        ds.Rows = int(ds.Rows) - 1
    else:
        ds.PixelSpacing = [float(v) * 1.5 for v in ds.PixelSpacing]
    files = list(files)
    files[which] = _dataset_bytes(ds)
    return files, f"pair:{which}:{how}"


_SINGLE_OPS = {"bytes": _mutate_bytes, "truncate": _truncate, "header": _mutate_header}


def make_case(sources: list[Source], seed: int, index: int) -> Case:
    """Case ``index`` of run ``seed`` (deterministic)."""
    with warnings.catch_warnings():  # pydicom warns about the damage it is asked to write
        warnings.simplefilter("ignore")
        return _make_case(sources, seed, index)


def _make_case(sources: list[Source], seed: int, index: int) -> Case:
    rng = np.random.default_rng([seed, index])
    family = str(rng.choice(FAMILIES, p=FAMILY_WEIGHTS))
    if family == "fragment":
        pool = [s for s in sources if s.compressed]
    elif family == "pair":
        pool = [s for s in sources if len(s.files) == 2]
    else:
        pool = [s for s in sources if len(s.files) == 1]
    source = pool[int(rng.integers(0, len(pool)))]
    files = list(source.files)
    mutations: list[str] = []
    rounds = 2 if family == "pairs" else 1
    for _ in range(rounds):
        try:
            if family == "fragment":
                files[0], note = _mutate_fragment(files[0], rng)
            elif family == "pair":
                if rng.random() < 0.4:
                    files, note = _mismatch_pair(files, rng)
                else:
                    which = int(rng.integers(0, 2))
                    op = _SINGLE_OPS[str(rng.choice(list(_SINGLE_OPS)))]
                    files[which], note = op(files[which], rng)
                    note = f"pair:{which}:{note}"
            else:
                name = str(rng.choice(list(_SINGLE_OPS))) if family == "pairs" else family
                files[0], note = _SINGLE_OPS[name](files[0], rng)
        except Exception as exc:  # noqa: BLE001 - a mutation pydicom cannot write: bytes instead
            files[0], note = _mutate_bytes(files[0], rng)
            note = f"{note} (after {type(exc).__name__})"
        mutations.append(note)
    return Case(index, source.name, family, mutations, files)


# --- running a case -----------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # pydicom's own logger quotes values; dxaspine's CLI silences it (ERROR only) and the
        # brief allows tracebacks in a user-requested log file, so messages are checked.
        if not record.name.startswith("pydicom"):
            self.messages.append((f"log {record.name}", record.getMessage()))


def _plausible(record: dict) -> str | None:
    from dxaspine.clinical.plausibility import BMD_IMPLAUSIBLE, PHYSIOLOGICAL_BMD_G_CM2

    lo, hi = PHYSIOLOGICAL_BMD_G_CM2
    for level in record.get("levels", ()):
        bmd = level.get("bmd_g_cm2")
        if bmd is None:
            continue
        codes = {f["code"] for f in level.get("flags") or ()}
        if not (lo <= bmd <= hi) and not (BMD_IMPLAUSIBLE in codes and level.get("excluded")):
            return f"{level['label']} BMD {bmd} unflagged"
    for region in record.get("regions", ()):
        bmd = region.get("bmd_g_cm2")
        if bmd is not None and not (lo <= bmd <= hi):
            return f"region {region['name']} BMD {bmd}"
        t = region.get("t_score")
        if t is not None and not math.isfinite(t):
            return f"region {region['name']} T {t}"
    return None


def run_case(case: Case, baseline: dict[str, float | None] | None = None) -> Outcome:
    """Analyse the case's file(s) in a temporary folder and classify what happened."""
    import dxaspine
    from dxaspine.errors import DxaError
    from dxaspine.report.json_output import results_json_text
    from dxaspine.report.record import record_from_scan, round_for_output
    from dxaspine.report.row import row_columns, row_from_record
    from dxaspine.report.schema import validate_result
    from dxaspine.report.table import format_report
    from dxaspine.report.tabular import csv_text

    out = Outcome(case.index, case.source, case.family, case.mutations, kind="?")
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    for noisy in ("numba", "pydicom"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    texts: list[tuple[str, str]] = []  # (where, text)
    with (
        tempfile.TemporaryDirectory(prefix="dxa-fuzz-") as tmp,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        paths = []
        for n, data in enumerate(case.files):
            path = Path(tmp) / f"case{case.index}_{n}.dcm"
            path.write_bytes(data)
            paths.append(str(path))
        try:
            result = dxaspine.analyze(paths[0] if len(paths) == 1 else paths)
            record = record_from_scan(result)
            plain = round_for_output(record)
            validate_result(plain)
            texts += [("json", results_json_text([record], lines=False)),
                      ("table", format_report(plain)),
                      ("csv", csv_text([row_from_record(plain)], row_columns()))]  # fmt: skip
            codes = sorted({f["code"] for f in plain["flags"]} | {
                f["code"] for lv in plain["levels"] for f in lv["flags"]})  # fmt: skip
            out.flags = codes
            out.kind = "result_flagged" if codes else "result"
            problem = _plausible(plain)
            if problem:
                out.failure, out.detail = "implausible_unflagged", problem
            reported = plain.get("reported_region")
            region = next((r for r in plain["regions"] if r["name"] == reported), None)
            base = (baseline or {}).get(case.source)
            if region is not None and base and region.get("bmd_g_cm2"):
                out.bmd_shift = region["bmd_g_cm2"] / base - 1.0
        except DxaError as exc:
            out.kind = f"DxaError:{type(exc).__name__}"
            texts.append(("message", str(exc)))
            if "\n" in str(exc):
                out.failure, out.detail = "multi_line_message", str(exc)[:200]
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - exactly what the fuzzer looks for
            out.kind = f"exception:{type(exc).__name__}"
            out.failure = "exception"
            out.detail = "".join(traceback.format_exception(exc))[-1500:]
        finally:
            root.removeHandler(handler)
            root.setLevel(previous)
    texts += handler.messages + [(f"warning {w.category.__name__}", str(w.message)) for w in caught]
    for where, text in texts:
        # The temp folder's random name must not count (it once spelled "dxafu" + "zzwho...").
        text = text.replace(tmp, "<tmp>")
        found = _damage.leaked(text)
        if found and out.failure is None:
            out.failure = "identifier_leak"
            out.detail = f"{', '.join(found)} in {where}: {_masked(text, found)}"
    return out


def _masked(text: str, tokens: list[str]) -> str:
    """Where a planted token sits, with the token itself masked (the report must not leak)."""
    upper = text.upper()
    at = min(upper.find(t.upper()) for t in tokens)
    snippet = text[max(0, at - 120) : at + 60]
    for token in tokens:
        snippet = snippet.replace(token, "<PLANTED>").replace(token.lower(), "<planted>")
    return " ".join(repr(snippet).split())


def baselines(sources: list[Source]) -> dict[str, float | None]:
    """Reported composite BMD of every undamaged source (for the shift statistics)."""
    import dxaspine

    values: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="dxa-fuzz-") as tmp:
        for source in sources:
            paths = []
            for n, data in enumerate(source.files):
                path = Path(tmp) / f"{source.name}_{n}.dcm"
                path.write_bytes(data)
                paths.append(str(path))
            with contextlib.suppress(Exception):
                a = dxaspine.analyze(paths[0] if len(paths) == 1 else paths).assessment
                region = a.region(a.reported_region) if a.reported_region else None
                values[source.name] = region.bmd_g_cm2 if region is not None else None
    return values
