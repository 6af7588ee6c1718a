"""The patient page, its printable summary, and the acknowledge / snooze / override form.
Every view is audited in the transaction that reads it; an acknowledgement goes through
:func:`maswatch.monitoring.acknowledge` (its audit row in the same transaction)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from ... import jsondoc
from ...errors import InputError
from ...monitoring import acknowledge
from ...store import repo
from .. import views
from .family import family_panel
from ..deps import CurrentUser, RuntimeDep
from ..templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, user, rt, patient_id: str, window: str, template: str, action: str,
          form_error: dict | None = None, status_code: int = 200):
    now = rt.clock()
    with rt.transaction() as s:
        p = repo.patient_by_external_id(s, patient_id)
        if p is None:
            raise HTTPException(404, f"no patient {patient_id!r} under watch")
        ctx = views.patient_page(s, p, window, rt.rules)
        repo.add_audit(s, at=now, actor=user.username, user_id=user.user_id, ip=user.ip, action=action,
                       patient_id=p.id, details={"window": ctx["window"]})
        ctx["patient_ward"], ctx["patient_team"] = p.ward, p.team
        ctx["form_error"] = form_error
        ctx["family"] = family_panel(s, p, now)  # home diary entries, shown apart (docs/family.md)
        return render(request, template, ctx, user=user, status_code=status_code)


@router.get("/patients/{patient_id}")
def patient(request: Request, patient_id: str, user: CurrentUser, rt: RuntimeDep, window: str = "30"):
    return _page(request, user, rt, patient_id, window, "patient.html", "view_patient")


@router.get("/patients/{patient_id}/summary")
def summary(request: Request, patient_id: str, user: CurrentUser, rt: RuntimeDep, window: str = "30"):
    return _page(request, user, rt, patient_id, window, "summary.html", "view_patient_summary")


@router.post("/patients/{patient_id}/notifications/{notification_id}/acknowledge")
def acknowledge_form(request: Request, patient_id: str, notification_id: int, user: CurrentUser, rt: RuntimeDep,
                     action: Annotated[str, Form(max_length=20)], reason_code: Annotated[str, Form(max_length=40)],
                     text: Annotated[str, Form(max_length=2000)] = "",
                     until: Annotated[str, Form(max_length=40)] = ""):
    now = rt.clock()
    try:
        when = None
        if until.strip():
            try:  # a browser's datetime-local has no offset: the page says the time is UTC
                raw = until.strip()
                when = jsondoc.parse_time(raw if ("Z" in raw or "+" in raw[10:]) else raw + "Z")
            except ValueError as exc:
                raise InputError("until", str(exc)) from None
        with rt.transaction() as s:
            p = repo.patient_by_external_id(s, patient_id)
            n = repo.get_notification(s, notification_id)
            if p is None or n is None or n.patient_id != p.id:
                raise HTTPException(404, "no such notification for this patient")
            acknowledge(s, n, user.actor, action, reason_code, text, when if action == "snooze" else None, now)
    except InputError as exc:
        return _page(request, user, rt, patient_id, "30", "patient.html", "view_patient",
                     form_error={"notification": notification_id, "field": exc.field, "message": exc.message},
                     status_code=400)
    return RedirectResponse(f"/patients/{patient_id}#notification-{notification_id}", status_code=303)
