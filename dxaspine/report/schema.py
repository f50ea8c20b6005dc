"""The result JSON Schema (Contract 2, docs/architecture.md): one schema version, validation.

The schema ships inside the package (``result.schema.json``) and carries the one
``schema_version`` every result is written with.  Every object written is validated against it
when ``jsonschema`` is importable (a test extra, not a runtime dependency), so a malformed result
is a bug caught at the source rather than in a user's downstream script.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["SCHEMA_VERSION", "ResultSchemaError", "load_schema", "validate_result"]


class ResultSchemaError(ValueError):
    """A result dict does not match the shipped schema: a dxaspine bug, not bad input."""


@functools.cache
def load_schema() -> dict:
    """The Contract 2 JSON Schema shipped in the package (parsed once, then cached)."""
    text = importlib.resources.files("dxaspine.report").joinpath("result.schema.json").read_text()
    return json.loads(text)


SCHEMA_VERSION: str = load_schema()["schema_version"]


def validate_result(result: Mapping[str, Any], *, require: bool = False) -> bool:
    """Check ``result`` against the shipped schema.

    Parameters
    ----------
    result : mapping
        A plain-JSON result (as returned by :func:`dxaspine.report.record.round_for_output`).
    require : bool
        Raise ``ModuleNotFoundError`` when ``jsonschema`` is missing instead of skipping.

    Returns
    -------
    bool
        True when validated, False when skipped because ``jsonschema`` is not installed.

    Raises
    ------
    ResultSchemaError
        The result does not match the schema (names the first failing path).
    """
    try:
        import jsonschema
    except ModuleNotFoundError:
        if require:
            raise
        return False
    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(result))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise ResultSchemaError(f"result JSON does not match schema at {where}: {error.message}")
    return True
