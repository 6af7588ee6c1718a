"""The family symptom watch in a REAL browser: Playwright driving Debian's Chromium against
``maswatch serve`` (subprocess, fresh database). A clinician enrols a family; the family opens
the link on a phone-sized window (390 x 844), records 39.8 °C and listlessness and sees the
advice; the clinician sees the entry and the raised level on the patient page and the ward
list; the link revoked is refused. Screenshots go to $MASWATCH_SCREENSHOTS (default
tests/screenshots/). axe-core (tests/vendor/axe.min.js) checks every family page. SYNTHETIC data."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from served import api_token, axe_violations, chromium, needs_chromium, running_server, shot  # noqa: E402

pytestmark = needs_chromium
PASSWORD = "a long synthetic browser password"
USER = "dr-family-synthetic"
PID = "SYN-FAMILY-1"
TEAM = "+44 20 7946 0018"  # SYNTHETIC
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("family-browser")
    extra = f'[family]\nteam_phone = "{TEAM}"\nemergency_number = "999"\n'
    with running_server(tmp, [(USER, "clinician")], PASSWORD, extra) as base:
        tok = api_token(base, USER, PASSWORD)
        doc = {"format": "maswatch-timeline/1", "synthetic": True, "patient": {"id": PID, "birth_date": "2017-02-03"},
               "conditions": [{"code": "sjia", "onset": "2025-06-01"}],
               "observations": [{"id": "p1", "time": "2026-11-20T08:00:00Z", "analyte": "platelets", "value": 310,
                                 "unit": "10*9/L"}]}
        r = httpx.post(base + "/api/ingest", content=json.dumps(doc), timeout=60,
                       headers={"authorization": f"Bearer {tok}", "content-type": "application/json"})
        assert r.status_code == 200 and r.json()["levels"][PID] == "none", r.text
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_family_watch_end_to_end(browser, server):
    # bypass_csp only so that the injected axe-core script may run
    clin_ctx = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    fam_ctx = browser.new_context(bypass_csp=True, timezone_id="Europe/Paris", locale="en-GB", **PHONE)
    clin, fam = clin_ctx.new_page(), fam_ctx.new_page()
    try:
        # the guide needs no login; the numbers are large and tappable
        fam.goto(server + "/family/guide")
        assert fam.get_by_role("link", name=re.compile("Emergency number 999")).is_visible()
        assert fam.get_by_role("link", name=re.compile(re.escape(TEAM))).is_visible()
        assert no_horizontal_scroll(fam) and axe_violations(fam) == []
        shot(fam, "family-guide-phone")
        printer = browser.new_page()
        printer.goto(server + "/family/guide/print")
        pdf = printer.pdf(format="A4", prefer_css_page_size=True)
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # the printable guide is one A4 page
        printer.emulate_media(media="print")
        shot(printer, "family-guide-print")
        printer.close()

        # a clinician enrols the family from the patient page
        clin.goto(server + "/")
        clin.get_by_label("Username").fill(USER)
        clin.get_by_label("Password").fill(PASSWORD)
        clin.get_by_label("Password").press("Enter")
        clin.wait_for_url(server + "/")
        clin.goto(server + f"/patients/{PID}")
        clin.get_by_role("button", name="Enrol the family: make a diary link").click()
        link = clin.locator("#diary-link").get_attribute("href")
        assert link and re.search(r"/family/diary/[A-Za-z0-9_-]{43}$", link)
        shot(clin, "family-link-created")

        # the family opens the link on a phone and records a fever and listlessness
        fam.goto(link)
        assert no_horizontal_scroll(fam) and axe_violations(fam) == []
        assert PID not in fam.content()  # nothing of the record on the family's page
        assert fam.locator("#tz_offset").input_value() == "+01:00"  # the phone's own offset, preselected
        shot(fam, "family-diary-phone")
        fam.get_by_label("Temperature").fill("3900")
        fam.get_by_label("°C").check()
        fam.get_by_role("button", name="Save and see what to do").click()
        assert "3900 °C is not a body temperature" in fam.locator(".form-error").inner_text()
        shot(fam, "family-diary-refused-input")
        fam.get_by_label("Temperature").fill("39.8")
        fam.get_by_label("°C").check()
        fam.get_by_label("is more tired or floppy than usual").check()
        fam.get_by_role("button", name="Save and see what to do").click()
        advice = fam.locator("#advice")
        assert "Call the rheumatology team today." in advice.inner_text()
        assert "temperature 39.8 °C" in advice.inner_text() and "more tired or floppy" in advice.inner_text()
        assert axe_violations(fam) == []
        shot(fam, "family-diary-advice-phone")

        # the clinician sees the entry, labelled family-reported, and the raised level
        clin.goto(server + f"/patients/{PID}")
        panel = clin.locator("#family")
        assert "Family-reported" in panel.inner_text() and "39.8 °C" in panel.inner_text()
        assert "listless" in panel.inner_text()
        assert "concern" in clin.locator(".level-badge").first.inner_text().lower()
        assert "reported by the family at home: listless" in clin.content()
        shot(clin, "family-clinician-patient-page")
        clin.goto(server + "/")
        row = clin.locator("tr", has_text=PID)
        assert "Family-reported: 1 entry" in row.inner_text() and "concern" in row.inner_text().lower()
        shot(clin, "family-clinician-ward-list")

        # the link revoked: the family gets a plain refusal with the team's number
        clin.goto(server + f"/patients/{PID}")
        clin.get_by_role("button", name=re.compile(r"Revoke link #\d+")).click()
        resp = fam.goto(link)
        assert resp.status == 410
        assert "closed this diary link" in fam.content() and TEAM in fam.content()
        assert axe_violations(fam) == []
        shot(fam, "family-link-revoked-phone")
    finally:
        clin_ctx.close()
        fam_ctx.close()
