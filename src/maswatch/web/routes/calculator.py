"""The calculator page: one snapshot entered by hand, assessed like ``maswatch assess``;
nothing is stored unless the user saves it to a patient (then it is an audited ingest)."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from ... import timeline
from ...errors import InputError
from ...monitoring import record_observations, run_once
from .. import views
from ..calculator import field_of, form_spec, snapshot_doc
from ..deps import CurrentUser, RuntimeDep
from ..templating import render

router = APIRouter(include_in_schema=False)
MAX_FIELDS = 200


def _page(request, user, *, values=None, errors=None, a=None, status_code=200, saved=None):
    return render(request, "calculator.html", {"spec": form_spec(), "values": values or {}, "errors": errors or {},
                                               "a": a, "saved": saved}, user=user, status_code=status_code)


@router.get("/calculator")
def calculator(request: Request, user: CurrentUser):
    return _page(request, user)


@router.post("/calculator")
async def calculate(request: Request, user: CurrentUser, rt: RuntimeDep):
    form = await request.form()
    if len(form) > MAX_FIELDS:
        raise InputError("form", f"more than {MAX_FIELDS} fields")
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    save_to = values.get("save_to", "").strip() if values.get("op") == "save" else ""
    now = rt.clock()
    snap = snapshot_doc(values, now, save_to or "calculator")
    if not snap.doc["observations"] and not snap.errors:
        snap.errors["form"] = "enter at least one result or finding"
    if snap.errors:
        return _page(request, user, values=values, errors=snap.errors, status_code=400)
    try:
        out = rt.rules.assess(timeline.parse(snap.doc)).to_json()
    except InputError as exc:  # the registry's own refusal and slip hint, placed beside its field
        message = re.sub(r" \[observation id '[^']*'\]$", "", exc.message)  # the form's own id means nothing here
        return _page(request, user, values=values, errors={field_of(exc, snap): message}, status_code=400)
    if not save_to:
        missing = {"save_to": "enter the patient id to save this snapshot to"} if values.get("op") == "save" else None
        return _page(request, user, values=values, a=views.assessment_view(out), errors=missing,
                     status_code=400 if missing else 200)
    with rt.transaction() as s:  # an ingest like any other: stored whole, audited with it
        record_observations(s, snap.doc, source=f"calculator:{user.username}", actor=user.actor, now=now)
    run_once(rt.sessions, rt.rules, rt.clock, external_ids=[save_to])
    return RedirectResponse(f"/patients/{quote(save_to, safe='')}", status_code=303)
