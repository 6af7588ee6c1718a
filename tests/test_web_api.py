"""The web app and JSON API with FastAPI's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from dbfix import *  # noqa: F401,F403  (fixtures)
from maswatch import synth
from maswatch.fhir.export import timeline_to_bundle
from maswatch.monitoring import accounts
from maswatch.monitoring.actors import Actor
from maswatch.web import create_app
from maswatch.web.config import parse_config

COHORT = synth.cohort(4, 23, timelines=True)["timelines"]  # SYNTHETIC
PASSWORD = "a long synthetic test password"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app_client(fresh_db_url, clock):
    cfg = parse_config({"database_url": fresh_db_url, "web": {"max_upload_bytes": 2_000_000},
                        "monitor": {"in_server": False}})
    app = create_app(cfg, clock=clock)
    with TestClient(app, base_url="http://testserver") as client:
        rt = app.state.runtime
        with rt.transaction() as s:
            for name, role in (("clin", "clinician"), ("boss", "admin")):
                accounts.create_user(s, name, PASSWORD, role, Actor("test"), clock())
        yield client


def token(client, name="clin") -> dict:
    r = client.post("/api/session", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def browser_login(client, name="clin") -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    home = client.get("/")
    return re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)


def cli_assess_text(doc, tmp_path) -> str:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    r = subprocess.run([sys.executable, "-m", "maswatch", "assess", str(path), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def cli_assess(doc, tmp_path) -> dict:
    return json.loads(cli_assess_text(doc, tmp_path))


def test_unauthenticated_is_refused(app_client):
    assert app_client.get("/api/patients").status_code == 401
    assert app_client.post("/api/ingest", json={}).status_code == 401
    r = app_client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    assert app_client.get("/api/patients", headers={"Authorization": "Bearer msw_forged"}).status_code == 401


def test_wrong_password_gives_no_token(app_client):
    r = app_client.post("/api/session", json={"username": "clin", "password": "wrong password here"})
    assert r.status_code == 401 and "access_token" not in r.text


def test_ingest_assess_and_ward_list_match_the_cli(app_client, tmp_path):
    h = token(app_client)
    doc = COHORT[0]
    r = app_client.post("/api/ingest", content=json.dumps(doc), headers={**h, "content-type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    pid = doc["patient"]["id"]
    assert body["stored_observations"] == {pid: len(doc["observations"])} and body["assessed"] == 1
    stored = app_client.get(f"/api/patients/{pid}/assessment", headers=h)
    assert stored.status_code == 200 and stored.headers["content-type"] == "application/json"
    cli_text = cli_assess_text(doc, tmp_path)
    assert stored.text + "\n" == cli_text  # byte for byte what `maswatch assess --json` prints, history included
    cli = json.loads(cli_text)
    again = app_client.get(f"/api/patients/{pid}/assessment", headers=h)  # remembered: the same bytes
    assert again.content == stored.content
    ward = app_client.get("/api/patients", headers=h).json()
    (row,) = ward["patients"]
    assert row["id"] == pid and row["level"] == cli["assessment"]["alert_level"] and row["synthetic"]
    assert ward["label"].startswith("SYNTHETIC")


def test_fhir_bundle_and_long_csv_uploads(app_client, tmp_path):
    h = token(app_client)
    doc = COHORT[1]
    r = app_client.post("/api/ingest", content=json.dumps(timeline_to_bundle(doc)),
                        headers={**h, "content-type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    assert r.json()["stored_total"] > 0
    csv_text = ("patient_id,time,analyte,value,unit\n"
                "CSV-1,2024-05-01T08:00:00Z,ferritin,800,ng/mL\n"
                "CSV-1,2024-05-01 08:00:00.000000Z,active_arthritis,1,\n"
                "CSV-1,2024-05-01T08:00:00Z,weight,31.5,kg\n"
                "CSV-1,2024-05-01T08:00:00Z,platelets,,10^9/L\n"
                "CSV-1,2024-05-01T08:00:00Z,fever,2,\n"
                "CSV-1,2024-05-01T08:00:00Z,ferritin,900,furlongs\n")
    r = app_client.post("/api/ingest", content=csv_text, headers={**h, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["stored_observations"] == {"CSV-1": 3}  # a lab, a finding (1 = present) and a weight
    reasons = " ".join(x["reason"] for x in out["refused"])
    assert "empty" in reasons and "1 (present) or 0" in reasons and out["refused_total"] == 3


@pytest.mark.parametrize("body,ctype,status", [
    (b'{"patient": {"id": "X"}, "observations": [', "application/json", 400),
    (b'{"patient": {"id": "X"}, "patient": {"id": "Y"}}', "application/json", 400),
    (b"<xml/>", "application/xml", 400),
    (b'{"observations": []}', "application/json", 400),
])
def test_malformed_uploads_refused_and_nothing_lost(app_client, body, ctype, status):
    h = token(app_client)
    good = app_client.post("/api/ingest", content=json.dumps(COHORT[2]), headers={**h, "content-type": "application/json"})
    assert good.status_code == 200
    before = app_client.get("/api/patients", headers=h).json()["patients"]
    r = app_client.post("/api/ingest", content=body, headers={**h, "content-type": ctype})
    assert r.status_code == status and r.json()["error"]["message"]
    assert app_client.get("/api/patients", headers=h).json()["patients"] == before


def test_oversized_upload_is_413_before_parsing(app_client):
    h = token(app_client)
    big = b"[" + b"1," * 1_100_000 + b"1]"  # > 2,000,000 bytes
    r = app_client.post("/api/ingest", content=big, headers={**h, "content-type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(30):
            yield b" " * 100_000

    r = app_client.post("/api/ingest", content=chunks(), headers={**h, "content-type": "application/json"})
    assert r.status_code == 413
    assert app_client.get("/api/patients", headers=h).json()["patients"] == []


def test_csrf_required_for_cookie_sessions_not_for_tokens(app_client):
    csrf = browser_login(app_client)
    doc = json.dumps(COHORT[3])
    r = app_client.post("/api/ingest", content=doc, headers={"content-type": "application/json"})
    assert r.status_code == 403
    r = app_client.post("/api/ingest", content=doc, headers={"content-type": "application/json",
                                                               "x-csrf-token": "forged"})
    assert r.status_code == 403
    r = app_client.post("/api/ingest", content=doc, headers={"content-type": "application/json", "x-csrf-token": csrf})
    assert r.status_code == 200
    assert app_client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert app_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert app_client.get("/api/patients").status_code == 401  # the session is gone


def test_login_form_needs_its_csrf_token(app_client):
    app_client.get("/login")
    r = app_client.post("/login", data={"username": "clin", "password": PASSWORD, "csrf_token": "x"},
                        follow_redirects=False)
    assert r.status_code == 403


def test_session_cookie_flags_and_no_open_redirect(app_client):
    page = app_client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = app_client.post("/login", data={"username": "clin", "password": PASSWORD, "csrf_token": csrf,
                                        "next": "//evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("maswatch_session=")][0].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    https = TestClient(app_client.app, base_url="https://testserver")
    page = https.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = https.post("/login", data={"username": "clin", "password": PASSWORD, "csrf_token": csrf},
                   follow_redirects=False)
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("maswatch_session=")][0].lower()
    assert "secure" in cookie


def test_clinician_cannot_reach_admin(app_client):
    assert app_client.get("/admin/audit", headers=token(app_client, "clin")).status_code == 403
    r = app_client.get("/admin/audit", headers=token(app_client, "boss"))
    assert r.status_code == 200 and "login" in r.text


def test_login_rate_limit_per_username_holds_then_lifts(app_client, clock):
    for _ in range(5):
        assert app_client.post("/api/session", json={"username": "clin", "password": "not it, not it"}).status_code == 401
    r = app_client.post("/api/session", json={"username": "clin", "password": PASSWORD})
    assert r.status_code == 429  # even the right password, until the minute has passed
    clock.now += timedelta(seconds=61)
    assert app_client.post("/api/session", json={"username": "clin", "password": PASSWORD}).status_code == 200


def test_pages_show_synthetic_banner_and_are_audited(app_client):
    h = token(app_client)
    app_client.post("/api/ingest", content=json.dumps(COHORT[0]), headers={**h, "content-type": "application/json"})
    browser_login(app_client)
    page = app_client.get("/")
    assert "SYNTHETIC DATA" in page.text and 'href="#main"' in page.text
    audit = app_client.get("/admin/audit", headers=token(app_client, "boss")).text
    assert "view_ward_list" in audit and "ingest" in audit


def test_openapi_documents_the_api(app_client):
    paths = app_client.get("/openapi.json").json()["paths"]
    assert {"/api/session", "/api/ingest", "/api/patients", "/api/patients/{patient_id}/assessment"} <= set(paths)


def test_acknowledge_a_notification_shows_on_the_ward_list(app_client):
    h = token(app_client)
    doc = {"synthetic": True, "patient": {"id": "ACK-1", "age_years": 9, "age_at": "2024-01-01"},
           "conditions": [{"code": "sjia"}], "observations": [
               {"id": f"f{i}", "time": f"2024-05-0{i}T08:00:00Z", "analyte": "ferritin", "value": v, "unit": "ng/mL"}
               for i, v in ((1, 300), (2, 12000))] + [
               {"id": f"p{i}", "time": f"2024-05-0{i}T08:00:00Z", "analyte": "platelets", "value": v,
                "unit": "10^9/L"} for i, v in ((1, 300), (2, 80))]}
    assert app_client.post("/api/ingest", json=doc, headers=h).status_code == 200
    (row,) = app_client.get("/api/patients", headers=h).json()["patients"]
    nid = row["latest_notification"]["id"]
    assert row["acknowledged"] is None
    bad = app_client.post(f"/api/notifications/{nid}/acknowledgements", json={"action": "override",
                          "reason_code": "not-mas-explained"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "text"
    ok = app_client.post(f"/api/notifications/{nid}/acknowledgements", json={"action": "acknowledge",
                         "reason_code": "seen-will-act"}, headers=h)
    assert ok.status_code == 201
    (row,) = app_client.get("/api/patients", headers=h).json()["patients"]
    assert row["acknowledged"]["by"] == "clin" and row["acknowledged"]["action"] == "acknowledge"
