"""The clinician pages with FastAPI's TestClient: every page's status and content, session,
CSRF and role refusals, audit rows on patient view, the acknowledge / calculator / upload /
admin forms (both sides of each refusal). All data SYNTHETIC."""

from __future__ import annotations

import json
import re
from html import escape as html_escape
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfix import *  # noqa: F401,F403  (fixtures)
from maswatch import synth, timeline
from maswatch.fhir.export import timeline_to_bundle
from maswatch.monitoring import accounts
from maswatch.monitoring.actors import Actor
from maswatch.reading import CONTEXT_TEXT
from maswatch.render.cutoffs import cutoffs
from maswatch.rules import build_rules
from maswatch.store import repo
from maswatch.synth.params import SynthOptions
from maswatch.web import create_app, views
from maswatch.web.calculator import unit_choices
from maswatch.web.config import parse_config

PASSWORD = "a long synthetic test password"
RULES = build_rules()
COHORT = synth.cohort(8, 2024, SynthOptions(mas_ever_scale=3.0), timelines=True)["timelines"]  # SYNTHETIC
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def in_episode(doc: dict) -> dict:
    """The timeline cut a day after its last concern/alert, so a notification is still open."""
    out = RULES.assess(timeline.parse(doc)).to_json()
    raised = [h for h in out["history"] if h["notify"] and h["alert_level"] in ("concern", "alert")]
    if not raised:
        return doc
    cut = datetime.fromisoformat(raised[-1]["time"].replace("Z", "+00:00")) + timedelta(hours=24)
    keep = lambda t: t is None or datetime.fromisoformat(t.replace("Z", "+00:00")) <= cut  # noqa: E731
    return {**doc, "observations": [o for o in doc["observations"] if keep(o.get("time"))],
            "medications": [m for m in doc.get("medications", []) if keep(m.get("start"))]}


def make_client(url: str, docs=COHORT[:5]):
    cfg = parse_config({"database_url": url, "web": {"max_upload_bytes": 1_000_000}, "monitor": {"in_server": False}})
    app = create_app(cfg, clock=Clock())
    client = TestClient(app, base_url="http://testserver")
    client.__enter__()
    rt = app.state.runtime
    with rt.transaction() as s:
        for name, role in (("clin", "clinician"), ("boss", "admin")):
            accounts.create_user(s, name, PASSWORD, role, Actor("test"), rt.clock())
    tok = client.post("/api/session", json={"username": "clin", "password": PASSWORD}).json()["access_token"]
    for doc in docs:
        r = client.post("/api/ingest", content=json.dumps(in_episode(doc)),
                        headers={"authorization": f"Bearer {tok}", "content-type": "application/json"})
        assert r.status_code == 200, r.text
    client.cookies.clear()
    return client


def sign_in(client, name="clin") -> str:
    client.cookies.clear()
    page = client.get("/login")
    r = client.post("/login", data={"username": name, "password": PASSWORD, "next": "/",
                                    "csrf_token": CSRF.search(page.text).group(1)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return CSRF.search(client.get("/").text).group(1)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    c = make_client(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'pages.db'}")
    yield c
    c.__exit__(None, None, None)


@pytest.fixture
def clin(client):
    return client, sign_in(client)


@pytest.fixture
def boss(client):
    return client, sign_in(client, "boss")


def runtime(client):
    return client.app.state.runtime


def audit_count(client, action: str) -> int:
    with runtime(client).transaction() as s:
        return len(repo.audit_events(s, action=action, limit=100_000))


def open_notification(client) -> tuple[str, int]:
    with runtime(client).transaction() as s:
        for doc in COHORT[:5]:
            p = repo.patient_by_external_id(s, doc["patient"]["id"])
            notes = repo.notifications(s, p.id)
            if notes:
                return p.external_id, notes[-1].id
    raise AssertionError("the cohort raised no notification")


# ----------------------------------------------------------------------------- sessions and roles

PAGES = ["/", "/calculator", "/upload", "/admin/users", "/admin/audit", f"/patients/{COHORT[0]['patient']['id']}",
         f"/patients/{COHORT[0]['patient']['id']}/summary"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_session(client, path):
    client.cookies.clear()
    r = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit"])
def test_clinician_gets_403_on_admin_pages(clin, path):
    client, _ = clin
    r = client.get(path, headers={"accept": "text/html"})
    assert r.status_code == 403 and "administrators" in r.text


def test_clinician_cannot_add_a_user(clin):
    client, csrf = clin
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "mallory", "password": "x" * 20,
                                          "role": "admin"}, headers={"accept": "text/html"})
    assert r.status_code == 403
    with runtime(client).transaction() as s:
        assert repo.user_by_name(s, "mallory") is None


@pytest.mark.parametrize("path,data", [
    ("/calculator", {"lab_ferritin": "5000", "unit_ferritin": "ng/mL"}),
    ("/admin/users", {"username": "eve", "password": "correct horse battery staple", "role": "clinician"}),
    ("/upload", {"kind": "timeline"}),
])
def test_forms_refused_without_csrf(boss, path, data):
    client, _ = boss
    files = {"file": ("t.json", json.dumps(COHORT[6]), "application/json")} if path == "/upload" else None
    before = audit_count(client, "ingest")
    r = client.post(path, data=data, files=files, headers={"accept": "text/html"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post(path, data={**data, "csrf_token": "wrong"}, files=files, headers={"accept": "text/html"})
    assert r.status_code == 403
    assert audit_count(client, "ingest") == before
    with runtime(client).transaction() as s:
        assert repo.user_by_name(s, "eve") is None
        assert repo.patient_by_external_id(s, str(COHORT[6]["patient"]["id"])) is None


def test_acknowledge_refused_without_csrf(clin):
    client, _ = clin
    pid, nid = open_notification(client)
    with runtime(client).transaction() as s:
        n_before = len(repo.acknowledgements(s, [nid]))
    r = client.post(f"/patients/{pid}/notifications/{nid}/acknowledge",
                    data={"action": "acknowledge", "reason_code": "seen-will-act"}, headers={"accept": "text/html"})
    assert r.status_code == 403
    with runtime(client).transaction() as s:
        assert len(repo.acknowledgements(s, [nid])) == n_before


# ----------------------------------------------------------------------------- ward list

def test_ward_list_sorted_and_shows_each_column(clin):
    client, _ = clin
    r = client.get("/")
    assert r.status_code == 200
    with runtime(client).transaction() as s:
        from maswatch.monitoring.ward import ward_list
        rows = ward_list(s, runtime(client).clock())
    ids = re.findall(r'<th scope="row"><a href="/patients/([^"]+)">', r.text)
    assert ids == [row["id"] for row in rows]  # the service's order: level, then newest worsening
    assert len(ids) == 5
    for head in ("2016 criteria", "HScore", "MS score", "Ferritin", "Platelets", "Last result", "Labs overdue",
                 "Acknowledged"):
        assert f'<th scope="col">{head}</th>' in r.text or head in r.text
    assert "SYNTHETIC" in r.text
    assert re.search(r"[↑↓→] (rising|falling|steady)", r.text)  # arrows always with words


def test_ward_list_filters(clin):
    client, _ = clin
    with runtime(client).transaction() as s:
        p = repo.patient_by_external_id(s, COHORT[0]["patient"]["id"])
        p.ward, p.team = "PICU", "sJIA"
    r = client.get("/", params={"ward": "PICU"})
    assert r.status_code == 200
    assert re.findall(r'<th scope="row"><a href="/patients/([^"]+)">', r.text) == [COHORT[0]["patient"]["id"]]
    assert '<option value="PICU" selected>' in r.text
    r = client.get("/", params={"ward": "Nowhere"})
    assert "match these filters" in r.text
    assert client.get("/", params={"level": "alert"}).status_code == 200
    bad = client.get("/", params={"level": "panic"}, headers={"accept": "text/html"})
    assert bad.status_code == 400 and "level" in bad.text and "alert" in bad.text
    assert client.get("/", params={"context": "mars"}, headers={"accept": "text/html"}).status_code == 400


# ----------------------------------------------------------------------------- patient page

def test_patient_page_content_and_view_is_audited(clin):
    client, _ = clin
    pid, _ = open_notification(client)
    before = audit_count(client, "view_patient")
    r = client.get(f"/patients/{pid}", params={"window": "all"})
    assert r.status_code == 200
    assert audit_count(client, "view_patient") == before + 1
    with runtime(client).transaction() as s:
        ev = repo.audit_events(s, action="view_patient", limit=1)[0]
        assert ev.actor == "clin" and ev.patient_id == repo.patient_by_external_id(s, pid).id
    html = r.text
    assert re.search(r"<svg[^>]*role=\"img\"", html)
    assert re.search(r"<title id=\"[^\"]+\">Ferritin, patient " + re.escape(pid) + " — SYNTHETIC</title>", html)
    assert "log scale" in html
    # the instruments' own cut-offs are drawn on the ferritin chart
    for th in cutoffs("ferritin"):
        assert f"{th.value:g} ng/mL: {html_escape(th.label, quote=False)}" in html
    for heading in ("Current reading", "Next steps", "Instrument checklist", "Differential", "Trends",
                    "Treatment and response", "Notifications"):
        assert heading in html
    assert "Cumulative glucocorticoid dose" in html and "Time from first alert to first treatment" in html
    assert "api:clin" in html  # the source of the values in the checklist


def test_patient_page_shows_the_stored_assessment(clin):
    client, _ = clin
    pid = COHORT[1]["patient"]["id"]
    data = client.get(f"/api/patients/{pid}/assessment").json()
    html = client.get(f"/patients/{pid}").text
    reading = data["assessment"]["reading"]["text"]
    assert reading.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;").replace(">", "&gt;") \
        .replace("<", "&lt;") in html
    assert f"Level: {views.LEVEL_WORDS[data['assessment']['alert_level']]}" in html
    ctx = data["assessment"]["context"]
    assert ctx in CONTEXT_TEXT and f"context {CONTEXT_TEXT[ctx]}" in html  # as the reading writes it, never the id
    if CONTEXT_TEXT[ctx] != ctx:
        assert f"context {ctx}," not in html


def test_summary_is_printable_and_audited(clin):
    client, _ = clin
    pid = COHORT[2]["patient"]["id"]
    before = audit_count(client, "view_patient_summary")
    r = client.get(f"/patients/{pid}/summary")
    assert r.status_code == 200 and "Patient summary" in r.text and "printed by clin" in r.text
    opened = re.findall(r'<details class="instrument" ([^>]*)>', r.text)
    assert opened and set(opened) == {"open"}  # a closed <details> would not print
    assert audit_count(client, "view_patient_summary") == before + 1
    css = client.get("/static/maswatch.css").text
    assert "@media print" in css


def test_unknown_patient_is_404_and_ids_are_escaped(clin):
    client, _ = clin
    r = client.get("/patients/<script>alert(1)</script>", headers={"accept": "text/html"})
    assert r.status_code == 404
    assert "<script>alert" not in r.text


def test_chart_window_changes_the_axis(clin):
    client, _ = clin
    pid = COHORT[0]["patient"]["id"]
    week = client.get(f"/patients/{pid}", params={"window": "7"}).text
    every = client.get(f"/patients/{pid}", params={"window": "all"}).text
    assert week != every
    assert '<option value="7" selected>' in week and '<option value="all" selected>' in every
    odd = client.get(f"/patients/{pid}", params={"window": "<b>"})  # unknown: the default window
    assert odd.status_code == 200 and '<option value="30" selected>' in odd.text


# ----------------------------------------------------------------------------- acknowledge / snooze / override

def test_acknowledge_form_both_sides(clin):
    client, csrf = clin
    pid, nid = open_notification(client)
    url = f"/patients/{pid}/notifications/{nid}/acknowledge"
    before = audit_count(client, "override")
    r = client.post(url, data={"csrf_token": csrf, "action": "override", "reason_code": "not-mas-explained"},
                    headers={"accept": "text/html"})
    assert r.status_code == 400 and "an override needs a reason in words" in r.text
    assert f'id="ack-{nid}-error"' in r.text
    assert audit_count(client, "override") == before  # nothing stored
    r = client.post(url, data={"csrf_token": csrf, "action": "snooze", "reason_code": "awaiting-results",
                               "until": "2020-01-01T00:00"}, headers={"accept": "text/html"})
    assert r.status_code == 400 and "future" in r.text
    r = client.post(url, data={"csrf_token": csrf, "action": "snooze", "reason_code": "awaiting-results",
                               "until": "2026-01-02T08:00"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"#notification-{nid}")
    r = client.post(url, data={"csrf_token": csrf, "action": "override", "reason_code": "not-mas-explained",
                               "text": "SYNTHETIC: infection explains it"}, follow_redirects=False)
    assert r.status_code == 303
    assert audit_count(client, "override") == before + 1
    page = client.get(f"/patients/{pid}").text
    assert "snooze</strong> by clin" in page and "until 2026-01-02 08:00 UTC" in page
    assert "override</strong> by clin" in page and "SYNTHETIC: infection explains it" in page
    ward = client.get("/").text
    assert "override by clin" in ward


def test_acknowledge_another_patients_notification_is_404(clin):
    client, csrf = clin
    pid, nid = open_notification(client)
    other = next(d["patient"]["id"] for d in COHORT[:5] if d["patient"]["id"] != pid)
    with runtime(client).transaction() as s:
        n_before = len(repo.acknowledgements(s, [nid]))
    r = client.post(f"/patients/{other}/notifications/{nid}/acknowledge", headers={"accept": "text/html"},
                    data={"csrf_token": csrf, "action": "acknowledge", "reason_code": "seen-will-act"})
    assert r.status_code == 404
    with runtime(client).transaction() as s:
        assert len(repo.acknowledgements(s, [nid])) == n_before


# ----------------------------------------------------------------------------- calculator

CALC = {"op": "calculate", "age_years": "7", "context": "sjia", "lab_ferritin": "5200", "unit_ferritin": "ng/mL",
        "lab_platelets": "110", "unit_platelets": "10*9/L", "lab_ast": "160", "unit_ast": "U/L",
        "finding_fever": "yes"}


def test_calculator_lists_the_registrys_units(clin):
    client, _ = clin
    r = client.get("/calculator")
    assert r.status_code == 200
    for code, shown in unit_choices("fibrinogen"):
        assert f'<option value="{code}"' in r.text
    assert {c for c, _ in unit_choices("fibrinogen")} == {"mg/dL", "g/L", "mg/L"}
    assert len(unit_choices("platelets")) < 8  # spellings of one unit are offered once


def test_calculator_result_and_nothing_stored(clin):
    client, csrf = clin
    with runtime(client).transaction() as s:
        n_obs = repo.observation_count(s)
    r = client.post("/calculator", data={**CALC, "csrf_token": csrf})
    assert r.status_code == 200
    assert "2016 sJIA-MAS criteria met" in r.text and "Instrument checklist" in r.text
    with runtime(client).transaction() as s:
        assert repo.observation_count(s) == n_obs
        assert repo.patient_by_external_id(s, "calculator") is None


def test_calculator_unit_slip_hint_beside_the_field(clin):
    client, csrf = clin
    r = client.post("/calculator", data={**CALC, "csrf_token": csrf, "lab_fibrinogen": "1.2",
                                         "unit_fibrinogen": "mg/dL"})
    assert r.status_code == 400
    field = re.search(r'<input id="f-lab_fibrinogen"[^>]*>', r.text).group(0)
    assert 'aria-describedby="err-lab_fibrinogen"' in field and 'aria-invalid="true"' in field
    hint = re.search(r'id="err-lab_fibrinogen">([^<]+)<', r.text).group(1)
    assert "implausible" in hint and "did you mean 1.2 g/L = 120 mg/dL" in hint
    assert "observation id" not in hint
    ok = client.post("/calculator", data={**CALC, "csrf_token": csrf, "lab_fibrinogen": "1.2", "unit_fibrinogen": "g/L"})
    assert ok.status_code == 200 and "err-lab_fibrinogen" not in ok.text


def test_calculator_refuses_what_it_cannot_read(clin):
    client, csrf = clin
    r = client.post("/calculator", data={"csrf_token": csrf, "op": "calculate"})
    assert r.status_code == 400 and "enter at least one result" in r.text
    r = client.post("/calculator", data={**CALC, "csrf_token": csrf, "lab_ldh": "high"})
    assert r.status_code == 400 and "not a number" in r.text and 'id="err-lab_ldh"' in r.text
    r = client.post("/calculator", data={**CALC, "csrf_token": csrf, "unit_ferritin": "furlongs"})
    assert r.status_code == 400 and 'id="err-lab_ferritin"' in r.text
    r = client.post("/calculator", data={**CALC, "csrf_token": csrf, "op": "save", "save_to": ""})
    assert r.status_code == 400 and 'id="err-save_to"' in r.text


def test_calculator_save_is_an_audited_ingest(clin):
    client, csrf = clin
    before = audit_count(client, "ingest")
    r = client.post("/calculator", data={**CALC, "csrf_token": csrf, "op": "save", "save_to": "SYN-CALC-1"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/patients/SYN-CALC-1"
    assert audit_count(client, "ingest") == before + 1
    page = client.get("/patients/SYN-CALC-1").text
    assert "2016 sJIA-MAS criteria met" in page


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=12), unit=st.sampled_from(["ng/mL", "mg/L", "", "x", "ug/dL"]))
def test_calculator_never_fails_on_any_input(clin, value, unit):
    client, csrf = clin
    r = client.post("/calculator", data={**CALC, "csrf_token": csrf, "lab_ferritin": value, "unit_ferritin": unit})
    assert r.status_code in (200, 400)
    assert "Traceback" not in r.text


# ----------------------------------------------------------------------------- upload

def test_upload_timeline_bundle_and_csv(clin):
    client, csrf = clin
    r = client.post("/upload", data={"csrf_token": csrf, "kind": "auto"},
                    files={"file": ("p.json", json.dumps(COHORT[5]), "application/json")})
    assert r.status_code == 200 and "Stored from p.json" in r.text
    assert "SYNTHETIC DATA" in r.text  # the uploaded timeline says it is synthetic: the page says so too
    pid = COHORT[5]["patient"]["id"]
    assert f'href="/patients/{pid}"' in r.text
    assert f'href="/patients/{pid}"' in client.get("/").text  # the ward list changed
    bundle = timeline_to_bundle(COHORT[7])
    r = client.post("/upload", data={"csrf_token": csrf, "kind": "fhir"},
                    files={"file": ("b.json", json.dumps(bundle), "application/fhir+json")})
    assert r.status_code == 200 and str(COHORT[7]["patient"]["id"]) in r.text
    csv_text = ("patient_id,time,analyte,value,unit\nSYN-CSV-1,2025-01-01T08:00:00Z,ferritin,900,ng/mL\n"
                "SYN-CSV-1,2025-01-01T08:00:00Z,platelets,9000,10*9/L\n")
    r = client.post("/upload", data={"csrf_token": csrf, "kind": "auto"},
                    files={"file": ("l.csv", csv_text, "text/csv")})
    assert r.status_code == 200
    assert "1 observation stored" in r.text and "1 record refused" in r.text and "implausible" in r.text


def test_upload_refusals_store_nothing(clin):
    client, csrf = clin
    with runtime(client).transaction() as s:
        n = repo.observation_count(s)
    for name, body, kind in (("x.json", "{not json", "auto"), ("x.txt", "a,b", "auto"), ("x.json", "", "timeline"),
                             ("x.csv", "patient_id,time\n1,2", "csv")):
        r = client.post("/upload", data={"csrf_token": csrf, "kind": kind}, files={"file": (name, body, "text/plain")})
        assert r.status_code == 400, (name, r.status_code)
        assert "Nothing was stored" in r.text and 'role="alert"' in r.text
    with runtime(client).transaction() as s:
        assert repo.observation_count(s) == n


def test_oversized_upload_is_413(clin):
    client, csrf = clin
    r = client.post("/upload", data={"csrf_token": csrf, "kind": "timeline"},
                    files={"file": ("big.json", "x" * 1_100_000, "application/json")})
    assert r.status_code == 413


# ----------------------------------------------------------------------------- admin

def test_admin_users_add_disable_enable(boss):
    client, csrf = boss
    r = client.get("/admin/users")
    assert r.status_code == 200 and "clin" in r.text
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "newdoc", "password": "short",
                                          "role": "clinician"})
    assert r.status_code == 400 and "at least 12 characters" in r.text and 'value="newdoc"' in r.text
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "newdoc", "password": PASSWORD + " x",
                                          "role": "clinician"}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/admin/users/newdoc/disable", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert audit_count(client, "user_disabled") >= 1
    r = client.post("/api/session", json={"username": "newdoc", "password": PASSWORD + " x"})
    assert r.status_code == 401
    r = client.post("/admin/users/boss/disable", data={"csrf_token": csrf})
    assert r.status_code == 400 and "your own account" in r.text
    client.post("/admin/users/newdoc/enable", data={"csrf_token": csrf})
    assert client.post("/api/session", json={"username": "newdoc", "password": PASSWORD + " x"}).status_code == 200


def test_admin_audit_filters_and_pages(boss):
    client, _ = boss
    client.get(f"/patients/{COHORT[0]['patient']['id']}")
    r = client.get("/admin/audit", params={"action": "view_patient"})
    assert r.status_code == 200
    actions = re.findall(r"<td>\d+</td><td>[^<]+</td><td>[^<]+</td><td>([^<]+)</td>", r.text)
    assert actions and set(actions) == {"view_patient"}
    r = client.get("/admin/audit", params={"patient": COHORT[0]["patient"]["id"]})
    assert r.status_code == 200 and COHORT[0]["patient"]["id"] in r.text
    assert client.get("/admin/audit", params={"patient": "nobody"}, headers={"accept": "text/html"}).status_code == 400
    first = client.get("/admin/audit").text
    if "Older entries" in first:
        before = re.search(r"before=(\d+)", first).group(1)
        older = client.get("/admin/audit", params={"before": before}).text
        ids = [int(x) for x in re.findall(r"<tr><td>(\d+)</td>", older)]
        assert ids and max(ids) < int(before)


# ----------------------------------------------------------------------------- both databases

def test_patient_view_and_acknowledgement_audited_on_each_backend(fresh_db_url):
    client = make_client(fresh_db_url, docs=COHORT[:2])
    try:
        csrf = sign_in(client)
        pid, nid = open_notification_in(client, COHORT[:2])
        assert client.get(f"/patients/{pid}").status_code == 200
        r = client.post(f"/patients/{pid}/notifications/{nid}/acknowledge", follow_redirects=False,
                        data={"csrf_token": csrf, "action": "acknowledge", "reason_code": "seen-will-act"})
        assert r.status_code == 303
        with runtime(client).transaction() as s:
            p = repo.patient_by_external_id(s, pid)
            acts = [e.action for e in repo.audit_events(s, patient_id=p.id, limit=10)]
        assert acts[:2] == ["acknowledge", "view_patient"]
    finally:
        client.__exit__(None, None, None)


def open_notification_in(client, docs) -> tuple[str, int]:
    with runtime(client).transaction() as s:
        for doc in docs:
            p = repo.patient_by_external_id(s, doc["patient"]["id"])
            notes = repo.notifications(s, p.id)
            if notes:
                return p.external_id, notes[-1].id
    pytest.fail("the first two SYNTHETIC patients raised no notification")


# ----------------------------------------------------------------------------- views (presentation only)

def test_instrument_state_words():
    assert views.instrument_state(None) == "—"
    assert views.instrument_state({"verdict": "met", "score_display": "≥ 264"}) == "met: ≥ 264"
    assert views.instrument_state({"verdict": "not_met"}) == "not met"
    short = views.instrument_state({"verdict": "indeterminate",
                                    "score_display": "cannot be scored without a, b, c, d, e"})
    assert short == "incomplete (missing a, b, c, +2 more)"
    assert views.instrument_state({"verdict": "indeterminate", "score_display": "cannot be scored without a"}) \
        == "incomplete (missing a)"


def test_alert_to_treatment_counts_only_courses_started_after_the_alert():
    notes = [{"level": "watch", "raised_at": "2025-01-01T00:00:00Z"},
             {"level": "alert", "raised_at": "2025-01-02T00:00:00Z"}]
    meds = [{"drug": "prednisone", "start": "2024-12-01T00:00:00Z", "end": None},
            {"drug": "anakinra", "start": "2025-01-02T06:30:00Z"},
            {"drug": "ciclosporin", "start": "2025-01-03T00:00:00Z"}]
    out = views.alert_to_treatment(notes, meds)
    assert out["hours"] == 6.5 and out["first_treatment"].startswith("anakinra")
    assert out["running"] == ["prednisone since 2024-12-01 00:00 UTC"]
    assert views.alert_to_treatment(notes[:1], meds) is None  # a watch is not an alert
    none_after = views.alert_to_treatment(notes, meds[:1])
    assert none_after["hours"] is None and none_after["first_treatment"] is None


def test_chart_units_follow_the_series_drawn():
    """ESR against CRP with only CRP measured: the axis says mg/L, never ESR's mm/h."""
    from maswatch.web import charts

    doc = {"patient": {"id": "SYN-U"}, "synthetic": True, "observations": [
        {"id": f"c{i}", "time": f"2025-01-0{i}T08:00:00Z", "analyte": "crp", "value": 10.0 * i, "unit": "mg/L"}
        for i in (1, 2, 3)] + [{"id": "f1", "time": "2025-01-03T08:00:00Z", "analyte": "ferritin", "value": 900.0,
                                "unit": "ng/mL"}]}
    tl = timeline.parse(doc)
    out = RULES.assess(tl).to_json()
    drawn = {c["title"]: c["svg"] for c in charts.lab_charts(tl, out, "30", True)}
    esr_crp = drawn["ESR against CRP"]
    assert esr_crp is not None and "mg/L" in esr_crp and "mm/h" not in esr_crp
    assert drawn["Platelets"] is None  # nothing measured: listed as such, not drawn
    assert "SYNTHETIC" in drawn["Ferritin"]
