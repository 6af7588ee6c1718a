"""``maswatch assess FILE [--at TIME] [--json]``: one patient's timeline, assessed over time."""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .. import timeline, trends
from ..errors import InputError
from ..lookback import DEFAULT_LOOKBACK, Lookback
from . import app
from ._render import render_evaluation
from ._settings import ConfigOpt, FerritinEsrStrictOpt, FeverTempOpt, MhCutoffOpt, MsCutoffOpt, build_settings

_LEVEL_STYLE = {"none": "green", "watch": "yellow", "concern": "bold dark_orange", "alert": "bold white on red"}
_VERDICT_MARK = {"met": ("●", "bold red"), "indeterminate": ("?", "yellow"), "not_met": ("·", "green")}
MAX_TIMELINE_ROWS = 30


def parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("--at", f"not an ISO 8601 time: {text!r}") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise InputError("--at", f"{text!r} has no UTC offset; write e.g. 2024-05-01T08:00:00Z")
    return t


def parse_lookback(items: list[str] | None) -> Lookback:
    if not items:
        return DEFAULT_LOOKBACK
    overrides = {}
    for it in items:
        key, sep, hours = it.partition("=")
        try:
            overrides[key.strip()] = float(hours)
        except ValueError:
            raise InputError("--lookback", f"expected KEY=HOURS (e.g. ferritin=48), got {it!r}") from None
        if not sep:
            raise InputError("--lookback", f"expected KEY=HOURS (e.g. ferritin=48), got {it!r}")
    try:
        return DEFAULT_LOOKBACK.with_overrides(overrides)
    except (KeyError, ValueError) as exc:
        raise InputError("--lookback", str(exc).strip('"')) from None


def parse_trend_config(path: Optional[Path]) -> trends.TrendConfig:
    if path is None:
        return trends.DEFAULT_TRENDS
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError("--trend-config", str(exc)) from None
    base = trends.DEFAULT_TRENDS.model_dump()
    for name, rule in raw.items():
        if not isinstance(rule, dict) or name not in base:
            raise InputError(f"--trend-config.{name}", f"unknown trend rule (known: {', '.join(base)})")
        base[name] = {**base[name], **rule}
    try:
        return trends.TrendConfig.model_validate(base)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError("--trend-config." + ".".join(map(str, err["loc"])), err["msg"]) from None


@app.command()
def assess(
    file: str = typer.Argument(..., help="Timeline JSON (maswatch-timeline/1, docs/timeline-format.md)."),
    at: Optional[str] = typer.Option(None, "--at", help="Assess at this time (ISO 8601 with offset); default: last result."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: assessment, history, first-met times, settings."),
    lookback: Optional[list[str]] = typer.Option(None, "--lookback", help="Look-back window override KEY=HOURS (repeatable)."),
    trend_config: Optional[Path] = typer.Option(None, "--trend-config", help="TOML of trend thresholds (heuristic)."),
    config: Optional[Path] = ConfigOpt,
    ms_cutoff: Optional[str] = MsCutoffOpt,
    mh_cutoff: Optional[float] = MhCutoffOpt,
    ferritin_esr_strict: Optional[bool] = FerritinEsrStrictOpt,
    fever_temp: Optional[float] = FeverTempOpt,
) -> None:
    """Assess one patient's timeline at every result time: criteria history, trends, alert
    level (repeated only when it worsens), tests to order, treatment and response."""
    err = Console(stderr=True)
    try:
        settings = build_settings(config, ms_cutoff, mh_cutoff, ferritin_esr_strict, fever_temp)
        lb = parse_lookback(lookback)
        tc = parse_trend_config(trend_config)
        when = parse_time(at) if at else None
        tl = timeline.parse(_read_json(file))
        result = timeline.assess(tl, when, settings=settings, lookback=lb, trend_config=tc)
        out = result.to_json()
    except InputError as exc:
        err.print(f"[red]error[/red] {escape(exc.field)}: {escape(exc.message)}", highlight=False)
        raise typer.Exit(2)
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    render_assessment(Console(soft_wrap=True), out)


def _read_json(file: str):
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("FILE", f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("FILE", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


# ------------------------------------------------------------------------- rendering


def _level(name: str) -> Text:
    return Text(f" {name.upper()} ", style=_LEVEL_STYLE[name])


def _compact_rows(history: list[dict]) -> list[int]:
    """Rows worth a line: first, last, notifications, and changes of level or verdict."""
    keep = []
    prev = None
    for i, h in enumerate(history):
        sig = (h["alert_level"], tuple(h["verdicts"].values()), h["episode"])
        if i == 0 or i == len(history) - 1 or h["notify"] or sig != prev:
            keep.append(i)
        prev = sig
    if len(keep) > MAX_TIMELINE_ROWS:
        notified = [i for i in keep if history[i]["notify"]]
        rest = [i for i in keep if not history[i]["notify"]]
        room = max(MAX_TIMELINE_ROWS - len(notified), 2)
        keep = sorted(set(notified + rest[: room // 2] + rest[-(room - room // 2):]))
    return keep


def render_assessment(console: Console, out: dict) -> None:
    a = out["assessment"]
    pid = out["patient"].get("id", "(no id)")
    if out["synthetic"]:
        console.print(Text(" SYNTHETIC DATA — not a real patient ", style="bold black on yellow"))
    head = Text(f"Patient {pid}  at {out['at']}  ")
    head.append_text(_level(a["alert_level"]))
    if a.get("notify"):
        head.append("  (new: level worsened)", style="bold")
    console.print(head)
    if a.get("instruments") is None:
        console.print(a.get("note", ""))
        return
    console.print(f"context: {a['context']}   age: {a['age_years'] if a['age_years'] is not None else 'unknown'}"
                  + ("   [yellow]uses PRELIMINARY results[/yellow]" if a["uses_preliminary"] else ""))
    for r in a["explanation"]:
        console.print(f"  [{_LEVEL_STYLE[r['level']]}]{r['level']}[/]: {r['text']}", highlight=False)

    _render_timeline(console, out)
    render_evaluation(console, {"instruments": a["instruments"]})

    # trends, with the values behind them; thresholds listed once (all heuristic)
    t = Table(title="Trends vs the patient's own earlier values (heuristic — not validated)", title_justify="left")
    for col in ("signal", "status", "current vs earlier reference (canonical units)"):
        t.add_column(col, overflow="fold")
    unknown = []
    for sid, s in a["trends"].items():
        if s["status"] == "unknown" and all(v["current"] is None or v["reference"] is None for v in s["values"]):
            unknown.append(sid)
            continue
        vals = "; ".join(
            f"{v['analyte']} {_fmt(v['current'])} vs {v['reference_kind'].split(' ')[0]} {_fmt(v['reference'])}"
            + (f" ({v['change_percent']:+.0f}%)" if v["change_percent"] is not None else "") for v in s["values"])
        style = {"yes": "bold red", "unknown": "yellow", "no": "green"}[s["status"]]
        t.add_row(sid, Text(s["status"], style=style), vals)
    console.print(t)
    if unknown:
        console.print(Text(f"  unknown (no current or earlier value): {', '.join(unknown)}", style="dim"))
    console.print(Text("  thresholds: " + "; ".join(sorted({v["threshold"].split(" (")[0] for s in a["trends"].values()
                                                               for v in s["values"]})), style="dim"))

    d = Table(title="Differential", title_justify="left")
    for col in ("instrument", "question", "verdict", "score / ratio", "population"):
        d.add_column(col, overflow="fold")
    for iid, r in a["differential"].items():
        val = r.get("score", r.get("ratio"))
        if val is None and ("score_min" in r or "ratio_min" in r):
            lo, hi = r.get("score_min", r.get("ratio_min")), r.get("score_max", r.get("ratio_max"))
            val = f"{_fmt(lo)} to {_fmt(hi)}"
        d.add_row(iid, r["question"], r["verdict"], _fmt(val), r["population"])
    console.print(d)

    if a["tests_to_order"]:
        console.print("[bold]Tests to order / examine now[/bold] (could settle indeterminate instruments):")
        for x in a["tests_to_order"]:
            console.print(f"  {x['name']:<24} settles {', '.join(x['settles'])}", highlight=False)

    tr = a["treatment"]
    gc = tr["glucocorticoids"]
    console.print(f"[bold]Treatment[/bold]: active {', '.join(m['drug'] for m in tr['active']) or 'none'}; "
                  f"cumulative glucocorticoid {_fmt(gc.get('cumulative_mg'))} mg prednisone-equivalent "
                  f"({_fmt(gc.get('cumulative_mg_per_kg'))} mg/kg)", highlight=False)
    ep = a["episode"]
    line = f"[bold]Episode[/bold]: {ep['state']}"
    if ep["current"]:
        line += f" (episode {ep['current']}{', recurrence' if ep['recurrence'] else ''})"
    console.print(line, highlight=False)
    if a["response"]:
        r = a["response"]
        console.print(f"  response: complete lab response {r['complete_lab_response']}, remission {r['remission']}"
                      + (f" at {r['remission_time']}" if r.get("remission_time") else ""), highlight=False)
    met = {k: v for k, v in out["first_met"].items() if v}
    if met:
        console.print("[bold]First met[/bold]: " + ", ".join(f"{k} {v}" for k, v in met.items()), highlight=False)
    console.print(Text("  " + out["disclaimer"], style="dim italic"))


_CORE_COLS = (("ravelli2016", "R"), ("hlh2004", "H"), ("hscore", "S"), ("parodi2009", "L"), ("ms_score", "M"))


def _render_timeline(console: Console, out: dict) -> None:
    hist = out["history"]
    rows = _compact_rows(hist)
    t = Table(title=f"Timeline: {len(hist)} evaluation times (changes shown)", title_justify="left", padding=(0, 1))
    for col in ("time (UTC)", "level", "!", "ep", " ".join(c for _, c in _CORE_COLS), "HScore"):
        t.add_column(col, no_wrap=True)
    t.add_column("labs", overflow="fold")
    last = -1
    for i in rows:
        if i != last + 1 and last >= 0:
            t.add_row("…", *[""] * 6)
        h = hist[i]
        marks = Text()
        for iid, _ in _CORE_COLS:
            sym, style = _VERDICT_MARK[h["verdicts"][iid]]
            marks.append(sym + " ", style=style)
        sc = h["scores"]
        t.add_row(h["time"][:16].replace("T", " "), Text(h["alert_level"], style=_LEVEL_STYLE[h["alert_level"]]),
                  "▲" if h["notify"] else "", str(h["episode"] or ""), marks, _fmt(sc.get("hscore")),
                  " ".join(f"{_ABBR.get(k, k)} {_fmt(v)}" for k, v in h["labs"].items()))
        last = i
    console.print(t)
    console.print(Text("  R 2016 sJIA-MAS  H HLH-2004  S HScore >= 169  L jSLE 2009  M MS score;  "
                       "● met  ? indeterminate  · not met;  ▲ notified (level worsened)", style="dim"))


_ABBR = {"platelets": "PLT", "ferritin": "FER", "ast": "AST", "fibrinogen": "FIB", "wbc": "WBC", "esr": "ESR",
         "crp": "CRP"}


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return f"{_fmt(v[0])}..{_fmt(v[1])}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
