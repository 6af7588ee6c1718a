"""The FHIR REST client against a real FHIR R4 server (sekmet-fhir on loopback) and, for the
failure modes a real server will not produce on demand, a tiny scripted server on loopback."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
import pytest

from fhir_fixtures import fhir_server, mock_ehr  # noqa: F401  (fixtures)
from maswatch import timeline
from maswatch.fhir.client import FhirClient, FhirClientError, SmartBackend
from maswatch.fhir.read import parse_timeline, read_fhir

PID = "client-p1"


def _obs(i: int, loinc: str = "2276-4", day: int = 1) -> dict:
    return {"resourceType": "Observation", "id": f"c-{loinc}-{i}", "status": "final",
            "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "effectiveDateTime": f"2024-05-{day:02d}T{i % 24:02d}:00:00Z",
            "valueQuantity": {"value": 500 + i, "unit": "ng/mL", "system": "http://unitsofmeasure.org",
                              "code": "ng/mL"}}


@pytest.fixture(scope="module")
def loaded(fhir_server):
    res = [{"resourceType": "Patient", "id": PID, "birthDate": "2014-02-03", "gender": "female"}]
    res += [_obs(i, day=1 + i // 24) for i in range(120)]  # ferritin over days 1..5
    res += [{**_obs(i, "99999-9"), "id": f"other-{i}"} for i in range(5)]  # not a registry code
    res += [{"resourceType": "Condition", "id": "c-sjia", "subject": {"reference": f"Patient/{PID}"},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "M08.2"}]},
             "onsetDateTime": "2023-01-01"}]
    fhir_server.put(res)
    return fhir_server


def test_search_by_registry_codes_with_paging(loaded):
    with FhirClient(loaded.base_url, page_size=25) as c:
        got = c.observations(PID)
    assert len(got) == 120 and len({o["id"] for o in got}) == 120  # five pages, unknown code not asked for


def test_date_window_and_last_updated(loaded):
    with FhirClient(loaded.base_url, page_size=50) as c:
        window = c.observations(PID, since=datetime(2024, 5, 3, tzinfo=timezone.utc),
                                until=datetime(2024, 5, 3, 23, 59, tzinfo=timezone.utc))
        assert sorted({o["effectiveDateTime"][:10] for o in window}) == ["2024-05-03"]
        assert len(window) == 24
        assert c.observations(PID, last_updated_after=datetime(2100, 1, 1, tzinfo=timezone.utc)) == []
        assert len(c.observations(PID, last_updated_after=datetime(2000, 1, 1, tzinfo=timezone.utc))) == 120


def test_patient_data_reads_into_a_timeline(loaded):
    with FhirClient(loaded.base_url) as c:
        bundle = c.patient_data(PID)
    res = read_fhir(bundle)
    doc = res.timelines[PID]
    assert doc["patient"]["birth_date"] == "2014-02-03" and [x["code"] for x in doc["conditions"]] == ["sjia"]
    tl = parse_timeline(doc, res)
    assert len(tl.table.series["ferritin"].t) == 120
    assert timeline.assess(tl).to_json()["assessment"]["context"] == "sjia"


def test_not_found_is_a_clear_error(loaded):
    with FhirClient(loaded.base_url) as c, pytest.raises(FhirClientError, match="not found.*Patient/nobody.*404"):
        c.read("Patient", "nobody")


# ------------------------------------------------------------------ scripted peer


class Scripted:
    """Answers each request with the next (status, headers, body) of a script; records requests."""

    def __init__(self):
        self.script: list[tuple[int, dict, object]] = []
        self.requests: list[tuple[str, str, dict, bytes]] = []
        peer = self

        class H(BaseHTTPRequestHandler):
            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                peer.requests.append((self.command, self.path, dict(self.headers), self.rfile.read(n)))
                status, headers, body = peer.script.pop(0) if peer.script else (500, {}, {})
                if callable(body):
                    body = body(peer.requests[-1])
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def peer():
    p = Scripted()
    yield p
    p.server.shutdown()
    p.server.server_close()


EMPTY = {"resourceType": "Bundle", "type": "searchset", "entry": []}


def test_retries_429_and_503_honouring_retry_after(peer):
    waits = []
    peer.script = [(429, {"Retry-After": "2"}, {}), (503, {}, {}), (200, {}, EMPTY)]
    with FhirClient(peer.base, bearer_token="tok-123", sleep=waits.append) as c:
        assert c.search("Condition", [("patient", "x")]) == []
    assert waits == [2.0, 1.0] and len(peer.requests) == 3
    assert all(r[2]["Authorization"] == "Bearer tok-123" for r in peer.requests)


def test_retry_is_bounded(peer):
    peer.script = [(429, {"Retry-After": "3600"}, {})]
    with FhirClient(peer.base, sleep=lambda s: None) as c, pytest.raises(FhirClientError, match="3600"):
        c.search("Condition", [])
    peer.script = [(503, {}, {})] * 4
    with FhirClient(peer.base, sleep=lambda s: None, max_retries=3) as c, pytest.raises(FhirClientError, match="busy"):
        c.search("Condition", [])


@pytest.mark.parametrize("status,match", [(401, "refused the credentials"), (403, "scopes"), (404, "not found")])
def test_auth_errors_are_clear_and_never_show_the_token(peer, status, match):
    peer.script = [(status, {}, {"resourceType": "OperationOutcome", "issue": []})]
    with FhirClient(peer.base, bearer_token="SECRET-TOKEN") as c, pytest.raises(FhirClientError, match=match) as e:
        c.search("Observation", [("patient", "p")])
    assert "SECRET-TOKEN" not in str(e.value) and e.value.status == status


def test_next_links_outside_the_base_url_are_refused(peer):
    page = {**EMPTY, "link": [{"relation": "next", "url": "http://127.0.0.1:1/elsewhere/Observation?page=2"}]}
    peer.script = [(200, {}, page)]
    with FhirClient(peer.base, bearer_token="t") as c, pytest.raises(FhirClientError, match="outside"):
        c.search("Observation", [])
    same_host_other_path = {**EMPTY, "link": [{"relation": "next", "url": peer.base.replace("/fhir", "/admin")}]}
    peer.script = [(200, {}, same_host_other_path)]
    with FhirClient(peer.base) as c, pytest.raises(FhirClientError, match="outside"):
        c.search("Observation", [])


@pytest.mark.parametrize("alg,which", [("ES384", "es"), ("RS384", "rs")])
def test_smart_backend_services_token(peer, mock_ehr, alg, which):
    token_url = peer.base.replace("/fhir", "/token")
    pub = (mock_ehr.es_key if which == "es" else mock_ehr.rs_key).public_key()

    def grant(req):
        form = parse_qs(req[3].decode())
        assert form["grant_type"] == ["client_credentials"]
        assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
        claims = jwt.decode(form["client_assertion"][0], pub, algorithms=[alg], audience=token_url)
        assert claims["iss"] == claims["sub"] == "maswatch-client" and claims["exp"] - claims["iat"] <= 300
        assert jwt.get_unverified_header(form["client_assertion"][0])["kid"] == "k1"
        return {"access_token": "granted-1", "token_type": "bearer", "expires_in": 300}

    peer.script = [(200, {}, grant), (200, {}, EMPTY), (401, {}, {}), (200, {}, grant), (200, {}, EMPTY)]
    smart = SmartBackend(token_url, "maswatch-client", mock_ehr.pem(which), "k1", alg)
    with FhirClient(peer.base, smart=smart) as c:
        assert c.search("Condition", []) == []
        assert c.search("Condition", []) == []  # 401 -> a new token once, then the call again
    assert [r[2].get("Authorization") for r in peer.requests if r[0] == "GET"] == ["Bearer granted-1"] * 3
    with pytest.raises(ValueError):
        SmartBackend(token_url, "c", mock_ehr.pem(which), "k1", "HS256")


def test_timeout_is_a_clear_error(peer):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)  # accepts, never answers
    try:
        with FhirClient(f"http://127.0.0.1:{s.getsockname()[1]}/fhir", timeout=0.3) as c:
            t0 = time.monotonic()
            with pytest.raises(FhirClientError, match="did not answer in time"):
                c.read("Patient", "x")
            assert time.monotonic() - t0 < 5
    finally:
        s.close()
