"""Fuzz the CLI's document paths at a large budget: mutated snapshots through `maswatch
evaluate` and mutated timelines through `maswatch assess` (both --json and the terminal
rendering), plus every hand-written hostile case of issue 12, each input with a time
limit. Prints inputs run, outcomes, crashes (distinct causes), hangs and malformed
outputs; exits 0 (a report, not a pass/fail test — tests/test_fuzz_*.py are the tests).

    .venv/bin/python benchmarks/fuzz.py --inputs 50000 --workers 2 [--save DIR]

The mutators, seeds, hostile cases and outcome rules are tests/fuzz_harness.py, shared
with the Hypothesis fuzz tests. Time per input is printed against a baseline measured in
the same run: the unmutated seeds.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import random
import resource
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_harness as fh  # noqa: E402

MEMORY_LIMIT_BYTES = 4 * 2 ** 30
"""Per worker: a blow-up shows as a MemoryError crash instead of taking the machine."""


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def _init_worker() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    signal.signal(signal.SIGALRM, _alarm)


def _case(i: int, seed: int) -> tuple[str, bytes, bool]:
    """The i-th input, the same in every run with the same seed: (command, bytes, --json?)."""
    rng = random.Random(seed * 1_000_003 + i)
    kind = "evaluate" if i % 2 == 0 else "assess"
    seeds = fh.snapshot_seeds() if kind == "evaluate" else fh.timeline_seeds()
    return kind, fh.mutate(rng, rng.choice(seeds)), i % 4 < 2


def _run(job: tuple) -> tuple:
    """One input: (index, kind, outcome kind, cause, seconds, input if not ok)."""
    i, kind, data, json_out, timeout = job
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        target = fh.target_evaluate if kind == "evaluate" else fh.target_assess
        out = target(data, json_out=json_out)
        if out.kind == "crash" and out.cause.startswith("Hang"):
            out = fh.Outcome("hang", f"> {timeout:g} s")
    except Hang:
        out = fh.Outcome("hang", f"> {timeout:g} s")
    except MemoryError:
        out = fh.Outcome("crash", f"MemoryError (> {MEMORY_LIMIT_BYTES / 2 ** 30:g} GiB)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    dt = time.perf_counter() - t0
    return i, kind, out.kind, out.cause, dt, (None if out.kind == "ok" else data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=50_000, help="mutated inputs (half snapshots, half timelines)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--save", type=Path, help="write each failing input here")
    a = ap.parse_args()

    hostile = [(name, data) for name, data in fh.hostile_cases()]
    jobs = []
    for n, (_, data) in enumerate(hostile):  # each hostile case through both commands, both outputs
        for kind in ("evaluate", "assess"):
            for json_out in (True, False):
                jobs.append((-1 - len(jobs), kind, data, json_out, a.timeout))
    base = [(-10_000 - k, kind, s, True, a.timeout) for k, (kind, s) in enumerate(
        [("evaluate", s) for s in fh.snapshot_seeds()] + [("assess", s) for s in fh.timeline_seeds()])]
    cases = ((i, *_case(i, a.seed), a.timeout) for i in range(a.inputs))
    cases = ((i, kind, data, js, t) for i, kind, data, js, t in cases)

    counts: collections.Counter = collections.Counter()
    causes: dict[tuple[str, str], list] = {}
    times = {"evaluate": [], "assess": []}
    base_times = {"evaluate": [], "assess": []}
    slowest = (0.0, None)
    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(a.workers, initializer=_init_worker, maxtasksperchild=2_000) as pool:
        for i, kind, outcome, cause, dt, data in pool.imap_unordered(_run, base * 5 + jobs + list(cases), chunksize=16):
            if i <= -10_000:
                base_times[kind].append(dt)
                continue
            counts[(kind, outcome)] += 1
            if i >= 0:
                times[kind].append(dt)
                if dt > slowest[0]:
                    slowest = (dt, (kind, i))
            if outcome != "ok":
                causes.setdefault((outcome, cause), []).append((kind, i))
                if a.save:
                    a.save.mkdir(parents=True, exist_ok=True)
                    (a.save / f"{outcome}-{kind}-{i}.bin").write_bytes(data)
            done = sum(counts.values())
            if done % 5_000 == 0:
                print(f"  {done:,} inputs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0

    n_total = sum(counts.values())
    crashes = {k: v for k, v in causes.items() if k[0] == "crash"}
    hangs = {k: v for k, v in causes.items() if k[0] == "hang"}
    malformed = {k: v for k, v in causes.items() if k[0] == "malformed"}
    print(f"maswatch fuzz: {n_total:,} inputs ({a.inputs:,} mutated, {len(jobs)} hand-written runs of "
          f"{len(hostile)} hostile cases), {a.workers} workers, {wall:.0f} s, per-input limit {a.timeout:g} s")
    for kind in ("evaluate", "assess"):
        ok = counts[(kind, "ok")]
        print(f"  {kind:<8} clean {ok:,}  crashes {counts[(kind, 'crash')]}  hangs {counts[(kind, 'hang')]}  "
              f"malformed {counts[(kind, 'malformed')]}")
        if times[kind] and base_times[kind]:
            med, b = statistics.median(times[kind]), statistics.median(base_times[kind])
            print(f"           median {med * 1e3:.1f} ms per input = {med / b:.2f} x the unmutated seeds "
                  f"({b * 1e3:.1f} ms); max {max(times[kind]):.2f} s")
    print(f"crashes: {sum(len(v) for v in crashes.values())} from {len(crashes)} distinct causes")
    for (_, cause), where in sorted(crashes.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(where):>6} x {cause}  (first: {where[0][0]} input {where[0][1]})")
    print(f"hangs: {sum(len(v) for v in hangs.values())}")
    print(f"malformed outputs: {sum(len(v) for v in malformed.values())} from {len(malformed)} distinct causes")
    for (_, cause), where in sorted(malformed.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(where):>6} x {cause}  (first: {where[0][0]} input {where[0][1]})")
    if slowest[1]:
        print(f"slowest input: {slowest[1][0]} #{slowest[1][1]} {slowest[0]:.2f} s")


if __name__ == "__main__":
    main()
