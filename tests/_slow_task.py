"""A batch task for the executor tests (test-only): a result after a short sleep.

Slow enough that a Ctrl-C sent after the first result finds items still in flight.
"""

from __future__ import annotations

import time


def task(work, options) -> dict:
    """A result row naming the item, 50 ms later."""
    time.sleep(0.05)
    return {"type": "result", "key": work.key, "row": {"path": work.paths[0]}}
