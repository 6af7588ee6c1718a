"""Server-rendered pages of this layer: the ward list (home) and the admin audit log.
Helper pages (patient, calculator, upload, acknowledgement) are added beside this."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ...batch import CONTEXTS
from ...errors import InputError
from ...monitoring.family import ward_family_by_external_id
from ...monitoring.ward import LEVEL_FILTERS, ward_list
from ...store import repo
from ..deps import AdminUser, CurrentUser, RuntimeDep
from ..templating import render
from .. import views

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, user: CurrentUser, rt: RuntimeDep, level: str = "", ward: str = "", team: str = "",
         context: str = ""):
    filters = {"level": level, "ward": ward, "team": team, "context": context}
    if level and level not in LEVEL_FILTERS:
        raise InputError("level", f"must be one of {', '.join(LEVEL_FILTERS)}")
    if context and context not in CONTEXTS:
        raise InputError("context", f"must be one of {', '.join(CONTEXTS)}")
    now = rt.clock()
    with rt.transaction() as s:
        rows = ward_list(s, now, **{k: v or None for k, v in filters.items()})
        wards, teams = repo.ward_and_team_names(s)
        family = ward_family_by_external_id(s, [r["id"] for r in rows], now)  # home diary (docs/family.md)
        repo.add_audit(s, at=now, actor=user.username, user_id=user.user_id, ip=user.ip, action="view_ward_list",
                       details={"filters": {k: v for k, v in filters.items() if v}} if any(filters.values()) else None)
    return render(request, "ward.html", {"rows": views.ward_rows(rows), "synthetic": any(r["synthetic"] for r in rows),
                                         "filters": filters, "level_filters": LEVEL_FILTERS, "wards": wards,
                                         "teams": teams, "contexts": CONTEXTS, "family": family}, user=user)


AUDIT_PAGE = 100


@router.get("/admin/audit")
def audit_log(request: Request, user: AdminUser, rt: RuntimeDep, before: int | None = None, action: str = "",
              patient: str = ""):
    """The audit log, newest first, AUDIT_PAGE rows a page; filters by action and patient."""
    with rt.transaction() as s:
        pid = None
        if patient:
            p = repo.patient_by_external_id(s, patient)
            if p is None:
                raise InputError("patient", f"no patient {patient!r}")
            pid = p.id
        events = repo.audit_events(s, limit=AUDIT_PAGE + 1, before_id=before, action=action or None, patient_id=pid)
        more = len(events) > AUDIT_PAGE
        events = events[:AUDIT_PAGE]
        ext = {p.id: p.external_id for p in (repo.get_patient(s, e.patient_id) for e in events if e.patient_id) if p}
        rows = [{"id": e.id, "at": e.at.strftime("%Y-%m-%d %H:%M:%S"), "actor": e.actor,
                 "action": e.action, "ip": e.ip, "patient": ext.get(e.patient_id), "details": e.details}
                for e in events]
        actions = repo.audit_actions(s)
    return render(request, "audit.html", {"events": rows, "actions": actions,
                                          "filters": {"action": action, "patient": patient},
                                          "next_before": rows[-1]["id"] if more and rows else None}, user=user)
