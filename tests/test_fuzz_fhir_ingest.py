"""Fuzz: FHIR Bundles through `maswatch assess` (auto-detected), and every upload through
`POST /api/ingest` — each outcome an assessment or a clean refusal (4xx with a message), never
a 500, and nothing already stored is lost. Small budget here; `benchmarks/fuzz.py` runs large."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_harness as fh  # noqa: E402

from maswatch.fhir.export import timeline_to_bundle  # noqa: E402
from maswatch.monitoring import accounts  # noqa: E402
from maswatch.monitoring.actors import Actor  # noqa: E402
from maswatch.web import create_app  # noqa: E402
from maswatch.web.config import parse_config  # noqa: E402

BUNDLE_SEEDS = [json.dumps(timeline_to_bundle(fh.SMALL_TIMELINE, kind)).encode()
                for kind in ("collection", "searchset", "transaction")]
HOSTILE = [d for _, d in fh.hostile_cases()]


def target_bundle(data: bytes) -> fh.Outcome:
    return fh.target_assess(data, json_out=len(data) % 2 == 0)


test_assess_on_mutated_fhir_bundles = fh.fuzz_test(target_bundle, fh.mutated(BUNDLE_SEEDS, HOSTILE),
                                                   max_examples=80)

PASSWORD = "a long synthetic fuzzing password"
CONTENT_TYPES = ("application/json", "application/fhir+json", "text/csv")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzzdb') / 'maswatch.db'}"
    cfg = parse_config({"database_url": url, "web": {"max_upload_bytes": 200_000}, "monitor": {"in_server": False}})
    app = create_app(cfg, clock=lambda: datetime(2026, 1, 1, 12, tzinfo=timezone.utc))
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        with app.state.runtime.transaction() as s:
            accounts.create_user(s, "tester", PASSWORD, "clinician", Actor("test"),
                                 datetime(2026, 1, 1, 12, tzinfo=timezone.utc))
        tok = client.post("/api/session", json={"username": "tester", "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {tok}"}
        good = client.post("/api/ingest", content=json.dumps(fh.SMALL_TIMELINE),
                           headers={**headers, "content-type": "application/json"})
        assert good.status_code == 200, good.text
        yield client, headers


def _stored(client, headers) -> dict:
    r = client.get("/api/patients", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(fh.mutated([json.dumps(fh.SMALL_TIMELINE).encode()] + BUNDLE_SEEDS, HOSTILE))
def test_ingest_endpoint_on_mutated_uploads(api, data):
    client, headers = api
    before = _stored(client, headers)
    ctype = CONTENT_TYPES[len(data) % len(CONTENT_TYPES)]
    r = client.post("/api/ingest", content=data, headers={**headers, "content-type": ctype})
    assert r.status_code < 500, f"{r.status_code}: {r.text[:500]}\ninput: {data[:300]!r}"
    fh._strict(r.text)  # strict JSON, no NaN/Infinity
    if r.status_code >= 400:
        after = _stored(client, headers)
        # nothing already stored is lost by a refused upload (the seed patient is always there)
        ids_before = {p["id"] for p in before["patients"]}
        assert fh.SMALL_TIMELINE["patient"]["id"] in ids_before
        assert ids_before <= {p["id"] for p in after["patients"]}
