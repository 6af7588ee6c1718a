"""The ward list: every patient under watch, most urgent first (level, then newest worsening),
from the stored alert states — no assessment is recomputed to draw it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .. import alerts
from ..store import repo
from .monitor import ERROR_LEVEL

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

LEVEL_FILTERS = (*alerts.LEVELS, ERROR_LEVEL, "unassessed")


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def ward_list(session: Session, now: datetime, *, level: str | None = None, ward: str | None = None,
              team: str | None = None, context: str | None = None) -> list[dict]:
    rows = repo.ward_rows(session, level=None if level == "unassessed" else level, ward=ward, team=team,
                          context=context)
    if level == "unassessed":
        rows = [r for r in rows if r.assessed is None]
    latest = repo.latest_notifications(session) if rows else {}
    out = []
    for r in rows:
        n = latest.get(r.id)
        acked = None
        if n is not None and n[3] is not None:
            acked = {"by": n[7], "at": _iso(n[6]), "action": n[3], "reason_code": n[4], "until": _iso(n[5])}
        summary = r.summary or {}
        assessed = r.assessed is not None
        out.append({
            "id": r.external_id, "ward": r.ward, "team": r.team, "context": r.context, "synthetic": r.synthetic,
            "level": r.level,
            "assessed": assessed and r.error is None,
            "pending": r.pending,
            "error": r.error,
            "level_since": _iso(r.level_since),
            "level_age_hours": round((now - r.level_since).total_seconds() / 3600, 1) if r.level_since else None,
            "last_worsening_at": _iso(r.last_worsening_at),
            "instruments": {k: summary.get(k) for k in ("ravelli2016", "hscore", "ms_score")},
            "trend_direction": summary.get("trend_direction", {}),
            "last_result_at": _iso(r.last_result_at),
            "labs_overdue": summary.get("labs_overdue", []),
            "stale": summary.get("stale", []),
            "episode": summary.get("episode"),
            "assessed_at": summary.get("at"),
            "latest_notification": None if n is None else {"id": n[0], "level": n[1], "raised_at": _iso(n[2])},
            "acknowledged": acked,
        })
    return out
