"""Queries and inserts, each given a Session. None commits: the caller owns the transaction.

The audit log has ``add_audit`` and reads only: there is no update or delete path for it
here (and the database refuses both, see the initial migration). Observation rows and
assessment rows are append-only too: nothing here updates or deletes them (and the database
refuses both for observations, migration 0005).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import BigInteger, Text, bindparam, cast, delete, func, insert, literal, select, union_all, update
from sqlalchemy.orm import Session

from .db import after_commit, database_key, json_loads, json_text  # noqa: F401  (for the services)
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


def lock_patient(s: Session, pid: int) -> tuple[Patient, AlertState | None] | None:
    """The patient row, locked for this transaction (PostgreSQL: skipped if another monitor holds it),
    and its alert state (None before its first assessment), in one query."""
    q = (select(Patient, AlertState).outerjoin(AlertState, AlertState.patient_id == Patient.id)
         .where(Patient.id == pid).with_for_update(of=Patient, skip_locked=True)
         .execution_options(populate_existing=True))
    row = s.execute(q).first()
    return None if row is None else (row[0], row[1])


_CLEAR_PENDING = (update(Patient.__table__).where(Patient.__table__.c.id == bindparam("pid"),
                                                  Patient.__table__.c.data_version == bindparam("version"))
                  .values(pending=False, pending_since=None))


def clear_pending(s: Session, pid: int, data_version: int) -> None:
    """Clear ``pending`` only if no ingest bumped ``data_version`` since it was read (in the
    database: a Patient object already loaded in ``s`` keeps the value it had)."""
    s.flush()
    s.connection().execute(_CLEAR_PENDING, {"pid": pid, "version": data_version})


def pending_patient_ids(s: Session, limit: int | None = None) -> list[int]:
    q = select(Patient.id).where(Patient.pending.is_(True)).order_by(Patient.pending_since, Patient.id)
    return list(s.scalars(q.limit(limit) if limit else q))


# ----------------------------------------------------------------------------- raw data

def add_batch(s: Session, source: str, received_at: datetime, user_id: int | None, counts: dict) -> IngestBatch:
    b = IngestBatch(source=source, received_at=received_at, user_id=user_id, counts=counts)
    s.add(b)
    s.flush()
    return b


COPY_FROM = 50
"""Rows from which PostgreSQL gets a COPY (its two round trips cost more than an INSERT of a few rows)."""
_OBSERVATION_COLUMNS = ("patient_id", "batch_id", "record_id", "time", "status", "source", "received_at", "data")


def add_observations(s: Session, rows: Sequence[dict]) -> None:
    """Bulk insert of observation rows (dicts of Observation columns), in the given order (their
    ids, the correction rule's receipt order, follow it), in the session's transaction.

    Each value goes through its column type's own bind step (the UTC check of a time, the JSON
    writer), as an INSERT's would (a batch's shared receipt time once); the rows then go to the
    driver as they are. PostgreSQL: one COPY on the session's own connection (psycopg's
    executemany sends one INSERT per row). SQLite: one executemany (SQLAlchemy's per-row
    parameter handling was 80% of that insert's time)."""
    if not rows:
        return
    s.flush()  # the patient and batch rows they refer to
    conn = s.connection()
    postgresql = conn.dialect.name == "postgresql"
    if postgresql and len(rows) < COPY_FROM:
        conn.execute(insert(Observation.__table__), list(rows))
        return
    table = Observation.__table__
    # the integer and text columns have no bind step on either database; the JSON is written here
    bind_time, bind_received = (table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                                for c in ("time", "received_at"))  # the dialect's own (SQLite's text form)
    received: dict = {}

    def values(r: dict) -> tuple:
        at = r["received_at"]
        if at not in received:
            received[at] = bind_received(at)
        return (r["patient_id"], r["batch_id"], r["record_id"], bind_time(r["time"]), r["status"], r["source"],
                received[at], json_text(r["data"]))

    columns = ", ".join(_OBSERVATION_COLUMNS)
    if not postgresql:
        marks = ", ".join("?" * len(_OBSERVATION_COLUMNS))
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", [values(r) for r in rows])
        return
    with conn.connection.driver_connection.cursor() as cur, \
            cur.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(values(r))


def _new_contents(s: Session, table, patient_id: int, items: Sequence[dict]) -> list[tuple[str, dict]]:
    """(key, data) of the items not yet stored for the patient, each content once, in the given order."""
    keyed: dict[str, dict] = {}
    for d in items:
        keyed.setdefault(content_key(d), d)
    if not keyed:
        return []
    stored = set(s.scalars(select(table.key).where(table.patient_id == patient_id, table.key.in_(list(keyed)))))
    return [(k, d) for k, d in keyed.items() if k not in stored]


def new_conditions(s: Session, patient_id: int, items: Sequence[dict]) -> list[tuple[str, dict]]:
    """The conditions not yet stored (the same condition sent twice is kept once), in one query."""
    return _new_contents(s, ConditionRow, patient_id, items)


def new_medications(s: Session, patient_id: int, items: Sequence[dict]) -> list[tuple[str, dict]]:
    return _new_contents(s, MedicationRow, patient_id, items)


def add_conditions(s: Session, patient_id: int, batch_id: int, items: Iterable[tuple[str, dict]]) -> None:
    s.add_all(ConditionRow(patient_id=patient_id, batch_id=batch_id, key=k, data=d) for k, d in items)


def add_medications(s: Session, patient_id: int, batch_id: int, items: Iterable[tuple[str, dict]]) -> None:
    s.add_all(MedicationRow(patient_id=patient_id, batch_id=batch_id, key=k, data=d) for k, d in items)


_LATEST_VERSIONS = (select(Observation.__table__.c.record_id, Observation.__table__.c.data)
                    .where(Observation.__table__.c.patient_id == bindparam("pid"),
                           Observation.__table__.c.record_id.in_(bindparam("ids", expanding=True)))
                    .order_by(Observation.__table__.c.id))


def latest_versions(s: Session, patient_id: int, record_ids: Sequence[str]) -> dict[str, dict]:
    """The newest stored version of each of ``record_ids`` (to skip a version re-sent unchanged)."""
    out: dict[str, dict] = {}
    ids = sorted(set(record_ids))
    s.flush()
    for i in range(0, len(ids), 500):
        for rid, data in s.connection().execute(_LATEST_VERSIONS, {"pid": patient_id, "ids": ids[i:i + 500]}):
            out[rid] = data
    return out


@dataclass(frozen=True)
class TimelineRows:
    """A patient's stored data as the timeline is rebuilt from it (``monitoring.stored``)."""

    conditions: list[dict]
    medications: list[dict]
    database_id: str | None
    """``server_settings['database_id']``: which database the row ids belong to."""
    before: int
    """How many observation rows have an id up to the ``after`` asked for (0 when none was)."""
    rows: list[tuple[int, str]]
    """(id, stored JSON text) of every observation row after ``after``, in receipt order."""
    notified: set[tuple[int, str]] | None = None
    """The (segment, level) of the patient's notifications, when asked for (the monitor's
    de-duplication reads them with the timeline, in the same round trip)."""


def _timeline_query(notified: bool):
    """Conditions (kind 0), medications (1), the database id and the count of observation rows up
    to :after (2), the observation rows after it (3), and optionally the (segment, level) of every
    notification (4): one round trip."""
    obs, settings = Observation.__table__, ServerSetting.__table__
    database_id = select(settings.c.value).where(settings.c.key == "database_id").scalar_subquery()
    parts = [select(literal(kind).label("kind"), t.c.id.label("id"), cast(t.c.data, Text).label("data"))
             .where(t.c.patient_id == bindparam("pid")) for kind, t in enumerate((ConditionRow.__table__,
                                                                                  MedicationRow.__table__))]
    parts.append(select(literal(2), func.count(), database_id)
                 .where(obs.c.patient_id == bindparam("pid"), obs.c.id <= bindparam("after")))
    parts.append(select(literal(3), obs.c.id, cast(obs.c.data, Text))
                 .where(obs.c.patient_id == bindparam("pid"), obs.c.id > bindparam("after")))
    if notified:
        n = Notification.__table__
        parts.append(select(literal(4), cast(n.c.segment, BigInteger), n.c.level)
                     .where(n.c.patient_id == bindparam("pid")))
    return union_all(*parts).order_by("kind", "id")


_TIMELINE_ROWS, _TIMELINE_ROWS_NOTIFIED = _timeline_query(False), _timeline_query(True)


def timeline_rows(s: Session, patient_id: int, after: int = 0, *, notified: bool = False) -> TimelineRows:
    """The patient's conditions and medications, and the observation rows after row id ``after``
    (every row by default), each in receipt order (the correction rule's source order), with the
    count of the rows up to ``after``. Observation rows are append-only (migration 0005), so a
    caller that has read the rows up to ``after`` before, and finds their count unchanged, has
    them all. The texts are taken from the driver's cursor as they are (SQLAlchemy's per-row
    result objects doubled the cost of 2,000 rows); :func:`decode` reads one as the engine would."""
    s.flush()
    result = s.connection().execute(_TIMELINE_ROWS_NOTIFIED if notified else _TIMELINE_ROWS,
                                    {"pid": patient_id, "after": after})
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    head: tuple[list, list] = ([], [])
    obs, before, database_id, keys = [], 0, None, set()
    for kind, rid, text in rows:
        if kind == 3:
            obs.append((rid, text))
        elif kind == 2:
            before, database_id = int(rid), text
        elif kind == 4:
            keys.add((int(rid), text))
        else:
            head[kind].append(decode(text))
    return TimelineRows(head[0], head[1], database_id, before, obs, keys if notified else None)


decode = json_loads
"""A JSON column's stored text read as the engine's own reader reads the column."""


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


# ----------------------------------------------------------------------------- assessments

def add_assessment(s: Session, row: AssessmentRow) -> AssessmentRow:
    """A new assessment row; earlier ones are kept as they are (the reading at their time).

    ``data`` is the assessment without its per-time history (``to_json(history=False)``,
    ~50 KB, not 1.4 MB at 2,000 results): whoever shows the history recomputes it from the
    stored timeline (``monitoring.full``), so no row is ever rewritten."""
    s.add(row)
    s.flush()
    return row


def latest_assessment(s: Session, patient_id: int) -> AssessmentRow | None:
    return s.scalar(select(AssessmentRow).where(AssessmentRow.patient_id == patient_id)
                    .order_by(AssessmentRow.id.desc()).limit(1))


def latest_assessment_id(s: Session, patient_id: int) -> int | None:
    return s.scalar(select(func.max(AssessmentRow.id)).where(AssessmentRow.patient_id == patient_id))


def alert_state(s: Session, patient_id: int) -> AlertState | None:
    return s.get(AlertState, patient_id)


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
              patient_id: int | None = None, details: dict | None = None) -> None:
    """One audit row, after the changes pending in ``s`` (a Core insert: every request writes one)."""
    s.flush()
    s.connection().execute(insert(AuditEvent.__table__), {
        "at": at, "actor": actor, "action": action, "user_id": user_id, "ip": ip, "patient_id": patient_id,
        "details": details or {}})


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
