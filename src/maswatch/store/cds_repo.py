"""CDS Hooks state on a Session (``cds.state.CdsState``); never commits: the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .cds_tables import CdsCardSent, CdsFeedback, CdsUsedJwtId

_RANK = {"none": 0, "watch": 1, "concern": 2, "alert": 3}


class SqlCdsState:
    def __init__(self, session: Session, clock=lambda: datetime.now(timezone.utc)):
        self.s = session
        self.clock = clock

    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        now = self.clock()
        self.s.execute(delete(CdsUsedJwtId).where(CdsUsedJwtId.expires_at < now))
        try:
            with self.s.begin_nested():
                self.s.add(CdsUsedJwtId(iss=iss, jti=jti,
                                        expires_at=datetime.fromtimestamp(expires_at, timezone.utc)))
        except IntegrityError:
            return False
        return True

    def sent_level(self, client: str, patient_id: str, episode: str) -> str | None:
        levels = self.s.scalars(select(CdsCardSent.level).where(
            CdsCardSent.client == client, CdsCardSent.patient_id == patient_id,
            CdsCardSent.episode == episode).distinct()).all()
        return max(levels, key=lambda lv: _RANK.get(lv, 0)) if levels else None

    def record_card(self, card) -> None:
        self.s.add(CdsCardSent(card_uuid=card.card_uuid, client=card.client, patient_id=card.patient_id,
                               episode=card.episode, level=card.level, service_id=card.service_id,
                               sent_at=card.sent_at))

    def card_known(self, card_uuid: str) -> bool:
        return bool(self.s.scalar(select(func.count()).select_from(CdsCardSent).where(
            CdsCardSent.card_uuid == card_uuid)))

    def record_feedback(self, fb) -> None:
        self.s.add(CdsFeedback(service_id=fb.service_id, card_uuid=fb.card_uuid, known_card=fb.known_card,
                               outcome=fb.outcome, override_code=fb.override_code,
                               override_system=fb.override_system, override_display=fb.override_display,
                               comment=fb.comment, accepted_suggestions=list(fb.accepted_suggestions),
                               outcome_time=fb.outcome_time, client=fb.client, received_at=self.clock()))

    def feedback(self) -> list[CdsFeedback]:
        return list(self.s.scalars(select(CdsFeedback).order_by(CdsFeedback.id)))


__all__ = ["SqlCdsState"]
