"""Queries for the family diary rows (store/family_tables.py); the services decide, this reads and adds."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .family_tables import FamilyEntry, FamilyLink


def add_link(s: Session, link: FamilyLink) -> FamilyLink:
    s.add(link)
    s.flush()
    return link


def link_by_hash(s: Session, token_hash: str) -> FamilyLink | None:
    return s.scalar(select(FamilyLink).where(FamilyLink.token_hash == token_hash))


def get_link(s: Session, link_id: int) -> FamilyLink | None:
    return s.get(FamilyLink, link_id)


def links_of_patient(s: Session, patient_id: int) -> list[FamilyLink]:
    return list(s.scalars(select(FamilyLink).where(FamilyLink.patient_id == patient_id).order_by(FamilyLink.id.desc())))


def add_entry(s: Session, entry: FamilyEntry) -> FamilyEntry:
    s.add(entry)
    s.flush()
    return entry


def get_entry(s: Session, entry_id: int) -> FamilyEntry | None:
    return s.get(FamilyEntry, entry_id)


def entries_since(s: Session, link_id: int, since: datetime) -> int:
    return int(s.scalar(select(func.count()).select_from(FamilyEntry)
                        .where(FamilyEntry.link_id == link_id, FamilyEntry.received_at >= since)))


def entries_of_link(s: Session, link_id: int, limit: int = 100) -> list[FamilyEntry]:
    return list(s.scalars(select(FamilyEntry).where(FamilyEntry.link_id == link_id)
                          .order_by(FamilyEntry.id.desc()).limit(limit)))


def entries_of_patient(s: Session, patient_id: int, limit: int = 100) -> list[FamilyEntry]:
    return list(s.scalars(select(FamilyEntry).where(FamilyEntry.patient_id == patient_id)
                          .order_by(FamilyEntry.id.desc()).limit(limit)))


def corrected_ids(s: Session, entry_ids: Sequence[int]) -> set[int]:
    if not entry_ids:
        return set()
    return set(s.scalars(select(FamilyEntry.corrects_id).where(FamilyEntry.corrects_id.in_(list(entry_ids)))))


def entries_of_patients_since(s: Session, patient_ids: Sequence[int], since: datetime) -> list[FamilyEntry]:
    if not patient_ids:
        return []
    return list(s.scalars(select(FamilyEntry).where(FamilyEntry.patient_id.in_(list(patient_ids)),
                                                    FamilyEntry.received_at >= since).order_by(FamilyEntry.id)))
