"""``maswatch screen SOURCE --kind long|omop|mimic|fhir --out DIR``: population screening."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..errors import InputError
from ..sources._files import printable
from . import app
from ._settings import ConfigOpt, FerritinEsrStrictOpt, FeverTempOpt, MhCutoffOpt, MsCutoffOpt, build_settings


@app.command()
def screen(
    source: str = typer.Argument(..., help="Source file or directory (see docs/sources.md)."),
    kind: str = typer.Option("long", "--kind", help="Source format: long, omop, mimic or fhir."),
    out: str = typer.Option(..., "--out", help="Output directory: new, empty, or an earlier screen's output "
                            "(replaced whole when the run completes; see docs/screening.md)."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default, embedded) or spark (local mode)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Ground-truth labels (the generator's labels "
                                          "table) for sensitivity, PPV and lead time (SYNTHETIC)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Engine threads (default: all cores)."),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="DuckDB memory limit, e.g. 4GB."),
    episode_gap_days: float = typer.Option(14.0, "--episode-gap-days",
                                           help="Split episodes at gaps of this many days (ASSUMPTION; default 14)."),
    points: bool = typer.Option(True, "--points/--no-points", help="Write points.parquet (one row per point)."),
    config: Optional[Path] = ConfigOpt,
    ms_cutoff: Optional[str] = MsCutoffOpt,
    mh_cutoff: Optional[float] = MhCutoffOpt,
    ferritin_esr_strict: Optional[bool] = FerritinEsrStrictOpt,
    fever_temp: Optional[float] = FeverTempOpt,
) -> None:
    """Screen a population: every instrument, trend and alert rule at every result time;
    per-patient episodes, evidence, an HTML report. Same inputs give the same files."""
    from ..screen import EpisodeRule, Rules, ScreenOptions, check_options, check_out
    from ..screen import screen as run

    err = Console(stderr=True)
    try:
        settings = build_settings(config, ms_cutoff, mh_cutoff, ferritin_esr_strict, fever_temp)
        if not math.isfinite(episode_gap_days) or episode_gap_days <= 0:
            raise InputError("--episode-gap-days", f"{printable(episode_gap_days)} is not a positive number of days")
        options = ScreenOptions(engine=engine, rules=Rules(settings=settings), threads=threads,
                                memory_limit=memory_limit, write_points=points,
                                episode_rule=EpisodeRule(gap_hours=episode_gap_days * 24))
        check_options(options)  # every value, then the paths, before any work
        check_out(out, source)
        with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                      TextColumn("{task.completed:,} evaluation points"), TimeElapsedColumn(),
                      console=err, transient=False) as progress:
            task = progress.add_task("screening", total=None)
            result = run(source, kind, out, options, labels=labels,
                         progress=lambda n: progress.advance(task, n))
            progress.update(task, description="done")
    except InputError as exc:
        _error(err, f"{printable(exc.field)}: {printable(exc.message, MESSAGE_CHARS)}")
        raise typer.Exit(2)
    except duckdb.OutOfMemoryException:
        limit = memory_limit or "DuckDB's default (80% of RAM)"
        _error(err, f"the engine ran out of memory (limit {printable(limit)}). Raise --memory-limit, lower "
                    f"--threads, or screen the source in parts. {printable(out)} was left as it was.")
        raise typer.Exit(2)
    except OSError as exc:  # the file system refused a read or write (permission, disk full, ...)
        _error(err, f"{printable(exc.filename or out)}: {printable(exc.strerror or type(exc).__name__)}; "
                    f"{printable(out)} was left as it was")
        raise typer.Exit(2)
    s = result["summary"]
    tag = " [bold red]SYNTHETIC[/bold red]" if result["synthetic"] else ""
    err.print(f"{s['points']:,} evaluation points, {s['patients']:,} patients, {s['episodes']:,} episodes{tag}")
    err.print("patients by peak alert level: " + json.dumps(s["patients_by_peak_alert_level"]))
    err.print(f"wrote {escape(printable(out))}/episodes.parquet, episodes.csv, evidence.*, summary.json, unit_report.csv, report.html"
              + (", metrics.json (measured on synthetic data)" if "metrics" in result else "") + ", manifest.json")
    if result.get("malformed_rows"):
        _error(err, f"{result['malformed_rows']:,} malformed CSV row(s) were refused (wrong number of fields); "
                    "see 'malformed row' in unit_report.csv")
        raise typer.Exit(1)


MESSAGE_CHARS = 200
"""Longest message shown: input echoed in an error is cut, never copied whole."""


def _error(err: Console, text: str) -> None:
    """One line on stderr; ``text`` is shown literally (Rich markup in it is escaped)."""
    err.print("[red]error[/red] " + escape(text), highlight=False, soft_wrap=True)
