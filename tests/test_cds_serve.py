"""``maswatch serve --config`` end to end in a subprocess: start, discovery, one signed call, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fhir_fixtures import free_port, mock_ehr  # noqa: F401  (fixture)
from maswatch.fhir.export import timeline_to_resources

ROOT = Path(__file__).resolve().parents[1]


def test_serve_answers_a_signed_patient_view(tmp_path, mock_ehr):
    port = free_port()
    example = (ROOT / "examples" / "service.toml").read_text()
    cfg = (example.replace('database_url = "sqlite:///maswatch.db"', f'database_url = "sqlite:///{tmp_path / "s.db"}"')
           .replace('public_url = "http://127.0.0.1:8000"', f'public_url = "http://127.0.0.1:{port}"')
           .replace('iss = "https://ehr.example.org"', f'iss = "{mock_ehr.iss}"')
           .replace("http://127.0.0.1:8123/jwks.json", mock_ehr.jwks_url))
    assert mock_ehr.jwks_url in cfg and f"sqlite:///{tmp_path}" in cfg
    (tmp_path / "service.toml").write_text(cfg)
    exe = Path(sys.executable).with_name("maswatch")
    proc = subprocess.Popen([str(exe), "serve", "--config", str(tmp_path / "service.toml"), "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/cds-services", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            proc.kill()
            raise AssertionError(proc.stdout.read().decode()[-3000:])
        services = httpx.get(f"{base}/cds-services").json()["services"]
        assert [s["id"] for s in services] == ["maswatch-patient-view", "maswatch-order-select"]
        doc = json.loads((ROOT / "examples" / "timeline_sjia_mas_recurrence.json").read_text())
        res = timeline_to_resources(doc)
        searchset = lambda t: {"resourceType": "Bundle", "type": "searchset",  # noqa: E731
                               "entry": [{"resource": r} for r in res if r["resourceType"] == t]}
        body = {"hook": "patient-view", "hookInstance": "e2e-1",
                "context": {"userId": "Practitioner/1", "patientId": doc["patient"]["id"]},
                "prefetch": {"patient": res[0], "observations": searchset("Observation"),
                             "conditions": searchset("Condition"), "medications": searchset("MedicationRequest")}}
        url = f"{base}/cds-services/maswatch-patient-view"
        r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {mock_ehr.token(url)}"}, timeout=30)
        assert r.status_code == 200, r.text
        assert [c["indicator"] for c in r.json()["cards"]] == ["critical"]
        assert httpx.post(url, json=body, timeout=30).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode is not None
