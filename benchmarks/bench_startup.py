"""Command-line start-up: fresh processes with a warm numba cache (ratios and seconds, never asserted).

Prints, each as the median of ``--repeat`` fresh processes (default 5), interleaved:

- ``python -c pass`` (the interpreter alone);
- the floor under any command that analyses: importing numpy, pydicom, scipy.ndimage and
  numba, and separately the first call of one trivial cached numba kernel;
- ``dxaspine analyze FILE --json -`` of a Prodigy-sized phantom file;
- ``dxaspine analyze`` refusing a non-spine file (a display export whose protocol is a femur);
- the modules a header-only classification (``dxaspine.io.peek``) and the refusal import:
  whether scipy or numba is among them (issue 17: it must be neither);
- whether dxaspine's own bytecode is cached (an editable install run with
  ``PYTHONDONTWRITEBYTECODE`` compiles every module in every process: ``--compile`` writes the
  ``.pyc`` files first, as a wheel install does) and whether ``jsonschema`` (a test extra that
  makes ``analyze`` validate every result) is installed.

Run: ``python benchmarks/bench_startup.py [--repeat N] [--compile]``.  Fill the cache first
(``dxaspine warmup``); the first analyse of a run is discarded.
"""

from __future__ import annotations

import compileall
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dxaspine.phantom import PhantomParams, generate_case, write_case

_PEEK_IMPORTS = (
    "import sys; from dxaspine.io import peek; p = peek(sys.argv[1]);"
    "print(*sorted({m.split('.')[0] for m in sys.modules}))"
)
_REFUSAL_IMPORTS = (
    "import contextlib, io, sys; from dxaspine.cli import main\n"
    "with contextlib.redirect_stderr(io.StringIO()): main(['analyze', sys.argv[1], '--json', '-'])\n"
    "print(*sorted({m.split('.')[0] for m in sys.modules}))"
)
_LIBRARIES = "import numpy, pydicom, scipy.ndimage, numba"
_ONE_KERNEL = """import numba


@numba.njit(cache=True)
def add(a, b):
    return a + b
"""
_HEAVY = ("scipy", "numba", "llvmlite", "matplotlib", "requests", "jsonschema")


def _heavy_modules(code: str, path: Path) -> str:
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    modules = out.stdout.split()
    return ", ".join(m for m in _HEAVY if m in modules) or "none of " + ", ".join(_HEAVY)


def _bytecode_cached() -> bool:
    """True when every dxaspine module has an up-to-date ``.pyc`` beside it."""
    import dxaspine

    root = Path(dxaspine.__file__).parent
    for source in root.rglob("*.py"):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
            return False
    return True


def _seconds(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    return time.perf_counter() - t0


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 5
    if "--compile" in sys.argv:
        import dxaspine

        compileall.compile_dir(Path(dxaspine.__file__).parent, quiet=1)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"  dxaspine bytecode cached: {'yes' if _bytecode_cached() else 'no'}; jsonschema "
        f"installed: {'yes' if importlib.util.find_spec('jsonschema') else 'no'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        case = generate_case(PhantomParams(seed=11, scanner="prodigy"))
        spine = write_case(case, Path(tmp), kinds=("dual_energy",))["dual_energy"]
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import _synthetic  # the test suite's synthetic DICOM writer

        femur = Path(tmp) / "femur.dcm"
        _synthetic.save(_synthetic.display_dataset(protocol="DualFemur")[0], femur)
        cli = [sys.executable, "-m", "dxaspine"]
        # The floor under any command that analyses: the libraries' own imports, and the
        # first call of one trivial cached numba kernel (numba initialises its CPU target and
        # type registries on the first kernel it loads, whichever kernel that is).
        kernel = Path(tmp) / "one_kernel.py"
        kernel.write_text(_ONE_KERNEL)
        one_kernel = (
            f"import sys; sys.path.insert(0, {tmp!r}); import one_kernel; one_kernel.add(1, 2)"
        )
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "import the libraries": [sys.executable, "-c", _LIBRARIES],
            "one cached numba kernel": [sys.executable, "-c", one_kernel],
            "analyze FILE --json -": [*cli, "analyze", str(spine), "--json", "-"],
            "refuse a femur file": [*cli, "analyze", str(femur), "--json", "-"],
        }
        check = subprocess.run(commands["refuse a femur file"], capture_output=True, text=True)
        print(f"  refusal: exit {check.returncode}: {check.stderr.strip()[:120]}")
        for cmd in commands.values():
            _seconds(cmd)  # warm the page cache and the numba cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, cmd in commands.items():
                times[name].append(_seconds(cmd))
        base = statistics.median(times["python -c pass"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:<24} {median:6.3f} s  ({median / base:5.1f}x python -c pass)")
        print(f"  header-only peek imports: {_heavy_modules(_PEEK_IMPORTS, spine)}")
        print(f"  refusing the femur file imports: {_heavy_modules(_REFUSAL_IMPORTS, femur)}")
        print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
