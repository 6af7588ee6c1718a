"""The CDS Hooks application service: a hook request -> cards (decides what to fetch and to card).

Data: the request's ``prefetch``; a key that is absent (or holds an OperationOutcome: the EHR
could not fetch it) is read from ``fhirServer`` with ``fhirAuthorization``; a key that is
``null`` means the EHR has no such data. When the results cannot be obtained at all the call
gets 412 with an OperationOutcome. Everything then goes through the one FHIR reader
(``fhir.read``) and the one assessment (``timeline.assess``); cards come from ``cards``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from .. import timeline
from ..errors import InputError
from ..fhir.client import FhirClient, FhirClientError
from ..fhir.read import parse_timeline, read_fhir
from ..fhir import codes as C
from . import cards as K
from .auth import Caller
from ..lru import LruCache
from .memo import assessment_memo, digest, rows_memo
from .services import HOOK_OF, ORDER_SELECT, ORDERED_DRUGS, PATIENT_VIEW, REQUIRED_KEYS, prefetch_templates
from .state import CdsState, Feedback, SentCard


class HookError(Exception):
    """An answer other than 200: ``status`` and an OperationOutcome ``body``."""

    def __init__(self, status: int, message: str, code: str = "invalid"):
        self.status = status
        self.body = outcome(message, code)
        super().__init__(message)


def outcome(message: str, code: str = "invalid", severity: str = "error") -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": message}]}


@dataclass
class HookSettings:
    window_days: int | None = None
    fhir_timeout: float = 10.0
    assess: Callable[[Any], Any] | None = None
    """``tl -> Assessment``; default ``timeline.assess(tl)`` (the server passes its configured rules)."""
    rules_fingerprint: Callable[[], str] | None = None
    """The fingerprint of the rules ``assess`` applies now (part of the memo's key); default the built-in rules'."""
    memo: LruCache = field(default_factory=assessment_memo)
    rows: LruCache = field(default_factory=rows_memo)
    """Observation rows already validated (``fhir.read.parse_timeline``): a new result validates only itself."""


def client_key(caller: Caller) -> str:
    return caller.iss + (f"#{caller.tenant}" if caller.tenant else "")


def _fetch(key: str, client: FhirClient, pid: str, since: datetime | None) -> Any:
    if key == "patient":
        return client.read("Patient", pid)
    if key == "observations":
        return {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": r} for r in client.observations(pid, since=since)]}
    rtype = {"conditions": "Condition", "medications": "MedicationRequest"}[key]
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in client.search(rtype, [("patient", pid)])]}


def gather(body: dict, pid: str, settings: HookSettings, now: datetime,
           client_factory: Callable[..., FhirClient] = FhirClient) -> tuple[list[Any], list[str]]:
    """The resources for the patient, and notes on what could not be had (for the card)."""
    prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
    server = body.get("fhirServer") if isinstance(body.get("fhirServer"), str) else None
    auth = body.get("fhirAuthorization") if isinstance(body.get("fhirAuthorization"), dict) else {}
    token = auth.get("access_token") if isinstance(auth.get("access_token"), str) else None
    found: list[Any] = []
    notes: list[str] = []
    missing: list[str] = []
    client = None
    try:
        for key in prefetch_templates():
            if key in prefetch:
                value = prefetch[key]
                if value is None:
                    continue  # the EHR has no such data
                if isinstance(value, dict) and value.get("resourceType") != "OperationOutcome":
                    found.append(value)
                    continue
                why = "the EHR could not prefetch it" if isinstance(value, dict) else "prefetch value is not a resource"
            else:
                why = "not prefetched"
            if server is None:
                missing.append(key)
                notes.append(f"{key}: {why}, and no fhirServer to read it from")
                continue
            if client is None:
                client = client_factory(server, bearer_token=token, timeout=settings.fhir_timeout)
            try:
                since = now - timedelta(days=settings.window_days) if settings.window_days else None
                found.append(_fetch(key, client, pid, since))
            except FhirClientError as exc:
                missing.append(key)
                notes.append(f"{key}: {why}; reading it from the FHIR server failed: {exc.message}")
    finally:
        if client is not None:
            client.close()
    lost = [k for k in REQUIRED_KEYS if k in missing]
    if lost:
        raise HookError(412, "cannot assess without the patient's results: " + "; ".join(notes), "not-found")
    return found, notes


def _context(body: Any, service_id: str) -> tuple[dict, str]:
    if not isinstance(body, dict):
        raise HookError(400, "the request body must be a JSON object")
    hook = body.get("hook")
    if hook != HOOK_OF[service_id]:
        raise HookError(400, f"hook {hook!r} is not {HOOK_OF[service_id]!r} (service {service_id})")
    ctx = body.get("context")
    if not isinstance(ctx, dict):
        raise HookError(400, "context must be an object")
    pid = ctx.get("patientId")
    if not isinstance(pid, str) or not pid:
        raise HookError(400, "context.patientId is required")
    if not isinstance(body.get("hookInstance"), str):
        raise HookError(400, "hookInstance is required")
    return ctx, pid


def assess_patient(found: list[Any], pid: str, settings: HookSettings) -> dict | None:
    """The assessment JSON for the patient, or None when there is nothing to assess (remembered for
    identical data: :mod:`.memo`; the caller must not modify it)."""
    if settings.rules_fingerprint is not None:
        fingerprint = settings.rules_fingerprint()
    else:
        from ..rules import DEFAULT_RULES
        fingerprint = DEFAULT_RULES.fingerprint
    return settings.memo.get_or_compute(digest(pid, fingerprint, found), lambda: _assess(found, pid, settings))


def _assess(found: list[Any], pid: str, settings: HookSettings) -> dict | None:
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in found]}
    try:
        res = read_fhir(doc, patient_id=pid)
    except InputError as exc:
        raise HookError(400, f"prefetch: {exc.message}") from None
    tl_doc = res.timelines.get(pid)
    if tl_doc is None or not tl_doc["observations"]:
        return None
    try:
        tl = parse_timeline(tl_doc, res, memo=settings.rows)
        result = (settings.assess or timeline.assess)(tl)
    except InputError as exc:
        raise HookError(400, f"{exc.field}: {exc.message}") from None
    return _card_json(result)


def _card_json(result) -> dict:
    """The parts of ``assess --json`` a card shows (patient, at, synthetic, assessment): the same
    values, without the per-time history and settings a card never shows (half the cost)."""
    from ..timeline.assess import DISCLAIMER
    from ..timeline.observations import iso

    tl = result.timeline
    return {"patient": tl.patient.model_dump(mode="json", exclude_none=True), "synthetic": tl.synthetic,
            "at": iso(result.at_us), "assessment": result.current_json(), "disclaimer": DISCLAIMER}


def handle(service_id: str, body: Any, caller: Caller, state: CdsState, settings: HookSettings,
           now: datetime | None = None, client_factory: Callable[..., FhirClient] = FhirClient) -> dict:
    now = now or datetime.now(timezone.utc)
    ctx, pid = _context(body, service_id)
    drugs: list[str] = []
    if service_id == ORDER_SELECT:
        drugs = ordered_drugs(ctx)
        if not drugs:
            return {"cards": []}  # nothing maswatch speaks about is being ordered: no data read
    found, notes = gather(body, pid, settings, now, client_factory)
    out = assess_patient(found, pid, settings)
    if out is None:
        return {"cards": []}
    if service_id == PATIENT_VIEW:
        a = out["assessment"]
        if a.get("instruments") is None:
            return {"cards": []}
        ck, ep = client_key(caller), K.episode_key(a)
        if not K.should_card(a, state.sent_level(ck, pid, ep)):
            return {"cards": []}
        card = K.card(out)
        if notes:
            card["detail"] += "\n\n**Not available**: " + "; ".join(K._md(n) for n in notes)
        state.record_card(SentCard(ck, pid, ep, a["alert_level"], card["uuid"], service_id, now))
        return {"cards": [card]}
    card = K.order_card(out, drugs)
    state.record_card(SentCard(client_key(caller), pid, "order", out["assessment"]["alert_level"], card["uuid"],
                               service_id, now))
    return {"cards": [card]}


def ordered_drugs(ctx: dict) -> list[str]:
    """Drugs of interest among the selected draft orders (all draft orders when none is selected)."""
    orders = ctx.get("draftOrders")
    entries = orders.get("entry", []) if isinstance(orders, dict) else []
    selections = ctx.get("selections") if isinstance(ctx.get("selections"), list) else None
    out = []
    for e in entries:
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict) or r.get("resourceType") not in ("MedicationRequest", "MedicationOrder"):
            continue
        if selections and f"{r.get('resourceType')}/{r.get('id')}" not in selections:
            continue
        drug = drug_of(r.get("medicationCodeableConcept"))
        if drug in ORDERED_DRUGS and drug not in out:
            out.append(drug)
    return out


def drug_of(cc: Any) -> str | None:
    if not isinstance(cc, dict):
        return None
    for c in cc.get("coding", []) or []:
        if isinstance(c, dict):
            code = str(c.get("code", "")).strip()
            d = C.drug_by_code().get((c.get("system"), code.upper() if c.get("system") == C.ATC else code))
            if d:
                return d
    for n in [cc.get("text")] + [c.get("display") for c in cc.get("coding", []) or [] if isinstance(c, dict)]:
        d = C.drug_of_name(n) if isinstance(n, str) else None
        if d:
            return d
    return None


def feedback(service_id: str, body: Any, caller: Caller, state: CdsState) -> int:
    """Record ``POST {service}/feedback``; returns how many entries were stored."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise HookError(400, "feedback must be a non-empty array")
    rows = []
    for i, f in enumerate(body["feedback"]):
        if not isinstance(f, dict) or not isinstance(f.get("card"), str):
            raise HookError(400, f"feedback[{i}].card is required")
        outcome_ = f.get("outcome")
        if outcome_ not in ("accepted", "overridden"):
            raise HookError(400, f"feedback[{i}].outcome must be accepted or overridden")
        reason = ((f.get("overrideReason") or {}).get("reason") or {}) if isinstance(f.get("overrideReason"), dict) else {}
        comment = (f.get("overrideReason") or {}).get("userComment") if isinstance(f.get("overrideReason"), dict) else None
        ts = f.get("outcomeTimestamp")
        when = None
        if isinstance(ts, str):
            try:
                when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
            except ValueError:
                raise HookError(400, f"feedback[{i}].outcomeTimestamp is not an ISO 8601 time") from None
        sugg = [s.get("id") for s in f.get("acceptedSuggestions", []) or [] if isinstance(s, dict)]
        rows.append(Feedback(service_id, f["card"], outcome_, _s(reason.get("code")), _s(reason.get("system")),
                             _s(reason.get("display")), _s(comment), when, client_key(caller),
                             state.card_known(f["card"]), [s for s in sugg if isinstance(s, str)]))
    for r in rows:
        state.record_feedback(r)
    return len(rows)


def _s(x: Any) -> str | None:
    return x[:2000] if isinstance(x, str) else None


__all__ = ["HookError", "HookSettings", "feedback", "gather", "handle", "outcome"]
