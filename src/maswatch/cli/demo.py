"""``maswatch demo``: the main job on embedded defaults, on SYNTHETIC data only.

The whole pathway in one run: (1) the published instruments on bedside snapshots,
(2) one synthetic patient followed over time (``assess``: trends, alert levels,
treatment and response), (3) a synthetic health system screened with DuckDB
(``screen``: episodes, metrics against the generator's labels, an HTML report).
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.rule import Rule

from ..evaluate import evaluate_objects
from ..settings import DEFAULT
from . import app
from ._render import render_evaluation

MARKER = ".maswatch-demo"


def _fresh_dir(out: Path) -> None:
    """Create ``out``; replace it only if an earlier demo made it (never someone else's files)."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise typer.BadParameter(f"{out} exists and was not made by maswatch demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by maswatch demo; SYNTHETIC data only\n")


@app.command()
def demo(
    out: Path = typer.Option(Path("maswatch-demo"), "--out", help="Where the synthetic cohort and reports go."),
    patients: int = typer.Option(300, "--patients", min=20, help="Synthetic patients to generate and screen."),
    seed: int = typer.Option(2026, "--seed", help="Generator seed (same seed, same output)."),
) -> None:
    """Run the whole pathway on SYNTHETIC data: snapshots, one patient over time, a population screen."""
    from .. import synth, timeline
    from ..screen import ScreenOptions, screen
    from .assess import render_assessment

    console = Console(soft_wrap=True)
    console.print("[bold]maswatch demo[/bold] — SYNTHETIC patients only, for illustration. Not a diagnosis.\n")

    console.print(Rule("1. Bedside snapshots: every published instrument"))
    objs = json.loads(resources.files("maswatch").joinpath("data/demo_snapshots.json").read_text(encoding="utf-8"))
    for r in evaluate_objects(objs, DEFAULT):
        render_evaluation(console, r)
        console.print()

    _fresh_dir(out)
    cohort = out / "cohort"
    console.print(Rule(f"2. One patient over time (maswatch synth: {patients} SYNTHETIC patients, seed {seed})"))
    summary = synth.generate(cohort, patients, seed, formats=("parquet", "timeline"))
    console.print(f"generated {summary.rows['observations']:,} observation rows -> {cohort}")
    labels = pq.read_table(cohort / "labels").to_pandas()
    mas = labels[labels.kind == "mas"].sort_values(["patient_id", "onset"])
    chosen = mas.patient_id.iloc[0] if len(mas) else labels.patient_id.iloc[0]
    assessment = timeline.assess(timeline.load(cohort / "timelines" / f"{chosen}.json"))
    render_assessment(console, assessment.to_json())
    console.print()

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
            console.print(f"  {key:24} sensitivity {m['sensitivity']:.2f}  PPV {m['ppv']:.2f}  "
                          "(measured on synthetic data)")
    console.print(f"\nopen {out / 'screen' / 'report.html'} for the report; episodes in {out / 'screen'}/episodes.csv")
