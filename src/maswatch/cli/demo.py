"""``maswatch demo``: the main job on embedded defaults (synthetic data, clearly labelled)."""

from __future__ import annotations

import json
from importlib import resources

from rich.console import Console

from ..evaluate import evaluate_objects
from ..settings import DEFAULT
from . import app
from ._render import render_evaluation


@app.command()
def demo() -> None:
    """Evaluate the embedded SYNTHETIC example snapshots with every instrument."""
    console = Console(soft_wrap=True)
    console.print("[bold]maswatch demo[/bold] — SYNTHETIC patients, for illustration only.\n")
    objs = json.loads(resources.files("maswatch").joinpath("data/demo_snapshots.json").read_text(encoding="utf-8"))
    for r in evaluate_objects(objs, DEFAULT):
        render_evaluation(console, r)
        console.print()
