"""Population screening (issue 4): the same evaluation as ``assess``, for a health system.

A data engine (DuckDB by default, Spark for clusters) builds the evaluation points
(``points``); the core instrument, trend and alert functions evaluate them on Arrow
batches (``arrow_eval``); ``episodes`` groups points into per-patient episodes;
``outputs`` writes Parquet/CSV, a summary, ``metrics`` against ground truth and the HTML
report. See docs/screening.md.
"""

from __future__ import annotations

import os
import shutil

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import duckdb
import pyarrow as pa

from ..errors import InputError
from ..lookback import DEFAULT_LOOKBACK, Lookback
from .arrow_eval import Rules, evaluate_points, output_schema, snapshot_dict
from .episodes import EpisodeRule, episodes_chunk, rechunk_by_patient
from .outputs import write_outputs


@dataclass(frozen=True)
class ScreenOptions:
    engine: str = "duckdb"
    rules: Rules = field(default_factory=Rules)
    lookback: Lookback = DEFAULT_LOOKBACK
    episode_rule: EpisodeRule = field(default_factory=EpisodeRule)
    threads: int | None = None
    memory_limit: str | None = None
    batch_rows: int = 1_000_000
    write_points: bool = True
    points_method: str = "numpy"
    """DuckDB only: 'numpy' (sorted stream + forward fill, default) or 'sql' (the Spark window query)."""


def read_labels(path: str | Path) -> pa.Table:
    """Ground-truth labels (Parquet file, directory of part files, or CSV)."""
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    p = Path(path)
    if p.is_dir() and (p / "labels").exists():
        p = p / "labels"
    elif p.is_dir() and (p / "labels.parquet").exists():
        p = p / "labels.parquet"
    if not p.exists():
        raise InputError("--labels", f"{path} does not exist")
    if p.suffix == ".csv":
        return pacsv.read_csv(str(p))
    return ds.dataset(str(p), format="parquet").to_table()


def is_synthetic(source: str | Path) -> bool:
    """A generator's output directory says SYNTHETIC in its README.txt."""
    p = Path(source)
    for d in (p, p.parent):
        readme = d / "README.txt"
        if readme.is_file() and "SYNTHETIC" in readme.read_text(encoding="utf-8", errors="replace").upper():
            return True
    return False


def screen_connection(con: duckdb.DuckDBPyConnection, out: Path, options: ScreenOptions = ScreenOptions(), *,
                      labels: pa.Table | None = None,
                      unit_report: pa.Table | Callable[[pa.Table | None], pa.Table] | None = None,
                      synthetic: bool = False, context: dict | None = None,
                      progress: Callable[[int], None] | None = None, patient_ranges: Sequence[str] = ()) -> dict:
    """Screen the normalised views registered in ``con`` and write every output into ``out``.

    ``patient_ranges``: boundaries (``LoadedSource.patient_ranges``) to screen one patient
    range after another — the same outputs, with DuckDB sorting the next range while the
    rules evaluate the current one.

    ``unit_report``: the table, or a function (``LoadedSource.report_units``) given the
    defective rows the DuckDB stream counted — or None when the engine did not count
    them and the report needs a scan of its own."""
    from . import duckdb_engine
    from .points_np import RowDrops

    duckdb_engine.configure(con, threads=options.threads, memory_limit=options.memory_limit)
    drops = RowDrops() if callable(unit_report) else None
    if options.engine == "duckdb":
        batches = duckdb_engine.result_batches(con, options.rules, options.lookback, options.batch_rows,
                                               options.points_method, patient_ranges=patient_ranges, drops=drops)
        chunks = rechunk_by_patient(batches, min(options.batch_rows, duckdb_engine.EVAL_ROWS))
    elif options.engine == "spark":
        chunks = _spark_chunks(con, out, options)
    else:
        raise InputError("--engine", f"unknown engine {options.engine!r}; expected duckdb or spark")
    ctx = {"engine": options.engine, "episode_gap_hours": options.episode_rule.gap_hours,
           "episode_min_level": _level_name(options.episode_rule.min_level),
           "settings": options.rules.settings.model_dump(), "lookback_hours": dict(options.lookback.hours),
           "trends": options.rules.trend_config.to_json(), **(context or {})}
    # Write into a staging folder beside ``out`` and move the files in only when every one is
    # complete: a failed run (bad input, out of memory) never leaves earlier results half-replaced.
    out = Path(out)
    staging = out.with_name(f".{out.name}.maswatch-partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        def report():  # after the stream: the counted rows are complete
            if callable(unit_report):
                return unit_report(drops.table() if drops.counted else None)
            return unit_report

        result = write_outputs(chunks, staging, episode_rule=options.episode_rule, labels=labels,
                               unit_report=report, synthetic=synthetic, write_points=options.write_points,
                               report_context=ctx, progress=progress)
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted(staging.iterdir()):
            target = out / f.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(f, target)
        if not options.write_points and (out / "points.parquet").exists():
            (out / "points.parquet").unlink()  # a stale points file from an earlier run would mislead
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _level_name(level: int) -> str:
    from ..alerts import LEVELS

    return LEVELS[level]


def _spark_chunks(con, out: Path, options: ScreenOptions):
    import tempfile

    from . import spark as sp

    if not sp.java_available():
        raise InputError("--engine", "spark needs Java (java not found on PATH)")
    with tempfile.TemporaryDirectory(prefix="maswatch-stage-") as stage:
        sp.stage_from_duckdb(con, stage)
        session = sp.local_session(threads=options.threads or 2)
        obs, patients, conditions = sp.read_staged(session, stage)
        table = sp.collect_sorted(sp.results_dataframe(session, obs, patients, conditions, rules=options.rules,
                                                       lookback=options.lookback))
    yield from rechunk_by_patient(table.to_batches(options.batch_rows), options.batch_rows)


def screen(source: str | Path, kind: str, out: str | Path, options: ScreenOptions = ScreenOptions(), *,
           labels: str | Path | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """Load a source (``maswatch.sources``), screen it, write the outputs; return the summary."""
    from .. import sources

    import tempfile

    out = Path(out)
    con = duckdb.connect()
    # DuckDB spills to ``.tmp`` in the working directory by default: use a private
    # temporary directory, removed afterwards, instead
    spill = tempfile.TemporaryDirectory(prefix="maswatch-spill-")
    try:
        from . import duckdb_engine

        con.execute("SET temp_directory = '" + spill.name.replace("'", "''") + "'")
        duckdb_engine.configure(con, threads=options.threads, memory_limit=options.memory_limit)
        loaded = sources.load(kind, source, con)
        label_table = read_labels(labels) if labels is not None else None
        synthetic = is_synthetic(source) or label_table is not None
        return screen_connection(
            con, out, options, labels=label_table, unit_report=loaded.report_units, synthetic=synthetic,
            context={"source": str(source), "kind": kind}, progress=progress,
            patient_ranges=loaded.patient_ranges)
    finally:
        con.close()
        spill.cleanup()


__all__ = ["ScreenOptions", "Rules", "EpisodeRule", "screen", "screen_connection", "evaluate_points",
           "output_schema", "snapshot_dict", "episodes_chunk", "read_labels"]
