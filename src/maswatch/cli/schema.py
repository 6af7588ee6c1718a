"""``maswatch schema NAME``: print a published JSON Schema (snapshot, timeline)."""

from __future__ import annotations

import sys

import typer

from .. import schemas
from . import app


@app.command()
def schema(name: str = typer.Argument("snapshot", help="snapshot | timeline | assessment")) -> None:
    """Print the JSON Schema of an input format, or of the assessment output (`assess --json`)."""
    if name == "snapshot":
        sys.stdout.write(schemas.dump(schemas.snapshot_schema()))
        return
    if name == "assessment":  # the output of `assess --json` (maswatch-assessment/1)
        sys.stdout.write(schemas.dump(schemas.load("assessment.schema.json")))
        return
    try:
        sys.stdout.write(schemas.dump(schemas.load(f"{name}.schema.json")))
    except FileNotFoundError:
        typer.echo(f"unknown schema {name!r}; known: snapshot, timeline, assessment", err=True)
        raise typer.Exit(2)
