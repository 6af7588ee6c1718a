"""Family symptom watch services (docs/family.md): enrol a family (a personal diary link),
revoke it, record an entry, retract one. They decide; the caller owns the transaction; each
change is written with its audit row, the actor being the clinician or the family link.

A diary entry goes into the patient's timeline as family-reported observations through
:func:`record_observations` (the same path as every other result), so the monitor assesses
it like any upload and the care team is notified once per episode and level.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import timeline
from ..diary import entries as diary_entries
from ..diary.entries import DiaryEntry
from ..diary.tiers import Advice, advise
from ..errors import InputError, MaswatchError
from ..store import family_repo, repo
from ..store.family_tables import FamilyEntry, FamilyLink
from .actors import Actor
from .ingest import record_observations

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

TOKEN_BYTES = 32
SOURCE_PREFIX = "family-link:"
RETRACTED = "retracted"


class LinkRefused(MaswatchError):
    """The diary link is unknown (404), revoked or expired (410)."""

    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(reason)


class TooManyEntries(MaswatchError):
    """More entries than ``[family] entries_per_hour`` from one link."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_actor(link: FamilyLink, ip: str | None = None) -> Actor:
    """The family acts through its link, never as a user."""
    return Actor(f"{SOURCE_PREFIX}{link.id}", None, ip)


def link_status(link: FamilyLink, now: datetime) -> str:
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if now >= link.expires_at else "active"


def enrol_family(session: Session, patient_external_id: str, *, actor: Actor, now: datetime, link_days: float,
                 note: str | None = None) -> tuple[str, FamilyLink]:
    """A new personal diary link for the patient's family: the token is returned once, its hash kept."""
    patient = repo.patient_by_external_id(session, patient_external_id)
    if patient is None:
        raise InputError("patient", f"no patient {patient_external_id!r} under watch")
    if note is not None and len(note) > 200:
        raise InputError("note", "must be at most 200 characters")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = family_repo.add_link(session, FamilyLink(
        patient_id=patient.id, token_hash=token_hash(token), created_at=now, created_by=actor.user_id,
        expires_at=now + timedelta(days=link_days), note=(note or "").strip() or None))
    repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip, action="family_enrol",
                   patient_id=patient.id, details={"link": link.id, "expires_at": link.expires_at.isoformat()})
    return token, link


def revoke_link(session: Session, link_id: int, *, actor: Actor, now: datetime) -> FamilyLink:
    link = family_repo.get_link(session, link_id)
    if link is None:
        raise InputError("link", "no such family link")
    if link.revoked_at is None:
        link.revoked_at = now
        link.revoked_by = actor.user_id
        repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip,
                       action="family_link_revoke", patient_id=link.patient_id, details={"link": link.id})
    return link


def open_link(session: Session, token: str, now: datetime) -> FamilyLink:
    """The active link for ``token``; LinkRefused (404 unknown, 410 revoked or expired) otherwise."""
    link = family_repo.link_by_hash(session, token_hash(token)) if 20 <= len(token) <= 100 else None
    if link is None:
        raise LinkRefused(404, "unknown")
    status = link_status(link, now)
    if status != "active":
        raise LinkRefused(410, status)
    return link


def _timeline_doc(session: Session, link: FamilyLink, observations: list[dict]) -> dict:
    patient = repo.get_patient(session, link.patient_id)
    return {"format": timeline.FORMAT, "synthetic": bool(patient.synthetic),
            "patient": {"id": patient.external_id}, "observations": observations}


def _check_rate(session: Session, link: FamilyLink, now: datetime, per_hour: int) -> None:
    if family_repo.entries_since(session, link.id, now - timedelta(hours=1)) >= per_hour:
        raise TooManyEntries("too many entries in the last hour")


@dataclass(frozen=True)
class Recorded:
    entry: FamilyEntry
    advice: Advice


def record_entry(session: Session, link: FamilyLink, entry: DiaryEntry, *, now: datetime, per_hour: int,
                 ip: str | None = None) -> Recorded:
    """Store the entry as sent, its advice, and its family-reported observations (patient pending)."""
    _check_rate(session, link, now, per_hour)
    advice = advise(entry.signs, entry.temperature_c)
    row = family_repo.add_entry(session, FamilyEntry(
        link_id=link.id, patient_id=link.patient_id, observed_at=entry.time, received_at=now, tier=advice.tier,
        data={**entry.to_json(), "advice": {"tier": advice.tier, "because": list(advice.because),
                                            "sources": list(advice.sources), "verified": advice.verified}},
        other_text=entry.other_text))
    actor = link_actor(link, ip)
    obs = diary_entries.to_observations(entry, str(row.id))
    row.data = {**row.data, "observation_ids": [o["id"] for o in obs]}
    record_observations(session, _timeline_doc(session, link, obs), source=actor.name, actor=actor, now=now,
                        label="diary entry")
    repo.add_audit(session, at=now, actor=actor.name, ip=ip, action="family_entry", patient_id=link.patient_id,
                   details={"entry": row.id, "tier": advice.tier, "because": list(advice.because)})
    return Recorded(row, advice)


def retract_entry(session: Session, link: FamilyLink, entry_id: int, *, now: datetime, per_hour: int,
                  ip: str | None = None) -> FamilyEntry:
    """'This entry was a mistake': a new entry retracting the earlier one (entered-in-error); nothing is edited."""
    earlier = family_repo.get_entry(session, entry_id)
    if earlier is None or earlier.link_id != link.id or earlier.corrects_id is not None:
        raise InputError("entry", "We could not find that entry.")
    if entry_id in family_repo.corrected_ids(session, [entry_id]):
        raise InputError("entry", "This entry was already taken back.")
    _check_rate(session, link, now, per_hour)
    ids = list(earlier.data.get("observation_ids") or [])
    row = family_repo.add_entry(session, FamilyEntry(
        link_id=link.id, patient_id=link.patient_id, observed_at=now, received_at=now, tier=RETRACTED,
        corrects_id=earlier.id, data={"retracts": earlier.id, "observation_ids": ids}))
    actor = link_actor(link, ip)
    record_observations(session, _timeline_doc(session, link, diary_entries.retractions(ids)), source=actor.name,
                        actor=actor, now=now, label="diary correction")
    repo.add_audit(session, at=now, actor=actor.name, ip=ip, action="family_entry_retract",
                   patient_id=link.patient_id, details={"entry": row.id, "retracts": earlier.id})
    return row


def _entry_view(e: FamilyEntry, retracted: set[int]) -> dict:
    d = e.data or {}
    return {"id": e.id, "observed_at": e.observed_at, "local_time": d.get("time"), "received_at": e.received_at,
            "tier": e.tier, "signs": d.get("signs", []), "temperature": d.get("temperature"), "unit": d.get("unit"),
            "temperature_c": d.get("temperature_c"), "other_text": e.other_text, "because": (d.get("advice") or {})
            .get("because", []), "retracts": e.corrects_id, "retracted": e.id in retracted,
            "reporter": "family"}


def link_entries(session: Session, link: FamilyLink, limit: int = 50) -> list[dict]:
    """This link's own entries, newest first (the family sees nothing else of the record)."""
    rows = family_repo.entries_of_link(session, link.id, limit)
    gone = family_repo.corrected_ids(session, [r.id for r in rows])
    return [_entry_view(r, gone) for r in rows]


def patient_entries(session: Session, patient_id: int, limit: int = 50) -> list[dict]:
    """Every family entry of the patient, newest first, for the care team (labelled family-reported)."""
    rows = family_repo.entries_of_patient(session, patient_id, limit)
    gone = family_repo.corrected_ids(session, [r.id for r in rows])
    return [_entry_view(r, gone) for r in rows]


def patient_links(session: Session, patient_id: int, now: datetime) -> list[dict]:
    return [{"id": k.id, "created_at": k.created_at, "expires_at": k.expires_at, "status": link_status(k, now),
             "note": k.note} for k in family_repo.links_of_patient(session, patient_id)]


TIER_RANK = {"keep_watching": 0, "next_visit": 1, "call_team": 2, "emergency": 3}


def ward_family_summary(session: Session, patient_ids: list[int], now: datetime, hours: float = 72) -> dict[int, dict]:
    """Per patient: family entries in the last ``hours`` (not retracted), the most urgent advice given, the latest time."""
    rows = family_repo.entries_of_patients_since(session, patient_ids, now - timedelta(hours=hours))
    gone = {r.corrects_id for r in rows if r.corrects_id is not None}
    out: dict[int, dict] = {}
    for r in rows:
        if r.corrects_id is not None or r.id in gone:
            continue
        cur = out.setdefault(r.patient_id, {"entries": 0, "worst_tier": "keep_watching", "last_at": None,
                                            "hours": hours})
        cur["entries"] += 1
        if TIER_RANK.get(r.tier, 0) > TIER_RANK[cur["worst_tier"]]:
            cur["worst_tier"] = r.tier
        if cur["last_at"] is None or r.observed_at > cur["last_at"]:
            cur["last_at"] = r.observed_at
    return out


def ward_family_by_external_id(session: Session, external_ids: list[str], now: datetime) -> dict[str, dict]:
    """:func:`ward_family_summary` keyed by the patient ids the ward list shows."""
    pats = repo.patient_ids_by_external_id(session, external_ids)  # one query, not one per row
    return {pats[k]: v for k, v in ward_family_summary(session, list(pats), now).items()}
