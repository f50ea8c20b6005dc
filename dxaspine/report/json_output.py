"""Result JSON text: one indented object, or JSON Lines for several results (Contract 2)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from dxaspine.atomic import atomic_write_text
from dxaspine.report.record import round_for_output
from dxaspine.report.schema import validate_result

logger = logging.getLogger(__name__)

__all__ = ["dumps_result", "results_json_text", "write_results_json"]


def dumps_result(result: Mapping[str, Any], *, indent: int | None = None) -> str:
    """Round, validate and serialise one result (no trailing newline)."""
    plain = round_for_output(result)
    validate_result(plain)
    return json.dumps(plain, indent=indent, ensure_ascii=False, allow_nan=False)


def results_json_text(results: Iterable[Mapping[str, Any]], *, lines: bool) -> str:
    """Serialise results as one indented JSON object or as JSON Lines.

    Parameters
    ----------
    results : iterable of mappings
        Contract 2 results at full precision.
    lines : bool
        JSON Lines (one compact object per line; the multi-input form of Contract 2) when
        True; otherwise exactly one result is expected and written as one indented object.

    Returns
    -------
    str
        The text, ending in a newline (empty for JSON Lines with no results).
    """
    results = list(results)
    if lines:
        return "".join(dumps_result(r) + "\n" for r in results)
    if len(results) != 1:
        raise ValueError(f"a single JSON object needs exactly one result, got {len(results)}")
    return dumps_result(results[0], indent=2) + "\n"


def write_results_json(
    path: str | os.PathLike, results: Iterable[Mapping[str, Any]], *, lines: bool
) -> None:
    """Write :func:`results_json_text` to ``path`` atomically (the CLI handles ``-``)."""
    atomic_write_text(path, results_json_text(results, lines=lines))
    logger.debug("wrote result JSON to %s", path)
