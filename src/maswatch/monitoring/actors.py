"""Who acts (for the audit log) and what time it is (given, never read inside the core)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Actor:
    name: str
    """A username, or a process name ('monitor', 'fhir-poll', 'cli')."""
    user_id: int | None = None
    ip: str | None = None


MONITOR = Actor("monitor")
