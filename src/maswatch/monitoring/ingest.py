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


def _check_rows(doc: dict, not_after: datetime, report: IngestReport,
                label: str) -> tuple[dict[int, datetime | None], timeline.Timeline | None]:
    """Index -> parsed time of the observations that pass the timeline's checks (the others are
    refused), and the whole document's parse when every record passed.

    The whole document is checked at once (the fast path); only when that fails is each
    record checked alone, so one bad record never takes the good ones with it.
    """
    obs = doc.get("observations") or []
    try:
        tl = timeline.parse(doc, not_after=not_after)
        return {i: o.time for i, o in enumerate(tl.observations)}, tl
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
    return ok, None


def record_observations(session: Session, doc: dict, *, source: str, actor: Actor, now: datetime,
                        report: IngestReport | None = None, label: str = "timeline") -> IngestReport:
    """Store one patient's timeline document; raise InputError if nothing in it can be stored."""
    rows: list[dict] = []
    report = _record(session, doc, source=source, actor=actor, now=now, report=report, label=label, rows=rows)
    repo.add_observations(session, rows)
    return report


def _record(session: Session, doc: dict, *, source: str, actor: Actor, now: datetime,
            report: IngestReport | None, label: str, rows: list[dict]) -> IngestReport:
    """:func:`record_observations`, less the insert of the observation rows: they are appended to
    ``rows`` for the caller to insert in the same transaction (a many-patient document in one bulk
    insert: on PostgreSQL one COPY, which the server works through while the rows are sent)."""
    report = report or IngestReport()
    if not isinstance(doc, dict):
        raise InputError(label, "must be a timeline object")
    pid = (doc.get("patient") or {}).get("id") if isinstance(doc.get("patient"), dict) else None
    if pid is None or str(pid).strip() == "":
        raise InputError(f"{label}.patient.id", "is required to store a timeline (which patient is it?)")
    doc = dict(doc)
    keep, tl = _check_rows(doc, now + timeline.MAX_CLOCK_SKEW, report, label)
    if tl is None:  # records were refused: the rest of the document (less refused medications) alone
        tl = timeline.parse({k: v for k, v in doc.items() if k != "observations"})
    patient, created = repo.get_or_create_patient(session, str(pid), now)
    before = (patient.patient_doc, patient.synthetic)
    patient.patient_doc = {**(patient.patient_doc or {}), **tl.patient.model_dump(mode="json", exclude_none=True),
                           "id": pid}
    patient.synthetic = bool(patient.synthetic or doc.get("synthetic"))
    head_changed = (patient.patient_doc, patient.synthetic) != before  # e.g. a birth date: the age changes
    obs = doc.get("observations") or []
    new_rows = []
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
        new_rows.append({"patient_id": patient.id, "record_id": None if o.get("id") is None
                         else str(o["id"]), "time": t, "status": o.get("status", "final"),
                         "source": o.get("source") or source, "received_at": now, "data": o})
    new_c = repo.new_conditions(session, patient.id, doc.get("conditions") or [])
    new_m = repo.new_medications(session, patient.id, doc.get("medications") or [])
    if new_rows or new_c or new_m or created or head_changed:
        patient.pending = True
        patient.pending_since = patient.pending_since or now
        patient.data_version = (patient.data_version or 0) + 1
    patient.last_result_at = last
    counts = {"observations": len(new_rows), "unchanged": unchanged, "refused": len(obs) - len(keep),
              "conditions": len(new_c), "medications": len(new_m)}
    batch = repo.add_batch(session, source, now, actor.user_id, counts)  # its counts known: no UPDATE after
    for r in new_rows:
        r["batch_id"] = batch.id
    rows.extend(new_rows)
    repo.add_conditions(session, patient.id, batch.id, new_c)
    repo.add_medications(session, patient.id, batch.id, new_m)
    report.stored[str(pid)] = report.stored.get(str(pid), 0) + len(new_rows)
    report.unchanged += unchanged
    report.conditions_added += len(new_c)
    report.medications_added += len(new_m)
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
        rows: list[dict] = []
        for pid, tdoc in res.timelines.items():  # one patient each: no row depends on another's
            _record(session, tdoc, source=source, actor=actor, now=now, report=report, label=f"patient {pid}",
                    rows=rows)
        repo.add_observations(session, rows)
        return report
    if kind == "timeline":
        return record_observations(session, doc, source=source, actor=actor, now=now, report=report)
    raise InputError("kind", f"unknown document kind {kind!r}")
