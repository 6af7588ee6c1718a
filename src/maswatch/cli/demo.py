"""``maswatch demo``: the main job on embedded defaults, on SYNTHETIC data only.

The whole pathway in one run: (1) the published instruments on bedside snapshots,
(2) one synthetic patient with a generated MAS episode, assessed at the three moments that
teach most — onset, peak and response — (``assess``: reading, next steps, episode,
treatment and response), (3) a synthetic health system screened with DuckDB (``screen``:
episodes, metrics against the generator's labels, an HTML report with per-episode charts).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from .. import display
from ..evaluate import evaluate_objects
from ..settings import DEFAULT
from . import app
from ._render import render_evaluation, render_reading

MARKER = ".maswatch-demo"
DEMO_LABS = ("ferritin", "platelets", "ast", "fibrinogen", "wbc", "esr", "crp")
"""The labs printed at each moment (the values behind the 2016 criteria and the trend signals)."""
_SEVERITY_ORDER = {"severe": 0, "moderate": 1, "mild": 2}


@dataclass(frozen=True)
class Moment:
    name: str
    at: datetime
    why: str


def choose_episode(labels: pd.DataFrame) -> pd.Series | None:
    """The generator's MAS episode the demo follows: one the patient survived (so response can be
    shown), the most severe first, then by patient id and onset — deterministic for the seed."""
    mas = labels[(labels["kind"] == "mas") & labels["resolution"].notna()].copy()
    if mas.empty:
        return None
    mas["_rank"] = mas["severity"].map(_SEVERITY_ORDER).fillna(len(_SEVERITY_ORDER))
    mas = mas[mas["_rank"] <= _SEVERITY_ORDER["moderate"]] if (mas["_rank"] <= 1).any() else mas
    return mas.sort_values(["patient_id", "onset", "episode_id"]).iloc[0]


def teaching_moments(episode: pd.Series, result_times: list[datetime]) -> list[Moment]:
    """Onset, peak and response: the first result time at or after the labelled onset, the
    labelled peak, and half-way from the peak to the resolution (what a clinician had then)."""
    onset, peak, resolution = (episode[k].to_pydatetime() for k in ("onset", "peak", "resolution"))
    targets = [("onset", onset, "first results after the generator's onset"),
               ("peak", peak, "first results after the generator's peak"),
               ("response", peak + (resolution - peak) / 2, "half-way from the peak to the generator's resolution")]
    times = np.array([t.timestamp() for t in result_times])
    out = []
    for name, target, why in targets:
        k = int(np.searchsorted(times, target.timestamp(), side="left"))
        if k < len(result_times):
            out.append(Moment(name, result_times[k], why))
    return out


def _fresh_dir(out: Path) -> None:
    """Create ``out``; replace it only if an earlier demo made it (never someone else's files)."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise typer.BadParameter(f"{out} exists and was not made by maswatch demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by maswatch demo; SYNTHETIC data only\n")


def _when(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _hours(a: datetime, b: datetime) -> str:
    h = (b - a).total_seconds() / 3600
    return f"{h:+.0f} h" if abs(h) < 72 else f"{h / 24:+.1f} days"


def _labs_line(history_row: dict) -> str:
    labs = history_row.get("labs", {})
    parts = []
    for a in DEMO_LABS:
        v = labs.get(a)
        name = display.label(f"labs.{a}")
        if v is None:
            parts.append(f"{name} — (none in its look-back)")
        elif isinstance(v, (int, float)):
            parts.append(f"{name} {display.value_text(a, float(v))}")
        else:
            parts.append(f"{name} {v}")
    return "; ".join(parts)


def _show_moment(console: Console, m: Moment, out: dict, onset: datetime, path: Path) -> None:
    a = out["assessment"]
    age = f"{a['age_years']:.0f} years, " if a.get("age_years") is not None else ""
    console.print(f"[bold]{m.name.upper()}[/bold] — {_when(m.at)} ({_hours(onset, m.at)} from the generator's onset; "
                  f"{escape(m.why)}) [bold red]SYNTHETIC[/bold red]")
    console.print(f"  patient: {escape(age + out['patient'].get('sex', 'sex not recorded'))}, context "
                  f"{escape(str(a.get('context')))}")
    render_reading(console, a, prefix="  ")
    console.print("  labs in use: " + escape(_labs_line(out["history"][-1])))
    ep = a["episode"]
    line = f"  episode: {ep['state']}"
    if ep.get("current") is not None:
        line += f" (maswatch episode {ep['current']}, onset {ep['episodes'][ep['current'] - 1]['onset']})"
    r = a.get("response")
    if r and ep["state"] != "no episode":
        fer = r.get("ferritin") or {}
        if fer.get("fall_from_peak_pct"):
            line += (f"; ferritin {fer['fall_from_peak_pct']:g}% below its peak of "
                     f"{display.number(fer['peak_since_onset'])} ng/mL")
        elif fer.get("peak_since_onset") is not None:
            line += "; ferritin at its highest since onset"

        line += f"; complete laboratory response {r['complete_lab_response']}; remission {r['remission']}"
    console.print(escape(line))
    active = a["treatment"]["active"]
    console.print("  treatment now: " + (escape(", ".join(f"{x['drug']} (day {x['day']})" for x in active))
                                          if active else "none"))
    console.print(f"  full assessment: maswatch assess {escape(str(path))} --at {m.at.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    console.print()


def _follow_one_patient(console: Console, cohort: Path, seed: int) -> None:
    from .. import timeline

    labels = pq.read_table(cohort / "labels").to_pandas()
    ep = choose_episode(labels)
    if ep is None:
        console.print(f"No MAS episode (with a resolution) among these patients for seed {seed}; "
                      "run with more --patients to follow one.")
        return
    path = cohort / "timelines" / f"{ep['patient_id']}.json"
    tl = timeline.load(path)
    result_times = [datetime.fromtimestamp(us / 1e6, timezone.utc) for us in tl.table.times().tolist()]
    onset = ep["onset"].to_pydatetime()
    console.print(f"Patient [bold]{escape(ep['patient_id'])}[/bold] [bold red](SYNTHETIC)[/bold red]: the generator gave "
                  f"an MAS episode ({escape(str(ep['severity']))}, trigger {escape(str(ep['trigger']))}) — onset "
                  f"{_when(onset)}, peak {_when(ep['peak'].to_pydatetime())}, resolution "
                  f"{_when(ep['resolution'].to_pydatetime())}. Chosen as the first survived "
                  f"{'moderate or severe ' if ep['severity'] in ('moderate', 'severe') else ''}MAS episode by "
                  "patient id (the same for the same seed). The assessments below use only the data recorded up to "
                  "each moment.\n")
    for m in teaching_moments(ep, result_times):
        _show_moment(console, m, timeline.assess(tl, m.at).to_json(), onset, path)


@app.command()
def demo(
    out: Path = typer.Option(Path("maswatch-demo"), "--out", help="Where the synthetic cohort and reports go."),
    patients: int = typer.Option(300, "--patients", min=20, help="Synthetic patients to generate and screen."),
    seed: int = typer.Option(2026, "--seed", help="Generator seed (same seed, same output)."),
) -> None:
    """Run the whole pathway on SYNTHETIC data: snapshots, one MAS episode over time, a population screen."""
    from .. import synth
    from ..screen import ScreenOptions, screen

    console = Console(soft_wrap=True)
    console.print("[bold]maswatch demo[/bold] — SYNTHETIC patients only, for illustration. Not a diagnosis.\n")

    console.print(Rule("1. Bedside snapshots: every published instrument"))
    objs = json.loads(resources.files("maswatch").joinpath("data/demo_snapshots.json").read_text(encoding="utf-8"))
    for r in evaluate_objects(objs, DEFAULT):
        render_evaluation(console, r)
        console.print()

    _fresh_dir(out)
    cohort = out / "cohort"
    console.print(Rule(f"2. One MAS episode over time: onset, peak, response "
                       f"(maswatch synth: {patients} SYNTHETIC patients, seed {seed})"))
    summary = synth.generate(cohort, patients, seed, formats=("parquet", "timeline"))
    console.print(f"generated {summary.rows['observations']:,} observation rows -> {escape(str(cohort))}")
    _follow_one_patient(console, cohort, seed)

    console.print(Rule("3. Population screen (DuckDB): the same rules at every result time of every patient"))
    result = screen(cohort, "long", out / "screen", ScreenOptions(), labels=cohort / "labels")
    s = result["summary"]
    console.print(f"{s['points']:,} evaluation points, {s['patients']:,} patients, {s['episodes']:,} episodes "
                  "[bold red]SYNTHETIC[/bold red]")
    console.print("patients by peak alert level: " + json.dumps(s["patients_by_peak_alert_level"]))
    by = result.get("metrics", {}).get("by", {})
    for key in ("instrument:ravelli2016", "level>=concern", "level>=alert"):
        if key in by:
            m = by[key]
            fmt = lambda x: "–" if x is None else f"{x:.2f}"  # noqa: E731
            console.print(f"  {key:24} sensitivity {fmt(m['sensitivity'])}  PPV {fmt(m['ppv'])}  "
                          "(measured on synthetic data)")
    console.print(f"\nopen {escape(str(out / 'screen' / 'report.html'))} for the report (each episode charted over "
                  f"its own window); episodes in {escape(str(out / 'screen'))}/episodes.csv")
