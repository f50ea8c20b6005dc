"""The writers registry: every per-scan output is a :class:`Writer`, registered by name.

``dxaspine analyze`` offers ``--<name> PATH`` and ``dxaspine batch`` ``--<name>-dir DIR`` for every
registered writer, and the demo and the PACS node use the same entries, so a new output is one
module plus one :func:`register` call (docs/architecture.md, "Writers").

A writer receives a :class:`ScanOutput` (the analysis, its full-precision record and a cache
shared by the writers of one scan, so the overlay picture is drawn once for both the PNG and the
Secondary Capture) and a destination path, and writes atomically.  A writer that needs a pip
extra names it; :func:`require` turns a missing extra into the same one-line
:class:`~dxaspine.errors.MissingExtraError` everywhere, and :func:`write_outputs` turns a failed
write into an :class:`~dxaspine.errors.OutputError` naming the file.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dxaspine.errors import DxaError, MissingExtraError, OutputError, describe

logger = logging.getLogger(__name__)

__all__ = [
    "ScanOutput",
    "Writer",
    "WRITERS",
    "register",
    "require",
    "write_outputs",
    "write_result",
]


@dataclass
class ScanOutput:
    """What every writer of one scan receives."""

    result: Any  # dxaspine.pipeline.ScanResult
    record: dict  # full-precision Contract 2 record (dxaspine.report.record.record_from_scan)
    cache: dict = field(default_factory=dict)  # shared by the writers of this scan
    # Follow-up points for the report page's trend chart (dxaspine.report.page_trend.Trend,
    # e.g. from monitoring's comparison via trend_from_comparison); None: no trend chart.
    trend: Any = None

    @property
    def source_path(self) -> str | None:
        return (self.record.get("input") or {}).get("path")


class WriterFunction(Protocol):
    def __call__(self, output: ScanOutput, destination: Path) -> None: ...


@dataclass(frozen=True)
class Writer:
    """One per-scan output.

    Attributes
    ----------
    name : str
        Registry key and option name (``--overlay``, ``--overlay-dir``).
    suffix : str
        Ending of per-scan file names made from the input's stem (``".png"``, ``"_sr.dcm"``).
    help : str
        One line for ``--help``.
    write : callable
        ``write(output, destination)``; writes one file atomically.
    extra : str or None
        The pip extra the writer needs (``pip install 'dxaspine[extra]'``), None for none.
    modules : tuple of str
        Modules that extra provides; all must be importable for the writer to be available.
    analyze_option : bool
        Whether ``dxaspine analyze`` offers ``--<name>`` (the JSON record has its own
        collection option there, ``--json``, with JSON Lines for several inputs).
    """

    name: str
    suffix: str
    help: str
    write: WriterFunction
    extra: str | None = None
    modules: tuple[str, ...] = ()
    analyze_option: bool = True

    def missing(self) -> list[str]:
        """Modules of the extra that are not installed (empty when available)."""
        return [m for m in self.modules if importlib.util.find_spec(m) is None]


WRITERS: dict[str, Writer] = {}


def register(writer: Writer) -> Writer:
    """Add ``writer`` to the registry (a later registration under the same name replaces it)."""
    WRITERS[writer.name] = writer
    return writer


def require(names: Iterable[str], option: Callable[[str], str] = lambda n: f"--{n}") -> None:
    """Raise MissingExtraError if a named writer's extra is not installed.

    ``option`` spells the option in the message (``--sr`` for analyze, ``--sr-dir`` for batch).
    """
    for name in names:
        writer = WRITERS[name]
        missing = writer.missing()
        if missing:
            raise MissingExtraError(
                f"{option(name)} needs {', '.join(missing)}: pip install 'dxaspine[{writer.extra}]'"
            )


def write_outputs(output: ScanOutput, destinations: Mapping[str, str | os.PathLike | None]) -> None:
    """Run the named writers for one scan.

    Parameters
    ----------
    output : ScanOutput
    destinations : mapping of writer name to path (None: not wanted)

    Raises
    ------
    OutputError
        A destination could not be written (names the file and the reason).
    DxaError
        A writer could not build its object from this input (e.g. an SR needs a DICOM header).
    """
    for name, destination in destinations.items():
        if destination is None:
            continue
        path = Path(destination)
        try:
            WRITERS[name].write(output, path)
        except DxaError:
            raise
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise OutputError(
                describe(
                    path,
                    f"cannot write the {name} output ({reason})",
                    "check that the folder exists, is writable and has free space",
                )
            ) from exc
        logger.debug("wrote %s output %s", name, path)


def write_result(result: Any, trend: Any = None, **destinations: str | os.PathLike | None) -> dict:
    """Write the outputs of one analysis by writer name; returns its full-precision record.

    The Python form of ``dxaspine analyze FILE --json ... --overlay ... --report ...``::

        result = dxaspine.analyze("scan.dcm")
        write_result(result, json="scan.json", overlay="scan.png", report="scan.pdf")

    Parameters
    ----------
    result : dxaspine.pipeline.ScanResult
    trend : dxaspine.report.page_trend.Trend, optional
        Follow-up points for the report page's trend chart.
    **destinations
        Writer name (``json``, ``overlay``, ``report``, ``sr``, ``sc`` …) to path.

    Raises
    ------
    MissingExtraError
        A named writer's pip extra is not installed.
    OutputError, DxaError
        As :func:`write_outputs`.
    """
    from dxaspine.report.record import record_from_scan

    unknown = [name for name in destinations if name not in WRITERS]
    if unknown:
        raise TypeError(f"no writer named {', '.join(unknown)}; known: {', '.join(WRITERS)}")
    require([name for name, path in destinations.items() if path is not None], lambda n: n)
    record = record_from_scan(result)
    write_outputs(ScanOutput(result, record, trend=trend), destinations)
    return record


# --- the built-in writers ------------------------------------------------------------------


def _write_json(output: ScanOutput, destination: Path) -> None:
    from dxaspine.report.json_output import write_results_json

    write_results_json(destination, [output.record], lines=False)


def _overlay_picture(output: ScanOutput):
    if "overlay" not in output.cache:
        from dxaspine.report.overlay import render_overlay

        output.cache["overlay"] = render_overlay(output.record, output.result)
    return output.cache["overlay"]


def _write_overlay(output: ScanOutput, destination: Path) -> None:
    from dxaspine.report.overlay import write_picture

    write_picture(destination, _overlay_picture(output))


def _write_sr(output: ScanOutput, destination: Path) -> None:
    from dxaspine.report.dicom_sr import write_sr

    write_sr(destination, output.record, output.result.scan.header)


def _write_sc(output: ScanOutput, destination: Path) -> None:
    from dxaspine.report.dicom_sc import write_sc

    write_sc(
        destination,
        _overlay_picture(output),
        output.result.scan.header,
        source_path=output.source_path,
    )


register(
    Writer(
        "json",
        ".json",
        "result JSON (Contract 2), one file per scan",
        _write_json,
        analyze_option=False,
    )
)
register(Writer("overlay", ".png", "picture with levels, lines and results", _write_overlay))


def _write_report(output: ScanOutput, destination: Path) -> None:
    from dxaspine.report.page import write_report_page
    from dxaspine.report.page_trend import vendor_trend

    # the caller's follow-ups (monitoring), else the vendor's own trend of the study
    trend = output.trend if output.trend is not None else vendor_trend(output.record)
    write_report_page(destination, output.record, output.result, trend=trend)


register(
    Writer(
        "report",
        ".pdf",
        "vendor-style report page: PDF, or PNG when the name ends in .png",
        _write_report,
        extra="report",
        modules=("matplotlib",),
    )
)
register(
    Writer(
        "sr",
        "_sr.dcm",
        "DICOM Comprehensive SR (TID 1500)",
        _write_sr,
        extra="pacs",
        modules=("highdicom",),
    )
)
register(
    Writer(
        "sc",
        "_sc.dcm",
        "DICOM Secondary Capture of the overlay",
        _write_sc,
        extra="pacs",
        modules=("highdicom",),
    )
)


def _write_labels(output: ScanOutput, destination: Path) -> None:
    from dxaspine.report.labels import write_labels

    write_labels(output, destination)


register(
    Writer(
        "labels",
        ".labels.png",
        "level label image: 16-bit PNG (stored grid, value k = level k) with a JSON sidecar "
        "(level names, spacing, lines), the bone mask, and NIfTI when nibabel is installed",
        _write_labels,
    )
)
