"""CDS Hooks ``patient-view`` under load: p50 / p99 latency and requests/s, against a floor.

    .venv/bin/python benchmarks/bench_cds.py [--requests 400] [--clients 16] [--observations 1000]

The server runs in a subprocess (uvicorn, one worker, loopback only) with the CDS router and
an in-memory state. The load comes from this process: one asyncio connection per client
(keep-alive, HTTP/1.1 framed by h11, so the load generator takes little of the 2 CPUs it
shares with the server); every token is signed ES384 and every body built before the clock
starts, each token with its own jti. Closed loop: each client sends its next request when
the previous answer arrives, so latency = clients / throughput (Little's law).

Endpoints, each after a warm-up:
  floor            added ONLY in this benchmark's server: verifies the same JWT and parses the
                   same JSON body with the same strict reader, and does nothing else;
  repeat opens     patient-view with the same 1,000-observation prefetch on every call (a chart
                   opened again: the card assessment of identical data is remembered, cds/memo.py;
                   whether to card is still decided per call);
  new result       patient-view where every call carries one more result than the last (the
                   assessment is computed in full on every call: the worst case).
Each is also run by a single client (no queueing: the service time). Target (issue 13):
p99 <= 50 ms and <= 3 x the floor's p99. SYNTHETIC data only.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import h11
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

    from maswatch.web.collector import tune_for_serving

    tune_for_serving()  # as `maswatch serve` does
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


def _body(doc: dict, extra: int = 0) -> bytes:
    """The patient-view request; ``extra`` > 0 adds that many new ferritin results after the last one."""
    from maswatch.fhir.export import timeline_to_resources

    if extra:
        last = max(o["time"] for o in doc["observations"] if "time" in o)
        t0 = time.mktime(time.strptime(last[:19], "%Y-%m-%dT%H:%M:%S"))
        doc = {**doc, "observations": doc["observations"] + [
            {"id": f"bench-new-{extra}-{k}", "analyte": "ferritin", "value": 1000 + extra, "unit": "ng/mL",
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.localtime(t0 + 60 * (k + 1)))} for k in range(1)]}
    res = timeline_to_resources(doc)
    ss = lambda t: {"resourceType": "Bundle", "type": "searchset",  # noqa: E731
                    "entry": [{"resource": r} for r in res if r["resourceType"] == t]}
    return json.dumps({"hook": "patient-view", "hookInstance": "bench", "context": {
        "userId": "Practitioner/bench", "patientId": doc["patient"]["id"]},
        "prefetch": {"patient": res[0], "observations": ss("Observation"), "conditions": ss("Condition"),
                     "medications": ss("MedicationRequest")}}).encode()


async def _client(url: str, jobs: list[tuple[str, bytes]], lat: list[float], bad: list[str]) -> None:
    """One keep-alive connection sending its jobs one after another (closed loop)."""
    u = urlsplit(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    conn = h11.Connection(h11.CLIENT)
    try:
        for token, body in jobs:
            t0 = time.perf_counter()
            writer.write(conn.send(h11.Request(method="POST", target=u.path, headers=[
                ("Host", u.netloc), ("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"),
                ("Content-Length", str(len(body)))])) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
            status, data = None, b""
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(ev, h11.Response):
                    status = ev.status_code
                elif isinstance(ev, h11.Data):
                    data += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    break
            lat.append(time.perf_counter() - t0)
            if status != 200:
                bad.append(f"{status} {data[:200]!r}")
            conn.start_next_cycle()
    finally:
        writer.close()


def _run(url: str, jobs: list[tuple[str, bytes]], clients: int) -> tuple[list[float], float, list[str]]:
    """Latencies, wall time and failures of the jobs spread over ``clients`` connections."""
    lat: list[float] = []
    bad: list[str] = []

    async def main():
        await asyncio.gather(*(_client(url, jobs[i::clients], lat, bad) for i in range(clients)))

    t0 = time.perf_counter()
    asyncio.run(main())
    return lat, time.perf_counter() - t0, bad


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to tell the server's cost from the load generator's."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        n_warm, n_single = 2 * a.clients, 30
        n_all = n_warm + a.requests + n_single
        new_bodies = [_body(doc, extra=k + 1) for k in range(n_all)]  # every call one more result
        runs = (("floor (JWT + JSON parse)", "/bench/floor", lambda k: body),
                ("patient-view, repeat opens", f"/cds-services/{PV}", lambda k: body),
                ("patient-view, new result", f"/cds-services/{PV}", lambda k: new_bodies[k]))
        results, single, server_cpu = {}, {}, {}
        for name, path, body_of in runs:
            url = base + path
            now = int(time.time())
            jobs = [(jwt.encode({"iss": ISS, "aud": url, "iat": now, "exp": now + 900, "jti": f"{name}-{k}"}, key,
                                algorithm="ES384", headers={"kid": "bench"}), body_of(k)) for k in range(n_all)]
            _run(url, jobs[:n_warm], a.clients)  # warm-up
            cpu0 = _cpu_seconds(proc.pid)
            lat, wall, bad = _run(url, jobs[n_warm:n_warm + a.requests], a.clients)
            server_cpu[name] = (_cpu_seconds(proc.pid) - cpu0) / len(jobs[n_warm:n_warm + a.requests]) * 1000
            if bad:
                print(f"  {name}: {len(bad)} non-200, first: {bad[0]}", file=sys.stderr)
            results[name] = (_pct(lat, 50), _pct(lat, 99), len(lat) / wall, len(bad), len(lat))
            lat1, _, _ = _run(url, jobs[n_warm + a.requests:], 1)
            single[name] = (_pct(lat1, 50), _pct(lat1, 99))
        print(f"{'endpoint':<30}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'non-200':>9}{'n':>6}"
              f"{'1 client p50':>14}{'p99':>7}{'server CPU ms/req':>19}")
        for name, (p50, p99, rps, bad, n) in results.items():
            print(f"{name:<30}{p50:>9.1f}{p99:>9.1f}{rps:>9.1f}{bad:>9}{n:>6}{single[name][0]:>14.1f}{single[name][1]:>7.1f}{server_cpu[name]:>19.1f}")
        f = results["floor (JWT + JSON parse)"]
        for name in ("patient-view, repeat opens", "patient-view, new result"):
            p = results[name]
            print(f"{name} / floor: p50 x{p[0] / f[0]:.2f}, p99 x{p[1] / f[1]:.2f}, throughput x{p[2] / f[2]:.2f}; "
                  f"target p99 <= 50 ms: {'met' if p[1] <= 50 else 'NOT met'} ({p[1]:.1f} ms), "
                  f"p99 <= 3 x floor: {'met' if p[1] <= 3 * f[1] else 'NOT met'} (x{p[1] / f[1]:.2f})")
        print(f"Little's law at {a.clients} closed-loop clients: p99 <= 50 ms needs >= {a.clients / 0.05:.0f} req/s "
              f"(<= {2000 / (a.clients / 0.05):.1f} ms of CPU per request on {os.cpu_count()} CPUs, load generator included); "
              f"the floor alone serves {f[2]:.0f} req/s")
    finally:
        proc.terminate()
        proc.wait(10)
        jwks.shutdown()


if __name__ == "__main__":
    main()
