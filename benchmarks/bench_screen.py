"""Benchmark: `maswatch screen` end-to-end on DuckDB at growing sizes (a benchmark, not a test).

Prints, per size: rows, wall time, peak RSS of the screening process (each size runs in
its own subprocess), the floor (time for the engine to build the evaluation points
only), and, on a 1M-row subset, a naive pandas per-patient loop with the ratios.
Target (issue 4): 158M rows (MIMIC-IV labevents size) in <= 60 s and <= 4 GB on 2 cores.

    python benchmarks/bench_screen.py                    # 1M and 10M (default)
    python benchmarks/bench_screen.py --sizes 1M,10M,100M,158M --data /data/bench

Data: SYNTHETIC long tables cached under --data (``rows_<N>/``), written by
``maswatch.screen.benchdata`` (vectorised numpy generator in the long format).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000, "158M": 158_000_000}


def parse_size(s: str) -> int:
    s = s.strip().upper()
    return SIZES.get(s) or int(float(s.rstrip("M")) * 1_000_000) if s.endswith("M") else int(s)


def _synth_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("maswatch.synth") is not None


def ensure_data(rows: int, root: Path, generator: str = "auto") -> Path:
    """SYNTHETIC long tables of ~``rows`` observations, cached in ``root``.

    ``synth``: the project's clinical generator (``maswatch synth --rows N``); ``fast``:
    ``maswatch.screen.benchdata`` (vectorised, seconds even at 158M rows); ``auto``: synth
    if installed.
    """
    use = ("synth" if _synth_available() else "fast") if generator == "auto" else generator
    d = root / f"{use}_rows_{rows}"
    if not (d / "README.txt").exists():
        t = time.perf_counter()
        if use == "synth":
            cmd = [sys.executable, "-m", "maswatch", "synth", "--rows", str(rows), "--seed", "2026",
                   "--workers", "2", "--out", str(d)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(p.stderr[-2000:])
            print(f"  maswatch synth --rows {rows:,}: {time.perf_counter() - t:.1f} s -> {d}", flush=True)
        else:
            from maswatch.screen.benchdata import generate

            info = generate(rows, d, seed=2026)
            print(f"  generated {info['rows']:,} SYNTHETIC rows in {time.perf_counter() - t:.1f} s -> {d}", flush=True)
    return d


def observations(src: Path):
    import pyarrow.dataset as ds

    p = src / "observations"
    return ds.dataset(str(p if p.exists() else src / "observations.parquet"), format="parquet")


def worker(mode: str, src: str, out: str, threads: int, memory_limit: str) -> None:
    """Runs in a subprocess: screen (or only build points) and report time and peak RSS."""
    import duckdb

    from maswatch import sources
    from maswatch.screen import ScreenOptions, screen
    from maswatch.screen import duckdb_engine

    t0 = time.perf_counter()
    if mode == "screen":
        r = screen(src, "long", out, ScreenOptions(threads=threads, memory_limit=memory_limit, write_points=False))
        n_points = r["summary"]["points"]
    else:
        con = duckdb.connect()
        duckdb_engine.configure(con, threads=threads, memory_limit=memory_limit)
        loaded = sources.load("long", src, con)
        n_points = sum(b.num_rows for b in duckdb_engine.point_batches(con, patient_ranges=loaded.patient_ranges))
    wall = time.perf_counter() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall_s": wall, "peak_rss_mb": rss_kb / 1024, "points": n_points}))  # MiB (ru_maxrss is KiB)


def run_worker(mode: str, src: Path, out: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--src", str(src), "--out", str(out),
           "--threads", str(args.threads), "--memory-limit", args.memory_limit]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def naive_pandas(src: Path, max_patients: int) -> dict:
    """The baseline: a per-patient Python loop (pandas), one snapshot per result time, each
    evaluated alone — how case finding is often scripted. Timed on ``max_patients`` patients
    and extrapolated to the whole subset."""
    import math

    import pandas as pd

    from maswatch.errors import InputError
    from maswatch.evaluate import evaluate_one
    from maswatch.lookback import DEFAULT_LOOKBACK
    from maswatch.batch import QUANTITY_IDS

    obs = observations(src).to_table(columns=["patient_id", "time", "obs_id", "analyte", "value", "unit",
                                                "comparator", "status"]).to_pandas()
    obs = obs[obs["analyte"] != "weight"]
    n_rows = len(obs)
    pids = obs["patient_id"].unique()
    sample = set(sorted(pids)[:max_patients])
    sub = obs[obs["patient_id"].isin(sample)]
    t0 = time.perf_counter()
    n_points = 0
    for _, g in sub.groupby("patient_id", sort=True):
        removed = set(g.loc[g["status"].isin(["entered-in-error", "cancelled"]), "obs_id"])
        g = g[~g["obs_id"].isin(removed)]
        g = g.assign(rank=g["status"].isin(["amended", "corrected"]).astype(int)).sort_values(["obs_id", "rank"])
        g = g.drop_duplicates("obs_id", keep="last").sort_values(["time", "obs_id"])
        for t in g["time"].unique():
            labs, findings = {}, {}
            for a, ga in g[g["time"] <= t].groupby("analyte"):
                w = pd.Timedelta(hours=DEFAULT_LOOKBACK.window_hours(a))
                ga = ga[ga["time"] >= t - w]
                if ga.empty:
                    continue
                last = ga.iloc[-1]
                if a in QUANTITY_IDS:
                    m = {"value": float(last["value"]), "unit": last["unit"]}  # evaluate converts units
                    if isinstance(last["comparator"], str):
                        m["comparator"] = last["comparator"]
                    (findings if a == "temperature" else labs)[a] = m
                else:
                    findings[a] = bool(last["value"] == 1.0)
            try:
                evaluate_one({"findings": findings, "labs": labs})
            except InputError:
                pass  # a refused unit: the screen counts such rows in its unit report
            n_points += 1
    secs = time.perf_counter() - t0
    per_row = secs / max(len(sub), 1)
    return {"rows_timed": len(sub), "patients_timed": len(sample), "points_timed": n_points, "seconds_timed": secs,
            "extrapolated_s": per_row * n_rows, "rows": n_rows, "note": "context/age/trends omitted (a floor for naive)"
            if not math.isnan(per_row) else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1M,10M", help="comma list: 1M,10M,100M,158M or row counts")
    ap.add_argument("--data", default=str(Path.home() / ".cache" / "maswatch-bench"), help="cache directory")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="1200MB",
                    help="DuckDB memory limit; the sorted patient ranges in flight and Python add ~2 GB "
                         "(the target is 4 GB peak RSS; 1200MB and 1500MB take the same time)")
    ap.add_argument("--generator", default="auto", choices=("auto", "synth", "fast"),
                    help="synth = maswatch synth --rows N (clinical generator); fast = vectorised benchdata")
    ap.add_argument("--naive-patients", type=int, default=40, help="patients timed in the naive pandas loop")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.src, args.out, args.threads, args.memory_limit)
        return
    root = Path(args.data)
    root.mkdir(parents=True, exist_ok=True)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    gen_used = ("synth" if _synth_available() else "fast") if args.generator == "auto" else args.generator
    print(f"maswatch screen benchmark (SYNTHETIC data, {gen_used} generator) — {os.cpu_count()} cores, "
          f"threads={args.threads}, memory_limit={args.memory_limit}")
    results = []
    for n in sizes:
        src = ensure_data(n, root, args.generator)
        floor = run_worker("floor", src, root / "out_floor", args)
        full = run_worker("screen", src, root / f"out_{n}", args)
        results.append((n, floor, full))
        n = observations(src).count_rows()
        print(f"  {n:>12,} rows  {full['points']:>11,} points  screen {full['wall_s']:7.1f} s "
              f"(peak RSS {full['peak_rss_mb']:7.0f} MiB)  floor (points only) {floor['wall_s']:6.1f} s "
              f"(peak RSS {floor['peak_rss_mb']:6.0f} MiB)  floor/screen {floor['wall_s'] / full['wall_s']:.2f}", flush=True)
    src1 = ensure_data(1_000_000, root, args.generator)
    naive = naive_pandas(src1, args.naive_patients)
    one = next((r for r in results if r[0] == 1_000_000), None)
    print(f"  naive pandas per-patient loop: {naive['points_timed']:,} points of {naive['patients_timed']} patients "
          f"in {naive['seconds_timed']:.1f} s -> extrapolated {naive['extrapolated_s']:.0f} s for "
          f"{naive['rows']:,} rows")
    if one is not None:
        print(f"  ratio naive / screen at 1M rows: {naive['extrapolated_s'] / one[2]['wall_s']:.0f}x; "
              f"naive / floor: {naive['extrapolated_s'] / one[1]['wall_s']:.0f}x")
    if len(results) > 1:
        base = results[0]
        for n, _, full in results[1:]:
            print(f"  growth {base[0]:,} -> {n:,} rows: x{n / base[0]:.0f} rows, x{full['wall_s'] / base[2]['wall_s']:.1f} time")
    big = [r for r in results if r[0] >= 158_000_000]
    for n, _, full in big:
        gb = full["peak_rss_mb"] * 2**20 / 1e9
        ok = full["wall_s"] <= 60 and gb <= 4.0  # 4 GB read strictly: 4e9 bytes (3,815 MiB)
        print(f"  target 158M (<= 60 s, <= 4 GB) on {gen_used} data ({full['points'] / n:.3f} points per row): "
              f"{full['wall_s']:.1f} s, {full['peak_rss_mb']:,.0f} MiB = {gb:.2f} GB -> {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
