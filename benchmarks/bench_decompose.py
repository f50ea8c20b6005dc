"""Speed of the dual-energy decomposition, as ratios measured in one run (never asserted).

Prints, for a Prodigy-sized (~190 x 300) and an iDXA-sized (~788 x 720) scan:

- ``decompose`` time / ``pydicom.dcmread(f).pixel_array`` time of the same 2-frame file;
- each numba kernel vs its numpy reference (speed-up);
- cold numba compile (empty cache, fresh process) vs loading the cached kernels.

``--accuracy`` also prints the phantom error distribution (per-level and L1-L4 BMC error
against truth) for the standard suite and the hard suite (bowel gas, 12-35 cm tissue,
pathology, metal), which the tests do not bound strictly.

Run: ``python benchmarks/bench_decompose.py [--accuracy]``.  Scans come from the phantom.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dxaspine.io.scan import Scan
from dxaspine.physics import _numpy_reference, decompose
from dxaspine.physics.log_attenuation import areal_density, log_attenuation
from dxaspine.physics.soft_tissue import row_baselines

SIZES = {"prodigy": ((190, 300), (1.05, 0.6)), "idxa": ((788, 720), (0.25, 0.25))}
I0 = (5e5, 5e5)


def _best_of(fn, repeat=7):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _scan(name: str) -> Scan:
    from dxaspine.phantom import PhantomParams, generate_case

    return generate_case(PhantomParams(seed=1, scanner=name)).dual_energy_scan()


def _write_dicom(scan: Scan, path: Path) -> None:
    """A 2-frame 16-bit file like the interchange profile, for the pydicom read baseline."""
    low, high = scan.frames["low"], scan.frames["high"]
    slope = 1.0
    while max(low.max(), high.max()) / slope > 65535:
        slope *= 2
    pixels = np.stack([np.round(low / slope), np.round(high / slope)]).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality = "BMD"
    ds.Rows, ds.Columns = pixels.shape[1:]
    ds.NumberOfFrames = 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def _kernel_ratios(scan: Scan) -> None:
    low = np.ascontiguousarray(scan.frames["low"])
    high = np.ascontiguousarray(scan.frames["high"])
    a_low, a_high, starved = log_attenuation(low, high, I0)
    r_st = np.full(low.shape, 1.37)
    ratio = np.ascontiguousarray(a_low / a_high)
    usable = np.ascontiguousarray(np.random.default_rng(0).uniform(size=low.shape) > 0.3)
    usable[:, low.shape[1] // 3 : 2 * low.shape[1] // 3] = False
    mu = (0.9877, 0.3131)
    cases = {
        "log_attenuation": (
            lambda: log_attenuation(low, high, I0),
            lambda: _numpy_reference.log_attenuation_reference(low, high, I0[0], I0[1], 0.5),
        ),
        "areal_density": (
            lambda: areal_density(a_low, a_high, r_st, mu),
            lambda: _numpy_reference.areal_density_reference(a_low, a_high, r_st, *mu),
        ),
    }
    for name, (fast, ref) in cases.items():
        t_fast, t_ref = _best_of(fast), _best_of(ref, 3)
        print(
            f"    {name:<16} numba {1e3 * t_fast:7.2f} ms  numpy {1e3 * t_ref:8.2f} ms  "
            f"speed-up {t_ref / t_fast:6.1f}x"
        )
    # The row-baseline reference is a deliberately literal per-pixel transcription (slow);
    # time it on a slice of rows and scale.
    sub = slice(0, max(4, low.shape[0] // 40))
    ratio_sub, usable_sub = np.ascontiguousarray(ratio[sub]), np.ascontiguousarray(usable[sub])
    t_fast = _best_of(lambda: row_baselines(ratio, usable, 20, 8.0))
    t_ref = _best_of(
        lambda: _numpy_reference.row_baselines_reference(ratio_sub, usable_sub, 20, 8.0, 1e-3), 1
    )
    t_ref *= low.shape[0] / ratio_sub.shape[0]
    print(
        f"    {'row_baselines':<16} numba {1e3 * t_fast:7.2f} ms  numpy {1e3 * t_ref:8.2f} ms  "
        f"speed-up {t_ref / t_fast:6.1f}x"
    )


_COMPILE_SNIPPET = textwrap.dedent(
    """
    import time, numpy as np
    t0 = time.perf_counter()
    from dxaspine.physics.log_attenuation import log_attenuation, areal_density
    from dxaspine.physics.soft_tissue import row_baselines
    a = np.ones((4, 4)); m = np.ones((4, 4), dtype=bool)
    log_attenuation(a, a, (2.0, 2.0)); areal_density(a, a, a, (1.0, 0.3)); row_baselines(a, m, 1)
    print(time.perf_counter() - t0)
    """
)


def _compile_times() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        run = [sys.executable, "-c", _COMPILE_SNIPPET]
        cold = float(
            subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
        )
        warm = float(
            subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
        )
    return cold, warm


def _accuracy(suite: str, count: int) -> None:
    from dxaspine.phantom import SUITES, generate_case

    print(f"  accuracy, {suite} suite ({count} cases, Poisson noise): BMC error vs truth, %")
    level_errors, composites = [], []
    for i, params in enumerate(SUITES[suite](seed=0, count=count)):
        if suite == "standard":
            params = params.replace(scanner=("prodigy", "idxa")[i % 2])
        case = generate_case(params)
        scan = case.dual_energy_scan()
        density = decompose(scan)
        code_of = {name: int(code) for code, name in case.truth["label_codes"].items()}
        row, measured, true = [], 0.0, 0.0
        for level in case.truth["levels"]:
            if level["label"] not in ("L1", "L2", "L3", "L4") or level["bmc_g"] < 1.0:
                continue
            pixels = (case.label_image == code_of[level["label"]]) & case.bone_mask
            bmc = density.values[pixels].sum() * density.pixel_area_cm2
            row.append(f"{level['label']} {100 * (bmc / level['bmc_g'] - 1):+6.2f}")
            level_errors.append(bmc / level["bmc_g"] - 1)
            measured, true = measured + bmc, true + level["bmc_g"]
        composites.append(measured / true - 1)
        detail = (
            f"{params.scanner:8s} {params.soft_tissue_thickness_cm:4.1f} cm gas {params.gas_pockets}"
            f" {','.join(f'{x.type}:{x.level}' for x in params.lesions) or '-'}"
        )
        print(
            f"    {params.case_name}: {detail:48s} L1-L4 {100 * composites[-1]:+6.2f} | "
            + "  ".join(row)
        )
    a, c = 100 * np.abs(level_errors), 100 * np.abs(composites)
    print(
        f"    levels |err| p50 {np.percentile(a, 50):.2f} p95 {np.percentile(a, 95):.2f} "
        f"max {a.max():.2f}; L1-L4 |err| p50 {np.percentile(c, 50):.2f} "
        f"p95 {np.percentile(c, 95):.2f} max {c.max():.2f}"
    )


def main() -> None:
    print("dxaspine decomposition benchmark (ratios within this run)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in SIZES:
            scan = _scan(name)
            path = Path(tmp) / f"{name}.dcm"
            _write_dicom(scan, path)
            decompose(scan)  # warm the kernels
            t_read = _best_of(lambda p=path: pydicom.dcmread(p).pixel_array)
            t_dec = _best_of(lambda s=scan: decompose(s), 5)
            print(
                f"  {name} {scan.shape[0]} x {scan.shape[1]}: read {1e3 * t_read:.1f} ms, "
                f"decompose {1e3 * t_dec:.1f} ms = {t_dec / t_read:.2f}x read"
            )
            _kernel_ratios(scan)
    cold, warm = _compile_times()
    print(
        f"  kernels: cold compile {cold:.2f} s (incl. imports), cached {warm:.2f} s "
        f"= {cold / warm:.1f}x"
    )
    if "--accuracy" in sys.argv[1:]:
        _accuracy("standard", 24)
        _accuracy("hard", 12)


if __name__ == "__main__":
    main()
