"""Family symptom watch rows on the shared Base (docs/family.md): the personal diary links a
clinician gives a family, and the entries recorded through them.

A link's token is shown once and never stored: only its sha256. An entry is never updated
or deleted; a correction is a new entry that retracts the earlier one (``corrects_id``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base, Id


class FamilyLink(Base):
    __tablename__ = "family_links"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    """The clinician's label for the link (e.g. 'mother's phone'); never shown to the family."""


class FamilyEntry(Base):
    """One diary entry exactly as the family sent it, with the advice it was given."""

    __tablename__ = "family_entries"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("family_links.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    observed_at: Mapped[datetime]
    """When the family saw it (their local time, stored in UTC; the offset is kept in ``data``)."""
    received_at: Mapped[datetime]
    tier: Mapped[str] = mapped_column(String(20))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("family_entries.id"))
    """Set on a correction: the earlier entry it retracts (entered-in-error)."""
    data: Mapped[dict[str, Any]] = mapped_column()
    """The entry (maswatch.diary.DiaryEntry.to_json) and its advice."""
    other_text: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_family_entries_link_id_received_at", "link_id", "received_at"),
                      Index("ix_family_entries_patient_id_id", "patient_id", "id"))
