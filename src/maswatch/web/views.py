"""Context builders of the clinician pages: stored rows and the assessment JSON in, plain
dicts for the templates out. Presentation only: every clinical result shown is read from the
assessment JSON (the same JSON as ``maswatch assess --json``)."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote
from typing import TYPE_CHECKING

import orjson

from ..monitoring.acknowledge import ACTIONS, REASON_CODES
from ..monitoring.full import assessment_text
from ..monitoring.stored import parse_stored, stored_data
from ..store import repo
from . import charts

if TYPE_CHECKING:  # the store owns SQLAlchemy
    from sqlalchemy.orm import Session

    from ..rules import Rules

    from ..store.tables import Patient

LEVEL_WORDS = {"alert": "ALERT", "concern": "Concern", "watch": "Watch", "none": "None", "error": "ERROR"}
INSTRUMENT_NAMES = {"ravelli2016": "2016 sJIA-MAS criteria", "hlh2004": "HLH-2004", "hscore": "HScore",
                    "ms_score": "MS score", "mh_score": "MH score", "ferritin_esr": "Ferritin:ESR",
                    "parodi2009": "jSLE-MAS 2009", "ohi": "OHI"}
VERDICT_WORDS = {"met": "met", "not_met": "not met", "indeterminate": "cannot tell yet (inputs missing)"}
TREND_WORDS = {"rising": "↑ rising", "falling": "↓ falling", "steady": "→ steady", "single value": "one value",
               "unknown": "no values"}


def when(t: str | datetime | None) -> str:
    """'2026-01-01 12:00 UTC' (pages show UTC throughout)."""
    if t is None:
        return "—"
    if isinstance(t, str):
        if len(t) >= 17 and t[10] == "T" and (t.endswith("Z") or t.endswith("+00:00")):
            return f"{t[:10]} {t[11:16]} UTC"  # already UTC: no parse (the ward list has 1,000s of these)
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def age_text(hours: float | None) -> str:
    if hours is None:
        return ""
    if hours < 48:
        return f"{hours:.0f} h" if hours >= 1 else "< 1 h"
    return f"{hours / 24:.0f} days"


def instrument_state(state: dict | None) -> str:
    """A ward-list cell: the verdict and score; an incomplete instrument names at most 3 missing inputs."""
    if not state:
        return "—"
    verdict, shown = state.get("verdict"), state.get("score_display") or ""
    if verdict == "indeterminate":
        missing = shown.split("without ", 1)[1].split(";")[0].split(", ") if "without " in shown else []
        if missing:
            more = f", +{len(missing) - 3} more" if len(missing) > 3 else ""
            return f"incomplete (missing {', '.join(missing[:3])}{more})"
        return f"incomplete{': ' + shown if shown else ''}"
    return f"{VERDICT_WORDS.get(verdict, verdict)}{': ' + shown if shown else ''}"


def ward_rows(rows: list[dict]) -> list[dict]:
    """The ward list's rows as shown: words beside every symbol, times in UTC."""
    out = []
    for r in rows:
        level = "error" if r["error"] else r["level"]
        if level is None:
            level_text = "awaiting assessment" if r["pending"] else "not assessed"
        else:
            level_text = LEVEL_WORDS.get(level, level)
        ack = r["acknowledged"]
        latest = r["latest_notification"]
        if latest is None:
            ack_text = "no notification"
        elif ack is None:
            ack_text = f"NOT acknowledged ({latest['level']} raised {when(latest['raised_at'])})"
        else:
            ack_text = f"{ack['action']} by {ack['by']}, {when(ack['at'])}"
            if ack.get("until"):
                ack_text += f" (until {when(ack['until'])})"
        out.append({**r, "href": "/patients/" + quote(r["id"], safe=""), "level_key": level or "unassessed",
                    "level_text": level_text,
                    "level_age": age_text(r["level_age_hours"]),
                    "instrument_text": {k: instrument_state(v) for k, v in r["instruments"].items()},
                    "trend_text": {a: TREND_WORDS.get(r["trend_direction"].get(a, "unknown"), "—")
                                   for a in ("ferritin", "platelets")},
                    "last_result_text": when(r["last_result_at"]), "ack_text": ack_text,
                    "unacknowledged": latest is not None and ack is None})
    return out


def checklist(out: dict, sources: dict[str, str | None]) -> list[dict]:
    """Every instrument's items with the value, unit, time and source of each input."""
    a = out["assessment"]
    used = {}
    for u in a.get("inputs") or []:
        used[u["input"]] = u
    rows = []
    for iid, inst in (a.get("instruments") or {}).items():
        items = []
        for it in inst.get("items") or []:
            inputs = []
            for x in it.get("inputs") or []:
                key = x["input"].split(".", 1)[-1]
                u = used.get(key) or used.get(x["input"]) or {}
                inputs.append({"display": x.get("display") or key, "time": when(u.get("time")) if u else "—",
                               "source": sources.get(u.get("id")) if u.get("id") else None,
                               "record": u.get("id"), "preliminary": u.get("preliminary", False)})
            items.append({"label": it.get("label"), "threshold": it.get("threshold"), "status": it.get("status"),
                          "status_text": VERDICT_WORDS.get(it.get("status"), it.get("status") or "—").replace(
                              "cannot tell yet (inputs missing)", "unknown"), "inputs": inputs})
        rows.append({"id": iid, "name": INSTRUMENT_NAMES.get(iid, iid), "title": inst.get("title"),
                     "verdict": VERDICT_WORDS.get(inst.get("verdict"), inst.get("verdict")),
                     "verdict_key": inst.get("verdict"), "applicable": inst.get("applicable", True),
                     "applicability_reason": inst.get("applicability_reason"),
                     "score_display": inst.get("score_display"), "reference": inst.get("reference"),
                     "unverified": inst.get("unverified") or [], "items": items})
    rows.sort(key=lambda r: not r["applicable"])  # instruments outside their population shown apart, last
    return rows


def assessment_view(out: dict, sources: dict[str, str | None] | None = None) -> dict:
    """What the patient page and the calculator both show of one assessment JSON."""
    a = out["assessment"]
    gc = (a.get("treatment") or {}).get("glucocorticoids") or {}
    resp = a.get("response") or None
    return {
        "at": when(out["at"]), "level": a["alert_level"], "level_text": LEVEL_WORDS.get(a["alert_level"]),
        "reading": (a.get("reading") or {}).get("text", ""), "next_steps": a.get("next_steps") or [],
        "freshness": a.get("freshness") or {}, "explanation": a.get("explanation") or [],
        "context": a.get("context"), "age_years": a.get("age_years"),
        "checklist": checklist(out, sources or {}),
        "differential": [{"id": k, "name": INSTRUMENT_NAMES.get(k, k), **v}
                         for k, v in (a.get("differential") or {}).items()],
        "glucocorticoids": gc, "response": resp, "episode": a.get("episode") or {},
        "label": out.get("label"), "disclaimer": out.get("disclaimer"),
    }


def alert_to_treatment(notes: list[dict], meds: list[dict]) -> dict | None:
    """Time from the first notification at concern or above to the first prescription started at or after it;
    courses already running at that time are listed apart (background, not the response to the alert)."""
    first = next((n for n in notes if n["level"] in ("concern", "alert")), None)
    if first is None:
        return None
    raised = _dt(first["raised_at"])
    after, running = [], []
    for m in meds:
        start, end = _dt(m.get("start")), _dt(m.get("end"))
        if start is None:
            continue
        if start >= raised:
            after.append((start, m["drug"]))
        elif end is None or end >= raised:
            running.append(f"{m['drug']} since {when(start)}")
    out = {"first_alert": when(raised), "first_treatment": None, "hours": None, "running": running}
    if after:
        t, drug = min(after)
        out.update(first_treatment=f"{drug}, {when(t)}", hours=round((t - raised).total_seconds() / 3600, 1))
    return out


def _dt(s: str | None) -> datetime | None:
    return None if not s else datetime.fromisoformat(s.replace("Z", "+00:00"))


def notifications(session: Session, patient_id: int) -> list[dict]:
    notes = repo.notifications(session, patient_id)
    acks: dict[int, list] = {}
    for ack in repo.acknowledgements(session, [n.id for n in notes]):
        acks.setdefault(ack.notification_id, []).append(ack)
    names = {}
    out = []
    for n in reversed(notes):  # newest first
        rows = []
        for ack in acks.get(n.id, []):
            if ack.user_id not in names:
                u = repo.user_by_id(session, ack.user_id)
                names[ack.user_id] = u.username if u else f"user {ack.user_id}"
            rows.append({"action": ack.action, "reason": REASON_CODES.get(ack.reason_code, ack.reason_code),
                         "text": ack.text, "by": names[ack.user_id], "at": when(ack.created_at),
                         "until": when(ack.until) if ack.until else None})
        out.append({"id": n.id, "level": n.level, "level_text": LEVEL_WORDS.get(n.level, n.level),
                    "raised_at": n.raised_at.isoformat().replace("+00:00", "Z"), "raised_text": when(n.raised_at),
                    "reasons": [r.get("text", r) if isinstance(r, dict) else r
                                for r in (n.explanation or {}).get("reasons", [])],
                    "acks": rows, "episode": n.segment})
    return out


def patient_page(session: Session, patient: Patient, window: str, rules: Rules) -> dict:
    """Everything the patient page shows: the reading from the latest stored assessment; the
    charts from the stored results and the full assessment JSON of them (its history draws the
    level band), the same JSON as ``GET /api/patients/{id}/assessment``."""
    state = repo.alert_state(session, patient.id)
    row = repo.latest_assessment(session, patient.id)
    ctx: dict = {"patient": patient, "pid": patient.external_id, "synthetic": bool(patient.synthetic),
                 "state": state, "window": window if window in charts.WINDOWS else charts.DEFAULT_WINDOW,
                 "windows": list(charts.WINDOWS), "actions": ACTIONS, "reason_codes": REASON_CODES,
                 "error": state.error if state is not None else None, "a": None, "charts": [], "treatment_svg": None}
    notes = notifications(session, patient.id)
    ctx["notifications"] = notes
    if row is None or (state is not None and state.error):
        return ctx
    out = row.data
    data = stored_data(session, patient)
    tl = parse_stored(data)
    full = orjson.loads(assessment_text(data, rules, tl))
    ctx["a"] = assessment_view(out, repo.observation_sources(session, patient.id))
    ctx["rules"], ctx["assessed_with"] = row.rules_fingerprint[:12], row.maswatch_version
    ctx["charts"] = charts.lab_charts(tl, full, ctx["window"], ctx["synthetic"])
    ctx["treatment_svg"] = charts.treatment_svg(full, ctx["window"], charts.first_time(tl), ctx["synthetic"])
    ctx["alert_to_treatment"] = alert_to_treatment(list(reversed(notes)),
                                                   ((out["assessment"].get("treatment") or {}).get("medications")
                                                    or []))
    return ctx
