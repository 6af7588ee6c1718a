"""CDS Hooks cards from an assessment (the JSON of ``maswatch assess --json``). Pure.

- ``indicator``: ``critical`` only when a classification / diagnostic set is met where it
  applies (level ``alert``) or the changes ranked highest by the consensus are there together
  (a steep trend); other ``concern`` -> ``warning``; ``watch`` -> ``info``; ``none`` -> no card.
- ``summary`` < 140 characters; ``detail`` in Markdown with the evidence (values, units,
  times), the stale or overdue results and the tests to order; ``source`` names maswatch and
  the instrument's citation; ``overrideReasons`` let the clinician say why not.
- De-duplication (who was already told what) is decided by :func:`should_card` from the state
  the caller keeps: once per patient, level and episode; a worsening is carded again.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..alerts import LEVELS

STEEP_TREND_REASONS = ("consensus_trends", "consensus_trend_known_context")
"""Explanation reasons that make a ``concern`` critical: two or more of the highest-ranked changes."""
SUMMARY_MAX = 139
CORE_SETS = ("ravelli2016", "hlh2004", "hscore", "parodi2009")
"""Classification / diagnostic sets whose being met makes the level ``alert`` (docs/timeline-format.md)."""
OVERRIDE_SYSTEM = "urn:maswatch:cds-override-reason"
OVERRIDE_REASONS = (
    ("already-aware", "Already aware; being assessed or treated"),
    ("not-mas", "Clinical picture is not MAS"),
    ("data-wrong", "Results incorrect, outdated or of another patient"),
    ("not-applicable", "Criteria do not apply to this patient"),
)
LABEL = "maswatch (decision support, not a diagnosis)"
_TITLE = {"ravelli2016": "2016 sJIA-MAS classification criteria", "hlh2004": "HLH-2004 criteria",
          "hscore": "HScore", "parodi2009": "2009 jSLE MAS guidelines", "ms_score": "MS score",
          "mh_score": "MH score", "ferritin_esr": "ferritin:ESR ratio", "ohi": "OHI"}


def rank(level: str) -> int:
    return LEVELS.index(level)


def indicator(a: dict) -> str | None:
    level = a["alert_level"]
    if level == "none":
        return None
    if level == "alert":
        return "critical"
    if level == "concern":
        steep = any(r.get("reason") in STEEP_TREND_REASONS for r in a.get("explanation", []))
        return "critical" if steep else "warning"
    return "info"


def episode_key(a: dict) -> str:
    """The de-duplication scope: the current episode, or the stretch since the last one ended."""
    ep = a.get("episode") or {}
    if ep.get("current"):
        return f"episode-{ep['current']}"
    return f"after-{len(ep.get('episodes') or [])}"


def should_card(a: dict, sent_level: str | None) -> bool:
    """Card when something is of concern and it is worse than what this episode already carded."""
    if indicator(a) is None:
        return False
    return sent_level is None or rank(a["alert_level"]) > rank(sent_level)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _md(text: Any) -> str:
    """Escape Markdown control characters in data (a result's id or unit is not markup)."""
    s = str(text)
    for ch in "\\`*_{}[]<>#|":
        s = s.replace(ch, "\\" + ch)
    return s


def _met_sets(a: dict) -> list[str]:
    return [iid for iid, r in (a.get("instruments") or {}).items() if r.get("verdict") == "met"]


def summary(a: dict, synthetic: bool) -> str:
    level = a["alert_level"]
    head = {"alert": "Possible MAS", "concern": "MAS concern", "watch": "MAS watch"}.get(level, "MAS")
    met = [_TITLE[i] for i in _met_sets(a) if i in CORE_SETS and a["instruments"][i].get("applicable", True)]
    if level == "alert" and met:
        text = f"{head}: {', '.join(met)} met"
    else:
        first = next((r["text"] for r in a.get("explanation", []) if r.get("level") == level), "")
        text = f"{head}: {first}" if first else head
    if synthetic:
        text = "[SYNTHETIC] " + text
    return _short(text, SUMMARY_MAX)


def _times(a: dict) -> dict[str, str]:
    return {i["input"]: i["time"] for i in a.get("inputs") or [] if i.get("input")}


def detail(out: dict) -> str:
    a = out["assessment"]
    lines: list[str] = []
    if out.get("synthetic"):
        lines.append("**SYNTHETIC DATA — not a real patient.**\n")
    reading = a.get("reading")
    if isinstance(reading, dict) and reading.get("text"):
        lines.append(f"{_md(reading['text'])}\n")
    lines.append(f"**Alert level {a['alert_level'].upper()}** at {out['at']} — decision support, not a diagnosis.\n")
    lines.append("**Why**")
    for r in a.get("explanation", []):
        lines.append(f"- *{r['level']}*: {_md(r['text'])}")
    times = _times(a)
    ev = []
    for iid, r in (a.get("instruments") or {}).items():
        if r.get("verdict") not in ("met", "indeterminate"):
            continue
        items = [it for it in r.get("items", []) if it.get("status") == "met"]
        if not items:
            continue
        shown = []
        for it in items:
            for inp in it.get("inputs", []):
                if inp.get("value") is None:
                    continue
                key = str(inp.get("input", "")).split(".", 1)[-1]
                when = times.get(key)
                shown.append(_md(inp.get("display") or f"{key} {inp['value']} {inp.get('unit', '')}")
                             + (f" ({when})" if when else ""))
        score = r.get("score_display")
        lines_ev = f"- **{_md(_TITLE.get(iid, iid))}**: {r['verdict']}" + (f", {_md(score)}" if score else "")
        if r.get("applicable") is False:
            lines_ev += f" — outside its population ({_md(r.get('applicability_reason', ''))})"
        ev.append(lines_ev + (": " + "; ".join(dict.fromkeys(shown)) if shown else ""))
    if ev:
        lines.append("\n**Evidence**")
        lines += ev
    trends = [(sid, s) for sid, s in (a.get("trends") or {}).items() if s.get("status") == "yes"]
    if trends:
        lines.append("\n**Trends** (heuristic thresholds — not validated)")
        for sid, s in trends:
            vals = "; ".join(f"{_md(v['analyte'])} {v['current']:g} vs {v['reference']:g} {_md(v.get('unit', ''))}"
                             + (f" ({v['change_percent']:+.0f}%)" if v.get("change_percent") is not None else "")
                             for v in s.get("values", []) if v.get("current") is not None and v.get("reference") is not None)
            lines.append(f"- {_md(s.get('label', sid))}: {vals}")
    stale = _stale(a)
    if stale:
        lines.append("\n**Results stale or overdue**")
        lines += [f"- {_md(x)}" for x in stale]
    steps = a.get("next_steps")
    if isinstance(steps, list) and steps:
        lines.append("\n**Next steps**")
        for st in steps[:8]:
            lines.append(f"- {_md(st.get('text') if isinstance(st, dict) else st)}")
    tests = a.get("tests_to_order") or []
    if tests:
        lines.append("\n**Tests that would settle an open result**")
        for t in tests[:10]:
            lines.append(f"- {_md(t['name'])} (settles {_md(', '.join(t.get('settles', [])))})")
    gc = ((a.get("treatment") or {}).get("glucocorticoids") or {})
    if gc.get("cumulative_mg") is not None:
        lines.append(f"\n**Glucocorticoids**: cumulative {gc['cumulative_mg']:g} mg prednisone-equivalent"
                     + (f" ({gc['cumulative_mg_per_kg']:g} mg/kg)" if gc.get("cumulative_mg_per_kg") is not None else ""))
    refs = [r.get("reference") for iid, r in (a.get("instruments") or {}).items()
            if iid in _met_sets(a) and r.get("reference")]
    if refs:
        lines.append("\n**Sources**: " + "; ".join(_md(r) for r in refs))
    return "\n".join(lines)


def _stale(a: dict) -> list[str]:
    f = a.get("freshness")
    out: list[str] = []
    if not isinstance(f, dict):
        return out
    for kind in ("stale", "overdue"):
        for x in f.get(kind) or []:
            if isinstance(x, dict):
                name = x.get("label") or x.get("analyte") or x.get("key") or "result"
                age = x.get("age_hours")
                out.append(f"{name}: {kind}" + (f", last {age:g} h ago" if isinstance(age, (int, float)) else ""))
            else:
                out.append(f"{x}: {kind}")
    return out


def _source(a: dict) -> dict:
    met = _met_sets(a)
    first = (a.get("instruments") or {}).get(met[0]) if met else None
    src: dict[str, Any] = {"label": LABEL}
    if first and first.get("reference"):
        ref = first["reference"]
        src["label"] = _short(f"maswatch — {_TITLE.get(met[0], met[0])}: {ref}", 200)
        doi = ref.rsplit("doi:", 1)[-1].strip() if "doi:" in ref else None
        if doi:
            src["url"] = f"https://doi.org/{doi}"
    return src


def card(out: dict) -> dict:
    a = out["assessment"]
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary(a, bool(out.get("synthetic"))),
        "detail": detail(out),
        "indicator": indicator(a),
        "source": _source(a),
        "overrideReasons": [{"code": c, "system": OVERRIDE_SYSTEM, "display": d} for c, d in OVERRIDE_REASONS],
    }


def order_card(out: dict, drugs: list[str]) -> dict:
    """The order-select card: cumulative glucocorticoid exposure, response status and level."""
    a = out["assessment"]
    gc = ((a.get("treatment") or {}).get("glucocorticoids") or {})
    resp = a.get("response") or {}
    cum = gc.get("cumulative_mg")
    exposure = (f"{cum:g} mg prednisone-eq." if cum is not None else "glucocorticoid exposure unknown")
    status = resp.get("remission") and f"remission {resp['remission']}, lab response {resp.get('complete_lab_response')}"
    text = f"{', '.join(drugs)}: {exposure}; MAS level {a['alert_level']}"
    if out.get("synthetic"):
        text = "[SYNTHETIC] " + text
    lines = [f"**Ordering {', '.join(_md(d) for d in drugs)}** — decision support, not a diagnosis.\n"]
    if out.get("synthetic"):
        lines.insert(0, "**SYNTHETIC DATA — not a real patient.**\n")
    if cum is not None:
        lines.append(f"- Cumulative glucocorticoid: **{cum:g} mg** prednisone-equivalent"
                     + (f" ({gc['cumulative_mg_per_kg']:g} mg/kg)" if gc.get("cumulative_mg_per_kg") is not None else "")
                     + f" up to {gc.get('until', out['at'])}; high-dose days {gc.get('days_high_dose', 0)}, "
                       f"pulse days {gc.get('pulse_days', 0)}")
        if gc.get("days_unknown_mg"):
            lines.append(f"- Days with an unknown dose: {len(gc['days_unknown_mg'])} (the total is a lower bound)")
    else:
        lines.append("- No glucocorticoid recorded")
    active = [m["drug"] for m in (a.get("treatment") or {}).get("active", [])]
    lines.append(f"- Active now: {_md(', '.join(active)) if active else 'none recorded'}")
    ep = a.get("episode") or {}
    if resp:
        lines.append(f"- MAS episode {ep.get('current') or '-'}: {status}"
                     + (f", day {resp['days_since_onset']:g} since onset" if resp.get("days_since_onset") is not None else ""))
    else:
        lines.append(f"- MAS episode: {ep.get('state', 'none')} (no response to assess)")
    lines.append(f"- Alert level now: **{a['alert_level']}**")
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _short(text, SUMMARY_MAX),
        "detail": "\n".join(lines),
        "indicator": "warning" if a["alert_level"] in ("alert", "concern") else "info",
        "source": {"label": LABEL},
        "overrideReasons": [{"code": c, "system": OVERRIDE_SYSTEM, "display": d} for c, d in OVERRIDE_REASONS],
    }


__all__ = ["card", "episode_key", "indicator", "order_card", "should_card"]
