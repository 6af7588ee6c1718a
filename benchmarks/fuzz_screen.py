"""Fuzz the screen's source readers at a large budget: mutated long CSV, long Parquet and
FHIR Bulk NDJSON sources read as `maswatch screen` reads them (tests/fuzz_screen.py), each
input with a time limit. Prints inputs, clean outcomes, crashes (distinct causes), hangs
and malformed outcomes, and the time per input against the unmutated seeds measured in
the same run. A report, not a pass/fail test (tests/test_fuzz_screen.py is the test).

    .venv/bin/python benchmarks/fuzz_screen.py --inputs 3000 --workers 2 [--save DIR]

``run(inputs, seed, workers, timeout, save)`` returns the counts, for benchmarks/fuzz.py.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import random
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_harness as fh  # noqa: E402
import fuzz_screen as fs  # noqa: E402

NAMES = tuple(fs.TARGETS)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def _init() -> None:
    signal.signal(signal.SIGALRM, _alarm)


def _job(args: tuple) -> tuple:
    i, seed, timeout = args
    name = NAMES[i % len(NAMES)] if i >= 0 else NAMES[(-1 - i) % len(NAMES)]
    if i >= 0:
        data = fs.case(name, random.Random(seed * 1_000_003 + i))
    else:  # the unmutated seed: the baseline time per input
        data = fs.parquet_from_csv(fs.csv_seed(), random.Random(0)) if name == "long-parquet" else fs.TARGETS[name][1]()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        out = fs.TARGETS[name][0](data)
    except Hang:
        out = fh.Outcome("hang", f"> {timeout:g} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return i, name, out.kind, out.cause, time.perf_counter() - t0, (None if out.kind == "ok" else data)


def run(inputs: int = 3000, seed: int = 12, workers: int = 2, timeout: float = 20.0, save: Path | None = None,
        quiet: bool = False) -> dict:
    """Fuzz ``inputs`` mutated sources; return {"counts", "causes", "times", "base_times", "wall"}."""
    counts: collections.Counter = collections.Counter()
    causes: dict[tuple[str, str], list] = {}
    times: dict[str, list] = {n: [] for n in NAMES}
    base: dict[str, list] = {n: [] for n in NAMES}
    jobs = [(-1 - k, seed, timeout) for k in range(3 * len(NAMES))] + [(i, seed, timeout) for i in range(inputs)]
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(workers, initializer=_init, maxtasksperchild=500) as pool:
        for i, name, kind, cause, dt, data in pool.imap_unordered(_job, jobs, chunksize=4):
            if i < 0:
                base[name].append(dt)
                continue
            counts[(name, kind)] += 1
            times[name].append(dt)
            if kind != "ok":
                causes.setdefault((kind, cause), []).append((name, i))
                if save is not None:
                    save.mkdir(parents=True, exist_ok=True)
                    (save / f"{kind}-{name}-{i}.bin").write_bytes(data)
            if not quiet and sum(counts.values()) % 500 == 0:
                print(f"  {sum(counts.values()):,} inputs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return {"counts": counts, "causes": causes, "times": times, "base_times": base, "wall": time.perf_counter() - t0}


def report(res: dict, inputs: int, workers: int, timeout: float) -> None:
    counts, causes = res["counts"], res["causes"]
    print(f"maswatch screen-source fuzz: {inputs:,} inputs, {workers} workers, {res['wall']:.0f} s, "
          f"per-input limit {timeout:g} s")
    for name in NAMES:
        print(f"  {name:<13} clean {counts[(name, 'ok')]:,}  crashes {counts[(name, 'crash')]}  "
              f"hangs {counts[(name, 'hang')]}  malformed {counts[(name, 'malformed')]}")
        t, b = res["times"][name], res["base_times"][name]
        if t and b:
            med, bm = statistics.median(t), statistics.median(b)
            print(f"                median {med * 1e3:.0f} ms per input = {med / bm:.2f} x the unmutated seed "
                  f"({bm * 1e3:.0f} ms); max {max(t):.2f} s")
    for (kind, cause), where in sorted(causes.items(), key=lambda kv: -len(kv[1])):
        print(f"  {kind}: {len(where):>5} x {cause}  (first: {where[0][0]} input {where[0][1]})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--save", type=Path)
    a = ap.parse_args()
    report(run(a.inputs, a.seed, a.workers, a.timeout, a.save), a.inputs, a.workers, a.timeout)


if __name__ == "__main__":
    main()
