"""The DuckDB engine (default): evaluation points by SQL, results by ``evaluate_points``.

Works on a connection in which the sources layer registered the normalised views
``obs``, ``patients`` and ``conditions`` (``maswatch.sources.load``).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import duckdb
import pyarrow as pa

from ..errors import InputError
from ..lookback import DEFAULT_LOOKBACK, Lookback
from .arrow_eval import Rules, evaluate_points, input_schema
from .background import in_background
from .points import points_sql

OBS_COLUMNS = ("patient_id", "time", "obs_id", "analyte", "value", "comparator", "status")
SOURCE_ORDER_COLUMNS = ("seq", "source_row", "row_number", "file_row_number")
"""Column names a source may use for the row order within the file (last version wins)."""


def configure(con: duckdb.DuckDBPyConnection, *, threads: int | None = None, memory_limit: str | None = None) -> None:
    """Settings of the screen on ``con``'s database: UTC, threads, memory limit, no insertion
    order or progress bar, and no async I/O threads (a database reading remote files may
    set ``async_threads`` again after this)."""
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{_safe(memory_limit)}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # the CLI shows its own (Rich) progress
    if has_setting(con, "async_threads"):
        # DuckDB's async I/O threads (8 by default, for remote files) call glibc's
        # malloc_trim each time they fall idle, which hands every free page of every heap
        # back to the kernel, NumPy's included; the rules then fault those pages back in.
        # Without them, on the clinical 158M-row table: 64.6 s -> 55-59 s, page faults
        # 2.75M -> 1.15M per 40M rows, outputs identical. Local files do not need them.
        con.execute("SET async_threads = 0")


def has_setting(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether this DuckDB version knows the setting ``name``."""
    return con.execute("SELECT count(*) FROM duckdb_settings() WHERE name = ?", [name]).fetchall()[0][0] > 0


def _safe(s: str) -> str:
    if not all(c.isalnum() or c in ". " for c in s):
        raise InputError("--memory-limit", f"not a memory size: {s!r} (e.g. 4GB)")
    return s


def _relation_columns(con, name: str) -> list[str] | None:
    try:
        return [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
    except duckdb.Error:
        return None


def inspect_sources(con) -> dict:
    """Which normalised relations and columns exist; a clear error if ``obs`` is unusable."""
    obs = _relation_columns(con, "obs")
    if obs is None:
        raise InputError("obs", "the source registered no 'obs' table (normalised observations)")
    missing = [c for c in OBS_COLUMNS if c not in obs]
    if missing:
        raise InputError("obs", f"normalised observations lack column(s) {missing}")
    order = next((c for c in SOURCE_ORDER_COLUMNS if c in obs), None)
    pats = _relation_columns(con, "patients")
    conds = _relation_columns(con, "conditions")
    rows = _relation_columns(con, "obs_rows")
    return {
        "source_order": order,
        "has_rows": (rows is not None and set(obs) | {"reason", "key_id", "analyte_code", "source_value"} <= set(rows)
                     and _relation_columns(con, "obs_units") is not None),
        "has_patients": pats is not None and {"patient_id", "birth_date"} <= set(pats),
        "has_conditions": conds is not None and {"patient_id", "code", "onset"} <= set(conds),
    }


def points_query(con, rules: Rules, lookback: Lookback) -> str:
    info = inspect_sources(con)
    return points_sql(
        "duckdb", lookback=lookback, refs=rules.refs, source_order=info["source_order"],
        has_patients=info["has_patients"], has_conditions=info["has_conditions"],
    )


def point_batches(con, rules: Rules = Rules(), lookback: Lookback = DEFAULT_LOOKBACK,
                  batch_rows: int = 1_000_000, method: str = "numpy",
                  patient_ranges: Sequence[str] = (), drops=None) -> Iterator[pa.RecordBatch]:
    """Evaluation points only (the engine's floor), in record batches sorted by patient and time.

    ``method='sql'``: the window query Spark runs (``points.points_sql``); ``'numpy'``
    (default, faster): DuckDB sorts the valid observations and ``points_np`` fills forward.
    Both give identical points (tested). ``drops`` (``points_np.RowDrops``, numpy only):
    the same scan also counts the defective rows for the unit report.
    """
    if method == "sql":
        batches = con.sql(points_query(con, rules, lookback)).to_arrow_reader(batch_rows)
    elif method == "numpy":
        from .points_np import point_batches as np_batches

        info = inspect_sources(con)
        batches = np_batches(con, lookback=lookback, refs=rules.refs, batch_rows=batch_rows,
                             patient_ranges=patient_ranges, drops=drops, **info)
    else:
        raise ValueError(f"unknown points method {method!r}; expected 'numpy' or 'sql'")
    schema = input_schema(rules.refs)
    empty = True
    for rb in batches:
        if rb.num_rows:
            empty = False
            yield pa.RecordBatch.from_arrays([rb.column(f.name).cast(f.type) for f in schema], schema=schema)
    if empty:  # no valid observation at all: one empty batch keeps every output's columns
        yield pa.RecordBatch.from_pylist([], schema=schema)


EVAL_ROWS = 262_144
"""Points evaluated at a time: bounds the memory of the intermediate columns."""


def _slices(batches, rows: int):
    for rb in batches:
        for off in range(0, max(rb.num_rows, 1), rows):
            yield rb.slice(off, rows)


def result_batches(con, rules: Rules = Rules(), lookback: Lookback = DEFAULT_LOOKBACK,
                   batch_rows: int = 1_000_000, method: str = "numpy",
                   patient_ranges: Sequence[str] = (), drops=None) -> Iterator[pa.RecordBatch]:
    """Evaluated points: the same ``evaluate_points`` Spark runs in ``mapInArrow``.

    The points are built in a background thread (:func:`in_background`) while this one
    evaluates the rules. (Evaluating in extra processes did not pay off on 2 cores — measured.)
    """
    points = point_batches(con, rules, lookback, batch_rows, method, patient_ranges, drops)
    for rb in _slices(in_background(points), EVAL_ROWS):
        yield evaluate_points(rb, rules)
