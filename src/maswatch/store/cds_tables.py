"""CDS Hooks rows on the shared Base: token ids seen (replay refusal), cards sent (de-duplication
per client, patient, episode and level), and clinicians' feedback on cards (docs/cds-hooks.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base, Id


class CdsUsedJwtId(Base):
    """A client JWT's ``jti``, kept until the token expires: the same token is never accepted twice."""

    __tablename__ = "cds_used_jwt_ids"
    __table_args__ = (UniqueConstraint("iss", "jti"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    iss: Mapped[str] = mapped_column(String(500))
    jti: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CdsCardSent(Base):
    """A card the service returned: the de-duplication state (highest level per client, patient, episode)."""

    __tablename__ = "cds_cards_sent"
    __table_args__ = (Index("ix_cds_cards_sent_scope", "client", "patient_id", "episode"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    card_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    client: Mapped[str] = mapped_column(String(600))
    patient_id: Mapped[str] = mapped_column(String(200))
    episode: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[str] = mapped_column(String(100))
    sent_at: Mapped[datetime]


class CdsFeedback(Base):
    """``POST /cds-services/{id}/feedback``: accepted or overridden (with the coded reason and comment)."""

    __tablename__ = "cds_feedback"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(100))
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    known_card: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))
    override_code: Mapped[str | None] = mapped_column(String(200))
    override_system: Mapped[str | None] = mapped_column(String(500))
    override_display: Mapped[str | None] = mapped_column(String(2000))
    comment: Mapped[str | None] = mapped_column(Text)
    accepted_suggestions: Mapped[list] = mapped_column(JSON, default=list)
    outcome_time: Mapped[datetime | None]
    client: Mapped[str] = mapped_column(String(600))
    received_at: Mapped[datetime]
