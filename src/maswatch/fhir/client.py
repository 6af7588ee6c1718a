"""FHIR R4 REST client (httpx): one patient's data for an assessment, with paging and auth.

- searches Observations by the analyte registry's LOINC codes over a date window (and
  ``_lastUpdated`` for polling), Conditions, medications and the Patient;
- follows ``Bundle.link[next]`` only within the server's base URL (a link elsewhere is
  refused: a server must not send the client, and its token, to another host);
- authenticates with a bearer token or SMART Backend Services (client-credentials grant with
  a signed JWT assertion, RS384 / ES384; the access token is cached until shortly before it
  expires and fetched again once on a 401);
- bounded: a timeout per request, retries on 429 / 503 honouring ``Retry-After`` up to a
  ceiling, a page limit; 401 / 403 / 404 and other failures raise :class:`FhirClientError`
  with a message fit for a user — never a token, never a traceback.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import httpx
import jwt

from .. import analytes
from ..errors import MaswatchError
from . import codes as C

SMART_ALGS = ("RS384", "ES384")
RETRY_STATUSES = (429, 503)
MEDICATION_TYPES = ("MedicationRequest", "MedicationAdministration", "MedicationStatement")
FHIR_JSON = "application/fhir+json"


class FhirClientError(MaswatchError):
    """A FHIR server call failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0):
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class SmartBackend:
    """SMART Backend Services credentials (client-credentials grant, private_key_jwt)."""

    token_url: str
    client_id: str
    private_key: str
    kid: str
    alg: str = "RS384"
    scope: str = "system/Patient.read system/Observation.read system/Condition.read system/MedicationRequest.read"

    def __post_init__(self):
        if self.alg not in SMART_ALGS:
            raise ValueError(f"SMART Backend Services alg must be one of {', '.join(SMART_ALGS)}, got {self.alg!r}")

    @classmethod
    def from_file(cls, token_url: str, client_id: str, private_key_file: str | Path, kid: str, alg: str = "RS384",
                  scope: str | None = None) -> "SmartBackend":
        try:
            key = Path(private_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise FhirClientError(f"cannot read the SMART private key file: {exc.strerror or exc}") from None
        return cls(token_url, client_id, key, kid, alg, **({"scope": scope} if scope else {}))

    def assertion(self, now: float) -> str:
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url, "exp": int(now) + 300,
                  "iat": int(now), "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT"})


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return default


def _outcome(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        parts = [str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code") or "")
                 for i in body.get("issue", []) if isinstance(i, dict)]
        return "; ".join(p for p in parts if p)[:300]
    return ""


class FhirClient:
    """A FHIR R4 server at ``base_url``. Use as a context manager, or call :meth:`close`."""

    def __init__(self, base_url: str, *, bearer_token: str | None = None, smart: SmartBackend | None = None,
                 timeout: float = 10.0, max_retries: int = 3, max_retry_wait: float = 30.0, max_pages: int = 100,
                 page_size: int = 200, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        if bearer_token and smart:
            raise ValueError("give a bearer token or SMART Backend Services credentials, not both")
        self.base_url = base_url.rstrip("/")
        self._base = urlsplit(self.base_url)
        self._bearer = bearer_token
        self._smart = smart
        self._token: tuple[str, float] | None = None
        self.max_retries, self.max_retry_wait, self.max_pages, self.page_size = max_retries, max_retry_wait, max_pages, page_size
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                                  headers={"Accept": FHIR_JSON})

    def __enter__(self) -> "FhirClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ auth

    def _auth_header(self, force_new: bool = False) -> dict[str, str]:
        if self._bearer:
            return {"Authorization": f"Bearer {self._bearer}"}
        if self._smart is None:
            return {}
        now = time.time()
        if force_new or self._token is None or self._token[1] <= now:
            self._token = self._fetch_token(now)
        return {"Authorization": f"Bearer {self._token[0]}"}

    def _fetch_token(self, now: float) -> tuple[str, float]:
        s = self._smart
        data = {"grant_type": "client_credentials", "scope": s.scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": s.assertion(now)}
        try:
            resp = self._http.post(s.token_url, data=data, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise FhirClientError(f"the SMART token endpoint did not answer ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise FhirClientError(f"the SMART token endpoint refused the client ({resp.status_code}): check "
                                  "client_id, kid and the registered public key", resp.status_code)
        try:
            body = resp.json()
            token, ttl = body["access_token"], float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise FhirClientError("the SMART token endpoint sent no access_token") from None
        return token, now + max(0.0, ttl - 30.0)

    # ------------------------------------------------------------------ HTTP

    def _within_base(self, url: str) -> bool:
        u = urlsplit(url)
        return ((u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80))
                == (self._base.scheme, self._base.hostname, self._base.port or (443 if self._base.scheme == "https" else 80))
                and (u.path + "/").startswith(self._base.path.rstrip("/") + "/"))

    def get(self, url: str, params: Any = None) -> dict:
        """GET a URL within the base (absolute, or relative to it); the JSON body."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        if not self._within_base(url):
            raise FhirClientError("refused a URL outside the FHIR server's base URL (a paging link elsewhere "
                                  "would send the credentials to another host)")
        retried_auth = False
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._http.get(url, params=params, headers=self._auth_header())
            except httpx.TimeoutException:
                raise FhirClientError(f"the FHIR server did not answer in time ({self._http.timeout.read:g} s)") from None
            except httpx.HTTPError as exc:
                raise FhirClientError(f"cannot reach the FHIR server ({type(exc).__name__})") from None
            if resp.status_code in RETRY_STATUSES and attempt < self.max_retries:
                wait = _retry_after(resp.headers.get("Retry-After"), 0.5 * 2 ** attempt)
                if wait > self.max_retry_wait:
                    raise FhirClientError(f"the FHIR server asked to retry after {wait:g} s (more than the "
                                          f"{self.max_retry_wait:g} s allowed)", resp.status_code)
                self._sleep(wait)
                continue
            if resp.status_code in RETRY_STATUSES:
                raise FhirClientError(f"the FHIR server is busy ({resp.status_code}) after {self.max_retries} retries",
                                      resp.status_code)
            if resp.status_code == 401 and self._smart is not None and not retried_auth:
                retried_auth = True
                self._auth_header(force_new=True)
                continue
            return self._body(resp)
        raise FhirClientError(f"the FHIR server is busy ({resp.status_code}) after {self.max_retries} retries",
                              resp.status_code)

    def _body(self, resp: httpx.Response) -> dict:
        code = resp.status_code
        what = urlsplit(str(resp.request.url)).path.removeprefix(self._base.path) or "/"
        if code == 401:
            raise FhirClientError("the FHIR server refused the credentials (401): check the token or the SMART "
                                  "client", code)
        if code == 403:
            raise FhirClientError(f"the FHIR server does not allow reading {what} (403): check the scopes", code)
        if code == 404:
            raise FhirClientError(f"not found on the FHIR server: {what} (404)", code)
        if code >= 400:
            detail = _outcome(resp)
            raise FhirClientError(f"the FHIR server answered {code} for {what}" + (f": {detail}" if detail else ""), code)
        try:
            body = resp.json()
        except ValueError:
            raise FhirClientError(f"the FHIR server sent something that is not JSON for {what}", code) from None
        if not isinstance(body, dict):
            raise FhirClientError(f"the FHIR server sent a JSON {type(body).__name__}, not a resource, for {what}", code)
        return body

    # ------------------------------------------------------------------ FHIR

    def read(self, resource_type: str, rid: str) -> dict:
        return self.get(f"{resource_type}/{rid}")

    def search(self, resource_type: str, params: Iterable[tuple[str, str]]) -> list[dict]:
        """Every matching resource (search.mode ``match`` or unset), following next links."""
        params = [*params]
        if not any(k == "_count" for k, _ in params):
            params.append(("_count", str(self.page_size)))
        body = self.get(resource_type, params=params)
        out: list[dict] = []
        for page in range(self.max_pages):
            if body.get("resourceType") != "Bundle":
                raise FhirClientError(f"a search of {resource_type} did not return a Bundle")
            for e in body.get("entry", []) or []:
                r = e.get("resource") if isinstance(e, dict) else None
                mode = (e.get("search") or {}).get("mode") if isinstance(e, dict) else None
                if isinstance(r, dict) and mode in (None, "match", "include"):
                    out.append(r)
            nxt = next((lk.get("url") for lk in body.get("link", []) or []
                        if isinstance(lk, dict) and lk.get("relation") == "next"), None)
            if not nxt:
                return out
            body = self.get(nxt)
        raise FhirClientError(f"a search of {resource_type} has more than {self.max_pages} pages; narrow the window")

    def observations(self, patient_id: str, *, since: datetime | None = None, until: datetime | None = None,
                     last_updated_after: datetime | None = None) -> list[dict]:
        """The patient's Observations with a registry LOINC code, body weight or a coded finding, in the window."""
        loincs = sorted({c for a in analytes.registry().values() for c in a.loinc} | {C.BODY_WEIGHT_LOINC})
        codes = [f"{C.LOINC}|{c}" for c in loincs] + [f"{C.SNOMED}|{c}" for c in sorted(C.finding_by_snomed())]
        params = [("patient", patient_id), ("code", ",".join(codes))]
        if since is not None:
            params.append(("date", "ge" + _iso(since)))
        if until is not None:
            params.append(("date", "le" + _iso(until)))
        if last_updated_after is not None:
            params.append(("_lastUpdated", "gt" + _iso(last_updated_after)))
        return self.search("Observation", params)

    def patient_data(self, patient_id: str, *, since: datetime | None = None, until: datetime | None = None,
                     medication_types: Iterable[str] = ("MedicationRequest",)) -> dict:
        """Patient + Observations + Conditions + medications as one ``collection`` Bundle
        (what :func:`maswatch.fhir.read.read_fhir` reads)."""
        res = [self.read("Patient", patient_id)]
        res += self.observations(patient_id, since=since, until=until)
        res += self.search("Condition", [("patient", patient_id)])
        for t in medication_types:
            if t not in MEDICATION_TYPES:
                raise ValueError(f"not a medication resource type: {t!r}")
            res += self.search(t, [("patient", patient_id)])
        return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in res]}


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("search times need a UTC offset")
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["FhirClient", "FhirClientError", "SmartBackend"]
