"""Benchmark: assess one patient with 2,000 observations at every result time.

Target (issue 3): <= 20 ms. Baseline measured in the same run: a naive loop that builds
a snapshot dict per evaluation time and calls ``maswatch.evaluate.evaluate_one``.
The timeline is SYNTHETIC (random course, fixed seed), every observation at its own
time, so there are ~2,000 evaluation points (the worst case for the count).

    python benchmarks/bench_assess.py [--n 2000] [--repeat 20] [--naive-points 300] [--baseline REV_OR_DIR]

Steps: parse, assess, to_json with and without history rows, all three together. With
``--baseline`` the same steps are measured on an older revision in a subprocess of the same run
and the ratio baseline / now is printed (CPU time: less sensitive to a loaded machine).
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from datetime import datetime, timedelta, timezone

import numpy as np

from maswatch import timeline
from maswatch.evaluate import evaluate_one
from maswatch.lookback import DEFAULT_LOOKBACK

LABS = {  # analyte: (unit, start, end) — a course drifting from active sJIA towards MAS
    "platelets": ("10*9/L", 420, 60), "ferritin": ("ng/mL", 800, 30000), "ast": ("U/L", 30, 400),
    "ldh": ("U/L", 300, 2500), "fibrinogen": ("g/L", 4.5, 1.2), "wbc": ("10*9/L", 14, 3),
    "neutrophils": ("10*9/L", 10, 1.5), "hemoglobin": ("g/dL", 11, 8), "esr": ("mm/h", 80, 15),
    "crp": ("mg/L", 60, 120), "triglycerides": ("mmol/L", 1.2, 3.5), "alt": ("U/L", 25, 200),
    "temperature": ("Cel", 38.0, 39.8),
}


def synthetic_timeline(n: int, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    t0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
    span_h = 24 * 40
    minutes = np.sort(rng.choice(span_h * 60, size=n, replace=False))
    names = list(LABS) + ["fever"]
    obs = []
    for k, m in enumerate(minutes.tolist()):
        a = names[k % len(names)]
        frac = m / (span_h * 60)
        t = (t0 + timedelta(minutes=m)).isoformat().replace("+00:00", "Z")
        if a == "fever":
            obs.append({"id": f"o{k}", "time": t, "finding": "fever", "value": bool(rng.random() < 0.3 + 0.6 * frac)})
            continue
        unit, lo, hi = LABS[a]
        v = (lo + (hi - lo) * frac) * float(rng.normal(1, 0.05))
        obs.append({"id": f"o{k}", "time": t, "analyte": a, "value": round(v, 2), "unit": unit})
    return {"format": "maswatch-timeline/1", "synthetic": True,
            "patient": {"id": "SYN-BENCH", "birth_date": "2014-06-01"},
            "conditions": [{"code": "sjia", "onset": "2023-01-10"}], "observations": obs, "medications": []}


def naive(obj: dict, limit: int) -> float:
    """One evaluate_one per evaluation time; snapshot built by scanning the observations."""
    tl = timeline.parse(obj)
    times = sorted({o["time"] for o in obj["observations"]})[:limit]
    parsed = [(datetime.fromisoformat(o["time"].replace("Z", "+00:00")), o) for o in obj["observations"]]
    birth = datetime(2014, 6, 1, tzinfo=timezone.utc)
    start = time.perf_counter()
    for ts in times:
        t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        labs, findings = {}, {}
        best: dict[str, tuple] = {}
        for ot, o in parsed:
            key = o.get("analyte") or o.get("finding")
            if ot <= t and ot >= t - timedelta(hours=DEFAULT_LOOKBACK.window_hours(key)):
                if key not in best or (ot, o["id"]) > best[key][:2]:
                    best[key] = (ot, o["id"], o)
        for key, (_, _, o) in best.items():
            if key == "fever":
                findings["fever"] = o["value"]
            elif key == "temperature":
                findings["temperature"] = {"value": o["value"], "unit": o["unit"]}
            else:
                labs[key] = {"value": o["value"], "unit": o["unit"]}
        age = (t - birth).total_seconds() / 86400 / 365.25
        evaluate_one({"patient": {"age_years": age, "context": "sjia"}, "findings": findings, "labs": labs})
    del tl
    return (time.perf_counter() - start) * 1000 * len({o["time"] for o in obj["observations"]}) / len(times)


def _timed(fn, repeat: int) -> dict:
    """best and median wall time, and best CPU time of this process, in ms. The best is the cost
    without interference from other processes on a shared machine, the median what a user sees;
    CPU time leaves out the time spent waiting for a core."""
    wall, cpu = [], []
    for _ in range(repeat):
        s, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - s) * 1000)
    return {"best": min(wall), "median": statistics.median(wall), "cpu": min(cpu)}


def measure(n: int, repeat: int) -> dict[str, dict]:
    """The one-patient path, step by step, on whatever ``maswatch`` is importable."""
    obj = synthetic_timeline(n)
    tl = timeline.parse(obj)
    a = timeline.assess(tl)
    a.to_json()  # warm up
    no_history = "history" in inspect.signature(a.to_json).parameters  # absent in older code
    steps = {
        "parse": lambda: timeline.parse(obj),
        "assess": lambda: timeline.assess(tl),
        "to_json": lambda: a.to_json(),
        "to_json_no_history": (lambda: a.to_json(history=False)) if no_history else None,
        "all": lambda: timeline.assess(timeline.parse(obj)).to_json(),
    }
    out = {k: _timed(f, repeat) for k, f in steps.items() if f is not None}
    out["points"] = {"n": a.n}
    return out


LABELS = {
    "parse": "parse (validate, corrections, units)",
    "assess": "assess (points, instruments, trends, alerts, episodes)",
    "to_json": "to_json (assessment + history rows)",
    "to_json_no_history": "to_json(history=False)",
    "all": "parse + assess + to_json",
}


def baseline_src(where: str) -> Path:
    """A directory holding the baseline's ``maswatch`` package: ``where`` itself if it is one
    (a copy of ``src/``), else ``src/`` of that git revision, exported to a temporary directory."""
    p = Path(where)
    if (p / "maswatch" / "__init__.py").is_file():
        return p
    root = Path(__file__).resolve().parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="bench-assess-baseline-"))
    archive = subprocess.run(["git", "-C", str(root), "archive", where, "src"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "src"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--naive-points", type=int, default=300, help="naive loop on the first K points, scaled to all")
    ap.add_argument("--baseline", metavar="REV_OR_DIR",
                    help="also measure this git revision (or a copy of src/) in a subprocess, same run, and print "
                         "the ratio baseline / now per step")
    ap.add_argument("--json-out", action="store_true", help=argparse.SUPPRESS)  # the baseline subprocess
    args = ap.parse_args()
    if args.json_out:
        print(json.dumps(measure(args.n, args.repeat)))
        return
    base = None
    if args.baseline:
        env = {**os.environ, "PYTHONPATH": str(baseline_src(args.baseline))}
        run = subprocess.run([sys.executable, __file__, "--json-out", "--n", str(args.n), "--repeat", str(args.repeat)],
                             env=env, check=True, capture_output=True, text=True)
        base = json.loads(run.stdout)
    now = measure(args.n, args.repeat)
    print(f"SYNTHETIC patient: {args.n} observations, {now['points']['n']} evaluation points; "
          "ms as best / median wall, best CPU")
    for key, label in LABELS.items():
        m = now[key]
        line = f"{label:<56} {m['best']:8.2f} / {m['median']:8.2f}  cpu {m['cpu']:8.2f} ms"
        if base is not None:
            ref = base.get(key) or (base["to_json"] if key == "to_json_no_history" else None)
            line += f"   baseline cpu {ref['cpu']:8.2f} ms  x{ref['cpu'] / m['cpu']:5.1f}"
        print(line)
    if base is not None:
        print(f"baseline: {args.baseline} (to_json(history=False) compared with its full to_json)")
    print("target: assess <= 20 ms (issue 3)")
    obj = synthetic_timeline(args.n)
    t_naive = naive(obj, args.naive_points)
    print(f"naive loop of evaluate_one: {t_naive:8.1f} ms (first {min(args.naive_points, now['points']['n'])} "
          "points, scaled to all)")
    print(f"speed-up assess vs naive:   {t_naive / now['assess']['median']:8.1f} x (median)")


if __name__ == "__main__":
    main()
