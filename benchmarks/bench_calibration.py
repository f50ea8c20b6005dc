"""Speed of the beam-hardening calibration, as ratios measured in one run (never asserted).

Prints, for a Prodigy-sized and an iDXA-sized polyenergetic phantom scan:

- the calibrated sigma_b kernel vs its numpy reference (speed-up);
- the calibrated sigma_b kernel vs the plain two-material formula (its cost over the
  uncalibrated decomposition's last step);
- ``decompose`` with the file's table vs ``decompose(calibration="none")``.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_calibration.py``.  Needs xraydb (phantom extra).
"""

from __future__ import annotations

import time

import numpy as np

from dxaspine.phantom import PhantomParams, generate_case
from dxaspine.physics import decompose
from dxaspine.physics.calibration import (
    calibrated_areal_density,
    calibrated_areal_density_reference,
)
from dxaspine.physics.log_attenuation import areal_density, log_attenuation


def _best_of(fn, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    for scanner in ("prodigy", "idxa"):
        case = generate_case(PhantomParams(seed=1, scanner=scanner))
        scan = case.dual_energy_scan()
        a_low, a_high, _ = log_attenuation(
            scan.frames["low"], scan.frames["high"], scan.i0_counts, 0.5, 0.5
        )
        r = np.ascontiguousarray(np.full(a_low.shape, 1.42))
        table = case.calibration
        calibrated_areal_density(a_low, a_high, r, table)  # compile / load the cache
        kernel = _best_of(lambda: calibrated_areal_density(a_low, a_high, r, table))  # noqa: B023
        reference = _best_of(
            lambda: calibrated_areal_density_reference(a_low, a_high, r, table),  # noqa: B023
            repeat=2,
        )
        plain = _best_of(lambda: areal_density(a_low, a_high, r, scan.bone_mu_cm2_g))  # noqa: B023
        with_table = _best_of(lambda: decompose(scan), repeat=3)  # noqa: B023
        without = _best_of(lambda: decompose(scan, calibration="none"), repeat=3)  # noqa: B023
        print(
            f"{scanner:8s} {a_low.shape}: kernel {kernel * 1e3:.1f} ms, "
            f"numpy reference / kernel {reference / kernel:.1f}x, "
            f"kernel / plain formula {kernel / plain:.1f}x, "
            f"decompose with table / without {with_table / without:.2f}x"
        )


if __name__ == "__main__":
    main()
