"""Storing results as received: every observation version, raw, in one transaction per call.

``record_observations`` takes one patient's timeline document (maswatch-timeline/1; the
FHIR reader and the CSV reader produce the same form), refuses bad records one by one
with the reason, stores the rest with the batch, marks the patient pending for the
monitor and writes the audit row — all in the caller's transaction, so a crash leaves
either the whole batch or nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .. import timeline
from ..errors import InputError
from ..store import repo
from .actors import Actor

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

MAX_REFUSALS_LISTED = 200


@dataclass
class IngestReport:
    """What one document did: stored per patient, refused per record with why."""

    stored: dict[str, int] = field(default_factory=dict)
    refused: list[dict] = field(default_factory=list)
    unchanged: int = 0
    """Versions re-sent exactly as already stored (skipped)."""
    conditions_added: int = 0
    medications_added: int = 0
    patients: list[str] = field(default_factory=list)

    def refuse(self, where: str, reason: str, record_id: str | None = None) -> None:
        if len(self.refused) < MAX_REFUSALS_LISTED:
            self.refused.append({"where": where, "id": record_id, "reason": reason})
        else:
            self.refused_more = getattr(self, "refused_more", 0) + 1

    def to_json(self) -> dict:
        return {"patients": self.patients, "stored_observations": self.stored,
                "stored_total": sum(self.stored.values()), "refused": self.refused,
                "refused_total": len(self.refused) + getattr(self, "refused_more", 0), "unchanged": self.unchanged,
                "conditions_added": self.conditions_added, "medications_added": self.medications_added}


def _head(doc: dict, report: IngestReport, label: str) -> dict:
    """The document without observations, less any medication the timeline refuses (each reported)."""
    head = {k: v for k, v in doc.items() if k != "observations"}
    meds = list(head.get("medications") or [])
    for _ in range(len(meds) + 1):
        try:
            timeline.parse({**head, "medications": meds})  # patient and conditions must pass as a whole
            break
        except InputError as exc:
            m = re.match(r"^medications\[(\d+)\]", exc.field)
            if m is None:
                raise InputError(f"{label}.{exc.field}", exc.message) from None
            bad = meds.pop(int(m.group(1)))
            report.refuse(f"{label}.{exc.field}", exc.message, str(bad.get("id")) if isinstance(bad, dict)
                          and bad.get("id") is not None else None)
    if "medications" in head:
        head["medications"] = meds
    doc["medications"] = meds
    return head


def _check_rows(doc: dict, not_after: datetime, report: IngestReport, label: str) -> dict[int, datetime | None]:
    """Index -> parsed time of the observations that pass the timeline's checks; the others are refused.

    The whole document is checked at once (the fast path); only when that fails is each
    record checked alone, so one bad record never takes the good ones with it.
    """
    obs = doc.get("observations") or []
    try:
        tl = timeline.parse(doc, not_after=not_after)
        return {i: o.time for i, o in enumerate(tl.observations)}
    except InputError as exc:
        if not exc.field.startswith(("observations[", "medications[")):
            raise InputError(f"{label}.{exc.field}", exc.message) from None
    head = _head(doc, report, label)
    ok = {}
    for i, row in enumerate(obs):
        try:
            ok[i] = timeline.parse({**head, "observations": [row]}, not_after=not_after).observations[0].time
        except InputError as exc:
            rid = row.get("id") if isinstance(row, dict) else None
            where = exc.field.replace("observations[0]", f"observations[{i}]", 1)
            report.refuse(f"{label}.{where}", exc.message, None if rid is None else str(rid))
    return ok


def record_observations(session: Session, doc: dict, *, source: str, actor: Actor, now: datetime,
                        report: IngestReport | None = None, label: str = "timeline") -> IngestReport:
    """Store one patient's timeline document; raise InputError if nothing in it can be stored."""
    report = report or IngestReport()
    if not isinstance(doc, dict):
        raise InputError(label, "must be a timeline object")
    pid = (doc.get("patient") or {}).get("id") if isinstance(doc.get("patient"), dict) else None
    if pid is None or str(pid).strip() == "":
        raise InputError(f"{label}.patient.id", "is required to store a timeline (which patient is it?)")
    doc = dict(doc)
    keep = _check_rows(doc, now + timeline.MAX_CLOCK_SKEW, report, label)
    tl_head = timeline.parse({k: v for k, v in doc.items() if k != "observations"})
    patient, created = repo.get_or_create_patient(session, str(pid), now)
    patient.patient_doc = {**(patient.patient_doc or {}), **tl_head.patient.model_dump(mode="json", exclude_none=True),
                           "id": pid}
    patient.synthetic = bool(patient.synthetic or doc.get("synthetic"))
    obs = doc.get("observations") or []
    batch = repo.add_batch(session, source, now, actor.user_id, {})
    rows = []
    last = patient.last_result_at
    known = {} if created else repo.latest_versions(
        session, patient.id, [str(obs[i]["id"]) for i in keep if obs[i].get("id") is not None])
    unchanged = 0
    for i, t in keep.items():
        o = obs[i]
        if o.get("id") is not None and known.get(str(o["id"])) == o:  # re-sent as it is: nothing new
            unchanged += 1
            continue
        if t is not None and (last is None or t > last):
            last = t
        rows.append({"patient_id": patient.id, "batch_id": batch.id, "record_id": None if o.get("id") is None
                     else str(o["id"]), "time": t, "status": o.get("status", "final"),
                     "source": o.get("source") or source, "received_at": now, "data": o})
    repo.add_observations(session, rows)
    added_c = sum(repo.add_condition(session, patient.id, batch.id, c) for c in doc.get("conditions") or [])
    added_m = sum(repo.add_medication(session, patient.id, batch.id, m) for m in doc.get("medications") or [])
    changed = bool(rows or added_c or added_m or created)
    if changed:
        patient.pending = True
        patient.pending_since = patient.pending_since or now
        patient.data_version = (patient.data_version or 0) + 1
    patient.last_result_at = last
    counts = {"observations": len(rows), "unchanged": unchanged, "refused": len(obs) - len(keep),
              "conditions": added_c, "medications": added_m}
    batch.counts = counts
    report.stored[str(pid)] = report.stored.get(str(pid), 0) + len(rows)
    report.unchanged += unchanged
    report.conditions_added += added_c
    report.medications_added += added_m
    if str(pid) not in report.patients:
        report.patients.append(str(pid))
    repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip, action="ingest",
                   patient_id=patient.id, details={"source": source, "batch": batch.id, **counts})
    return report


def record_document(session: Session, doc: object, *, kind: str, source: str, actor: Actor,
                    now: datetime) -> IngestReport:
    """A timeline (``kind='timeline'``) or a FHIR Bundle/resource(s) (``kind='fhir'``), any number of patients."""
    report = IngestReport()
    if kind == "fhir":
        from ..fhir.read import read_fhir

        res = read_fhir(doc)
        for entry in res.report:
            e = entry if isinstance(entry, dict) else vars(entry)
            report.refuse(str(e.get("path") or e.get("resource_type") or "fhir"), str(e.get("reason")),
                          None if e.get("id") is None else str(e.get("id")))
        if not res.timelines:
            raise InputError("fhir", "no patient data could be read from the document"
                             + (f" ({report.refused[0]['reason']})" if report.refused else ""))
        for pid, tdoc in res.timelines.items():
            record_observations(session, tdoc, source=source, actor=actor, now=now, report=report,
                                label=f"patient {pid}")
        return report
    if kind == "timeline":
        return record_observations(session, doc, source=source, actor=actor, now=now, report=report)
    raise InputError("kind", f"unknown document kind {kind!r}")
