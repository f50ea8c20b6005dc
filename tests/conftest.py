"""Test-suite configuration: which tests are the long accuracy sweeps (marked ``slow``).

The inner loop is ``python -m pytest -m "not slow"`` (a few minutes on 2 cores); CI runs the
whole suite.  A test is slow when it belongs to a module that is one phantom sweep, or when it
uses one of the module-scoped fixtures that generate and analyse tens of phantom cases.
"""

from __future__ import annotations

import logging

import pytest

# Modules whose every test reads one large phantom sweep.
SLOW_MODULES = {"test_segment_accuracy.py", "test_pathology_pipeline.py"}
# Module-scoped fixtures that generate and analyse tens of phantom cases (test_segment_rotation,
# test_io_annotations).
SLOW_FIXTURES = {"sweep", "standard", "unrotated", "pairs", "hard", "transitional"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.name if hasattr(item, "path") else ""
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in SLOW_MODULES or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _root_logging_restored():
    # Tests that run the CLI in-process (dxaspine.cli.main, configure_logging) add handlers on
    # the root logger bound to the stderr pytest captured for that test; left installed, they
    # write "--- Logging error --- I/O operation on closed file" into later tests' output.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
