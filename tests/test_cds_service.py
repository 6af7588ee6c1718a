"""CDS Hooks 2.0.1 service in the server app: trust (real ES384/RS384 JWTs from a mock EHR on
loopback), prefetch / fhirServer / 412, cards and their de-duplication, feedback persisted."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from fhir_fixtures import MockEhr, fhir_server, mock_ehr  # noqa: F401  (fixtures)
from maswatch import synth
from maswatch.fhir.export import timeline_to_resources
from maswatch.store.cds_repo import SqlCdsState
from maswatch.web.app import create_app
from maswatch.web.config import ServiceConfig

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://testserver"
PV = "maswatch-patient-view"
OS = "maswatch-order-select"
EXAMPLE = json.loads((ROOT / "examples" / "timeline_sjia_mas_recurrence.json").read_text())


@pytest.fixture()
def server(tmp_path, mock_ehr):
    cfg = ServiceConfig.model_validate({
        "database_url": f"sqlite:///{tmp_path / 'cds.db'}",
        "cds_hooks": {"clock_skew_seconds": 60, "cors_origins": ["https://sandbox.cds-hooks.org"],
                      "clients": [{"iss": mock_ehr.iss, "jwks_url": mock_ehr.jwks_url, "jku": [mock_ehr.jwks_url],
                                   "tenant": None}]}})
    app = create_app(cfg, run_monitor=False)
    with TestClient(app, base_url=BASE) as tc:
        tc.app_ = app
        yield tc


def call(tc, ehr, body, service=PV, token=None, suffix=""):
    url = f"/cds-services/{service}{suffix}"
    tok = ehr.token(BASE + url) if token is None else token
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    return tc.post(url, json=body, headers=headers)


def until(doc: dict, t: str) -> dict:
    """The timeline as it stood at time t (results up to t; their retractions kept)."""
    d = copy.deepcopy(doc)
    kept = [o for o in d["observations"] if "time" in o and o["time"] <= t]
    ids = {o.get("id") for o in kept}
    d["observations"] = [o for o in d["observations"] if o in kept or ("time" not in o and o.get("id") in ids)]
    d["medications"] = [m for m in d.get("medications", []) if m["start"] <= t]
    return d


def prefetch_of(doc: dict) -> dict:
    res = timeline_to_resources(doc)
    by = lambda t: {"resourceType": "Bundle", "type": "searchset",  # noqa: E731
                    "entry": [{"resource": r} for r in res if r["resourceType"] == t]}
    return {"patient": res[0], "observations": by("Observation"), "conditions": by("Condition"),
            "medications": by("MedicationRequest")}


def hook_body(doc: dict, hook="patient-view", **kw) -> dict:
    pid = doc["patient"]["id"]
    body = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "fhirServer": None,
            "context": {"userId": "Practitioner/1", "patientId": pid}, "prefetch": prefetch_of(doc)}
    body.update(kw)
    if body["fhirServer"] is None:
        del body["fhirServer"]
    return body


# ------------------------------------------------------------------ discovery and cards


def test_discovery_lists_both_services_with_prefetch_templates(server):
    r = server.get("/cds-services")
    assert r.status_code == 200
    services = {s["id"]: s for s in r.json()["services"]}
    assert services[PV]["hook"] == "patient-view" and services[OS]["hook"] == "order-select"
    pf = services[PV]["prefetch"]
    assert pf["patient"] == "Patient/{{context.patientId}}"
    assert pf["observations"].startswith("Observation?patient={{context.patientId}}&code=http://loinc.org|")
    assert "2276-4" in pf["observations"] and set(pf) == {"patient", "observations", "conditions", "medications"}


def test_cards_once_per_level_and_episode_and_again_on_worsening(server, mock_ehr):
    seen = []
    for t in ("2024-05-01T08:00:00Z", "2024-05-02T07:00:00Z", "2024-05-02T08:00:00Z", "2024-05-03T08:00:00Z",
              "2024-05-05T08:00:00Z", "2024-05-27T08:00:00Z"):
        r = call(server, mock_ehr, hook_body(until(EXAMPLE, t)))
        assert r.status_code == 200, r.text
        cards = r.json()["cards"]
        seen.append([c["indicator"] for c in cards])
        for c in cards:
            assert len(c["summary"]) < 140 and c["uuid"] and c["source"]["label"]
            assert c["overrideReasons"] and c["detail"].startswith("**SYNTHETIC DATA")
    # watch (info) -> same watch: nothing -> concern: a steep trend (critical) -> alert, episode 1 (critical)
    # -> still alert in episode 1: nothing -> alert again in episode 2 (recurrence): carded
    assert seen == [["info"], [], ["critical"], ["critical"], [], ["critical"]]


def test_alert_card_names_the_criteria_the_values_and_their_times(server, mock_ehr):
    card = call(server, mock_ehr, hook_body(until(EXAMPLE, "2024-05-03T08:00:00Z"))).json()["cards"][0]
    assert card["indicator"] == "critical"
    assert "2016 sJIA-MAS classification criteria met" in card["summary"]
    assert "ferritin" in card["detail"] and "ng/mL" in card["detail"] and "2024-05-03T08:00:00Z" in card["detail"]
    assert "doi.org/10.1136/annrheumdis-2015-208982" in card["source"]["url"]


def test_no_card_when_nothing_is_of_concern(server, mock_ehr):
    quiet = [d for d in synth.cohort(12, 5, timelines=True)["timelines"]]
    from maswatch import timeline

    none = [d for d in quiet if timeline.assess(timeline.parse(d)).to_json()["assessment"]["alert_level"] == "none"]
    assert none, "the generated cohort should hold a patient with nothing of concern"
    r = call(server, mock_ehr, hook_body(none[0]))
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_order_select_shows_glucocorticoid_exposure_and_response(server, mock_ehr):
    order = {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{EXAMPLE['patient']['id']}"},
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "6902"}]}}
    body = hook_body(EXAMPLE, hook="order-select")
    body["context"].update({"draftOrders": {"resourceType": "Bundle", "type": "collection",
                                            "entry": [{"resource": order}]}, "selections": ["MedicationRequest/draft-1"]})
    r = call(server, mock_ehr, body, service=OS)
    assert r.status_code == 200, r.text
    (card,) = r.json()["cards"]
    assert "methylprednisolone" in card["summary"] and "mg prednisone-eq" in card["summary"]
    assert "Cumulative glucocorticoid" in card["detail"] and "remission" in card["detail"]
    other = copy.deepcopy(body)
    other["context"]["draftOrders"]["entry"][0]["resource"]["medicationCodeableConcept"] = {"text": "paracetamol"}
    assert call(server, mock_ehr, other, service=OS).json() == {"cards": []}


def test_feedback_is_persisted(server, mock_ehr):
    card = call(server, mock_ehr, hook_body(until(EXAMPLE, "2024-05-03T08:00:00Z"))).json()["cards"][0]
    fb = {"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2024-05-03T09:00:00Z",
                        "overrideReason": {"reason": {"code": "already-aware", "system": "urn:maswatch:cds-override-reason",
                                                      "display": "Already aware"}, "userComment": "on ward round"}},
                       {"card": "unknown-card", "outcome": "accepted"}]}
    r = call(server, mock_ehr, fb, suffix="/feedback")
    assert r.status_code == 200, r.text
    with server.app_.state.runtime.transaction() as s:
        rows = SqlCdsState(s).feedback()
        got = [(x.card_uuid, x.outcome, x.override_code, x.comment, x.known_card) for x in rows]
    assert got == [(card["uuid"], "overridden", "already-aware", "on ward round", True),
                   ("unknown-card", "accepted", None, None, False)]
    assert call(server, mock_ehr, {"feedback": [{"card": "x", "outcome": "maybe"}]}, suffix="/feedback").status_code == 400


def test_cors_for_the_configured_sandbox(server):
    r = server.options("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org",
                                                 "Access-Control-Request-Method": "POST"})
    assert r.headers.get("access-control-allow-origin") == "https://sandbox.cds-hooks.org"
    r = server.options("/cds-services", headers={"Origin": "https://evil.example",
                                                 "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


# ------------------------------------------------------------------ prefetch, fhirServer, 412


def test_prefetch_null_means_no_data_and_absent_without_fhir_server_is_412(server, mock_ehr):
    body = hook_body(EXAMPLE)
    body["prefetch"] = {"patient": None, "observations": None, "conditions": None, "medications": None}
    assert call(server, mock_ehr, body).json() == {"cards": []}
    body["prefetch"] = {"patient": prefetch_of(EXAMPLE)["patient"]}
    r = call(server, mock_ehr, body)
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome" and "observations" in r.json()["issue"][0]["diagnostics"]
    del body["prefetch"]
    assert call(server, mock_ehr, body).status_code == 412


def test_operation_outcome_in_prefetch_is_handled(server, mock_ehr):
    body = hook_body(until(EXAMPLE, "2024-05-03T08:00:00Z"))
    oo = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}
    body["prefetch"]["conditions"] = oo  # not essential: assessed without, said in the card
    card = call(server, mock_ehr, body).json()["cards"][0]
    assert "conditions: the EHR could not prefetch it" in card["detail"]
    body["prefetch"]["observations"] = oo  # essential and no fhirServer: 412
    assert call(server, mock_ehr, body).status_code == 412


def test_fhir_server_fallback_with_paging(server, mock_ehr, fhir_server):
    doc = copy.deepcopy(EXAMPLE)
    doc["patient"]["id"] = "cds-fallback-1"
    res = timeline_to_resources(doc)
    for r in res:
        if r["resourceType"] == "Observation":
            r["id"] = f"fb-{r['id']}" if "id" in r else r.get("id")
    # many versions of unrelated results so the search spans several pages of the client's page size
    filler = [{"resourceType": "Observation", "id": f"fb-esr-{i}", "status": "final",
               "subject": {"reference": "Patient/cds-fallback-1"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "4537-7"}]},
               "effectiveDateTime": f"2024-04-{1 + i % 28:02d}T0{i % 10}:00:00Z",
               "valueQuantity": {"value": 20, "unit": "mm/h", "system": "http://unitsofmeasure.org", "code": "mm/h"}}
              for i in range(230)]
    # keep only the latest version per id (a FHIR server stores versions under one id)
    latest = {}
    for r in res + filler:
        latest[(r["resourceType"], r.get("id"))] = r
    fhir_server.put(list(latest.values()))
    body = hook_body(doc, fhirServer=fhir_server.base_url, fhirAuthorization={
        "access_token": "unused-by-the-test-server", "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "maswatch"})
    del body["prefetch"]
    from maswatch.cds import hooks

    calls = []
    real = hooks.FhirClient.get

    def spy(self, url, params=None):
        calls.append(url)
        return real(self, url, params)

    hooks.FhirClient.get = spy
    try:
        r = call(server, mock_ehr, body)
    finally:
        hooks.FhirClient.get = real
    assert r.status_code == 200, r.text
    assert sum("_offset" in c for c in calls) >= 1, calls  # followed at least one next link
    cards = r.json()["cards"]
    assert [c["indicator"] for c in cards] == ["critical"]


# ------------------------------------------------------------------ trust: the negative suite


def _hs256_with_public_key(ehr: MockEhr, aud: str) -> str:
    import base64
    import hashlib
    import hmac
    import time as _t
    import uuid

    pub = ehr.rs_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rs384-1"}).encode())
    now = int(_t.time())
    body = b64(json.dumps({"iss": ehr.iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}).encode())
    sig = b64(hmac.new(pub, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


def _alg_none(ehr: MockEhr, aud: str) -> str:
    import time as _t
    import uuid

    now = int(_t.time())
    return jwt.encode({"iss": ehr.iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}, None,
                      algorithm="none", headers={"kid": "es384-1"})


NEGATIVE = {
    "no token": lambda e, aud: "",
    "alg none": _alg_none,
    "HS256 with the public key as secret": _hs256_with_public_key,
    "wrong aud": lambda e, aud: e.token(aud + "/other"),
    "aud of another host": lambda e, aud: e.token("http://evil.example/cds-services/" + PV),
    "expired": lambda e, aud: e.token(aud, exp_in=-300),
    "iat in the future": lambda e, aud: e.token(aud, iat_offset=600, exp_in=900),
    "no exp": lambda e, aud: e.token(aud, drop=("exp",)),
    "no iat": lambda e, aud: e.token(aud, drop=("iat",)),
    "no jti": lambda e, aud: e.token(aud, drop=("jti",)),
    "no kid": lambda e, aud: e.token(aud, kid=""),
    "unknown kid": lambda e, aud: e.token(aud, kid="not-published"),
    "key not in the JWKS": lambda e, aud: e.token(aud, key=e.other_key),
    "untrusted iss": lambda e, aud: e.token(aud, iss="https://other-ehr.example"),
    "jku not allowed": lambda e, aud: e.token(aud, jku=f"http://127.0.0.1:{e.port}/other/jwks.json"),
    "RS key under an ES kid": lambda e, aud: e.token(aud, alg="RS384", kid="es384-1"),
}


@pytest.mark.parametrize("case", list(NEGATIVE))
def test_untrusted_calls_get_a_bare_401(server, mock_ehr, case):
    aud = BASE + f"/cds-services/{PV}"
    tok = NEGATIVE[case](mock_ehr, aud)
    r = call(server, mock_ehr, hook_body(EXAMPLE), token=tok) if tok else \
        server.post(f"/cds-services/{PV}", json=hook_body(EXAMPLE))
    assert r.status_code == 401, (case, r.text)
    assert r.json() == {"error": "unauthorized"}


def test_replayed_jti_is_refused_and_both_algorithms_are_accepted(server, mock_ehr):
    aud = BASE + f"/cds-services/{PV}"
    body = hook_body(until(EXAMPLE, "2024-05-01T07:00:00Z"))
    for alg in ("ES384", "RS384"):
        tok = mock_ehr.token(aud, alg=alg)
        assert call(server, mock_ehr, body, token=tok).status_code == 200, alg
        assert call(server, mock_ehr, body, token=tok).status_code == 401, alg
    allowed_jku = mock_ehr.token(aud, jku=mock_ehr.jwks_url, extra={"tenant": "ward-7"})
    assert call(server, mock_ehr, body, token=allowed_jku).status_code == 200
