"""Acknowledge, snooze or override a notification: one row, one audit event, one transaction (the caller's)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import InputError
from ..store import repo
from ..store.tables import Acknowledgement, Notification
from .actors import Actor

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

ACTIONS = ("acknowledge", "snooze", "override")
REASON_CODES = {
    "seen-will-act": "Seen; acting on it",
    "seen-already-managed": "Seen; already being managed",
    "not-mas-explained": "Explained by another cause (not MAS)",
    "data-error": "Wrong or implausible data",
    "awaiting-results": "Awaiting repeat results",
    "other": "Other (see text)",
}
MAX_TEXT = 2_000


def acknowledge(session: Session, notification: Notification, actor: Actor, action: str, reason_code: str,
                text: str | None, until: datetime | None, now: datetime) -> Acknowledgement:
    """Record ``action`` on ``notification`` by ``actor``; InputError naming the bad field otherwise."""
    if actor.user_id is None:
        raise InputError("user", "an acknowledgement needs a signed-in user")
    if action not in ACTIONS:
        raise InputError("action", f"must be one of {', '.join(ACTIONS)}")
    if reason_code not in REASON_CODES:
        raise InputError("reason_code", f"must be one of {', '.join(REASON_CODES)}")
    text = (text or "").strip() or None
    if text is not None and len(text) > MAX_TEXT:
        raise InputError("text", f"at most {MAX_TEXT} characters")
    if reason_code == "other" and not text:
        raise InputError("text", "say why when the reason is 'other'")
    if action == "override" and not text:
        raise InputError("text", "an override needs a reason in words")
    if action == "snooze":
        if until is None:
            raise InputError("until", "a snooze needs the time it ends")
        if until.tzinfo is None or until <= now:
            raise InputError("until", "must be a time in the future with a UTC offset")
    elif until is not None:
        raise InputError("until", f"only a snooze has an end time (action is {action!r})")
    ack = repo.add_acknowledgement(session, Acknowledgement(
        notification_id=notification.id, user_id=actor.user_id, action=action, reason_code=reason_code, text=text,
        until=until, created_at=now))
    repo.add_audit(session, at=now, actor=actor.name, user_id=actor.user_id, ip=actor.ip, action=action,
                   patient_id=notification.patient_id,
                   details={"notification": notification.id, "level": notification.level, "reason_code": reason_code,
                            "acknowledgement": ack.id, **({"until": until.isoformat()} if until else {})})
    return ack
