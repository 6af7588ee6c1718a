"""The family pages (docs/family.md): the guide (no login), the home diary behind a personal
link, and the clinician's enrol / revoke forms and family panel.

Routes translate: the diary form goes to :func:`maswatch.diary.parse_entry` (refusals a parent
understands), the services in :mod:`maswatch.monitoring.family` decide and audit; the link
page shows only the family's own entries, never the patient's record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from ...diary import guide
from ...diary.entries import DiaryInputError, parse_entry
from ...diary.signs import SIGN_IDS
from ...errors import InputError
from ...monitoring import family, run_once
from ...store import repo
from ..deps import CurrentUser, RuntimeDep, client_ip
from ..templating import render

router = APIRouter(include_in_schema=False)

PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
"""The diary URL is the family's key: never sent onwards, cached or indexed."""

OFFSETS = [f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
           for m in sorted({h * 60 for h in range(-12, 15)} | {-570, -210, 210, 270, 330, 345, 390, 525, 570, 630,
                                                                  765, 825})]
"""UTC offsets a family can choose (the page preselects the phone's own with family.js)."""


def _ctx(request: Request, rt, **extra) -> dict:
    m = guide.Messages(guide.choose_locale(request.query_params.get("lang"),
                                           request.headers.get("accept-language")))
    fam = rt.config.family
    return {"m": m, "lang": m.code, "reviewed": m.reviewed, "team_phone": fam.team_phone,
            "emergency_number": fam.emergency_number, "locales": guide.locales(), **extra}


def _tel(number: str | None) -> str | None:
    return None if not number else "".join(c for c in number if c.isdigit() or c == "+")


def _render(request, rt, template, status_code=200, headers=None, **extra):
    ctx = _ctx(request, rt, **extra)
    ctx["team_tel"], ctx["emergency_tel"] = _tel(ctx["team_phone"]), _tel(ctx["emergency_number"])
    resp = render(request, template, ctx, status_code=status_code)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


# ------------------------------------------------------------------ guide (no login)

@router.get("/family/guide")
def family_guide(request: Request, rt: RuntimeDep):
    m = _ctx(request, rt)["m"]
    return _render(request, rt, "family/guide.html", guide=guide.guide_view(m, rt.config.family.emergency_number),
                   printable=False)


@router.get("/family/guide/print")
def family_guide_print(request: Request, rt: RuntimeDep):
    m = _ctx(request, rt)["m"]
    return _render(request, rt, "family/guide.html", guide=guide.guide_view(m, rt.config.family.emergency_number),
                   printable=True)


# ------------------------------------------------------------------ diary (the family's link)

def _refused(request, rt, exc: family.LinkRefused):
    return _render(request, rt, "family/refused.html", status_code=exc.status, headers=PRIVATE_HEADERS,
                   reason=exc.reason)


def _diary(request, rt, token: str, *, error: DiaryInputError | None = None, values: dict | None = None,
           saved: int | None = None, status_code: int = 200):
    now = rt.clock()
    with rt.transaction() as s:
        try:
            link = family.open_link(s, token, now)
        except family.LinkRefused as exc:
            return _refused(request, rt, exc)
        entries = family.link_entries(s, link)
        synthetic = bool(getattr(repo.get_patient(s, link.patient_id), "synthetic", False))
    just = next((e for e in entries if e["id"] == saved), None) if saved is not None else None
    return _render(request, rt, "family/diary.html", status_code=status_code, headers=PRIVATE_HEADERS,
                   token=token, entries=entries, error=error, values=values or {}, saved=just, signs=SIGN_IDS,
                   offsets=OFFSETS, now_utc=now.strftime("%Y-%m-%dT%H:%M"), synthetic=synthetic)


@router.get("/family/diary/{token}")
def diary_page(request: Request, token: str, rt: RuntimeDep, saved: int | None = None):
    return _diary(request, rt, token, saved=saved)


@router.post("/family/diary/{token}")
async def diary_entry(request: Request, token: str, rt: RuntimeDep):
    form = await request.form()
    values = {k: form.get(k) for k in ("temperature", "unit", "time", "tz_offset", "other_text")}
    values["signs"] = [v for v in form.getlist("signs") if isinstance(v, str)]
    now = rt.clock()
    try:
        entry = parse_entry(values, now)
        with rt.transaction() as s:
            link = family.open_link(s, token, now)
            rec = family.record_entry(s, link, entry, now=now, per_hour=rt.config.family.entries_per_hour,
                                      ip=client_ip(request))
            external_id = repo.get_patient(s, link.patient_id).external_id
            entry_id = rec.entry.id
    except family.LinkRefused as exc:
        return _refused(request, rt, exc)
    except family.TooManyEntries:
        return _render(request, rt, "family/refused.html", status_code=429, headers=PRIVATE_HEADERS,
                       reason="too_many")
    except DiaryInputError as exc:
        return _diary(request, rt, token, error=exc, values=values, status_code=400)
    run_once(rt.sessions, rt.rules, rt.clock, external_ids=[external_id])  # the care team sees it at once
    return RedirectResponse(f"/family/diary/{token}?saved={entry_id}#advice", status_code=303,
                            headers=PRIVATE_HEADERS)


@router.post("/family/diary/{token}/entries/{entry_id}/retract")
def diary_retract(request: Request, token: str, entry_id: int, rt: RuntimeDep):
    now = rt.clock()
    try:
        with rt.transaction() as s:
            link = family.open_link(s, token, now)
            family.retract_entry(s, link, entry_id, now=now, per_hour=rt.config.family.entries_per_hour,
                                 ip=client_ip(request))
            external_id = repo.get_patient(s, link.patient_id).external_id
    except family.LinkRefused as exc:
        return _refused(request, rt, exc)
    except family.TooManyEntries:
        return _render(request, rt, "family/refused.html", status_code=429, headers=PRIVATE_HEADERS,
                       reason="too_many")
    except InputError as exc:
        return _diary(request, rt, token, error=DiaryInputError(exc.field, exc.message), status_code=400)
    run_once(rt.sessions, rt.rules, rt.clock, external_ids=[external_id])
    return RedirectResponse(f"/family/diary/{token}#entries", status_code=303, headers=PRIVATE_HEADERS)


# ------------------------------------------------------------------ clinician side

def family_panel(session, patient, now: datetime) -> dict:
    """The view context of the family block on the patient page (family entries, links, enrol form)."""
    return {"entries": family.patient_entries(session, patient.id, limit=20),
            "links": family.patient_links(session, patient.id, now), "pid": patient.external_id}


@router.get("/patients/{patient_id}/family")
def family_page(request: Request, patient_id: str, user: CurrentUser, rt: RuntimeDep):
    now = rt.clock()
    with rt.transaction() as s:
        p = repo.patient_by_external_id(s, patient_id)
        if p is None:
            raise HTTPException(404, f"no patient {patient_id!r} under watch")
        ctx = {"family": family_panel(s, p, now), "pid": p.external_id, "synthetic": p.synthetic}
        repo.add_audit(s, at=now, actor=user.username, user_id=user.user_id, ip=user.ip,
                       action="view_family_entries", patient_id=p.id)
    return render(request, "family/clinician.html", ctx, user=user)


@router.post("/patients/{patient_id}/family-links")
def enrol(request: Request, patient_id: str, user: CurrentUser, rt: RuntimeDep,
          note: Annotated[str, Form(max_length=200)] = ""):
    now = rt.clock()
    with rt.transaction() as s:
        token, link = family.enrol_family(s, patient_id, actor=user.actor, now=now,
                                          link_days=rt.config.family.link_days, note=note or None)
        synthetic = bool(repo.get_patient(s, link.patient_id).synthetic)
        expires = link.expires_at
    base = rt.config.public_url or str(request.base_url).rstrip("/")
    resp = render(request, "family/link_created.html", {
        "pid": patient_id, "url": f"{base}/family/diary/{token}", "expires_at": expires, "synthetic": synthetic},
        user=user, status_code=201)
    resp.headers.update(PRIVATE_HEADERS)
    return resp


@router.post("/family-links/{link_id}/revoke")
def revoke(request: Request, link_id: int, user: CurrentUser, rt: RuntimeDep):
    with rt.transaction() as s:
        link = family.revoke_link(s, link_id, actor=user.actor, now=rt.clock())
        pid = repo.get_patient(s, link.patient_id).external_id
    return RedirectResponse(f"/patients/{pid}/family#links", status_code=303)
