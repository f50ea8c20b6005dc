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


def _read(name: str) -> dict:
    return json.loads(importlib.resources.files("dxaspine.report").joinpath(name).read_text())


@functools.cache
def load_schema() -> dict:
    """The Contract 2 JSON Schema shipped in the package (parsed once, then cached).

    The ``vendor`` array's items are the vendor block's own schema (``vendor_block.schema.json``,
    kept beside it), merged here with its definitions renamed ``vendor_*``.
    """
    schema = _read("result.schema.json")
    block = _read("vendor_block.schema.json")
    definitions = block.pop("$defs", {})
    for key in ("$schema", "$id"):
        block.pop(key, None)
    text = json.dumps({"block": block, "defs": definitions}).replace(
        '"#/$defs/', '"#/$defs/vendor_'
    )
    merged = json.loads(text)
    schema.setdefault("$defs", {}).update({f"vendor_{k}": v for k, v in merged["defs"].items()})
    schema["properties"]["vendor"] = {
        "type": "array",
        "description": "the vendor's own results objects of the study, read and checked "
        "(added in 1.2; docs/vendor_results.md)",
        "items": merged["block"],
    }
    return schema


SCHEMA_VERSION: str = load_schema()["schema_version"]


@functools.cache
def _validator():
    """The schema's validator, built once (``analyze --json`` validates each result twice)."""
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema())


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
    error = jsonschema.exceptions.best_match(_validator().iter_errors(result))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise ResultSchemaError(f"result JSON does not match schema at {where}: {error.message}")
    return True
