"""Run the mutation fuzzer and print the outcome table (docs/hardening.md §6).

    PYTHONPATH=$PWD python tests/fuzz/run.py --cases 10000 --seed 0
    PYTHONPATH=$PWD python tests/fuzz/run.py --seed 0 --case 1234      # replay one case

Cases run in worker processes (``--workers``, default 2), so a decoder that kills its process
is recorded as a failure of its case instead of ending the run.  Exit status 0 when every case
is ok (a plausible or flagged result, or a DxaError, and no planted identifier anywhere),
1 otherwise; failures are listed with their case numbers for replay.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzzer  # noqa: E402

_STATE: dict = {}


def _init(cache: str, seed: int, with_baseline: bool) -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    os.environ["RUST_BACKTRACE"] = "0"  # a Rust decoder's panic: one line, not 70
    sources = fuzzer.build_corpus(Path(cache))
    _STATE.update(
        sources=sources,
        seed=seed,
        baseline=fuzzer.baselines(sources) if with_baseline else {},
    )


def _one(index: int) -> fuzzer.Outcome:
    case = fuzzer.make_case(_STATE["sources"], _STATE["seed"], index)
    return fuzzer.run_case(case, _STATE["baseline"])


def _died(index: int, seed: int) -> fuzzer.Outcome:
    return fuzzer.Outcome(index, "?", "?", [], kind="process_died", failure="process_died",
                          detail=f"the worker process died on case {index} (seed {seed})")  # fmt: skip


def run_cases(
    indices: list[int], seed: int, workers: int = 2, cache: str | None = None,
    baseline: bool = True, progress: bool = False,
) -> list[fuzzer.Outcome]:  # fmt: skip
    """Every case of ``indices``; a case whose process dies is re-run alone to confirm."""
    cache = cache or os.path.join(tempfile.gettempdir(), "dxaspine-fuzz-corpus")
    if workers <= 0:  # in this process (debugging)
        _init(cache, seed, baseline)
        return [_one(i) for i in indices]
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")

    def pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, mp_context=context, initializer=_init,
                                   initargs=(cache, seed, baseline))  # fmt: skip

    fuzzer.build_corpus(Path(cache))  # once, before the workers read it
    outcomes: dict[int, fuzzer.Outcome] = {}
    todo = collections.deque(indices)
    suspects: list[int] = []
    started = time.monotonic()
    executor = pool(workers)
    pending: dict = {}
    try:
        while todo or pending:
            while todo and len(pending) < 4 * workers:
                index = todo.popleft()
                pending[executor.submit(_one, index)] = index
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                index = pending.pop(future)
                try:
                    outcomes[index] = future.result()
                except BrokenProcessPool:
                    broken = True
                    suspects.append(index)
            if broken:
                suspects += list(pending.values())
                pending.clear()
                executor.shutdown(wait=True, cancel_futures=True)
                for index in suspects:  # alone, to tell the culprit from the bystanders
                    with pool(1) as single:
                        try:
                            outcomes[index] = single.submit(_one, index).result()
                        except BrokenProcessPool:
                            outcomes[index] = _died(index, seed)
                suspects = []
                executor = pool(workers)
            if progress and len(outcomes) % 500 < len(done):
                rate = len(outcomes) / max(time.monotonic() - started, 1e-9)
                print(f"  {len(outcomes)}/{len(indices)} cases, {rate:.1f}/s", file=sys.stderr)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return [outcomes[i] for i in indices]


def table(outcomes: list[fuzzer.Outcome]) -> str:
    """The outcome table (markdown): by outcome kind and family, then failures and shifts."""
    families = list(fuzzer.FAMILIES)
    kinds = collections.Counter(o.kind for o in outcomes)
    by = collections.Counter((o.kind, o.family) for o in outcomes)
    lines = ["| outcome | " + " | ".join(families) + " | total |",
             "|---|" + "---:|" * (len(families) + 1)]  # fmt: skip
    for kind, total in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        cells = [str(by.get((kind, f), 0)) for f in families]
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {total} |")
    col = collections.Counter(o.family for o in outcomes)
    lines.append("| **all** | " + " | ".join(str(col.get(f, 0)) for f in families)
                 + f" | {len(outcomes)} |")  # fmt: skip
    failures = [o for o in outcomes if not o.ok]
    lines += ["", f"failures: {len(failures)}"]
    failure_kinds = collections.Counter(o.failure for o in failures)
    for kind in ("exception", "implausible_unflagged", "identifier_leak", "process_died",
                 "multi_line_message"):  # fmt: skip
        lines.append(f"- {kind}: {failure_kinds.get(kind, 0)}")
    for o in failures[:30]:
        lines.append(f"  - case {o.index} ({o.source}; {'; '.join(o.mutations)}): {o.failure}: "
                     f"{o.detail.splitlines()[-1] if o.detail else ''}")  # fmt: skip
    shifts = [o for o in outcomes if o.bmd_shift is not None and o.family != "header"]
    if shifts:
        big = [o for o in shifts if abs(o.bmd_shift) > 0.02]
        worst = max(shifts, key=lambda o: abs(o.bmd_shift))
        lines += ["", f"results of damaged pixel data with a reported BMD: {len(shifts)}; "
                  f"|shift| > 2 % vs the undamaged source: {len(big)} "
                  f"({sum(bool(o.flags) for o in big)} of them flagged); largest "
                  f"{worst.bmd_shift:+.1%} (case {worst.index}: {'; '.join(worst.mutations)})"]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", type=int, help="replay this one case (in process)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", metavar="PATH", help="write every outcome as JSON Lines")
    args = parser.parse_args(argv)
    if args.case is not None:
        outcome = run_cases([args.case], args.seed, workers=0)[0]
        print(json.dumps(outcome.__dict__, indent=2))
        return 0 if outcome.ok else 1
    started = time.monotonic()
    outcomes = run_cases(list(range(args.cases)), args.seed, args.workers, progress=True)
    elapsed = time.monotonic() - started
    print(f"dxaspine fuzz: {args.cases} cases, seed {args.seed}, {elapsed:.0f} s\n")
    print(table(outcomes))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            for o in outcomes:
                handle.write(json.dumps(o.__dict__) + "\n")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
