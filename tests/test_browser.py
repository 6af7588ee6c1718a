"""The clinician pages in a REAL browser: Playwright driving Debian's Chromium against
``maswatch serve`` started in a subprocess on a fresh database, with a user created by
``maswatch users add``. Screenshots go to $MASWATCH_SCREENSHOTS (default tests/screenshots/).
Accessibility: axe-core 4.10.3 (tests/vendor/axe.min.js, MPL-2.0) on every page.
All data SYNTHETIC."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from maswatch import synth, timeline
from maswatch.fhir.export import timeline_to_bundle
from maswatch.rules import build_rules
from maswatch.synth.params import SynthOptions

sys.path.insert(0, str(Path(__file__).parent))
from served import api_token, axe_violations, chromium, needs_chromium, running_server, shot  # noqa: E402

pytestmark = needs_chromium
PASSWORD = "a long synthetic browser password"
USER, ADMIN = "dr-synthetic", "admin-synthetic"
PAGES = ("/", "/calculator", "/upload", "/admin/users", "/admin/audit")


def _in_episode(doc: dict, rules) -> dict:
    """The timeline cut a day after its last alert, so the patient is in an active episode now."""
    out = rules.assess(timeline.parse(doc)).to_json()
    alerts = [h for h in out["history"] if h["notify"] and h["alert_level"] in ("concern", "alert")]
    if not alerts:
        return doc
    cut = datetime.fromisoformat(alerts[-1]["time"].replace("Z", "+00:00")) + timedelta(hours=24)
    keep = lambda t: t is None or datetime.fromisoformat(t.replace("Z", "+00:00")) <= cut  # noqa: E731
    return {**doc, "observations": [o for o in doc["observations"] if keep(o.get("time"))],
            "medications": [m for m in doc.get("medications", []) if keep(m.get("start"))]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    with running_server(tmp, [(USER, "clinician"), (ADMIN, "admin")], PASSWORD) as base:
        rules = build_rules()
        docs = synth.cohort(9, 2024, SynthOptions(mas_ever_scale=3.0), timelines=True)["timelines"]  # SYNTHETIC
        tok = api_token(base, USER, PASSWORD)
        for doc in docs[:6]:
            r = httpx.post(base + "/api/ingest", content=json.dumps(_in_episode(doc, rules)), timeout=60,
                           headers={"authorization": f"Bearer {tok}", "content-type": "application/json"})
            assert r.status_code == 200, r.text
        bundle = tmp / "new-patient.fhir.json"  # uploaded through the page by a test
        bundle.write_text(json.dumps(timeline_to_bundle(_in_episode(docs[7], rules))))
        yield {"base": base, "bundle": bundle, "bundle_patient": str(docs[7]["patient"]["id"])}


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _login(browser, server, name=USER):
    # bypass_csp: the page's CSP (script-src 'self') would refuse the injected axe-core script
    ctx = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(server["base"] + "/")
    assert "/login" in page.url  # every page but the login needs a session
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # Enter submits
    page.wait_for_url(server["base"] + "/")
    return ctx, page


@pytest.fixture
def clinician(browser, server):
    ctx, page = _login(browser, server)
    yield page
    ctx.close()


@pytest.fixture
def admin(browser, server):
    ctx, page = _login(browser, server, ADMIN)
    yield page
    ctx.close()


def _first_patient_with_notification(page) -> str:
    rows = page.locator("table.ward tbody tr")
    for i in range(rows.count()):
        text = rows.nth(i).inner_text()
        if "NOT acknowledged" in text:
            return rows.nth(i).locator("th a").inner_text()
    raise AssertionError("no unacknowledged notification on the ward list")


def test_ward_list_patient_chart_and_acknowledge(clinician, server):
    page = clinician
    assert page.locator(".synthetic-banner").count() == 0 or "SYNTHETIC" in page.content()
    assert page.get_by_role("heading", name="Patients under watch").is_visible()
    levels = page.locator("table.ward tbody tr td.lvl .level-badge").all_inner_texts()
    order = ["ERROR", "ALERT", "Concern", "Watch", "None"]
    ranks = [order.index(x) for x in levels if x in order]
    assert ranks == sorted(ranks), levels  # most urgent first
    assert "SYNTHETIC" in page.locator("table.ward").inner_text()
    shot(page, "01-ward-list")
    pid = _first_patient_with_notification(page)
    page.get_by_role("link", name=pid, exact=True).click()
    page.wait_for_url(re.compile(r"/patients/"))
    assert page.get_by_role("heading", name=f"Patient {pid}").is_visible()
    svg = page.locator("figure.chart svg[role=img]").first
    assert svg.is_visible()
    title = svg.locator("title").first.text_content()
    assert title.startswith("Ferritin") and "SYNTHETIC" in title
    assert page.locator("figure.chart svg title").count() >= 3
    assert page.get_by_role("heading", name="Instrument checklist").is_visible()
    shot(page, "02-patient")
    form = page.locator("form.ack").first
    nid = form.get_attribute("action").split("/")[-2]
    form.get_by_label("Action").select_option("acknowledge")
    form.get_by_label("Reason").select_option("seen-will-act")
    form.get_by_label(re.compile("^Note")).fill("SYNTHETIC test: repeat ferritin ordered")
    form.get_by_role("button", name="Record").click()
    page.wait_for_url(re.compile(rf"#notification-{nid}$"))
    note = page.locator(f"#notification-{nid}")
    assert f"acknowledge by {USER}" in note.inner_text()
    shot(page, "03-acknowledged")
    page.goto(server["base"] + "/")
    row = page.locator("table.ward tbody tr", has=page.get_by_role("link", name=pid, exact=True))
    assert f"acknowledge by {USER}" in row.inner_text()


def test_calculator_unit_slip_hint_beside_the_field(clinician, server):
    page = clinician
    page.get_by_role("link", name="Calculator").click()
    page.get_by_label("Age (years)").fill("7")
    page.get_by_label("Underlying disease (context)").select_option("sjia")
    page.get_by_label("Ferritin", exact=True).fill("5200")
    page.get_by_label("Fibrinogen", exact=True).fill("1.2")
    page.get_by_label("Unit of Fibrinogen").select_option("mg/dL")  # a slip: 1.2 g/L entered as mg/dL
    page.get_by_label("Fever", exact=True).select_option("yes")
    page.get_by_label("Fibrinogen", exact=True).press("Enter")
    field = page.get_by_label("Fibrinogen", exact=True)
    assert field.get_attribute("aria-invalid") == "true"
    hint = page.locator("#" + field.get_attribute("aria-describedby").split()[-1])
    assert "did you mean 1.2 g/L = 120 mg/dL" in hint.inner_text()
    shot(page, "04-calculator-unit-slip")
    page.get_by_label("Unit of Fibrinogen").select_option("g/L")
    page.get_by_role("button", name="Calculate").click()
    assert "2016 sJIA-MAS criteria" in page.locator(".reading-text").inner_text()
    assert page.get_by_role("heading", name="Instrument checklist").is_visible()
    shot(page, "05-calculator-result")


def test_upload_bundle_changes_the_ward_list(clinician, server):
    page = clinician
    before = page.locator("table.ward tbody tr").count()
    assert page.get_by_role("link", name=server["bundle_patient"], exact=True).count() == 0
    page.get_by_role("link", name="Upload").click()
    page.get_by_label(re.compile("^File")).set_input_files(str(server["bundle"]))
    page.get_by_label("Kind of file").select_option("fhir")
    page.get_by_role("button", name="Upload and assess").click()
    result = page.get_by_role("heading", name=re.compile("^Stored from"))
    result.wait_for()  # the form's answer is a new page: wait for it (is_visible does not wait)
    assert result.is_visible()
    assert server["bundle_patient"] in page.locator("section.result").inner_text()
    shot(page, "06-upload-result")
    page.get_by_role("link", name="Back to the ward list").click()
    page.wait_for_url(server["base"] + "/")
    assert page.locator("table.ward tbody tr").count() == before + 1
    assert page.get_by_role("link", name=server["bundle_patient"], exact=True).count() == 1


def test_admin_pages_and_logout(admin, browser, server):
    page = admin
    page.get_by_role("link", name="Users").click()
    assert page.get_by_role("cell", name="clinician").count() >= 1
    shot(page, "07-admin-users")
    page.get_by_role("link", name="Audit log").click()
    assert page.get_by_role("cell", name="view_ward_list").count() >= 1
    shot(page, "08-admin-audit")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(server["base"] + "/admin/audit")
    assert "/login" in page.url


def test_clinician_gets_403_on_admin_pages(clinician, server):
    r = clinician.goto(server["base"] + "/admin/users")
    assert r.status == 403
    assert "administrators" in clinician.content()


def _controls(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
        .filter(e => e.offsetParent !== null && !e.disabled).map(e => e.id || e.name || e.textContent.trim())""")


@pytest.mark.parametrize("path", ["/", "/calculator", "/upload", "PATIENT"])
def test_keyboard_reaches_every_form_control_and_every_control_is_labelled(clinician, server, path):
    page = clinician
    if path == "PATIENT":
        page.locator("table.ward tbody tr th a").first.click()
        page.wait_for_url(re.compile(r"/patients/"))
    else:
        page.goto(server["base"] + path)
    want = _controls(page)
    assert want
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.name)""")
    assert unlabelled == []
    page.locator("body").focus()
    seen = []
    for _ in range(len(want) * 3 + 40):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("() => { const e = document.activeElement; "
                                  "return e.id || e.name || e.textContent.trim(); }"))
    assert set(want) <= set(seen), set(want) - set(seen)


def test_skip_link_is_the_first_tab_stop(clinician):
    clinician.keyboard.press("Tab")
    assert clinician.evaluate("() => document.activeElement.textContent") == "Skip to main content"
    clinician.keyboard.press("Enter")
    assert clinician.evaluate("() => location.hash") == "#main"


@pytest.mark.parametrize("path", [*PAGES, "PATIENT", "SUMMARY", "/login"])
def test_no_serious_accessibility_violations(browser, server, path):
    ctx, page = _login(browser, server, ADMIN)
    try:
        if path in ("PATIENT", "SUMMARY"):
            pid = page.locator("table.ward tbody tr th a").first.inner_text()
            page.goto(server["base"] + f"/patients/{pid}" + ("/summary" if path == "SUMMARY" else ""))
        elif path == "/login":
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(re.compile(r"/login$"))
        else:
            page.goto(server["base"] + path)
        assert axe_violations(page) == []
    finally:
        ctx.close()


def test_printable_summary(clinician, server):
    pid = clinician.locator("table.ward tbody tr th a").first.inner_text()
    clinician.goto(server["base"] + f"/patients/{pid}/summary")
    clinician.emulate_media(media="print")
    assert not clinician.locator("nav[aria-label=Main]").is_visible()
    assert clinician.locator("figure.chart svg").first.is_visible()
    shot(clinician, "09-summary-print")
