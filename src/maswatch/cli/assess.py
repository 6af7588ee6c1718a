"""``maswatch assess FILE [--at TIME] [--json]``: one patient's timeline, assessed over time."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import analytes, display, jsondoc, timeline
from ..fhir import read as fhir_reader
from ..errors import InputError
from . import app
from ._io import EXIT_USAGE, err_console, print_error, read_document
from ._render import render_evaluation, render_reading
from ..rules import load_rules
from ._settings import ConfigOpt, FerritinEsrStrictOpt, FeverTempOpt, MhCutoffOpt, MsCutoffOpt, cli_settings

_LEVEL_STYLE = {"none": "green", "watch": "yellow", "concern": "bold dark_orange", "alert": "bold white on red"}
_VERDICT_MARK = {"met": ("●", "bold red"), "indeterminate": ("?", "yellow"), "not_met": ("·", "green")}
MAX_TIMELINE_ROWS = 30


def parse_time(text: str) -> datetime:
    """``--at``: the same rule as every time in a document (jsondoc.parse_time)."""
    try:
        return jsondoc.parse_time(text)
    except ValueError as exc:
        raise InputError("--at", str(exc)) from None


def parse_hours(items: list[str] | None, option: str, example: str) -> dict[str, float]:
    """Repeated KEY=HOURS options as a dict; the values are checked by maswatch.rules."""
    out: dict[str, float] = {}
    for it in items or ():
        key, sep, hours = it.partition("=")
        try:
            out[key.strip()] = float(hours)
        except ValueError:
            raise InputError(option, f"expected KEY=HOURS (e.g. {example}), got {it!r}") from None
        if not sep:
            raise InputError(option, f"expected KEY=HOURS (e.g. {example}), got {it!r}")
    return out


@app.command()
def assess(
    file: str = typer.Argument(..., help="Timeline JSON (maswatch-timeline/1, docs/timeline-format.md) or a FHIR R4 Bundle / resource(s) of one patient (docs/fhir.md)."),
    at: Optional[str] = typer.Option(None, "--at", help="Assess at this time (ISO 8601 with offset); default: last result."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: assessment, history, first-met times, settings."),
    fhir_out: bool = typer.Option(False, "--fhir", help="Print the assessment as a FHIR R4 Bundle (RiskAssessment + Observations; docs/fhir.md)."),
    lookback: Optional[list[str]] = typer.Option(None, "--lookback", help="Look-back window override KEY=HOURS (repeatable)."),
    overdue: Optional[list[str]] = typer.Option(None, "--overdue", help="Overdue interval in an active episode, ANALYTE=HOURS (repeatable; default ferritin and CBC 24 h, docs/assessment.md)."),
    trend_config: Optional[Path] = typer.Option(None, "--trend-config", help="TOML of trend thresholds (heuristic)."),
    config: Optional[Path] = ConfigOpt,
    ms_cutoff: Optional[str] = MsCutoffOpt,
    mh_cutoff: Optional[float] = MhCutoffOpt,
    ferritin_esr_strict: Optional[bool] = FerritinEsrStrictOpt,
    fever_temp: Optional[float] = FeverTempOpt,
) -> None:
    """Assess one patient's timeline at every result time: criteria history, trends, alert
    level (repeated only when it worsens), tests to order, treatment and response."""
    err = err_console()
    try:
        rules = load_rules(config, settings=cli_settings(ms_cutoff, mh_cutoff, ferritin_esr_strict, fever_temp),
                           lookback=parse_hours(lookback, "--lookback", "ferritin=48"),
                           overdue=parse_hours(overdue, "--overdue", "ferritin=12"), trend_file=trend_config)
        when = parse_time(at) if at else None
        doc = read_document(file, "timeline")
        fhir_read = None
        if fhir_reader.is_fhir(doc):  # a FHIR R4 Bundle or resource(s): the one FHIR reader (docs/fhir.md)
            tl, fhir_read = fhir_reader.single_timeline(doc)
        else:
            tl = timeline.parse(doc, not_after=reading_time() + timeline.MAX_CLOCK_SKEW)
        result = rules.assess(tl, when)
        out = result.to_json()
    except InputError as exc:
        print_error(err, exc)
        raise typer.Exit(EXIT_USAGE)
    if fhir_read is not None and fhir_read.counts.get("left_out"):
        err.print(Text(fhir_reader.summary(fhir_read)))
    if fhir_out:
        from ..fhir.write import assessment_bundle

        sys.stdout.write(jsondoc.dumps(assessment_bundle(out)) + "\n")
        sys.stdout.flush()
        return
    if as_json:
        sys.stdout.write(jsondoc.dumps(out) + "\n")
        sys.stdout.flush()
        return
    render_assessment(Console(soft_wrap=True), out)


def reading_time() -> datetime:
    """The wall clock, read once here (the core has no clock): results dated later than it
    by more than ``timeline.MAX_CLOCK_SKEW`` are refused (docs/limits.md)."""
    return datetime.now(timezone.utc)


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
    fr = a.get("freshness") or {}
    if fr.get("level_carried"):
        head.append(f"  carried: results stale (fresh results alone: {fr['level_from_fresh_results']})", style="bold")
    console.print(head)
    if a.get("instruments") is None:
        console.print(a.get("note", ""))
        return
    render_reading(console, a)
    _render_freshness(console, fr)
    console.print(f"context: {a['context']}   age: {a['age_years'] if a['age_years'] is not None else 'unknown'}"
                  + ("   [yellow]uses PRELIMINARY results[/yellow]" if a["uses_preliminary"] else ""))
    for r in a["explanation"]:
        console.print(f"  [{_LEVEL_STYLE[r['level']]}]{r['level']}[/]: {r['text']}", highlight=False)

    _render_timeline(console, out)
    render_evaluation(console, {"instruments": a["instruments"]})
    _render_inputs(console, a["inputs"])

    # trends, with the values behind them; thresholds listed once (all heuristic)
    t = Table(title="Trends vs the patient's own earlier values (heuristic — not validated)", title_justify="left")
    for col in ("signal", "status", "current vs earlier reference"):
        t.add_column(col, overflow="fold")
    unknown = []
    for sid, s in a["trends"].items():
        if s["status"] == "unknown" and all(v["current"] is None or v["reference"] is None for v in s["values"]):
            unknown.append(sid)
            continue
        vals = "; ".join(
            f"{v['analyte']} {_lab(v['analyte'], v['current'])} vs {v['reference_kind'].split(' ')[0]} "
            f"{_lab(v['analyte'], v['reference'])}"
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
        d.add_row(iid, r["question"], r["verdict"], a["instruments"][iid].get("score_display", ""), r["population"])
    console.print(d)

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
    t.add_column("labs (" + ", ".join(f"{_ABBR[k]} {display.unit_text(analytes.get(k).canonical_unit)}"
                                      for k in _ABBR) + ")", overflow="fold")
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
        carried = h.get("level_from_fresh_results", h["alert_level"]) != h["alert_level"]
        t.add_row(h["time"][:16].replace("T", " "),
                  Text(h["alert_level"] + ("*" if carried else ""), style=_LEVEL_STYLE[h["alert_level"]]),
                  "▲" if h["notify"] else "", str(h["episode"] or ""), marks,
                  _history_score(sc.get("hscore"), h["verdicts"].get("hscore")),
                  " ".join(f"{_ABBR.get(k, k)} {_lab(k, v)}" for k, v in h["labs"].items()))
        last = i
    console.print(t)
    console.print(Text("  R 2016 sJIA-MAS  H HLH-2004  S HScore >= 169  L jSLE 2009  M MS score;  "
                       "● met  ? indeterminate  · not met;  ▲ notified (level worsened);  "
                       "* level carried: results stale (docs/assessment.md)", style="dim"))


def _history_score(v, verdict: str | None) -> str:
    """An HScore range as a clinician reads it: '≥ 99' when met, '≤ 150' when not, 'open' otherwise."""
    if v is None:
        return "—"
    if not isinstance(v, list):
        return display.number(v)
    if verdict == "met":
        return f"≥ {display.number(v[0])}"
    if verdict == "not_met":
        return f"≤ {display.number(v[1])}"
    return f"open ≥ {display.number(v[0])}" if v[0] else "open"


def _lab(analyte: str, v) -> str:
    """A canonical value at the analyte's clinical precision (registry ``decimals``)."""
    if v is None or isinstance(v, str):
        return "—" if v is None else v
    try:
        decimals = analytes.get(analyte).decimals
    except KeyError:
        return _fmt(v)
    return display.number(round(float(v), decimals) if decimals else round(float(v)))


def _name(key: str) -> str:
    """A series key as a clinician reads it ('ast' -> 'AST', 'fever' -> 'fever')."""
    from ..batch import FINDING_IDS

    return display.label(f"findings.{key}" if key in FINDING_IDS or key == "temperature" else f"labs.{key}")


def _render_freshness(console: Console, fr: dict) -> None:
    """Stale results and overdue labs, named, with their age (docs/assessment.md)."""
    if fr.get("stale"):
        console.print(Text("  Stale (aged out of their look-back window, no longer used): " + ", ".join(
            f"{_name(x['input'])} {display.number(x['age_hours'], 2)} h old (window {display.number(x['lookback_hours'])} h)"
            for x in fr["stale"]), style="yellow"))
    if fr.get("overdue"):
        console.print(Text("  Overdue in an active episode: " + ", ".join(
            f"{_name(x['input'])} " + ("never measured" if x["age_hours"] is None else
                                f"{display.number(x['age_hours'], 2)} h old")
            + f" (due every {display.number(x['due_every_hours'])} h)" for x in fr["overdue"]), style="yellow"))


def _render_inputs(console: Console, inputs: list[dict]) -> None:
    """The age of every value used (hours before the assessment time)."""
    if inputs:
        console.print(Text("  Values used, age at this time: " + ", ".join(
            f"{_name(x['input'])} {display.number(x['age_hours'], 2)} h" + (" (preliminary)" if x["preliminary"] else "")
            for x in inputs), style="dim"))


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
