"""Family symptom watch services and pages (SQLite and PostgreSQL): enrol, entry, audit, rate
limit, revoked / expired links, corrections, notifications, privacy of the diary page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dbfix import *  # noqa: F401,F403  (fixtures)
from maswatch.diary import guide
from maswatch.diary.entries import parse_entry
from maswatch.monitoring import accounts, family, record_observations, run_once
from maswatch.monitoring.actors import Actor
from maswatch.store import repo
from maswatch.store.family_tables import FamilyEntry, FamilyLink
from maswatch.store.tables import AuditEvent, Notification, Observation
from maswatch.web import create_app
from maswatch.web.config import parse_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PASSWORD = "a long synthetic test password"
TEAM = "+44 20 7946 0018"  # SYNTHETIC (a drama-reserved number)


def timeline_doc(pid: str) -> dict:
    return {"format": "maswatch-timeline/1", "synthetic": True,
            "patient": {"id": pid, "birth_date": "2016-05-01"}, "conditions": [{"code": "sjia"}],
            "observations": [{"id": "p1", "time": "2026-03-01T08:00:00Z", "analyte": "platelets", "value": 250,
                              "unit": "10*9/L"}]}


def entry(now=T0, **kw):
    return parse_entry({"time": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"), "tz_offset": "+00:00",
                        **kw}, now)


@pytest.fixture
def ward(session):
    clin = accounts.create_user(session, "clin", PASSWORD, "clinician", Actor("test"), T0)
    for pid in ("SYN-F1", "SYN-F2"):
        record_observations(session, timeline_doc(pid), source="test", actor=Actor("test"), now=T0)
    return Actor("clin", clin.id, "10.0.0.1")


def audits(session, action):
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# ------------------------------------------------------------------ services

def test_enrol_gives_a_long_token_stored_only_hashed_and_audited(session, ward):
    token, link = family.enrol_family(session, "SYN-F1", actor=ward, now=T0, link_days=90)
    assert len(token) >= 43
    assert link.token_hash == family.token_hash(token) and token not in link.token_hash
    assert link.expires_at == T0 + timedelta(days=90)
    (ev,) = audits(session, "family_enrol")
    assert (ev.actor, ev.user_id, ev.patient_id) == ("clin", ward.user_id, link.patient_id)
    assert token not in str(ev.details)
    with pytest.raises(Exception, match="no patient"):
        family.enrol_family(session, "SYN-NOPE", actor=ward, now=T0, link_days=90)


def test_entry_is_stored_as_family_reported_and_audited_as_the_link(session, ward):
    token, link = family.enrol_family(session, "SYN-F1", actor=ward, now=T0, link_days=90)
    rec = family.record_entry(session, family.open_link(session, token, T0),
                              entry(temperature="39.8", unit="C", signs=["listless"], other_text="private words"),
                              now=T0, per_hour=20, ip="10.0.0.9")
    assert rec.advice.tier == "call_team"
    obs = session.scalars(select(Observation).where(Observation.source == "family diary")).all()
    assert sorted(o.data.get("vital") or o.data.get("symptom") for o in obs) == ["listless", "other_worry",
                                                                                "temperature"]
    assert all(o.data["reporter"] == "family" for o in obs)
    (ev,) = audits(session, "family_entry")
    assert (ev.actor, ev.user_id, ev.ip) == (f"family-link:{link.id}", None, "10.0.0.9")
    assert ev.details["tier"] == "call_team" and "private words" not in str(ev.details)
    assert repo.get_patient(session, link.patient_id).pending


def test_rate_limit_is_per_link_and_lifts_after_an_hour(session, ward):
    ta, la = family.enrol_family(session, "SYN-F1", actor=ward, now=T0, link_days=90)
    tb, lb = family.enrol_family(session, "SYN-F1", actor=ward, now=T0, link_days=90)
    for i in range(2):
        family.record_entry(session, la, entry(signs=["rash"]), now=T0 + timedelta(minutes=i), per_hour=2)
    with pytest.raises(family.TooManyEntries):
        family.record_entry(session, la, entry(signs=["rash"]), now=T0 + timedelta(minutes=5), per_hour=2)
    family.record_entry(session, lb, entry(signs=["rash"]), now=T0 + timedelta(minutes=5), per_hour=2)  # other link
    later = T0 + timedelta(minutes=61)
    family.record_entry(session, la, entry(later, signs=["rash"]), now=later, per_hour=2)


def test_revoked_expired_and_unknown_links_are_refused(session, ward):
    token, link = family.enrol_family(session, "SYN-F1", actor=ward, now=T0, link_days=1)
    end = T0 + timedelta(days=1)
    assert family.open_link(session, token, end - timedelta(seconds=1)).id == link.id  # last moment: still open
    with pytest.raises(family.LinkRefused) as exc:
        family.open_link(session, token, end)
    assert (exc.value.status, exc.value.reason) == (410, "expired")
    family.revoke_link(session, link.id, actor=ward, now=T0)
    with pytest.raises(family.LinkRefused) as exc:
        family.open_link(session, token, T0)
    assert (exc.value.status, exc.value.reason) == (410, "revoked")
    assert len(audits(session, "family_link_revoke")) == 1
    with pytest.raises(family.LinkRefused) as exc:
        family.open_link(session, token[:-1] + ("A" if token[-1] != "A" else "B"), T0)
    assert exc.value.status == 404


def test_correction_is_a_new_entry_that_retracts_the_earlier_one(session, ward, session_factory):
    token, link = family.enrol_family(session, "SYN-F1", actor=ward, now=T0, link_days=90)
    rec = family.record_entry(session, link, entry(signs=["seizure"]), now=T0, per_hour=20)
    row = family.retract_entry(session, link, rec.entry.id, now=T0 + timedelta(minutes=2), per_hour=20)
    assert row.corrects_id == rec.entry.id and row.tier == family.RETRACTED
    assert session.get(FamilyEntry, rec.entry.id).data["signs"] == ["seizure"]  # the original is kept as sent
    views = family.link_entries(session, link)
    assert [v["retracted"] for v in views] == [False, True]
    with pytest.raises(Exception, match="already taken back"):
        family.retract_entry(session, link, rec.entry.id, now=T0, per_hour=20)
    _, other = family.enrol_family(session, "SYN-F2", actor=ward, now=T0, link_days=90)
    with pytest.raises(Exception, match="could not find"):
        family.retract_entry(session, other, rec.entry.id, now=T0, per_hour=20)
    doc = family.repo.get_patient(session, link.patient_id)
    from maswatch import timeline
    from maswatch.monitoring import stored_timeline_doc
    out = timeline.assess(timeline.parse(stored_timeline_doc(session, doc))).to_json()
    assert "family-%d-seizure" % rec.entry.id in out["corrections"]["removed"]
    assert all(r["reason"] != "family_red_flag" for r in out["assessment"]["explanation"])


def test_family_red_flag_notifies_once_per_episode_and_level(session, ward, session_factory):
    token, link = family.enrol_family(session, "SYN-F1", actor=ward, now=T0, link_days=90)
    family.record_entry(session, link, entry(signs=["listless"]), now=T0, per_hour=20)
    session.commit()
    run_once(session_factory, _rules(), lambda: T0)
    st = repo.alert_state(session, link.patient_id)
    assert st.level == "concern"
    later = T0 + timedelta(hours=2)
    family.record_entry(session, link, entry(later, signs=["not_eating"]), now=later, per_hour=20)
    session.commit()
    run_once(session_factory, _rules(), lambda: later)
    notes = session.scalars(select(Notification).where(Notification.patient_id == link.patient_id)).all()
    assert [n.level for n in notes] == ["concern"]
    assert [r["reason"] for r in notes[0].explanation["reasons"]] == ["family_red_flag"]


def _rules():
    return parse_config({}).rules()


# ------------------------------------------------------------------ pages

class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def web(fresh_db_url):
    clock = Clock()
    cfg = parse_config({"database_url": fresh_db_url, "monitor": {"in_server": False},
                        "family": {"team_phone": TEAM, "emergency_number": "999", "entries_per_hour": 3}})
    app = create_app(cfg, clock=clock)
    with TestClient(app, base_url="http://testserver") as client:
        rt = app.state.runtime
        with rt.transaction() as s:
            accounts.create_user(s, "clin", PASSWORD, "clinician", Actor("test"), clock())
            for pid in ("SYN-F1", "SYN-F2"):
                record_observations(s, timeline_doc(pid), source="test", actor=Actor("test"), now=clock())
        client.clock = clock
        client.rt = rt
        yield client


def login(client) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "clin", "password": PASSWORD, "csrf_token": csrf, "next": "/"})
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)


def enrol(client, csrf, pid="SYN-F1") -> str:
    r = client.post(f"/patients/{pid}/family-links", data={"csrf_token": csrf})
    assert r.status_code == 201, r.text
    return re.search(r'id="diary-link" href="http://testserver([^"]+)"', r.text).group(1)


def post_entry(client, path, **fields):
    data = {"time": "2026-03-01T12:30", "tz_offset": "+01:00", **fields}
    return client.post(path, data=data, follow_redirects=False)


def entries_count(client) -> int:
    with client.rt.transaction() as s:
        return len(s.scalars(select(FamilyEntry)).all())


def test_guide_needs_no_login_and_shows_the_numbers(web):
    r = web.get("/family/guide")
    assert r.status_code == 200
    assert TEAM in r.text and ">999<" in r.text and "Call 999 or go to the emergency department" in r.text
    assert "UNVERIFIED" in r.text and "tocilizumab" in r.text and "https://doi.org/10.1186/s12969-020-0399-1" in r.text
    assert "not been checked by a doctor" not in r.text
    assert web.get("/family/guide/print").status_code == 200


def test_an_unreviewed_translation_is_marked(web, monkeypatch):
    monkeypatch.setattr(guide, "locales", lambda: {"en": {"name": "English", "reviewed": True},
                                                   "xx": {"name": "Test", "reviewed": False}})
    real = guide.catalogue
    monkeypatch.setattr(guide, "catalogue", lambda code: {"guide.title": "XX title"} if code == "xx" else real(code))
    r = web.get("/family/guide?lang=xx")
    assert "XX title" in r.text and "not been checked by a doctor" in r.text
    assert "has a fit (seizure)" in r.text  # untranslated messages fall back to English


def test_enrolling_needs_a_signed_in_clinician_and_csrf(web):
    assert web.post("/patients/SYN-F1/family-links", follow_redirects=False).status_code in (303, 401)
    login(web)
    assert web.post("/patients/SYN-F1/family-links", data={"csrf_token": "wrong"}).status_code == 403


def test_diary_entry_gets_advice_and_reaches_the_care_team(web):
    csrf = login(web)
    path = enrol(web, csrf)
    r = web.get(path)
    assert r.status_code == 200 and r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    r = post_entry(web, path, temperature="39.8", unit="C", signs=["listless"])
    assert r.status_code == 303
    page = web.get(r.headers["location"])
    assert "Call the rheumatology team today." in page.text and TEAM in page.text
    assert "does not say what is wrong" in page.text
    r = post_entry(web, path, signs=["seizure"])
    page = web.get(r.headers["location"])
    assert "Call 999 now, or go to the emergency department." in page.text
    ward = web.get("/api/patients", headers={"x-csrf-token": csrf}).json()["patients"]
    assert {p["id"]: p["level"] for p in ward}["SYN-F1"] == "concern"
    panel = web.get("/patients/SYN-F1/family")
    assert "Family-reported" in panel.text and "39.8 °C" in panel.text and "listless" in panel.text
    page = web.get("/patients/SYN-F1")
    assert "Family-reported (home diary)" in page.text and "reported by the family at home" in page.text
    row = re.search(r"<tr[^>]*>.*?SYN-F1.*?</tr>", web.get("/").text, re.S).group(0)
    assert "Family-reported: 2 entries in 72 h" in row and "emergency" in row


def test_diary_page_shows_only_the_familys_own_entries(web):
    csrf = login(web)
    a, b = enrol(web, csrf, "SYN-F1"), enrol(web, csrf, "SYN-F2")
    post_entry(web, a, other_text="family A note")
    post_entry(web, b, other_text="family B note")
    page = web.get(a).text
    assert "family A note" in page and "family B note" not in page
    assert "SYN-F1" not in page and "platelets" not in page.lower()


@pytest.mark.parametrize("fields, words", [
    ({"temperature": "3900", "unit": "C"}, "3900 °C is not a body temperature"),
    ({"signs": ["rash"], "time": "2026-03-01T14:00"}, "in the future"),
    ({}, "enter a temperature or tick at least one box"),
])
def test_bad_input_refused_for_a_parent_and_nothing_stored(web, fields, words):
    path = enrol(web, login(web))
    before = entries_count(web)
    r = post_entry(web, path, **fields)
    assert r.status_code == 400 and words in r.text and "Not saved yet" in r.text
    assert entries_count(web) == before


def test_rate_limited_link_refuses_with_the_team_number(web):
    path = enrol(web, login(web))
    for _ in range(3):
        assert post_entry(web, path, signs=["rash"]).status_code == 303
    r = post_entry(web, path, signs=["rash"])
    assert r.status_code == 429 and TEAM in r.text and entries_count(web) == 3


def test_revoked_and_expired_links_get_a_plain_refusal_with_the_phone(web):
    csrf = login(web)
    path = enrol(web, csrf)
    panel = web.get("/patients/SYN-F1/family").text
    link_id = re.search(r"/family-links/(\d+)/revoke", panel).group(1)
    assert web.post(f"/family-links/{link_id}/revoke", data={"csrf_token": csrf},
                    follow_redirects=False).status_code == 303
    for r in (web.get(path), post_entry(web, path, signs=["seizure"])):
        assert r.status_code == 410 and "closed this diary link" in r.text and TEAM in r.text
    path2 = enrol(web, csrf)
    web.clock.now = T0 + timedelta(days=91)
    r = web.get(path2)
    assert r.status_code == 410 and "too old" in r.text
    r = web.get("/family/diary/" + "x" * 43)
    assert r.status_code == 404 and TEAM in r.text
