"""CDS Hooks ``patient-view`` under load: p50 / p99 latency and requests/s, against a floor.

    .venv/bin/python benchmarks/bench_cds.py [--requests 400] [--clients 16] [--observations 1000]

The server runs in a subprocess (uvicorn, one worker, loopback only) with the CDS router and
an in-memory state; the load comes from this process (httpx, one thread per client; every
token is signed ES384 before the clock starts, each with its own jti). The floor is an
endpoint added ONLY in this benchmark's server: it verifies the same JWT and parses the same
JSON body and does nothing else. Target (issue 13): p99 <= 50 ms and <= 3 x the floor's p99.
SYNTHETIC data only.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

ISS = "https://bench-ehr.example"
PV = "maswatch-patient-view"


# ----------------------------------------------------------------------------- server side


def serve(port: int, jwks_url: str) -> None:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from maswatch.cds.auth import Refused
    from maswatch.cds.config import CdsHooksConfig
    from maswatch.cds.router import _audience, install, memory_runtime
    from maswatch.jsondoc import read_json_bytes

    cfg = CdsHooksConfig.model_validate({"clients": [{"iss": ISS, "jwks_url": jwks_url}]})
    rt = memory_runtime(cfg)
    app = FastAPI()
    install(app, rt)

    @app.post("/bench/floor")  # benchmark only: same JWT check, same JSON parse, nothing else
    async def floor(request: Request):
        try:
            rt.verifier.verify(request.headers.get("authorization"), _audience(request, None))
        except Refused:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        read_json_bytes(await request.body(), what="request")
        return {"cards": []}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ----------------------------------------------------------------------------- load side


def _jwks_server(jwk: dict):
    body = json.dumps({"keys": [jwk]}).encode()

    class H(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/jwks.json"


def _patient(n_obs: int) -> dict:
    """A SYNTHETIC patient with exactly n_obs observations (the longest generated, cut to n_obs)."""
    from maswatch import synth

    docs = synth.cohort(40, 2026, timelines=True)["timelines"]
    doc = max(docs, key=lambda d: len(d["observations"]))
    if len(doc["observations"]) < n_obs:
        raise SystemExit(f"the longest generated patient has {len(doc['observations'])} observations (< {n_obs})")
    kept = doc["observations"][:n_obs]
    ids = {o.get("id") for o in kept}
    doc["observations"] = kept
    assert all(o.get("id") in ids for o in kept)
    return doc


def _body(doc: dict) -> bytes:
    from maswatch.fhir.export import timeline_to_resources

    res = timeline_to_resources(doc)
    ss = lambda t: {"resourceType": "Bundle", "type": "searchset",  # noqa: E731
                    "entry": [{"resource": r} for r in res if r["resourceType"] == t]}
    return json.dumps({"hook": "patient-view", "hookInstance": "bench", "context": {
        "userId": "Practitioner/bench", "patientId": doc["patient"]["id"]},
        "prefetch": {"patient": res[0], "observations": ss("Observation"), "conditions": ss("Condition"),
                     "medications": ss("MedicationRequest")}}).encode()


def _run(url: str, tokens: list[str], body: bytes, clients: int, deadline: float) -> tuple[list[float], float, int]:
    lat: list[float] = []
    bad = 0
    lock = threading.Lock()
    it = iter(tokens)

    def worker():
        nonlocal bad
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < deadline:
                with lock:
                    tok = next(it, None)
                if tok is None:
                    return
                t0 = time.perf_counter()
                r = c.post(url, content=body, headers={"Authorization": f"Bearer {tok}",
                                                       "Content-Type": "application/json"})
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    if r.status_code != 200:
                        if not bad:
                            print(f"  first non-200: {r.status_code} {r.text[:200]}", file=sys.stderr)
                        bad += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        for f in [ex.submit(worker) for _ in range(clients)]:
            f.result()
    return lat, time.perf_counter() - t0, bad


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--observations", type=int, default=1000)
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--serve", nargs=2, metavar=("PORT", "JWKS_URL"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(int(a.serve[0]), a.serve[1])
        return

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": "bench", "alg": "ES384"}
    jwks, jwks_url = _jwks_server(jwk)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), jwks_url],
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/cds-services", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        doc = _patient(a.observations)
        body = _body(doc)
        print(f"SYNTHETIC patient {doc['patient']['id']}: {len(doc['observations'])} observations, "
              f"prefetch {len(body) / 1e6:.2f} MB; {a.clients} concurrent clients, {a.requests} requests per endpoint, "
              f"{os.cpu_count()} CPUs, server: 1 uvicorn worker")
        results = {}
        for name, path in (("floor (JWT + JSON parse)", "/bench/floor"), ("patient-view", f"/cds-services/{PV}")):
            url = base + path
            n = a.requests + 2 * a.clients
            now = int(time.time())
            tokens = [jwt.encode({"iss": ISS, "aud": url, "iat": now, "exp": now + 600, "jti": f"{path}-{i}"}, key,
                                 algorithm="ES384", headers={"kid": "bench"}) for i in range(n)]
            _run(url, tokens[: 2 * a.clients], body, a.clients, time.monotonic() + 60)  # warm-up
            lat, wall, bad = _run(url, tokens[2 * a.clients:], body, a.clients, time.monotonic() + a.max_seconds)
            results[name] = (_pct(lat, 50), _pct(lat, 99), len(lat) / wall, bad, len(lat))
        print(f"{'endpoint':<28}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'non-200':>9}{'n':>6}")
        for name, (p50, p99, rps, bad, n) in results.items():
            print(f"{name:<28}{p50:>9.1f}{p99:>9.1f}{rps:>9.1f}{bad:>9}{n:>6}")
        f, p = results["floor (JWT + JSON parse)"], results["patient-view"]
        print(f"patient-view / floor: p50 x{p[0] / f[0]:.2f}, p99 x{p[1] / f[1]:.2f}, throughput x{p[2] / f[2]:.2f}")
        print(f"target p99 <= 50 ms: {'met' if p[1] <= 50 else 'NOT met'} ({p[1]:.1f} ms); "
              f"p99 <= 3 x floor: {'met' if p[1] <= 3 * f[1] else 'NOT met'} (x{p[1] / f[1]:.2f})")
        print(f"single-request service time (p99 / concurrency): ~{p[1] / a.clients:.1f} ms patient-view, "
              f"~{f[1] / a.clients:.1f} ms floor")
    finally:
        proc.terminate()
        proc.wait(10)
        jwks.shutdown()


if __name__ == "__main__":
    main()
