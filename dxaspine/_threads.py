"""Thread counts for process pools (batch runner, PACS node, benchmark runner).

The workers are the parallelism, so each one runs single-threaded (docs/architecture.md,
Kernels).  Two halves, because numba forbids one of them in the parent:

- :func:`parent_env`, in the process that starts the pool: BLAS/OpenMP get one thread in the
  children through the inherited environment.  Never ``NUMBA_NUM_THREADS`` here: numba in the
  *parent* re-reads its environment on every compile and raises ``RuntimeError`` ("Cannot set
  NUMBA_NUM_THREADS to a different value once the threads have been launched") if the value
  changed after its threads started.  A cold numba cache (CI) compiles in the parent after a
  pool was started, so setting it here breaks later kernels in the same process.
- :func:`child_env`, first thing in a pool initializer, before any kernel compiles: numba
  gets one thread too (and ``init_worker`` pins it with ``numba.set_num_threads``).
"""

from __future__ import annotations

import os

_BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

__all__ = ["child_env", "parent_env"]


def parent_env() -> None:
    """One BLAS/OpenMP thread in the pool's children, inherited from this process."""
    for var in _BLAS_VARS:
        os.environ.setdefault(var, "1")


def child_env() -> None:
    """Inside a pool worker, before its first compile: one numba thread as well."""
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    parent_env()
