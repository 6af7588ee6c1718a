"""The upload page: a FHIR Bundle, a timeline or a long-format CSV, through the same service
as ``POST /api/ingest`` (one strict reader, all or nothing per file); the patients it touches
are assessed at once. An oversized body was refused with 413 by the middleware, unparsed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from ...errors import InputError
from ...monitoring import run_once
from ...monitoring.upload import ingest_upload
from ...store import repo
from ..deps import CurrentUser, RuntimeDep
from ..templating import render

router = APIRouter(include_in_schema=False)
KINDS = {"auto": "Recognise by the file name (.json: FHIR or timeline; .csv: long format)",
         "fhir": "FHIR R4 Bundle or resource(s)", "timeline": "maswatch timeline (maswatch-timeline/1)",
         "csv": "Long-format CSV (docs/sources.md)"}
MEDIA = {"fhir": "application/fhir+json", "timeline": "application/json", "csv": "text/csv"}


def media_type_for(kind: str, filename: str) -> str:
    if kind in MEDIA:
        return MEDIA[kind]
    if kind != "auto":
        raise InputError("kind", f"must be one of {', '.join(KINDS)}")
    name = filename.lower()
    if name.endswith(".csv"):
        return "text/csv"
    if name.endswith(".json") or name.endswith(".fhir.json"):
        return "application/json"  # the reader recognises a FHIR document inside
    raise InputError("file", f"cannot tell the kind of {filename!r} from its name: choose the kind")


def _form(request, user, *, error=None, kind="auto", status_code=200, result=None, synthetic=False):
    return render(request, "upload.html", {"kinds": KINDS, "kind": kind, "error": error, "result": result,
                                           "synthetic": synthetic,
                                           "max_bytes": request.app.state.runtime.config.web.max_upload_bytes},
                  user=user, status_code=status_code)


@router.get("/upload")
def upload_form(request: Request, user: CurrentUser):
    return _form(request, user)


@router.post("/upload")
async def upload(request: Request, user: CurrentUser, rt: RuntimeDep, file: Annotated[UploadFile, File()],
                 kind: Annotated[str, Form(max_length=20)] = "auto"):
    try:
        media = media_type_for(kind, file.filename or "")
        data = await file.read()
        if not data:
            raise InputError("file", "is empty")
        with rt.transaction() as s:
            report = ingest_upload(s, data, media, source=f"upload:{user.username}:{(file.filename or '')[:100]}",
                                   actor=user.actor, now=rt.clock())
    except InputError as exc:
        return _form(request, user, kind=kind, status_code=400,
                     error={"field": exc.field, "message": exc.message, "file": file.filename})
    run = run_once(rt.sessions, rt.rules, rt.clock, external_ids=report.patients)
    with rt.sessions() as s:
        levels, synthetic = {}, False
        for pid in report.patients:
            p = repo.patient_by_external_id(s, pid)
            synthetic = synthetic or bool(p and p.synthetic)
            st = repo.alert_state(s, p.id) if p else None
            levels[pid] = "not assessed" if st is None else ("error: " + st.error) if st.error else st.level
    result = {**report.to_json(), "file": file.filename, "levels": levels, "assessed": run.assessed,
              "failed": run.failed}
    return _form(request, user, kind=kind, result=result, synthetic=synthetic)
