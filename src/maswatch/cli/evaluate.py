"""``maswatch evaluate [FILE|-] [--json]``: every instrument on each snapshot."""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console

from .. import jsondoc
from ..errors import InputError
from ..evaluate import SnapshotError, evaluate_objects
from . import app
from ._io import EXIT_REFUSED, EXIT_USAGE, err_console, iter_documents, message, print_error
from ._render import render_evaluation
from ._settings import ConfigOpt, FerritinEsrStrictOpt, FeverTempOpt, MhCutoffOpt, MsCutoffOpt, build_settings

CHUNK = 512
"""Snapshots evaluated together (one vectorised batch); output is written chunk by chunk,
so memory does not grow with the number of snapshots."""
MAX_ERROR_CHARS = 500
"""A refusal's message in --json output is cut here (it may quote the input)."""


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
    MS, MH, ferritin:ESR, jSLE 2009, OHI). Exit 1 if any snapshot was refused, 2 if the
    input could not be read (docs/cli.md)."""
    err = err_console()
    try:
        settings = build_settings(config, ms_cutoff, mh_cutoff, ferritin_esr_strict, fever_temp)
        docs = iter_documents(file)
        first = list(islice(docs, 1))  # file errors (missing, directory, not UTF-8) surface here
    except InputError as exc:
        print_error(err, exc)
        raise typer.Exit(EXIT_USAGE)
    out = None if as_json else Console(soft_wrap=True)
    failed = 0
    try:
        for r in _results(_chain(first, docs), settings):
            if isinstance(r, SnapshotError):
                failed += 1
                err.print(message(f"snapshot {r.index + 1} refused", r.field, r.message))
                if as_json:
                    sys.stdout.write(jsondoc.dumps(r.to_json()) + "\n")
            elif as_json:
                sys.stdout.write(jsondoc.dumps(r) + "\n")
            else:
                render_evaluation(out, r)
    except InputError as exc:  # the input stopped being readable part-way (e.g. not UTF-8 further on)
        print_error(err, exc)
        raise typer.Exit(EXIT_USAGE)
    sys.stdout.flush()
    if failed:
        raise typer.Exit(EXIT_REFUSED)


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _results(docs: Iterator[tuple[str, object]], settings) -> Iterator[dict | SnapshotError]:
    """Results in input order, evaluated CHUNK snapshots at a time."""
    index = 0
    while True:
        chunk = list(islice(docs, CHUNK))
        if not chunk:
            return
        objs = [obj for _, obj in chunk if not isinstance(obj, InputError)]
        evaluated = iter(evaluate_objects(objs, settings)) if objs else iter(())
        for _, d in chunk:
            r = d if isinstance(d, InputError) else next(evaluated)
            if isinstance(r, (InputError, SnapshotError)):  # user text in the message: bounded
                r = SnapshotError(index, jsondoc.shorten(r.field, 120), jsondoc.shorten(r.message, MAX_ERROR_CHARS))
            yield r
            index += 1
