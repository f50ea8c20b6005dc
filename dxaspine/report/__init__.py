"""Everything that turns a ``ScanResult`` into something outside dxaspine (docs/architecture.md).

- :mod:`.record`: the result record (Contract 2) at full precision, and the one rounding table;
- :mod:`.schema`: the shipped JSON Schema and its one ``schema_version``;
- :mod:`.row`: the flat CSV/Parquet row; :mod:`.tabular`: CSV and Parquet writing;
- :mod:`.json_output`: one object or JSON Lines;
- :mod:`.table`: the terminal table; :mod:`.overlay`: the picture; :mod:`.page` (with
  ``page_*``): the vendor-style report page (PDF/PNG, the ``[report]`` extra);
- :mod:`.dicom_sr`, :mod:`.dicom_sc`, :mod:`.codes`: DICOM outputs and every coded concept;
- :mod:`.writers`: the registry of per-scan writers that ``analyze``, ``batch``, the demo and the
  PACS node share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dxaspine._lazy import lazy_exports

# Exported lazily (PEP 562): ``import dxaspine.report.writers`` for the registry (every command
# parser does) must not import the record, the CSV row and through them every stage; a command
# that refuses a file from its header alone then starts without numba or scipy (issue 17).
_EXPORTS = {
    "record_from_assessment": "dxaspine.report.record",
    "record_from_scan": "dxaspine.report.record",
    "round_for_output": "dxaspine.report.record",
    "row_columns": "dxaspine.report.row",
    "row_from_record": "dxaspine.report.row",
    "SCHEMA_VERSION": "dxaspine.report.schema",
    "validate_result": "dxaspine.report.schema",
    "WRITERS": "dxaspine.report.writers",
    "ScanOutput": "dxaspine.report.writers",
    "Writer": "dxaspine.report.writers",
    "register": "dxaspine.report.writers",
    "write_outputs": "dxaspine.report.writers",
    "write_result": "dxaspine.report.writers",
}

if TYPE_CHECKING:
    from dxaspine.report.record import record_from_assessment, record_from_scan, round_for_output
    from dxaspine.report.row import row_columns, row_from_record
    from dxaspine.report.schema import SCHEMA_VERSION, validate_result
    from dxaspine.report.writers import (
        WRITERS,
        ScanOutput,
        Writer,
        register,
        write_outputs,
        write_result,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "SCHEMA_VERSION",
    "WRITERS",
    "ScanOutput",
    "Writer",
    "record_from_assessment",
    "record_from_scan",
    "register",
    "round_for_output",
    "row_columns",
    "row_from_record",
    "validate_result",
    "write_outputs",
    "write_result",
]
