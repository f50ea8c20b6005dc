"""PACS node: receive throughput against dcmtk's storescp, and study latency to Orthanc.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_pacs.py [--files N] [--repeats R] [--studies K]``.

1. **Receive throughput** (instances/s): dcmtk ``storescu`` sends the same N phantom files
   (Prodigy-size dual-energy interchange files, ~227 kB each) to dcmtk ``storescp`` and to
   ``dxaspine listen`` on 127.0.0.1, both writing every instance to disk, over one
   association and over 4 parallel associations (storescp ``--fork``).  The node runs with
   a stability delay longer than the run, so no analysis competes with receiving.  The
   figure is the median over R runs of the senders' wall time; the ratio is
   dxaspine / storescp within the same run.  dxaspine fsyncs every instance before
   answering success (nothing acknowledged is ever lost); storescp does not.
2. **Latency**: for K studies (dual-energy + display export) sent one at a time to
   ``dxaspine listen --orthanc URL``, the time from the sender's exit (last instance
   acknowledged, association released) until both SRs and both SCs are in Orthanc, minus
   the node's stability delay (polled every 50 ms).

The server helpers (Orthanc from a generated config, node subprocess, dcmtk lookup) are the
tests' (``tests/_pacs_servers.py``), so the benchmark runs exactly what the tests run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _pacs_servers import (  # noqa: E402
    LOOPBACK,
    NodeProcess,
    OrthancServer,
    dcmtk,
    dxaspine_outputs,
    echo,
    free_port,
    node_config_text,
    wait_until,
)

from dxaspine.phantom import PhantomParams, generate_case, write_case  # noqa: E402

DELAY_S = 1.0


def make_files(folder: Path, n: int) -> list[Path]:
    case = generate_case(PhantomParams(seed=4242, suite="bench"))
    base = write_case(case, folder / "base", kinds=("dual_energy",))["dual_energy"]
    ds = pydicom.dcmread(base)
    files = []
    for i in range(n):
        ds.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["bench study", str(i // 10)])
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["bench", str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = folder / f"f{i:05d}.dcm"
        ds.save_as(target, enforce_file_format=True)
        files.append(target)
    return files


# dcmtk 3.6.7 leaves Nagle's algorithm on unless TCP_NODELAY=1 is in the environment; with
# it on, every C-STORE waits for a delayed ACK (~40 ms on Linux, ~22 instances/s whatever
# the receiver; docs/pacs.md section 10).  Both dcmtk tools run with it off, as the node's
# sockets do.
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def send(port: int, files: list[Path], parallel: int) -> float:
    chunks = [files[i::parallel] for i in range(parallel)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                dcmtk("storescu"),
                "-aet",
                "STORESCU",
                "-aec",
                "DXASPINE",
                LOOPBACK,
                str(port),
                *map(str, chunk),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=DCMTK_ENV,
        )
        for chunk in chunks
    ]
    codes = [p.wait(timeout=600) for p in procs]
    seconds = time.perf_counter() - start
    if codes != [0] * parallel:
        raise RuntimeError(f"storescu failed: {[p.stderr.read()[-300:] for p in procs]}")
    return seconds


def time_storescp(folder: Path, files: list[Path], parallel: int) -> float:
    out = folder / "storescp_out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    port = free_port()
    args = [dcmtk("storescp"), "-aet", "DXASPINE", "-od", str(out)]
    if parallel > 1:
        args.append("--fork")
    proc = subprocess.Popen(
        [*args, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=DCMTK_ENV
    )
    try:
        wait_until(lambda: echo(port, calling="STORESCU") is not None, 30, what="storescp")
        seconds = send(port, files, parallel)
        wait_until(lambda: len(list(out.iterdir())) >= len(files), 60, what="storescp files")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return seconds


def time_dxaspine(folder: Path, files: list[Path], parallel: int) -> float:
    node_dir = folder / "node"
    shutil.rmtree(node_dir, ignore_errors=True)
    port = free_port()
    config = node_config_text(node_dir, port=port, workers=1, stability_delay_s=3600.0,
                              log_format="plain")  # fmt: skip
    with NodeProcess(node_dir, config):
        wait_until(lambda: echo(port, calling="STORESCU") is not None, 60, what="the node")
        seconds = send(port, files, parallel)
    stored = sum(1 for _ in (node_dir / "inbox").rglob("*.dcm"))
    if stored != len(files):
        raise RuntimeError(f"node stored {stored} of {len(files)}")
    return seconds


def throughput(folder: Path, n: int, repeats: int) -> None:
    files = make_files(folder / "files", n)
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"receive: {n} files, {size_mb:.0f} MB, median of {repeats} runs")
    for parallel in (1, 4):
        ours, theirs = [], []
        for _ in range(repeats):
            theirs.append(time_storescp(folder, files, parallel))
            ours.append(time_dxaspine(folder, files, parallel))
        t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
        print(
            f"  {parallel} association(s): storescp {n / t_theirs:6.1f} inst/s, "
            f"dxaspine listen {n / t_ours:6.1f} inst/s; time ratio dxaspine/storescp "
            f"{t_ours / t_theirs:.2f}"
        )


def _stage_times(log_path: Path, tag: str) -> dict[str, float]:
    """Wall times (epoch s) of one study's stages, from the node's JSON log."""
    import calendar
    import json

    marks = {}
    for line in log_path.read_text().splitlines():
        record = json.loads(line)
        message = record["message"]
        stamp = calendar.timegm(time.strptime(record["time"][:19], "%Y-%m-%dT%H:%M:%S"))
        stamp += float(record["time"][19:-1] or 0)
        if tag in message and "ready:" in message:
            marks["ready"] = stamp
        elif tag in message and "started" in message:
            marks["started"] = stamp
        elif tag in message and " done:" in message:
            marks["done"] = stamp
        elif "delivered" in message and "done" in marks:
            # Studies are sent one at a time: deliveries after its "done" are its outputs.
            marks["delivered"] = stamp
    return marks


def latency(folder: Path, studies: int) -> None:
    from dxaspine.pacs.logs import uid_tag

    port = free_port()
    rows = []
    with OrthancServer(folder / "orthanc", dxaspine_port=port) as orthanc:
        config = node_config_text(folder / "lat_node", port=port, workers=2,
                                  stability_delay_s=DELAY_S, log_format="json")  # fmt: skip
        node = NodeProcess(folder / "lat_node", config, args=["--orthanc", orthanc.url])
        with node:
            wait_until(lambda: echo(port) is not None, 60, what="the node")
            for i in range(studies + 1):
                case = generate_case(PhantomParams(seed=4300 + i, suite="bench"))
                paths = write_case(case, folder / f"lat{i}", kinds=("dual_energy", "display"))
                study = str(pydicom.dcmread(paths["dual_energy"]).StudyInstanceUID)
                send(port, [paths["dual_energy"], paths["display"]], 1)
                sent = time.time()

                def complete(study=study):
                    found = dxaspine_outputs(orthanc, study)
                    return len(found["sr"]) >= 2 and len(found["sc"]) >= 2

                wait_until(complete, 300, interval_s=0.05, what="SR and SC in Orthanc")
                seen = time.time()
                if i == 0:  # the first study also pays the workers' first highdicom import
                    continue
                marks = _stage_times(node.log_path, uid_tag(study))
                rows.append(
                    {
                        "total": seen - sent - DELAY_S,
                        "to ready": marks["ready"] - sent - DELAY_S,
                        "analysis": marks["done"] - marks["started"],
                        "forward": marks["delivered"] - marks["done"],
                    }
                )
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(
        f"latency, last instance -> both SRs and SCs in Orthanc, minus the {DELAY_S:.0f} s "
        f"stability delay ({studies} studies of 2 images): median {med['total']:.2f} s "
        f"(min {min(r['total'] for r in rows):.2f}, max {max(r['total'] for r in rows):.2f}); "
        f"median split: scheduler {med['to ready']:.2f} s, analysis + SR/SC {med['analysis']:.2f} s, "
        f"forwarding {med['forward']:.2f} s, rest (queue, Orthanc, polling) "
        f"{med['total'] - med['to ready'] - med['analysis'] - med['forward']:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--studies", type=int, default=5)
    args = parser.parse_args()
    if dcmtk("storescu") is None or dcmtk("storescp") is None:
        raise SystemExit("needs dcmtk (apt-get install dcmtk)")
    with tempfile.TemporaryDirectory(prefix="bench_pacs_") as tmp:
        folder = Path(tmp)
        throughput(folder, args.files, args.repeats)
        latency(folder, args.studies)


if __name__ == "__main__":
    main()
