"""Phantom speed: generate_case per scanner geometry, and write_case, relative to reading back.

Prints seconds per case and the ratio of generate+write to ``pydicom.dcmread`` + ``pixel_array``
of the written dual-energy file (measured in the same run).  Budget:
generate_case <= ~0.5 s (Prodigy) and <= ~2.5 s (iDXA) on 2 cores.
"""

from __future__ import annotations

import tempfile
import time

import pydicom

from dxaspine.phantom import Lesion, PhantomParams, generate_case, write_case


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    generate_case(PhantomParams())  # warm imports
    with tempfile.TemporaryDirectory() as tmp:
        for scanner in ("prodigy", "hologic", "idxa"):
            for label, extra in (("plain", {}), ("hard", {
                "scoliosis_mm": 20.0, "rotation_deg": 4.0, "gas_pockets": 3,
                "lesions": (Lesion("osteophyte", "L3"), Lesion("pedicle_screws", "L1")),
            })):  # fmt: skip
                params = PhantomParams(seed=1, scanner=scanner, **extra)
                gen = _best(lambda p=params: generate_case(p))
                case = generate_case(params)
                write = _best(lambda c=case: write_case(c, tmp))
                path = write_case(case, tmp, kinds=("dual_energy",))["dual_energy"]
                read = _best(lambda p=path: pydicom.dcmread(p).pixel_array)
                print(
                    f"{scanner:8s} {label:5s} {case.shape[0]:4d}x{case.shape[1]:<4d} "
                    f"generate {gen:6.3f} s  write(all kinds) {write:6.3f} s  "
                    f"read DE {read * 1e3:6.1f} ms  generate/read {gen / read:7.1f}x"
                )


if __name__ == "__main__":
    main()
