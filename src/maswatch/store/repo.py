"""Queries and inserts, each given a Session. None commits: the caller owns the transaction.

The audit log has ``add_audit`` and reads only: there is no update or delete path for it
here (and the database refuses both, see the initial migration).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from .tables import (Acknowledgement, AlertState, ApiToken, AssessmentRow, AuditEvent, ConditionRow, IngestBatch,
                     LoginAttempt, MedicationRow, Notification, Observation, Patient, ServerSetting, User, WebSession)


def content_key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ----------------------------------------------------------------------------- patients

def patient_by_external_id(s: Session, external_id: str) -> Patient | None:
    return s.scalar(select(Patient).where(Patient.external_id == external_id))


def patient_ids_by_external_id(s: Session, external_ids: Sequence[str]) -> dict[int, str]:
    """Internal id -> external id for the given external ids, in one query (the ward list asks for 1,000s)."""
    if not external_ids:
        return {}
    q = select(Patient.id, Patient.external_id).where(Patient.external_id.in_(list(external_ids)))
    return {pid: ext for pid, ext in s.execute(q)}


def get_patient(s: Session, pid: int) -> Patient | None:
    return s.get(Patient, pid)


def get_or_create_patient(s: Session, external_id: str, now: datetime) -> tuple[Patient, bool]:
    p = patient_by_external_id(s, external_id)
    if p is not None:
        return p, False
    p = Patient(external_id=external_id, created_at=now, patient_doc={}, pending=False, under_watch=True,
                synthetic=False)
    s.add(p)
    s.flush()
    return p, True


def lock_patient(s: Session, pid: int) -> Patient | None:
    """The patient row, locked for this transaction (PostgreSQL: skipped if another monitor holds it)."""
    return s.get(Patient, pid, with_for_update={"skip_locked": True})


def clear_pending(s: Session, pid: int, data_version: int) -> None:
    """Clear ``pending`` only if no ingest bumped ``data_version`` since it was read."""
    s.execute(update(Patient).where(Patient.id == pid, Patient.data_version == data_version)
              .values(pending=False, pending_since=None))


def pending_patient_ids(s: Session, limit: int | None = None) -> list[int]:
    q = select(Patient.id).where(Patient.pending.is_(True)).order_by(Patient.pending_since, Patient.id)
    return list(s.scalars(q.limit(limit) if limit else q))


# ----------------------------------------------------------------------------- raw data

def add_batch(s: Session, source: str, received_at: datetime, user_id: int | None, counts: dict) -> IngestBatch:
    b = IngestBatch(source=source, received_at=received_at, user_id=user_id, counts=counts)
    s.add(b)
    s.flush()
    return b


def add_observations(s: Session, rows: Sequence[dict]) -> None:
    """Bulk insert of observation rows (dicts of Observation columns), in the given order."""
    if rows:  # Core executemany on the session's connection: the ORM bulk path costs more per row
        s.connection().execute(insert(Observation.__table__), list(rows))


def add_condition(s: Session, patient_id: int, batch_id: int, data: dict) -> bool:
    key = content_key(data)
    if s.scalar(select(ConditionRow.id).where(ConditionRow.patient_id == patient_id, ConditionRow.key == key)):
        return False
    s.add(ConditionRow(patient_id=patient_id, batch_id=batch_id, key=key, data=data))
    return True


def add_medication(s: Session, patient_id: int, batch_id: int, data: dict) -> bool:
    key = content_key(data)
    if s.scalar(select(MedicationRow.id).where(MedicationRow.patient_id == patient_id, MedicationRow.key == key)):
        return False
    s.add(MedicationRow(patient_id=patient_id, batch_id=batch_id, key=key, data=data))
    return True


def latest_versions(s: Session, patient_id: int, record_ids: Sequence[str]) -> dict[str, dict]:
    """The newest stored version of each of ``record_ids`` (to skip a version re-sent unchanged)."""
    out: dict[str, dict] = {}
    ids = sorted(set(record_ids))
    for i in range(0, len(ids), 500):
        q = (select(Observation.record_id, Observation.data)
             .where(Observation.patient_id == patient_id, Observation.record_id.in_(ids[i:i + 500]))
             .order_by(Observation.id))
        for rid, data in s.execute(q):
            out[rid] = data
    return out


def observation_rows(s: Session, patient_id: int) -> list[dict]:
    """Every stored version, in receipt order (the correction rule's source order)."""
    q = select(Observation.data).where(Observation.patient_id == patient_id).order_by(Observation.id)
    return list(s.scalars(q))


def observation_sources(s: Session, patient_id: int) -> dict[str, str | None]:
    """Record id -> source of its latest stored version (the patient page's checklist says where a value came from)."""
    q = (select(Observation.record_id, Observation.source).where(Observation.patient_id == patient_id,
                                                                 Observation.record_id.is_not(None))
         .order_by(Observation.id))
    return {rid: src for rid, src in s.execute(q)}


def user_by_id(s: Session, user_id: int) -> User | None:
    return s.get(User, user_id)


def audit_actions(s: Session) -> list[str]:
    """The distinct actions in the audit log (the audit page's filter)."""
    return list(s.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def observation_count(s: Session, patient_id: int | None = None) -> int:
    q = select(func.count()).select_from(Observation)
    if patient_id is not None:
        q = q.where(Observation.patient_id == patient_id)
    return int(s.scalar(q))


def conditions(s: Session, patient_id: int) -> list[dict]:
    return list(s.scalars(select(ConditionRow.data).where(ConditionRow.patient_id == patient_id)
                          .order_by(ConditionRow.id)))


def medications(s: Session, patient_id: int) -> list[dict]:
    return list(s.scalars(select(MedicationRow.data).where(MedicationRow.patient_id == patient_id)
                          .order_by(MedicationRow.id)))


# ----------------------------------------------------------------------------- assessments

def add_assessment(s: Session, row: AssessmentRow) -> AssessmentRow:
    s.add(row)
    s.flush()
    return row


KEPT_WHEN_SUPERSEDED = ("patient", "synthetic", "label", "at", "assessment", "first_met", "disclaimer")


def supersede_assessment(s: Session, assessment_id: int) -> None:
    """Keep a superseded assessment's reading (level, evidence, rules) but not its full history:
    the latest assessment holds the whole history, so the table does not grow by megabytes per result."""
    row = s.get(AssessmentRow, assessment_id)
    if row is not None and "history" in (row.data or {}):
        row.data = {**{k: row.data[k] for k in KEPT_WHEN_SUPERSEDED if k in row.data}, "superseded": True}


def latest_assessment(s: Session, patient_id: int) -> AssessmentRow | None:
    return s.scalar(select(AssessmentRow).where(AssessmentRow.patient_id == patient_id)
                    .order_by(AssessmentRow.id.desc()).limit(1))


def alert_state(s: Session, patient_id: int) -> AlertState | None:
    return s.get(AlertState, patient_id)


def notification_keys(s: Session, patient_id: int) -> set[tuple[int, str]]:
    return set(s.execute(select(Notification.segment, Notification.level)
                         .where(Notification.patient_id == patient_id)))


def add_notifications(s: Session, rows: Iterable[Notification]) -> list[Notification]:
    rows = list(rows)
    s.add_all(rows)
    s.flush()
    return rows


def get_notification(s: Session, nid: int) -> Notification | None:
    return s.get(Notification, nid)


def notifications(s: Session, patient_id: int) -> list[Notification]:
    return list(s.scalars(select(Notification).where(Notification.patient_id == patient_id)
                          .order_by(Notification.raised_at, Notification.id)))


def acknowledgements(s: Session, notification_ids: Sequence[int]) -> list[Acknowledgement]:
    if not notification_ids:
        return []
    return list(s.scalars(select(Acknowledgement).where(Acknowledgement.notification_id.in_(notification_ids))
                          .order_by(Acknowledgement.id)))


def add_acknowledgement(s: Session, ack: Acknowledgement) -> Acknowledgement:
    s.add(ack)
    s.flush()
    return ack


WARD_COLUMNS = (Patient.id, Patient.external_id, Patient.ward, Patient.team, Patient.context, Patient.synthetic,
                Patient.pending, Patient.last_result_at, AlertState.level, AlertState.level_since,
                AlertState.last_worsening_at, AlertState.error, AlertState.summary,
                AlertState.patient_id.label("assessed"))


def ward_rows(s: Session, *, level: str | None = None, ward: str | None = None, team: str | None = None,
              context: str | None = None) -> list:
    """Every patient under watch with its alert state (plain rows, not entities: the list is long),
    most urgent first, then the newest worsening."""
    q = (select(*WARD_COLUMNS).outerjoin(AlertState, AlertState.patient_id == Patient.id)
         .where(Patient.under_watch.is_(True)))
    if level:
        q = q.where(AlertState.level == level)
    if ward:
        q = q.where(Patient.ward == ward)
    if team:
        q = q.where(Patient.team == team)
    if context:
        q = q.where(Patient.context == context)
    q = q.order_by(AlertState.level_rank.desc().nulls_last(), AlertState.last_worsening_at.desc().nulls_last(),
                   Patient.external_id)
    return list(s.execute(q))


def ward_and_team_names(s: Session) -> tuple[list[str], list[str]]:
    """The wards and teams of the patients under watch (the ward list's filters)."""
    rows = list(s.execute(select(Patient.ward, Patient.team).where(Patient.under_watch.is_(True)).distinct()))
    return sorted({w for w, _ in rows if w}), sorted({t for _, t in rows if t})


def latest_notifications(s: Session) -> dict[int, tuple]:
    """Per patient, its newest notification (id, level, raised_at) and the newest acknowledgement of it
    (action, reason_code, until, created_at, username) or Nones."""
    newest = select(func.max(Notification.id).label("nid")).group_by(Notification.patient_id).subquery()
    newest_ack = (select(Acknowledgement.notification_id, func.max(Acknowledgement.id).label("aid"))
                  .group_by(Acknowledgement.notification_id).subquery())
    q = (select(Notification.patient_id, Notification.id, Notification.level, Notification.raised_at,
                Acknowledgement.action, Acknowledgement.reason_code, Acknowledgement.until,
                Acknowledgement.created_at, User.username)
         .join(newest, newest.c.nid == Notification.id)
         .outerjoin(newest_ack, newest_ack.c.notification_id == Notification.id)
         .outerjoin(Acknowledgement, Acknowledgement.id == newest_ack.c.aid)
         .outerjoin(User, User.id == Acknowledgement.user_id))
    return {row[0]: tuple(row[1:]) for row in s.execute(q)}


# ----------------------------------------------------------------------------- users, sessions, tokens

def user_by_name(s: Session, username: str) -> User | None:
    return s.scalar(select(User).where(User.username == username))


def add_user(s: Session, user: User) -> User:
    s.add(user)
    s.flush()
    return user


def users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.username)))


def set_password_hash(s: Session, user_id: int, password_hash: str) -> None:
    s.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def add_web_session(s: Session, row: WebSession) -> None:
    s.add(row)


def web_session(s: Session, token_hash: str) -> WebSession | None:
    return s.scalar(select(WebSession).where(WebSession.token_hash == token_hash))


def delete_web_session(s: Session, token_hash: str) -> None:
    s.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def add_api_token(s: Session, row: ApiToken) -> None:
    s.add(row)


def api_token(s: Session, token_hash: str) -> ApiToken | None:
    return s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def add_login_failure(s: Session, username: str, ip: str | None, at: datetime) -> None:
    s.add(LoginAttempt(username=username, ip=ip, at=at))


def login_failures_since(s: Session, since: datetime, *, username: str | None = None, ip: str | None = None) -> int:
    q = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since)
    if username is not None:
        q = q.where(LoginAttempt.username == username)
    if ip is not None:
        q = q.where(LoginAttempt.ip == ip)
    return int(s.scalar(q))


# ----------------------------------------------------------------------------- audit (append-only)

def add_audit(s: Session, *, at: datetime, actor: str, action: str, user_id: int | None = None, ip: str | None = None,
              patient_id: int | None = None, details: dict | None = None) -> AuditEvent:
    ev = AuditEvent(at=at, actor=actor, action=action, user_id=user_id, ip=ip, patient_id=patient_id,
                    details=details or {})
    s.add(ev)
    s.flush()
    return ev


def audit_events(s: Session, *, patient_id: int | None = None, action: str | None = None, limit: int = 200,
                 before_id: int | None = None) -> list[AuditEvent]:
    q = select(AuditEvent).order_by(AuditEvent.id.desc())
    if patient_id is not None:
        q = q.where(AuditEvent.patient_id == patient_id)
    if action is not None:
        q = q.where(AuditEvent.action == action)
    if before_id is not None:
        q = q.where(AuditEvent.id < before_id)
    return list(s.scalars(q.limit(limit)))


# ----------------------------------------------------------------------------- server settings

def server_setting(s: Session, key: str) -> str | None:
    row = s.get(ServerSetting, key)
    return None if row is None else row.value


def set_server_setting(s: Session, key: str, value: str) -> None:
    s.merge(ServerSetting(key=key, value=value))
