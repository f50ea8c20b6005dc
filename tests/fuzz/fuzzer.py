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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (for _damage)

import _damage  # noqa: E402
import mutations as mut  # noqa: E402

FAMILIES = ("bytes", "truncate", "header", "fragment", "pair", "pairs")
# Relative frequency of the families (fragment damage needs a compressed source).
FAMILY_WEIGHTS = (0.2, 0.12, 0.3, 0.18, 0.1, 0.1)


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


def _planted(path: Path) -> pydicom.Dataset:
    return _damage.plant_identifiers(pydicom.dcmread(path))


def build_corpus(cache: Path) -> list[Source]:
    """The sources, built once into ``cache`` (compressed copies take a few seconds)."""
    cache.mkdir(parents=True, exist_ok=True)
    sources: list[Source] = []
    for path in sorted(_damage.TEST_IMAGES.glob("*.dcm")):
        if path.name.endswith((".low.dcm", ".high.dcm")):
            continue
        sources.append(Source(path.stem, (mut.dataset_bytes(_planted(path)),), False))
    for syntax in ("rle", "j2k", "jls"):
        for stem in ("ti_standard_prodigy.dual_energy", "ti_standard_prodigy.bmd_map",
                     "ti_standard_prodigy.display", "ti_pathology_idxa.dual_energy"):  # fmt: skip
            original = _damage.TEST_IMAGES / f"{stem}.dcm"
            digest = hashlib.sha256(original.read_bytes()).hexdigest()[:12]  # stale-proof
            target = cache / f"{stem}.{digest}.{syntax}.dcm"
            if not target.exists():
                _damage.compressed_copy(original, target, syntax)
            sources.append(Source(f"{stem}.{syntax}", (mut.dataset_bytes(_planted(target)),), True))
    pair = tuple(
        mut.dataset_bytes(_planted(_damage.TEST_IMAGES / f"ti_standard_prodigy.{h}.dcm"))
        for h in ("low", "high")
    )
    sources.append(Source("ti_standard_prodigy.pair", pair, False))
    return sources


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
                files[0], note = mut.mutate_fragment(files[0], rng)
            elif family == "pair":
                if rng.random() < 0.4:
                    files, note = mut.mismatch_pair(files, rng)
                else:
                    which = int(rng.integers(0, 2))
                    op = mut.SINGLE_OPS[str(rng.choice(list(mut.SINGLE_OPS)))]
                    files[which], note = op(files[which], rng)
                    note = f"pair:{which}:{note}"
            else:
                name = str(rng.choice(list(mut.SINGLE_OPS))) if family == "pairs" else family
                files[0], note = mut.SINGLE_OPS[name](files[0], rng)
        except Exception as exc:  # noqa: BLE001 - a mutation pydicom cannot write: bytes instead
            files[0], note = mut.mutate_bytes(files[0], rng)
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
