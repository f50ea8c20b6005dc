"""A batch task for the executor tests (test-only): kills its own worker process on request.

It stands for a decoder that crashes the interpreter (a segfault, an out-of-memory kill),
which no real test image can be made to do on purpose.
"""

from __future__ import annotations

import os
import signal


def task(work, options) -> dict:
    """A result row naming the item, or SIGKILL of this worker for keys containing "crash"."""
    if "crash" in work.key:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"type": "result", "key": work.key, "row": {"path": work.paths[0]}}
