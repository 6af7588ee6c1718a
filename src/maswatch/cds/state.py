"""What the CDS service remembers between calls: token ids seen, cards sent, feedback.

:class:`CdsState` is the interface the hook service uses; the database implementation
(``maswatch.store.cds_repo.SqlCdsState``, tables in ``store/cds_tables.py``) keeps it across
restarts and workers; :class:`MemoryState` serves tests and benchmarks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass
class SentCard:
    client: str
    patient_id: str
    episode: str
    level: str
    card_uuid: str
    service_id: str
    sent_at: datetime


@dataclass
class Feedback:
    service_id: str
    card_uuid: str
    outcome: str
    override_code: str | None
    override_system: str | None
    override_display: str | None
    comment: str | None
    outcome_time: datetime | None
    client: str
    known_card: bool
    accepted_suggestions: list[str] = field(default_factory=list)


class CdsState(Protocol):
    def remember(self, iss: str, jti: str, expires_at: float) -> bool: ...
    def sent_level(self, client: str, patient_id: str, episode: str) -> str | None: ...
    def record_card(self, card: SentCard) -> None: ...
    def card_known(self, card_uuid: str) -> bool: ...
    def record_feedback(self, fb: Feedback) -> None: ...


class MemoryState:
    def __init__(self):
        self.jtis: dict[tuple[str, str], float] = {}
        self.cards: list[SentCard] = []
        self.feedback: list[Feedback] = []
        self._lock = threading.Lock()

    def remember(self, iss: str, jti: str, expires_at: float) -> bool:
        with self._lock:
            if (iss, jti) in self.jtis:
                return False
            self.jtis[(iss, jti)] = expires_at
            return True

    def sent_level(self, client: str, patient_id: str, episode: str) -> str | None:
        from .cards import rank

        levels = [c.level for c in self.cards if (c.client, c.patient_id, c.episode) == (client, patient_id, episode)]
        return max(levels, key=rank) if levels else None

    def record_card(self, card: SentCard) -> None:
        with self._lock:
            self.cards.append(card)

    def card_known(self, card_uuid: str) -> bool:
        return any(c.card_uuid == card_uuid for c in self.cards)

    def record_feedback(self, fb: Feedback) -> None:
        with self._lock:
            self.feedback.append(fb)


__all__ = ["CdsState", "Feedback", "MemoryState", "SentCard"]
