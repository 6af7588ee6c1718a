"""Real peers for the EHR tests: a FHIR R4 server (sekmet-fhir) and a mock EHR that signs JWTs.

Import the fixtures into a test module (``from fhir_fixtures import fhir_server, mock_ehr``).
- ``fhir_server``: sekmet-fhir (pinned in pyproject's dev extra) in a subprocess on
  127.0.0.1 with a free port, SQLite in a temp dir, inbound validation off, simulator off;
  ``SEKMET_BASE_URL`` set so its paging links point at it. Stopped at the end of the session.
- ``mock_ehr``: ES384 (P-384) and RS384 (RSA 2048) keys, a JWKS served on loopback by a
  threaded HTTP server, ``token(aud, ...)`` signing CDS Hooks client JWTs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISS = "https://ehr.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _public_jwk(private, kid: str, alg: str) -> dict:
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(private.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class MockEhr:
    """Signs CDS client JWTs and serves its JWKS (and any other JSON path given) on loopback."""

    def __init__(self, iss: str = ISS):
        self.iss = iss
        self.es_key = ec.generate_private_key(ec.SECP384R1())
        self.rs_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = ec.generate_private_key(ec.SECP384R1())  # never published
        self.jwks = {"keys": [_public_jwk(self.es_key, "es384-1", "ES384"), _public_jwk(self.rs_key, "rs384-1", "RS384")]}
        self.fetches = 0
        ehr = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path.split("?")[0] in ("/jwks.json", "/other/jwks.json"):
                    ehr.fetches += 1
                    body = json.dumps(ehr.jwks).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.jwks_url = f"http://127.0.0.1:{self.port}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pem(self, which: str = "es") -> str:
        key = self.es_key if which == "es" else self.rs_key
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    def token(self, aud: str, *, alg: str = "ES384", kid: str | None = None, key=None, iss: str | None = None,
              exp_in: float = 300, iat_offset: float = 0, jti: str | None = None, jku: str | None = None,
              drop: tuple[str, ...] = (), extra: dict | None = None) -> str:
        now = time.time()
        claims = {"iss": iss or self.iss, "sub": "client-app", "aud": aud, "exp": int(now + exp_in),
                  "iat": int(now + iat_offset), "jti": jti or str(uuid.uuid4()), **(extra or {})}
        for k in drop:
            claims.pop(k, None)
        header = {"typ": "JWT"}
        if kid is None:
            kid = "es384-1" if alg.startswith("ES") else "rs384-1"
        if kid:
            header["kid"] = kid
        if jku:
            header["jku"] = jku
        if key is None:
            key = self.es_key if alg.startswith("ES") else self.rs_key
        return jwt.encode(claims, key, algorithm=alg, headers=header)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def mock_ehr():
    ehr = MockEhr()
    yield ehr
    ehr.close()


class FhirServer:
    def __init__(self, base_url: str, proc: subprocess.Popen):
        self.base_url, self.proc = base_url, proc

    def put(self, resources: list[dict]) -> None:
        """Load resources in one transaction (PUT by id, POST without)."""
        entries = []
        for r in resources:
            if r.get("id"):
                entries.append({"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}})
            else:
                entries.append({"resource": r, "request": {"method": "POST", "url": r["resourceType"]}})
        resp = httpx.post(self.base_url, json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                          headers={"Content-Type": "application/fhir+json"}, timeout=60)
        assert resp.status_code in (200, 201), resp.text[:500]


def _sekmet() -> str:
    exe = Path(sys.executable).with_name("sekmet")
    return str(exe) if exe.exists() else "sekmet"


@pytest.fixture(scope="session")
def fhir_server():
    """A real FHIR R4 server (sekmet-fhir) on loopback for the session."""
    tmp = Path(tempfile.mkdtemp(prefix="maswatch-fhir-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    (tmp / "settings.yaml").write_text(
        f"validation:\n  inbound: \"off\"\nsimulator:\n  enabled: false\nlog_inbound: false\n"
        f"data_dir: {json.dumps(str(tmp / 'data'))}\n", encoding="utf-8")
    env = {**os.environ, "SEKMET_CONFIG": str(tmp / "settings.yaml"), "SEKMET_BASE_URL": base}
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen([_sekmet(), "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=tmp, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"the FHIR test server (sekmet-fhir) did not start: {(tmp / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield FhirServer(base, proc)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
