"""Population screening (issue 4): the same evaluation as ``assess``, for a health system.

A data engine (DuckDB by default, Spark for clusters) builds the evaluation points
(``points``); the core instrument, trend and alert functions evaluate them on Arrow
batches (``arrow_eval``); ``episodes`` groups points into per-patient episodes;
``outputs`` writes Parquet/CSV, a summary, ``metrics`` against ground truth and the HTML
report. See docs/screening.md.
"""

from __future__ import annotations

import math
import re
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
from .output_dir import check_out, commit, make_staging, write_manifest
from .outputs import write_outputs
from ..sources._files import printable


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


LABEL_COLUMNS = ("patient_id", "episode_id", "kind", "onset", "peak")
"""Columns a ground-truth labels table must have (the generator's ``labels``; see metrics.py)."""


def read_labels(path: str | Path) -> pa.Table:
    """Ground-truth labels (Parquet file, directory of part files, or CSV), checked: a file
    that is not a labels table is refused by name, before any screening work."""
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    p = Path(path)
    if p.is_dir() and (p / "labels").exists():
        p = p / "labels"
    elif p.is_dir() and (p / "labels.parquet").exists():
        p = p / "labels.parquet"
    if not p.exists():
        raise InputError("--labels", f"{printable(path)} does not exist")
    try:
        if p.is_file() and p.suffix.casefold() == ".csv":
            table = pacsv.read_csv(str(p))
        else:
            table = ds.dataset(str(p), format="parquet", exclude_invalid_files=False).to_table()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError("--labels", f"{printable(path)} is not a readable labels table "
                                     f"(Parquet, a directory of Parquet parts, or CSV): {type(exc).__name__}") from None
    missing = [c for c in LABEL_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError("--labels", f"{printable(path)} is not a labels table: no column {', '.join(missing)} "
                                     f"(expected {', '.join(LABEL_COLUMNS)})")
    for c in ("onset", "peak", "resolution"):
        if c in table.column_names and not (pa.types.is_timestamp(table.schema.field(c).type)
                                            or pa.types.is_date(table.schema.field(c).type)):
            raise InputError("--labels", f"{printable(path)}: column {c} holds {table.schema.field(c).type}, "
                                         "expected timestamps")
    return table


def is_synthetic(source: str | Path) -> bool:
    """A generator's output directory says SYNTHETIC in its README.txt."""
    p = Path(source)
    for d in (p, p.parent):
        readme = d / "README.txt"
        if readme.is_file():
            with open(readme, "rb") as fh:  # bounded: a README is small (a symlink may point anywhere)
                if b"SYNTHETIC" in fh.read(1 << 16).upper():
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
    # Every file goes into a private staging directory, the manifest last, and the staging
    # directory then replaces ``out`` whole (output_dir.py): a failed or killed run leaves
    # the previous complete run as it was, and no file of an earlier run survives beside a new one.
    out = check_out(out)
    staging = make_staging(out)
    try:
        def report():  # after the stream: the counted rows are complete
            if callable(unit_report):
                return unit_report(drops.table() if drops.counted else None)
            return unit_report

        result = write_outputs(chunks, staging, episode_rule=options.episode_rule, labels=labels,
                               unit_report=report, synthetic=synthetic, write_points=options.write_points,
                               report_context=ctx, progress=progress)
        write_manifest(staging, synthetic)
        commit(staging, out)
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


MAX_THREADS = 1024
_MEMORY = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def check_options(options: ScreenOptions) -> None:
    """Every option value, before any work: an :class:`InputError` naming the option."""
    if options.engine not in ("duckdb", "spark"):
        raise InputError("--engine", f"unknown engine {printable(options.engine)}; expected duckdb or spark")
    if options.engine == "spark":
        import importlib.util

        from . import spark as sp

        if importlib.util.find_spec("pyspark") is None:
            raise InputError("--engine", "spark needs the pyspark package, which is not installed")
        if not sp.java_available():
            raise InputError("--engine", "spark needs Java (java not found on PATH)")
    t = options.threads
    if t is not None and (isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= MAX_THREADS):
        raise InputError("--threads", f"{printable(t)} is not a thread count (a whole number 1..{MAX_THREADS})")
    m = options.memory_limit
    if m is not None and (not isinstance(m, str) or not _MEMORY.match(m)):
        raise InputError("--memory-limit", f"{printable(m)} is not a memory size (e.g. 4GB, 1500MB, 2GiB)")
    gap = options.episode_rule.gap_hours
    if not isinstance(gap, (int, float)) or not math.isfinite(gap) or gap <= 0:
        raise InputError("--episode-gap-days", f"{printable(gap / 24 if isinstance(gap, (int, float)) else gap)} "
                                               "is not a positive number of days")
    if not isinstance(options.batch_rows, int) or options.batch_rows < 1:
        raise InputError("batch_rows", f"{printable(options.batch_rows)} is not a positive row count")
    if options.points_method not in ("numpy", "sql"):
        raise InputError("points_method", f"{printable(options.points_method)}: expected numpy or sql")


# Engine failures while reading the source (corrupt, truncated, not UTF-8, malformed
# CSV/JSON, a column of an unexpected type): one line naming the file, exit 2.
# Anything else reaches the CLI's internal-error handler unchanged.
_SOURCE_ERRORS = (duckdb.Error, pa.ArrowInvalid, UnicodeDecodeError, EOFError)  # not OSError: see the CLI


def screen(source: str | Path, kind: str, out: str | Path, options: ScreenOptions = ScreenOptions(), *,
           labels: str | Path | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """Load a source (``maswatch.sources``), screen it, write the outputs; return the summary.

    Options, ``out`` and the labels are checked before any work; a source the engine
    cannot read raises :class:`InputError` naming the file (and line), never its content."""
    from .. import sources

    import tempfile

    check_options(options)
    if kind not in sources.KINDS:
        raise InputError("--kind", f"unknown source kind {printable(kind)}; expected one of {', '.join(sources.KINDS)}")
    if source is None or not str(source).strip():
        raise InputError("SOURCE", "empty path: give the source file or directory")
    out = check_out(out, source)
    label_table = read_labels(labels) if labels is not None else None
    con = duckdb.connect()
    # DuckDB spills to ``.tmp`` in the working directory by default: use a private
    # temporary directory, removed afterwards, instead
    spill = tempfile.TemporaryDirectory(prefix="maswatch-spill-")
    try:
        from . import duckdb_engine

        con.execute("SET temp_directory = '" + spill.name.replace("'", "''") + "'")
        duckdb_engine.configure(con, threads=options.threads, memory_limit=options.memory_limit)
        loaded = sources.load(kind, source, con)
        synthetic = is_synthetic(source) or label_table is not None
        result = screen_connection(
            con, out, options, labels=label_table, unit_report=loaded.report_units, synthetic=synthetic,
            context={"source": str(source), "kind": kind}, progress=progress,
            patient_ranges=loaded.patient_ranges)
        # rows the CSV parser refused (counted in unit_report.csv): the CLI exits 1 for them
        result["malformed_rows"] = sum(d[4] for d in loaded.defects if d[3] == "malformed row")
        return result
    except duckdb.OutOfMemoryException:
        raise
    except _SOURCE_ERRORS as exc:
        raise source_error(exc, source) from None
    finally:
        con.close()
        spill.cleanup()


def source_error(exc: BaseException, source: str | Path) -> InputError:
    """The one-line refusal for an engine failure while screening ``source`` (see
    ``sources.engine_errors``); use with ``except SOURCE_ERRORS``."""
    from ..sources.engine_errors import engine_error

    return engine_error(exc, str(source))


SOURCE_ERRORS = _SOURCE_ERRORS


__all__ = ["ScreenOptions", "Rules", "EpisodeRule", "screen", "screen_connection", "evaluate_points",
           "output_schema", "snapshot_dict", "episodes_chunk", "read_labels", "check_options", "check_out"]
