"""The JSON API (documented by /openapi.json): session tokens, ingest, the ward list and
stored assessments. Same authorisation as the pages; CSRF-exempt only for bearer tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ... import __version__, jsondoc
from ...errors import InputError
from ...monitoring import accounts, acknowledge, run_once
from ...monitoring.full import assessment_text
from ...monitoring.stored import stored_data
from ...monitoring.upload import ingest_upload
from ...monitoring.ward import LEVEL_FILTERS, ward_list
from ...store import repo
from ..deps import CurrentUser, RuntimeDep, client_ip

router = APIRouter(prefix="/api", tags=["api"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str


@router.post("/session", response_model=TokenOut, responses={401: {"description": "wrong credentials"},
                                                             429: {"description": "too many failed attempts"}})
async def create_session(request: Request, rt: RuntimeDep):
    """Exchange a username and password for a bearer token (``Authorization: Bearer ...``)."""
    raw = jsondoc.read_json_bytes(await request.body(), what="body")
    try:
        creds = Credentials.model_validate(raw)
    except ValueError as exc:
        err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        raise InputError("body." + ".".join(map(str, err["loc"])) if err["loc"] else "body", err["msg"]) from None
    now = rt.clock()
    with rt.transaction() as s:
        result = accounts.login(s, creds.username, creds.password, client_ip(request), now,
                                rt.config.web.login_attempts_per_minute)
        if result.user is not None:
            token, expires = accounts.issue_api_token(s, result.user, now, rt.config.web.api_token_hours,
                                                      client_ip(request))
    if result.user is None:
        if result.refused == "rate_limited":
            raise HTTPException(429, "too many failed sign-ins: wait a minute", headers={"Retry-After": "60"})
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    return TokenOut(access_token=token, expires_at=expires.isoformat().replace("+00:00", "Z"))


@router.post("/ingest", openapi_extra={"requestBody": {"required": True, "content": {
    "application/fhir+json": {"schema": {"type": "object", "description": "FHIR R4 Bundle or resource(s)"}},
    "application/json": {"schema": {"type": "object", "description": "maswatch-timeline/1 document"}},
    "text/csv": {"schema": {"type": "string", "description": "long format, docs/sources.md"}}}}})
async def ingest(request: Request, user: CurrentUser, rt: RuntimeDep) -> dict[str, Any]:
    """Store results (all or nothing per request), then assess the patients they touch.

    Answers what was stored per patient and what was refused and why, per record. A body
    over ``web.max_upload_bytes`` is refused with 413 before it is read."""
    data = await request.body()
    with rt.transaction() as s:
        report = ingest_upload(s, data, request.headers.get("content-type"), source=f"api:{user.username}",
                               actor=user.actor, now=rt.clock())
    run = run_once(rt.sessions, rt.rules, rt.clock, external_ids=report.patients)
    with rt.sessions() as s:
        levels = {}
        for pid in report.patients:
            p = repo.patient_by_external_id(s, pid)
            st = repo.alert_state(s, p.id) if p else None
            levels[pid] = None if st is None else (st.error and "error") or st.level
    return {**report.to_json(), "assessed": run.assessed, "assessment_failed": run.failed, "levels": levels}


@router.get("/patients")
def patients(user: CurrentUser, rt: RuntimeDep, level: str | None = Query(None, description="|".join(LEVEL_FILTERS)),
             ward: str | None = None, team: str | None = None, context: str | None = None):
    """The ward list: every patient under watch, most urgent first."""
    if level is not None and level not in LEVEL_FILTERS:
        raise InputError("level", f"must be one of {', '.join(LEVEL_FILTERS)}")
    now = rt.clock()
    with rt.transaction() as s:
        rows = ward_list(s, now, level=level, ward=ward, team=team, context=context)
        repo.add_audit(s, at=now, actor=user.username, user_id=user.user_id, ip=user.ip, action="view_ward_list",
                       details={"filters": {k: v for k, v in dict(level=level, ward=ward, team=team,
                                                                   context=context).items() if v}})
    out: dict[str, Any] = {"generated_at": now.isoformat().replace("+00:00", "Z"), "patients": rows}
    if any(r["synthetic"] for r in rows):
        out["label"] = "SYNTHETIC data — not real patients"
    return JSONResponse(out)  # plain JSON already: skip FastAPI's re-encoding of every row


@router.get("/patients/{patient_id}/assessment")
def assessment(patient_id: str, user: CurrentUser, rt: RuntimeDep):
    """Exactly the JSON of ``maswatch assess --json`` on the stored data, history included
    (byte for byte: the same writer); 409 when not assessed yet or the data cannot be assessed."""
    now = rt.clock()
    with rt.transaction() as s:
        p = repo.patient_by_external_id(s, patient_id)
        if p is None:
            raise HTTPException(404, "no such patient")
        row_id = repo.latest_assessment_id(s, p.id)
        st = repo.alert_state(s, p.id)
        repo.add_audit(s, at=now, actor=user.username, user_id=user.user_id, ip=user.ip, action="view_assessment",
                       patient_id=p.id, details={"assessment": row_id})
        if st is not None and st.error:
            return JSONResponse({"error": {"field": "stored data", "message": st.error}, "pending": p.pending},
                                status_code=409)
        if row_id is None:
            return JSONResponse({"error": {"field": "assessment", "message": "not assessed yet"},
                                 "pending": p.pending}, status_code=409)
        data, pending = stored_data(s, p), p.pending
    try:  # computed after the transaction: nothing below reads the database
        body = assessment_text(data, rt.rules)
    except InputError as exc:  # results stored since the last assessment that the timeline refuses
        return JSONResponse({"error": {"field": "stored data", "message": f"{exc.field}: {exc.message}"},
                             "pending": pending}, status_code=409)
    return Response(body, media_type="application/json",
                    headers={"X-Maswatch-Rules": rt.rules.fingerprint, "X-Maswatch-Version": __version__})


class AcknowledgementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(description="acknowledge | snooze | override")
    reason_code: str = Field(description="see maswatch.monitoring.acknowledge.REASON_CODES")
    text: str | None = Field(None, max_length=2000)
    until: str | None = Field(None, description="ISO 8601 with offset; a snooze only")


@router.post("/notifications/{notification_id}/acknowledgements", status_code=201)
async def acknowledge_notification(notification_id: int, request: Request, user: CurrentUser, rt: RuntimeDep):
    """Acknowledge, snooze (until a time) or override a notification, with a coded reason (audited)."""
    raw = jsondoc.read_json_bytes(await request.body(), what="body")
    try:
        body = AcknowledgementIn.model_validate(raw)
    except ValueError as exc:
        err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        raise InputError("body." + ".".join(map(str, err["loc"])) if err["loc"] else "body", err["msg"]) from None
    until = None
    if body.until is not None:
        try:
            until = jsondoc.parse_time(body.until)
        except ValueError as exc:
            raise InputError("until", str(exc)) from None
    with rt.transaction() as s:
        n = repo.get_notification(s, notification_id)
        if n is None:
            raise HTTPException(404, "no such notification")
        ack = acknowledge(s, n, user.actor, body.action, body.reason_code, body.text, until, rt.clock())
        out = {"id": ack.id, "notification": n.id, "action": ack.action, "reason_code": ack.reason_code,
               "by": user.username, "at": ack.created_at.isoformat().replace("+00:00", "Z")}
    return out
