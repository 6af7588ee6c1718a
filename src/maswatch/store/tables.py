"""The database rows (SQLAlchemy 2 typed declarative). Rows are not domain objects: the
timeline and assessment stay in the core; a patient's timeline document is rebuilt from
the raw observation rows stored here (every version as received, in receipt order), and
the correction rule (maswatch.corrections) is applied by ``timeline.parse`` as for a file.

Other modules declare their tables on the same :class:`Base` (``store/cds_tables.py``);
:func:`all_metadata` imports them so Alembic sees every table.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, MetaData, String, Text,
                        TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s",
          "pk": "pk_%(table_name)s"}
TABLE_MODULES = ("maswatch.store.tables", "maswatch.store.cds_tables", "maswatch.store.family_tables")
"""Every module declaring tables on Base; Alembic imports them all (a missing optional one is skipped)."""

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


class UTCDateTime(TypeDecorator):
    """An aware UTC instant on every database (SQLite keeps no offset: stored as UTC, read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a stored time needs a UTC offset: {value!r}")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


When = UTCDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: When}


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    """The patient id of the source (timeline ``patient.id``, FHIR Patient id)."""
    ward: Mapped[str | None] = mapped_column(String(100))
    team: Mapped[str | None] = mapped_column(String(100))
    context: Mapped[str | None] = mapped_column(String(40))
    under_watch: Mapped[bool] = mapped_column(Boolean, default=True)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_doc: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The timeline's ``patient`` block, latest upload's keys over earlier ones."""
    pending: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    """New data not yet assessed: the monitor picks it up."""
    pending_since: Mapped[datetime | None]
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped by every ingest: the monitor clears ``pending`` only if no ingest came in meanwhile."""
    last_result_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class IngestBatch(Base):
    """One upload or poll: all its rows go in one transaction, or none."""

    __tablename__ = "ingest_batches"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Observation(Base):
    """One observation record exactly as received (any version: corrections included)."""

    __tablename__ = "observations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    """Receipt order: the 'source order' of the correction rule."""
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"))
    record_id: Mapped[str | None] = mapped_column(String(200))
    time: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (Index("ix_observations_patient_id_id", "patient_id", "id"),
                      Index("ix_observations_patient_id_record_id", "patient_id", "record_id"))
    """(patient, id): a timeline in receipt order; (patient, record id): the stored versions of a record."""


class ConditionRow(Base):
    __tablename__ = "conditions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"))
    key: Mapped[str] = mapped_column(String(64))
    """sha256 of the canonical JSON: the same condition sent twice is kept once."""
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (UniqueConstraint("patient_id", "key", name="uq_conditions_patient_key"),)


class MedicationRow(Base):
    __tablename__ = "medications"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"))
    key: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (UniqueConstraint("patient_id", "key", name="uq_medications_patient_key"),)


class AssessmentRow(Base):
    """The JSON of ``maswatch assess --json`` on the stored data without its per-time history
    (``to_json(history=False)``), with the rules and version. Never rewritten once stored."""

    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    at: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(20))
    rules_fingerprint: Mapped[str] = mapped_column(String(64))
    maswatch_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (Index("ix_assessments_patient_id_id", "patient_id", "id"),)


class AlertState(Base):
    """The current level of each assessed patient (the ward list reads it)."""

    __tablename__ = "alert_states"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    level: Mapped[str] = mapped_column(String(20))
    level_rank: Mapped[int] = mapped_column(Integer, index=True)
    level_since: Mapped[datetime | None]
    """When the patient reached this level (the history time), for 'level with its age'."""
    last_worsening_at: Mapped[datetime | None]
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    error: Mapped[str | None] = mapped_column(Text)
    """Why the stored data could not be assessed (shown, never hidden)."""
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class Notification(Base):
    """One per patient, monitoring segment (episode) and level, as ``assess`` de-duplicates."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    segment: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(20))
    raised_at: Mapped[datetime]
    """The result time at which the level was reached."""
    created_at: Mapped[datetime]
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (UniqueConstraint("patient_id", "segment", "level", name="uq_notifications_patient_segment_level"),)


class Acknowledgement(Base):
    __tablename__ = "acknowledgements"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))
    reason_code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str | None] = mapped_column(Text)
    until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256 of the token: the token itself is shown once and never stored."""
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginAttempt(Base):
    """Failed logins, in the database so the rate limit holds across workers."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(When, index=True)


class AuditEvent(Base):
    """Append-only: the repository has no update or delete for it (and PostgreSQL refuses both)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(When, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    ip: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ServerSetting(Base):
    """Server state kept in the database (e.g. the generated secret key)."""

    __tablename__ = "server_settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def all_metadata() -> MetaData:
    """Base.metadata with every table module imported (what Alembic compares against)."""
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return Base.metadata
