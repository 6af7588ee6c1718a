"""``maswatch evaluate [FILE|-] [--json]``: every instrument on each snapshot."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..errors import InputError
from ..evaluate import SnapshotError, evaluate_objects
from . import app
from ._io import parse_documents, read_text
from ._render import render_evaluation
from ._settings import ConfigOpt, FerritinEsrStrictOpt, FeverTempOpt, MhCutoffOpt, MsCutoffOpt, build_settings


@app.command()
def evaluate(
    file: str = typer.Argument("-", help="Snapshot JSON object, JSON array, or JSON Lines; '-' reads stdin."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per input snapshot, one per line, in input order."),
    config: Optional[Path] = ConfigOpt,
    ms_cutoff: Optional[str] = MsCutoffOpt,
    mh_cutoff: Optional[float] = MhCutoffOpt,
    ferritin_esr_strict: Optional[bool] = FerritinEsrStrictOpt,
    fever_temp: Optional[float] = FeverTempOpt,
) -> None:
    """Evaluate snapshots with every published instrument (2016 criteria, HLH-2004, HScore,
    MS, MH, ferritin:ESR, jSLE 2009, OHI). Exit 1 if any snapshot was invalid."""
    err = Console(stderr=True)
    try:
        settings = build_settings(config, ms_cutoff, mh_cutoff, ferritin_esr_strict, fever_temp)
        docs = parse_documents(read_text(file))
    except InputError as exc:
        err.print(f"[red]error[/red] {exc.field}: {exc.message}", highlight=False)
        raise typer.Exit(2)
    objs = [d for d in docs if not isinstance(d, InputError)]
    evaluated = iter(evaluate_objects(objs, settings))
    results = []
    for i, d in enumerate(docs):
        if isinstance(d, InputError):
            results.append(SnapshotError(i, d.field, d.message))
        else:
            r = next(evaluated)
            if isinstance(r, SnapshotError):
                r = SnapshotError(i, r.field, r.message)
            results.append(r)
    failed = 0
    out = Console(soft_wrap=True) if not as_json else None
    for r in results:
        if isinstance(r, SnapshotError):
            failed += 1
            err.print(f"[red]snapshot {r.index + 1} refused[/red] {r.field}: {r.message}", highlight=False)
            if as_json:
                sys.stdout.write(json.dumps(r.to_json()) + "\n")
        elif as_json:
            sys.stdout.write(json.dumps(r) + "\n")
        else:
            render_evaluation(out, r)
    sys.stdout.flush()
    if failed:
        raise typer.Exit(1)
