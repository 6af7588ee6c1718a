"""``maswatch synth``: write a SYNTHETIC MAS cohort (Parquet / timeline JSON / CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..synth import FORMATS, GENERATOR_VERSION, SynthOptions, generate, patients_for_rows
from . import app
from ._io import EXIT_USAGE, err_console, message


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Output directory (must be new or empty)."),
    patients: Optional[int] = typer.Option(None, "--patients", min=1, help="Number of synthetic patients."),
    rows: Optional[int] = typer.Option(None, "--rows", min=1,
                                       help="Target observation rows; picks the patient count (instead of --patients)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed: the same seed gives the same cohort."),
    fmt: str = typer.Option("parquet", "--format", help=f"Comma-separated: {', '.join(FORMATS)}."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (output does not depend on it)."),
    chunk_patients: int = typer.Option(1000, "--chunk-patients", min=1, help="Patients per part file."),
    mas_scale: float = typer.Option(1.0, "--mas-scale", min=0.0,
                                    help="Multiply each archetype's MAS probability (enriched cohorts)."),
) -> None:
    """Generate a clearly labelled SYNTHETIC cohort: patients, observations, conditions,
    medications and ground-truth episode labels (see README.txt in the output)."""
    err = err_console()
    if (patients is None) == (rows is None):
        err.print(message("error", "", "give exactly one of --patients or --rows"))
        raise typer.Exit(EXIT_USAGE)
    formats = tuple(f.strip() for f in fmt.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        err.print(message("error", "--format", f"unknown format(s) {', '.join(bad) or repr(fmt)}; "
                                               f"choose from {', '.join(FORMATS)}"))
        raise typer.Exit(EXIT_USAGE)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "directory" if out.is_dir() else "path"
        err.print(message("error", "--out", f"{what} {out} is not empty; choose a new directory"))
        raise typer.Exit(EXIT_USAGE)
    options = SynthOptions(mas_ever_scale=mas_scale)
    console = Console(stderr=True)
    if patients is None:
        patients = patients_for_rows(rows, seed, options)
        console.print(f"--rows {rows}: generating {patients} patients")
    console.print(f"[bold]SYNTHETIC[/bold] cohort ({GENERATOR_VERSION}), seed {seed}, {patients} patients -> {out}")
    with Progress(TextColumn("[bold]synth[/bold]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rows]:,} rows"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("synth", total=patients, rows=0)
        summary = generate(out, patients, seed, formats, workers, options=options, chunk_patients=chunk_patients,
                           progress=lambda done, n_rows: bar.update(task, completed=done, rows=n_rows))
    rows_txt = ", ".join(f"{t} {n:,}" for t, n in summary.rows.items())
    console.print(f"SYNTHETIC data written to {out}: {rows_txt}; "
                  f"{summary.observation_rows_per_second:,.0f} observation rows/s; peak RSS {summary.peak_rss_mb:.0f} MB")
