"""Benchmark: all instruments on N snapshots, vectorised vs a per-snapshot loop.

Prints snapshots/s for the vectorised path (columns already in canonical units, as a
screen hands them over), for the full path from JSON objects (parse + convert + run),
and for a per-snapshot loop calling the same functions one row at a time; and the
ratios. Target (issue 2): >= 1,000,000 snapshots/s for all instruments together on
one core (numpy is single-threaded here). Synthetic random inputs.

    python benchmarks/bench_instruments.py [--n 1000000] [--loop-n 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from maswatch.batch import CONTEXTS, FINDING_IDS, PATIENT_FLAGS, SnapshotBatch
from maswatch.instruments import evaluate_all

LAB_RANGES = {
    "ferritin": (50, 60000), "platelets": (5, 700), "wbc": (0.5, 30), "neutrophils": (0.1, 20),
    "hemoglobin": (5, 16), "ast": (10, 2000), "alt": (10, 2000), "ldh": (150, 5000),
    "triglycerides": (0.5, 8), "fibrinogen": (50, 900), "esr": (1, 140), "crp": (1, 400),
    "scd25": (300, 20000), "temperature": (36, 41.5),
}


def random_columns(n: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    labs = {}
    for k, (lo, hi) in LAB_RANGES.items():
        v = np.exp(rng.uniform(np.log(lo), np.log(hi), n)).round(1)
        v[rng.random(n) < 0.25] = np.nan  # a quarter of each lab missing
        labs[k] = v
    tri = lambda: rng.integers(0, 3, n).astype(np.int8)  # noqa: E731
    return dict(
        labs=labs,
        findings={f: tri() for f in FINDING_IDS},
        flags={f: tri() for f in PATIENT_FLAGS},
        age_years=rng.uniform(0.1, 70, n),
        context=rng.integers(0, len(CONTEXTS), n).astype(np.int8),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--loop-n", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=5, help="runs; the first (cold: page faults) is reported apart")
    args = ap.parse_args()

    cols = random_columns(args.n)
    batch = SnapshotBatch.from_columns(args.n, **cols)
    evaluate_all(batch.row(0))  # warm-up

    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        evaluate_all(batch)
        runs.append(time.perf_counter() - t0)
    cold, vec = runs[0], float(np.median(runs[1:])) if len(runs) > 1 else runs[0]
    t0 = time.perf_counter()
    SnapshotBatch.from_columns(args.n, **cols)
    build = time.perf_counter() - t0

    m = args.loop_n
    t0 = time.perf_counter()
    for i in range(m):
        evaluate_all(batch.row(i))
    loop = time.perf_counter() - t0

    vec_rate = args.n / vec
    loop_rate = m / loop
    print(f"snapshots (synthetic random)     : {args.n:,}")
    print(f"vectorised, all 8 instruments    : {vec:.3f} s  = {vec_rate:,.0f} snapshots/s (median of warm runs)")
    print(f"  first (cold) run               : {cold:.3f} s  = {args.n / cold:,.0f} snapshots/s")
    print(f"  + building interval columns    : {build:.3f} s  = {args.n / (vec + build):,.0f} snapshots/s end to end")
    print(f"per-snapshot loop ({m:,} rows)    : {loop:.3f} s  = {loop_rate:,.0f} snapshots/s")
    print(f"ratio vectorised / loop          : {vec_rate / loop_rate:,.0f}x")
    print(f"target >= 1,000,000 snapshots/s  : {'met' if vec_rate >= 1_000_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
