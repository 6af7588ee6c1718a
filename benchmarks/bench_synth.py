"""Benchmark the SYNTHETIC cohort generator (``maswatch synth``).

Prints, in one run:
1. throughput (observation rows/s) and peak memory (RSS, via resource.getrusage) of
   generating a Parquet cohort of ``--rows`` rows (default 10M) with ``--workers``
   processes, measured in a fresh subprocess so the peak belongs to that run only;
2. a naive per-row Python generator (the same patients, rows built one dict at a time)
   on a small cohort, and the ratio of the two throughputs;
3. calibration of the generated data against its own ground-truth labels: how often the
   2016 criteria / HLH-2004 are met in labelled MAS episodes and without one
   (docs/clinical/distributions.md §7.2: 2016 sensitivity 0.73, specificity 0.99; HLH-2004 a minority).

    python benchmarks/bench_synth.py [--rows 10000000] [--workers 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from maswatch import analytes, synth
from maswatch.synth import calibration, params
from maswatch.synth.model import simulate_patient

_RUN = """
import json, resource, sys, time
from maswatch import synth
out, patients, seed, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r0 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
s = synth.generate(out, patients, seed, ("parquet",), workers)
r1 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(r0, r1))
print(json.dumps({"rows": s.rows["observations"], "seconds": s.seconds, "cpu_seconds": cpu,
                  "self_mb": r1[0].ru_maxrss / 1024, "workers_mb": r1[1].ru_maxrss / 1024}))
"""


def vectorised_run(rows: int, workers: int, seed: int) -> dict:
    patients = synth.patients_for_rows(rows, seed)
    with tempfile.TemporaryDirectory() as d:
        res = subprocess.run([sys.executable, "-c", _RUN, str(Path(d) / "c"), str(patients), str(seed), str(workers)],
                             check=True, capture_output=True, text=True)
        size = sum(p.stat().st_size for p in (Path(d) / "c").rglob("*.parquet"))
    out = json.loads(res.stdout)
    out.update(patients=patients, mb_on_disk=size / 1e6)
    return out


def naive_run(patients: int, seed: int) -> tuple[int, float]:
    """Per-row Python: every draw, value, unit conversion and row dict made one at a time."""
    import random

    opts = synth.SynthOptions()
    t0 = time.perf_counter()
    rows = []
    for i in range(patients):
        p = simulate_patient(seed, i, opts)
        rnd = random.Random(seed * 1_000_003 + i)
        site = params.SITES[p.site]
        pid = f"SYN-{i + 1:06d}"
        t = p.window[0]
        stays = p.admissions
        seq = 0
        while t < p.window[1]:
            inpatient = any(a <= t <= b for a, b in stays)
            t += 1.0 if inpatient else rnd.uniform(*p.params.visit_gap_days)
            for k, a in enumerate(analytes.LAB_IDS):
                if rnd.random() >= params.DRAW_PROBABILITY[a][1 if inpatient else 0]:
                    continue
                log_v = p.base[k]
                for e in p.episodes:
                    if t >= e.start:
                        rise = min(1.0, (t - e.start) / max(e.peak - e.start, 1e-3))
                        log_v += rise * math.exp(-max(t - e.plateau_end, 0.0) / e.tau) * e.delta[k]
                lo, hi = params.CLIP[a]
                v = min(max(math.exp(log_v + rnd.gauss(0, params.WITHIN_PERSON_CV[a])), lo), hi)
                an = analytes.get(a)
                unit = site.units.get(a) or an.canonical_unit
                c = an.conversion(unit)
                seq += 1
                rows.append({"patient_id": pid, "time": int(t * 86400e6), "obs_id": f"{pid}-{seq}",
                             "loinc": an.loinc[0] if an.loinc else None, "analyte": a,
                             "value": round(v * c.divide / c.multiply + c.subtract, an.decimals),
                             "unit": unit, "comparator": None, "status": "final",
                             "ref_low": None, "ref_high": None})
    table = pa.Table.from_pylist(rows, schema=synth.SCHEMAS["observations"])
    with tempfile.TemporaryDirectory() as d:
        pq.write_table(table, Path(d) / "naive.parquet", compression="zstd")
    return len(rows), time.perf_counter() - t0


def calibration_report(patients: int, seed: int) -> None:
    c = synth.cohort(patients, seed, synth.SynthOptions(mas_ever_scale=3.0))
    print(f"\nCalibration on {patients} SYNTHETIC patients (MAS probability x3 to have enough episodes):")
    for inst, target in (("ravelli2016", "published sensitivity 0.73 / specificity 0.99"),
                         ("hlh2004", "met by a minority of MAS (3/8, 6/33 in small cohorts)")):
        r = calibration.episode_verdicts(c, inst)
        ep = r["episodes"]
        mas = ep[ep.kind == "mas"]
        met = mas.first_met.notna()
        print(f"  {inst:12s} met in {met.mean():5.1%} of {len(mas)} MAS episodes; median {np.nanmedian(mas.days_onset_to_met):.1f}"
              f" days from labelled onset to first met; met outside any MAS episode in "
              f"{r['outside_mas_patients']} of {r['patients']} patients "
              f"({r['outside_mas_points']} of {r['points']} evaluation points)  [{target}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--naive-patients", type=int, default=300)
    ap.add_argument("--calibration-patients", type=int, default=3000)
    ap.add_argument("--quick", action="store_true", help="1M rows, small baseline and calibration")
    a = ap.parse_args()
    if a.quick:
        a.rows, a.naive_patients, a.calibration_patients = 1_000_000, 100, 800
    print(f"maswatch synth benchmark (SYNTHETIC data), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    v = vectorised_run(a.rows, a.workers, a.seed)
    rate = v["rows"] / v["seconds"]
    per_cpu = v["rows"] / v["cpu_seconds"]
    print(f"vectorised: {v['rows']:,} rows ({v['patients']:,} patients) in {v['seconds']:.1f} s wall with "
          f"{a.workers} worker(s) = {rate:,.0f} rows/s; {v['cpu_seconds']:.1f} CPU-s = {per_cpu:,.0f} rows per "
          f"CPU-second (x{a.workers} = {per_cpu * a.workers:,.0f} rows/s on {a.workers} idle cores); peak RSS "
          f"main {v['self_mb']:.0f} MB, largest worker {v['workers_mb']:.0f} MB; {v['mb_on_disk']:.0f} MB Parquet")
    n, secs = naive_run(a.naive_patients, a.seed)
    naive = n / secs
    one = vectorised_run(min(a.rows, 2_000_000), 1, a.seed)
    rate1 = one["rows"] / one["seconds"]
    print(f"naive per-row Python: {n:,} rows in {secs:.2f} s = {naive:,.0f} rows/s (labs only, no findings)")
    print(f"vectorised 1 worker: {rate1:,.0f} rows/s -> {rate1 / naive:.1f}x the naive baseline; "
          f"{a.workers} workers: {rate / naive:.1f}x")
    calibration_report(a.calibration_patients, a.seed)


if __name__ == "__main__":
    main()
