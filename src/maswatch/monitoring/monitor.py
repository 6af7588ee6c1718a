"""The monitor: assess each patient with new data, store what changed, raise notifications.

``run_once`` is a plain function given a session factory, the rules and a clock; it runs
one transaction per patient, so one patient's bad data never blocks another's. The
assessment is ``timeline.parse`` + ``timeline.assess`` on the timeline document rebuilt
from the stored raw rows — the same code path, settings and default time as
``maswatch assess --json`` — so the stored JSON equals the CLI's on the same data, less the
per-time history (``to_json(history=False)``: what changed and the ward row are read from
the assessment itself; the history is recomputed where it is shown, ``monitoring.full``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .. import __version__, alerts
from ..errors import InputError
from ..rules import Rules
from ..store import repo
from ..store.tables import AlertState, AssessmentRow, Notification, Patient
from ..timeline import Assessment
from ..timeline.assess import json_numbers
from ..timeline.changes import changes
from .actors import MONITOR, Actor, Clock
from .stored import parse_stored, stored_data

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
ERROR_LEVEL, ERROR_RANK = "error", len(alerts.LEVELS)
"""A patient whose stored data cannot be assessed sorts first: nobody may read it as 'none'."""


@dataclass
class RunReport:
    assessed: int = 0
    failed: int = 0
    notifications: int = 0
    patients: list[str] = field(default_factory=list)


def assess_patient(session: Session, patient: Patient, state: AlertState | None, rules: Rules, now: datetime,
                   actor: Actor = MONITOR) -> AssessmentRow | None:
    """Assess one patient on its stored data and store the result, notifications and audit row.
    ``state``: its alert state, None before its first assessment (``repo.lock_patient`` reads both)."""
    try:
        data = stored_data(session, patient, notified=True)  # the rows and the notifications: one read
        a = rules.assess(parse_stored(data))
        out = a.to_json(history=False)
        known = data.notified
        rows = a.history_for_changes(known)
    except InputError as exc:  # stored data the timeline refuses: shown as an error, never as 'none'
        message = f"{exc.field}: {exc.message}"
        if state is None:
            state = AlertState(patient_id=patient.id, level=ERROR_LEVEL, level_rank=ERROR_RANK, level_since=now,
                               last_worsening_at=None, assessment_id=None, summary={}, updated_at=now)
            session.add(state)
        state.error, state.updated_at = message, now
        repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip,
                       action="assess_failed", patient_id=patient.id, details={"error": message})
        return None
    level = out["assessment"]["alert_level"]
    row = repo.add_assessment(session, AssessmentRow(
        patient_id=patient.id, at=datetime.fromisoformat(out["at"]), level=level,
        rules_fingerprint=rules.fingerprint, maswatch_version=__version__, created_at=now, data=out))
    ch = changes({**out, "history": rows}, known, None if state is None or state.error else state.level)
    repo.add_notifications(session, (Notification(
        patient_id=patient.id, segment=n.segment, level=n.level, raised_at=datetime.fromisoformat(n.raised_at),
        created_at=now, assessment_id=row.id,
        explanation={"reasons": n.explanation, "tests_to_order": n.tests_to_order}) for n in ch.notifications))
    if state is None:
        state = AlertState(patient_id=patient.id)
        session.add(state)
    state.level, state.level_rank = level, alerts.LEVELS.index(level)
    state.level_since = datetime.fromisoformat(ch.level_since) if ch.level_since else row.at
    state.last_worsening_at = datetime.fromisoformat(ch.last_worsening_at) if ch.last_worsening_at else None
    state.assessment_id, state.error, state.updated_at = row.id, None, now
    state.summary = ward_summary(out, a)
    patient.context = out["assessment"].get("context") or patient.context
    repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip, action="assess",
                   patient_id=patient.id,
                   details={"assessment": row.id, "level": level, "level_before": ch.level_before,
                            "rules_fingerprint": rules.fingerprint, "version": __version__,
                            "notifications": [[n.segment, n.level] for n in ch.notifications]})
    return row


TREND_ANALYTES = ("ferritin", "platelets")


def trend_direction(a: Assessment) -> dict[str, str]:
    """Ferritin and platelets: the last exact value against the one before, over the evaluation
    times at which the analyte has an exact value (a censored '<' / '>' result is not compared)."""
    out = {}
    b = a.points.batch
    for analyte in TREND_ANALYTES:
        q = b.lab(analyte)
        vals = [v for v in json_numbers(q.value()[q.exact]) if v is not None]
        if len(vals) < 2:
            out[analyte] = "unknown" if not vals else "single value"
        else:
            out[analyte] = "rising" if vals[-1] > vals[-2] else "falling" if vals[-1] < vals[-2] else "steady"
    return out


def ward_summary(out: dict, a: Assessment) -> dict:
    """What a ward-list row shows, taken from the assessment (no second computation)."""
    x = out["assessment"]
    inst = x.get("instruments") or {}

    def state(iid: str) -> dict | None:
        r = inst.get(iid)
        if r is None:
            return None
        return {k: r.get(k) for k in ("verdict", "score", "score_display", "probability") if k in r}

    fr = x.get("freshness") or {}
    return {"ravelli2016": state("ravelli2016"), "hscore": state("hscore"), "ms_score": state("ms_score"),
            "trend_direction": trend_direction(a),
            "labs_overdue": [y.get("input") for y in fr.get("overdue", [])],
            "stale": [y.get("input") for y in fr.get("stale", [])],
            "episode": (x.get("episode") or {}).get("state"),
            "context": x.get("context"), "at": out["at"], "synthetic": out.get("synthetic", False)}


def assess_pending(session: Session, pid: int, rules: Rules, now: datetime,
                   actor: Actor = MONITOR) -> tuple[Patient, AssessmentRow | None] | None:
    """In the caller's transaction: lock the patient and, if it has new data, assess it and clear
    its pending flag — unless an ingest arrived meanwhile (that one bumps ``data_version``). None
    when another monitor holds the patient or nothing is pending."""
    locked = repo.lock_patient(session, pid)
    if locked is None or not locked[0].pending:
        return None
    patient, state = locked
    version = patient.data_version
    row = assess_patient(session, patient, state, rules, now, actor)
    repo.clear_pending(session, pid, version)
    return patient, row


def run_once(session_factory: sessionmaker[Session], rules: Rules, clock: Clock, *, limit: int | None = None,
             actor: Actor = MONITOR, external_ids: list[str] | None = None) -> RunReport:
    """Assess every pending patient (or only those of ``external_ids``), one transaction each."""
    report = RunReport()
    with session_factory() as s:
        ids = repo.pending_patient_ids(s, limit)
        if external_ids is not None:
            wanted = {p.id for p in (repo.patient_by_external_id(s, e) for e in external_ids) if p is not None}
            ids = [i for i in ids if i in wanted]
    for pid in ids:
        now = clock()
        try:
            with session_factory() as s, s.begin():
                done = assess_pending(s, pid, rules, now, actor)
                if done is None:
                    continue
                patient, row = done
                report.patients.append(patient.external_id)
                if row is None:
                    report.failed += 1
                else:
                    report.assessed += 1
                    report.notifications += len([1 for _ in repo.notifications(s, pid)
                                                 if _.assessment_id == row.id])
        except Exception:  # one patient's failure must not stop the others; no patient data in the log
            log.exception("monitor: assessing patient row %s failed", pid)
            report.failed += 1
    return report
