"""The strict JSON reader (maswatch.jsondoc.read_json_bytes) against the parsers it is built on.

    .venv/bin/python benchmarks/bench_jsondoc.py [--rounds 15] [--sweep]

Time per call, median of interleaved rounds (every method timed once per round, so machine
noise falls on all alike), of:
  json.loads      the standard library, no limits checked (the baseline of the ratios);
  orjson.loads    the fast parser, no limits checked;
  exact path      jsondoc._exact: json.loads with a hook per value + the walk where needed
                  (the reader before the fast path; it still decides every refusal);
  read_json_bytes the reader: orjson, trusted only when the raw bytes prove every limit.
on a CDS Hooks patient-view request of 1,000 Observations (~0.47 MB, built as
benchmarks/bench_cds.py does), a ~5 MB FHIR bundle and a ~300-byte snapshot.
``--sweep`` also times both paths on requests of growing size, where the fast path starts
to pay (jsondoc._LARGE). SYNTHETIC data only.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_cds  # noqa: E402
from bench_assess import synthetic_timeline  # noqa: E402

from maswatch import jsondoc  # noqa: E402
from maswatch.fhir.export import timeline_to_bundle  # noqa: E402

SMALL = {"id": "SYN-S1", "time": "2024-05-01T08:00:00Z", "patient": {"age_years": 7, "context": "sjia"},
         "findings": {"fever": True, "splenomegaly": True},
         "labs": {"ferritin": {"value": 5400, "unit": "ng/mL"}, "platelets": {"value": 120, "unit": "10*9/L"},
                  "ast": {"value": 80, "unit": "U/L"}}}


def fhir_bundle(target_bytes: int) -> bytes:
    """A SYNTHETIC collection bundle of about ``target_bytes``, patients of 1,000 observations each."""
    entries: list = []
    i = 0
    while len(json.dumps({"entry": entries})) < target_bytes:
        d = synthetic_timeline(1000, seed=1000 + i)
        d = {**d, "patient": {"id": f"SYN-B{i:04d}", "birth_date": "2014-06-01"},
             "observations": [{**o, "id": f"b{i}-{o['id']}"} for o in d["observations"]]}
        entries += timeline_to_bundle(d)["entry"]
        i += 1
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


METHODS = {
    "json.loads": json.loads,
    "orjson.loads": orjson.loads,
    "exact path": lambda d: jsondoc._exact(d, jsondoc.DEFAULT_LIMITS, "document"),
    "read_json_bytes": jsondoc.read_json_bytes,
}


def per_call(data: bytes, rounds: int) -> dict[str, float]:
    """Seconds per call of each method on ``data``: the median over interleaved rounds."""
    METHODS["exact path"](data)
    t0 = time.perf_counter()
    METHODS["exact path"](data)
    calls = max(1, int(0.02 / max(time.perf_counter() - t0, 1e-7)))  # ~20 ms of the slowest per sample
    samples: dict[str, list[float]] = {name: [] for name in METHODS}
    for _ in range(rounds):
        for name, f in METHODS.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                f(data)
            samples[name].append((time.perf_counter() - t0) / calls)
    return {name: statistics.median(xs) for name, xs in samples.items()}


def report(label: str, data: bytes, rounds: int) -> None:
    expected = json.loads(data)
    assert jsondoc.read_json_bytes(data) == expected and jsondoc._exact(data, jsondoc.DEFAULT_LIMITS, "d") == expected
    fast = len(data) >= jsondoc._LARGE and jsondoc._fast(data, jsondoc.DEFAULT_LIMITS) is not jsondoc._DOUBT
    del expected
    gc.collect()
    gc.freeze()  # what is alive before timing is not the parsers' garbage to trace (as bench_serve's server does)
    t = per_call(data, rounds)
    base = t["json.loads"]
    print(f"\n{label}: {len(data):,} bytes ({'fast path' if fast else 'exact path'} taken)")
    for name, s in t.items():
        unit, scale = ("ms", 1e3) if s >= 1e-3 else ("us", 1e6)
        print(f"  {name:<16} {s * scale:9.2f} {unit}   {s / base:5.2f} x json.loads")
    print(f"  read_json_bytes is {t['exact path'] / t['read_json_bytes']:.2f} x faster than the exact path, "
          f"{t['read_json_bytes'] / t['orjson.loads']:.2f} x orjson.loads")


def sweep(rounds: int) -> None:
    """The exact path against the fast path alone on documents of growing size: where orjson and
    NumPy start to pay for their set-up (jsondoc._LARGE; below it read_json_bytes takes the exact path)."""
    print(f"\nsweep: bytes, exact path, fast path alone, exact / fast (read_json_bytes tries the fast path "
          f"from {jsondoc._LARGE:,} bytes)")
    doc = bench_cds._patient(1000)
    docs = [json.dumps({**doc, "observations": doc["observations"][:n]}).encode() for n in (5, 20, 30, 45, 60, 100, 200)]
    docs += [bench_cds._body({**doc, "observations": doc["observations"][:n]}) for n in (0, 4, 8, 16, 64)]
    exact = lambda d: jsondoc._exact(d, jsondoc.DEFAULT_LIMITS, "document")  # noqa: E731
    fast = lambda d: jsondoc._fast(d, jsondoc.DEFAULT_LIMITS)  # noqa: E731
    for data in sorted(docs, key=len):
        assert fast(data) is not jsondoc._DOUBT
        samples: dict[str, list[float]] = {"exact": [], "fast": []}
        for _ in range(rounds):
            for name, f in (("exact", exact), ("fast", fast)):
                t0 = time.perf_counter()
                for _ in range(100):
                    f(data)
                samples[name].append((time.perf_counter() - t0) / 100)
        e, f = statistics.median(samples["exact"]), statistics.median(samples["fast"])
        print(f"  {len(data):>9,}  {e * 1e6:9.1f} us  {f * 1e6:9.1f} us  {e / f:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--sweep", action="store_true")
    args = ap.parse_args()
    report("CDS Hooks patient-view, 1,000 Observations", bench_cds._body(bench_cds._patient(1000)), args.rounds)
    report("FHIR collection bundle", fhir_bundle(5_000_000), args.rounds)
    report("snapshot", json.dumps(SMALL).encode(), args.rounds)
    if args.sweep:
        sweep(args.rounds)


if __name__ == "__main__":
    main()
