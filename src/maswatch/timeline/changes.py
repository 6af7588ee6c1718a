"""What changed between what was already notified and a new assessment (pure).

Notifications follow ``assess``'s own de-duplication (alerts.notify_mask, docs/assessment.md):
a history row with ``notify`` raises one notification per monitoring segment (episode)
and level. The stored notifications are keyed the same way, so re-assessing the whole
timeline after each new result raises only what is new, and a worsening raises again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import alerts


@dataclass(frozen=True)
class NewNotification:
    segment: int
    level: str
    raised_at: str
    """The result time (ISO 8601) at which the level was reached."""
    explanation: list = field(default_factory=list)
    tests_to_order: list = field(default_factory=list)


@dataclass(frozen=True)
class Changes:
    level_before: str | None
    level_after: str
    level_since: str | None
    """When the current level was reached (start of the last run of equal levels)."""
    last_worsening_at: str | None
    notifications: tuple[NewNotification, ...]

    @property
    def worsened(self) -> bool:
        before = -1 if self.level_before is None else alerts.LEVELS.index(self.level_before)
        return alerts.LEVELS.index(self.level_after) > before


def changes(out: dict, known: set[tuple[int, str]], level_before: str | None = None) -> Changes:
    """Compare ``out`` (the JSON of ``maswatch assess --json``) with the notifications ``known``."""
    history = out.get("history") or []
    level = out["assessment"]["alert_level"]
    since = None
    for h in reversed(history):
        if h["alert_level"] != level:
            break
        since = h["time"]
    new = []
    last_worse = None
    for h in history:
        if not h.get("notify"):
            continue
        last_worse = h["time"]
        key = (int(h.get("segment") or 0), h["alert_level"])
        if key not in known:
            known = known | {key}
            new.append(NewNotification(key[0], key[1], h["time"], h.get("explanation", []),
                                       h.get("tests_to_order", [])))
    return Changes(level_before, level, since, last_worse, tuple(new))
