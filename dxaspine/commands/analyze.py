"""``dxaspine analyze FILE...``: analyse scans, print the table, write the outputs (Contract 3).

Behaviour:

- **Table.** Each analysed scan's table is printed to stdout, or to stderr when ``--json -``
  puts the JSON on stdout (so ``dxaspine analyze f.dcm --json - | jq`` sees JSON only).
- **Dual-energy pair.** Two single-frame files (low and high energy) are one input, either
  written ``LOW+HIGH`` (no spaces; a name containing ``+`` that exists as a file is a file),
  or auto-paired: among the FILEs given, the LOW_ENERGY and HIGH_ENERGY halves of one series
  (same study, series and size; read from the headers) are analysed together.
- **Studies.** A vendor's own results objects among the FILEs (GE/Hologic SR or XML, TID 1500;
  recognised from the header) are read together with the image of their study
  (StudyInstanceUID): the result carries our analysis, the vendor's numbers, the ISCD rules on
  them with our image evidence, and the second reading's flags.  Results whose study has no
  image among the FILEs are assessed on their own (their numbers, no image outputs).
- **JSON.** ``--json PATH`` writes one indented object when there is one input (counted
  after pairing; nothing is written if it failed) and JSON Lines when there are several
  (one object per input that succeeded, in input order); ``-`` is stdout.  An input
  succeeds only when all its requested outputs were written.  ``--csv`` writes one row per
  succeeded input (columns: :func:`dxaspine.report.row.row_columns`).
- **Per-file names.** Every registered writer (:mod:`dxaspine.report.writers`: ``--overlay``,
  ``--sr``, ``--sc`` …) names one file per input.  With one input the name is used as given.
  With several, an existing directory (or a name ending in ``/``) receives ``<stem>`` plus the
  writer's suffix (``<stem>.png``, ``<stem>_sr.dcm`` …), and any other name ``out.png``
  becomes ``out_<stem>.png``; ``<stem>`` is the input's file name without ``.dcm`` (the low
  file's for a pair), with ``_2``, ``_3`` … added on clashes.
- **Errors.** A file that fails prints one line ``error: <file>: <reason>; <fix>`` on stderr
  and the others still complete; the exit status is then 1.  Bad usage (bad
  ``--segmenter``, unknown ``--exclude`` level, a writer whose extra is not installed, e.g.
  ``--sr`` without highdicom) exits 2.  A ``--json``/``--csv`` file that cannot be written
  is one more ``error:`` line naming it (exit 1); the table has been printed by then.
  Tracebacks go only to ``--log-file`` (they can quote header values; docs/hardening.md §4).
- Every file is written atomically (:mod:`dxaspine.atomic`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxaspine.errors import DxaError, MissingExtraError
from dxaspine.levels import LEVEL_ORDER

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A bad option value: exit status 2 with a one-line message."""


def parse_segmenter(spec: str | None) -> Callable | None:
    """Resolve ``MODULE:CALLABLE`` to the callable (None when not given)."""
    if not spec:
        return None
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"--segmenter {spec!r}: expected MODULE:CALLABLE, e.g. mypkg.seg:segment")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--segmenter {spec!r}: cannot import {module_name!r} ({exc})") from exc
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise UsageError(f"--segmenter {spec!r}: {module_name!r} has no {attr!r}")
    if not callable(target):
        raise UsageError(f"--segmenter {spec!r}: {attr!r} is not callable")
    return target


def parse_exclude(values: Sequence[str]) -> list[str]:
    """``--exclude L4 --exclude L1,L2`` -> ``["L4", "L1", "L2"]`` (validated level names)."""
    levels = [v.strip().upper() for value in values for v in value.split(",") if v.strip()]
    unknown = [v for v in levels if v not in LEVEL_ORDER]
    if unknown:
        raise UsageError(
            f"--exclude {','.join(unknown)}: not a level name ({', '.join(LEVEL_ORDER)})"
        )
    return list(dict.fromkeys(levels))


def parse_input(item: str) -> str | tuple[str, str]:
    """A path, or ``LOW+HIGH`` for a dual-energy pair given as two files."""
    if "+" in item and not os.path.exists(item):
        low, _, high = item.partition("+")
        if low and high:
            return (low, high)
    return item


def group_inputs(items: Sequence[str]) -> list[str | tuple[str, str]]:
    """Parse the FILE arguments; single-energy halves of one series become one pair input.

    ``LOW+HIGH`` is an explicit pair.  Plain files are peeked at (header only): two that are
    the LOW_ENERGY and HIGH_ENERGY halves of the same series and size are auto-paired, at
    the position of the first of them.  Anything else stays a single input.
    """
    from dxaspine.io import pair_dual_energy, peek

    sources = [parse_input(item) for item in items]
    plain = [s for s in sources if isinstance(s, str) and os.path.isfile(s)]
    pairs, _ = pair_dual_energy(peek(path) for path in plain) if len(plain) > 1 else ([], [])
    partner: dict[str, tuple[str, str]] = {}
    for low, high in pairs:
        partner[low.path] = partner[high.path] = (low.path, high.path)
    grouped: list[str | tuple[str, str]] = []
    used: set[tuple[str, str]] = set()
    for source in sources:
        pair = partner.get(source) if isinstance(source, str) else None
        if pair is None:
            grouped.append(source)
        elif pair not in used:
            used.add(pair)
            grouped.append(pair)
    return grouped


@dataclass(frozen=True)
class StudyInput:
    """One analysis: an image source (or None: the study has only results) and the vendor
    results objects of its study.  ``refusal``: the error ``load`` would raise for a single
    image, known from its header alone (``peek``), so the run need not import the pipeline."""

    image: str | tuple[str, str] | None
    vendor: tuple[str, ...] = ()
    refusal: DxaError | None = None

    @property
    def name(self) -> str:
        return _display(self.image) if self.image is not None else "+".join(self.vendor)


def study_inputs(items: Sequence[str]) -> list[StudyInput]:
    """The FILE arguments as analyses: images (pairs grouped) with their study's vendor results.

    Vendor results objects are recognised from their header (``peek``); each goes with every
    image of the same StudyInstanceUID, and a study with results but no image becomes one
    results-only input, at the position of its first results file.
    """
    from dxaspine.io import peek
    from dxaspine.io.kinds import get_kind

    grouped = group_inputs(items)
    study_of: dict[str, str | None] = {}
    vendor_by_study: dict[str | None, list[str]] = {}
    images: list[str | tuple[str, str]] = []
    refusals: dict[str, DxaError] = {}
    order: list[tuple[str, str | tuple[str, str] | str | None]] = []
    for source in grouped:
        first = source[0] if isinstance(source, tuple) else source
        info = peek(first) if os.path.isfile(first) else None
        study = info.study_instance_uid if info is not None else None
        if info is not None and info.kind is not None and get_kind(info.kind).role == "results":
            if study not in vendor_by_study:
                order.append(("results", study))
            vendor_by_study.setdefault(study, []).append(first)
            continue
        study_of[first] = study
        if info is not None and isinstance(source, str):
            refusal = _header_refusal(info)
            if refusal is not None:
                refusals[first] = refusal
        images.append(source)
        order.append(("image", source))
    studies_with_image = {study_of[s[0] if isinstance(s, tuple) else s] for s in images}
    out = []
    for what, value in order:
        if what == "image":
            first = value[0] if isinstance(value, tuple) else value
            study = study_of[first]
            vendor = tuple(vendor_by_study.get(study, ())) if study is not None else ()
            out.append(StudyInput(value, vendor, refusals.get(first)))
        elif value not in studies_with_image or value is None:
            out.append(StudyInput(None, tuple(vendor_by_study[value])))
    return out


def _header_refusal(info) -> DxaError | None:
    """The DxaError ``load`` raises for this file, when its header already decides it.

    ``peek`` runs the same classification on the same header elements as ``load`` and
    records the error's class and message; only the package's own error classes are rebuilt
    (anything else goes to ``load``, which says more).
    """
    import dxaspine.errors

    if info.kind is not None or not info.reason or not info.error_class:
        return None
    error = getattr(dxaspine.errors, info.error_class, None)
    if not (isinstance(error, type) and issubclass(error, DxaError)):
        return None
    try:
        return error(info.reason)
    except TypeError:  # a subclass with another constructor: let load raise it
        return None


def _stem(source: str | tuple[str, str]) -> str:
    first = source[0] if isinstance(source, tuple) else source
    name = Path(first).name
    for suffix in (".dcm", ".dicom", ".DCM", ".ima", ".IMA"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem if "." in name else name


def output_names(
    target: str | None, sources: Sequence[str | tuple[str, str]], suffix: str
) -> list[Path | None]:
    """The per-input file names for ``--overlay``/``--sr``/``--sc`` (see module docstring)."""
    if target is None:
        return [None] * len(sources)
    if len(sources) == 1 and not (target.endswith(("/", os.sep)) or os.path.isdir(target)):
        return [Path(target)]
    as_dir = target.endswith(("/", os.sep)) or os.path.isdir(target)
    base = Path(target)
    names, seen = [], set()
    for source in sources:
        stem = _stem(source)
        candidate, n = stem, 1
        while candidate in seen:
            n += 1
            candidate = f"{stem}_{n}"
        seen.add(candidate)
        if as_dir:
            names.append(base / f"{candidate}{suffix}")
        else:
            names.append(base.with_name(f"{base.stem}_{candidate}{base.suffix}"))
    return names


def _display(source: str | tuple[str, str]) -> str:
    return "+".join(source) if isinstance(source, tuple) else source


def _analyze_writers():
    from dxaspine.report.writers import WRITERS

    return [w for w in WRITERS.values() if w.analyze_option]


def _fail(source: str | tuple[str, str], exc: BaseException, debug: bool) -> None:
    name = _display(source)
    if isinstance(exc, DxaError):
        message = str(exc)
    else:  # a dxaspine bug: one line, without the exception's text (it may quote values)
        message = (
            f"internal error ({type(exc).__name__}); rerun with --debug --log-file PATH and "
            "report it"
        )
    message = " ".join(message.split())
    if not message.startswith(name):
        message = f"{name}: {message}"
    # The traceback reaches only a --log-file (the console formatter drops it).
    logger.debug("%s: failed", name, exc_info=exc)
    print(f"error: {message}", file=sys.stderr)


HELP = "analyse DXA spine DICOM files"
DESCRIPTION = (
    "Analyse DXA lumbar spine DICOM files and print a vendor-style table. "
    "Two single-frame LOW/HIGH energy files are one input: write LOW+HIGH, or give both and "
    "they are paired by series. With several inputs, --overlay/--sr/--sc name a folder or a "
    "pattern (out.png -> out_<stem>.png). Exit 0 when all succeed, 1 when any failed."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="DICOM file, or LOW+HIGH pair")
    parser.add_argument(
        "--json",
        metavar="PATH|-",
        help="result JSON (JSON Lines for several inputs); - = stdout, table to stderr",
    )
    parser.add_argument("--csv", metavar="PATH", help="one flat row per analysed scan")
    for writer in _analyze_writers():
        parser.add_argument(
            f"--{writer.name}", metavar=f"FILE{writer.suffix}".upper(), help=writer.help
        )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="LEVEL",
        help="exclude a level (repeatable, or L1,L4); replaces automatic exclusion",
    )
    parser.add_argument("--reference", metavar="NAME|CSV", help="reference table for T/Z-scores")
    parser.add_argument(
        "--segmenter",
        metavar="MODULE:CALLABLE",
        help="a callable (DensityMap, Scan) -> Segmentation replacing the default",
    )
    add_convention_options(parser)


def add_convention_options(parser: argparse.ArgumentParser) -> None:
    """``--marrow``, ``--edge``, ``--edge-noise``, ``--box-margin-mm`` and ``--noise-guard``
    (docs/architecture.md, Conventions)."""
    parser.add_argument(
        "--marrow",
        choices=("none", "lean"),
        help="decomposition model: none (default: the vendors' two-material model) or lean "
        "(corrects for lean marrow displacing fat; a model assumption, docs/physics.md)",
    )
    parser.add_argument(
        "--edge",
        metavar="RULE[:VALUE]",
        help="bone edge: relative[:0.1] (default; fraction of the spine core density) or "
        "absolute[:0.1] (g/cm2 above soft tissue)",
    )
    parser.add_argument(
        "--edge-noise",
        metavar="RULE",
        help="bone edge under noise: isophote[:3[,2mm]] (default; pixels near a noisy edge "
        "decided on an average along it) or none (the plain per-pixel test)",
    )
    parser.add_argument(
        "--box-margin-mm",
        type=float,
        metavar="MM",
        help="analysis box: half the L4 body width plus this margin (default 7)",
    )
    parser.add_argument(
        "--noise-guard",
        action="store_true",
        help="dual energy: widen the soft-tissue baseline's bone guard by what the noise hides "
        "and bridge it straight (an option for noisy Hologic-like scans, docs/physics.md §7)",
    )


def parse_conventions(args: argparse.Namespace) -> dict:
    """The convention keywords of :func:`dxaspine.analyze` from the options (validated)."""
    out: dict = {}
    if getattr(args, "marrow", None):
        out["marrow"] = args.marrow
    if getattr(args, "noise_guard", False):
        out["noise_guard"] = True
    if (
        getattr(args, "edge", None) is None
        and getattr(args, "edge_noise", None) is None
        and getattr(args, "box_margin_mm", None) is None
    ):
        return out  # the defaults: no need to import the segmenter (start-up, issue 17)
    from dxaspine.segment.conventions import BoxConvention, EdgeConvention, EdgeNoise

    try:
        if getattr(args, "edge", None):
            out["edge"] = str(EdgeConvention.parse(args.edge))
        if getattr(args, "edge_noise", None):
            out["edge_noise"] = str(EdgeNoise.parse(args.edge_noise))
        if getattr(args, "box_margin_mm", None) is not None:
            out["box_margin_mm"] = BoxConvention(margin_mm=args.box_margin_mm).margin_mm
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return out


def _study_paths(study) -> tuple[str, ...]:
    """The input paths of one study (the prefixes its warnings start with)."""
    image = study.image
    paths = list(image) if isinstance(image, tuple) else [image] if image is not None else []
    return tuple(
        os.fspath(p) for p in [*paths, *(study.vendor or ())] if isinstance(p, str | os.PathLike)
    )


def import_pydicom_without_requests() -> None:
    """Import pydicom with its optional ``requests`` import refused (start-up, issue 17).

    pydicom imports ``requests`` (and urllib3, charset_normalizer) at start-up only to
    download its own test files; without it, pydicom uses ``urllib`` for them.  That is
    40-70 ms of a command whose whole budget is 0.4 s for a refusal.  Nothing is changed when
    pydicom or requests is already imported, and ``requests`` stays importable afterwards.
    """
    if "pydicom" in sys.modules or "requests" in sys.modules:
        return
    sys.modules["requests"] = None  # type: ignore[assignment]  # `import requests` fails
    try:
        import pydicom  # noqa: F401
    finally:
        if "requests" in sys.modules and sys.modules["requests"] is None:
            del sys.modules["requests"]


def run(args: argparse.Namespace) -> int:
    """Run ``dxaspine analyze``; returns the exit status (0 all analysed, 1 any failed, 2 usage)."""
    import_pydicom_without_requests()
    # The pipeline and the record are imported only once an input passes its header check,
    # so refusing a non-spine file costs pydicom and the header, not numba and scipy.
    from dxaspine.batch.logs import collect_warnings
    from dxaspine.report.writers import ScanOutput, require, write_outputs

    debug = bool(getattr(args, "debug", False))
    wanted = [w.name for w in _analyze_writers() if getattr(args, w.name, None)]
    try:
        segmenter = parse_segmenter(args.segmenter)
        exclude = parse_exclude(args.exclude or [])
        conventions = parse_conventions(args)
        require(wanted)
    except (UsageError, MissingExtraError) as exc:
        print(f"dxaspine analyze: {exc}", file=sys.stderr)
        return EXIT_USAGE
    reference = None
    if args.reference:
        # Loaded once: a bad table is one error for the run, not one per file (exit 1 via cli).
        from dxaspine.clinical.reference import load_reference

        reference = load_reference(args.reference)

    studies = study_inputs(args.files)
    sources = [st.image if st.image is not None else st.vendor[0] for st in studies]
    names = {
        w.name: output_names(getattr(args, w.name), sources, w.suffix) for w in _analyze_writers()
    }
    table_stream = sys.stderr if args.json == "-" else sys.stdout
    results, rows, failed = [], [], 0
    for index, study in enumerate(studies):
        if study.refusal is not None and not debug:  # --debug: load's own traceback for the log
            failed += 1
            _fail(study.image, study.refusal, debug)
            continue
        from dxaspine.pipeline import analyze, analyze_vendor_only
        from dxaspine.report.record import (
            record_from_scan,
            record_from_vendor_only,
            round_for_output,
        )
        from dxaspine.report.row import row_from_record
        from dxaspine.report.schema import validate_result
        from dxaspine.report.table import format_report

        try:
            with collect_warnings(strip=_study_paths(study)) as notes:
                if study.image is None:
                    record = record_from_vendor_only(
                        analyze_vendor_only(study.vendor, reference=reference)
                    )
                    wanted_here = [k for k, v in names.items() if v[index] is not None]
                    if wanted_here:
                        logger.warning("%s: results only, no image: no %s written", study.name,
                                       ", ".join(wanted_here))  # fmt: skip
                    scan_result = None
                else:
                    given = list(study.image) if isinstance(study.image, tuple) else study.image
                    scan_result = analyze(given, segmenter=segmenter, reference=reference,
                                          exclude=exclude or None, vendor=study.vendor,
                                          **conventions)  # fmt: skip
                    record = record_from_scan(scan_result, given)
                plain = round_for_output(record)
                validate_result(plain)
                if scan_result is not None:
                    write_outputs(
                        ScanOutput(scan_result, record), {k: v[index] for k, v in names.items()}
                    )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - DxaError or a bug: this input fails only
            failed += 1
            _fail(study.image if study.image is not None else study.name, exc, debug)
            continue
        results.append(record)
        rows.append({**row_from_record(plain), "warnings": " | ".join(notes) or None})
        print(format_report(plain), file=table_stream, end="\n\n")

    try:
        if args.json:
            from dxaspine.report.json_output import results_json_text, write_results_json

            several = len(studies) > 1
            if args.json == "-":
                if results or several:
                    sys.stdout.write(results_json_text(results, lines=several))
            elif results or several:
                write_results_json(args.json, results, lines=several)
    except DxaError as exc:  # OutputError naming the file; the CSV is still attempted
        failed += 1
        print(f"error: {exc}", file=sys.stderr)
    try:
        if args.csv:
            from dxaspine.report.row import row_columns
            from dxaspine.report.tabular import write_csv

            write_csv(args.csv, rows, row_columns())
    except DxaError as exc:
        failed += 1
        print(f"error: {exc}", file=sys.stderr)
    if failed:
        logger.info("%d of %d input(s) failed", failed, len(studies))
    return EXIT_FAILED if failed else EXIT_OK
