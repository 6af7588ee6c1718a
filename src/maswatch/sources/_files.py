"""Finding a source's tables on disk and scanning them lazily with DuckDB.

A table named ``measurement`` may be ``measurement.parquet``, ``measurement.csv``,
``measurement.csv.gz``, or a directory ``measurement/`` of part files (sorted by name);
names match case-insensitively (``MEASUREMENT.csv`` is common in OMOP exports).
Every scan adds ``_mw_seq``: the row's position in source order (file index << 40 +
row number in the file), which the screening engine uses to pick the last version of
a corrected observation (docs/evaluation-points.md, step 1).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..errors import InputError

TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".tsv", ".tsv.gz", ".ndjson", ".ndjson.gz", ".json")


def sql_str(s: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def require_path(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(what, f"{p} does not exist")
    return p


def _entries(root: Path) -> dict[str, Path]:
    return {e.name.casefold(): e for e in root.iterdir()} if root.is_dir() else {}


def find_table(root: Path, name: str, suffixes=TABLE_SUFFIXES) -> list[Path] | None:
    """The files holding table ``name`` under ``root`` (sorted), or None if absent."""
    entries = _entries(root)
    for suffix in suffixes:
        hit = entries.get((name + suffix).casefold())
        if hit is not None and hit.is_file():
            return [hit]
    d = entries.get(name.casefold())
    if d is not None and d.is_dir():
        parts = sorted(p for p in d.iterdir() if p.is_file() and p.name.casefold().endswith(suffixes))
        if parts:
            return parts
    return None


def is_parquet(p: Path) -> bool:
    return p.name.casefold().endswith(".parquet")


def scan_sql(files: list[Path]) -> str:
    """A SQL relation over the files, with all CSV columns read as text and ``_mw_seq`` added."""
    if files and all(is_parquet(f) for f in files):
        # One scan over every part file: ``file_index`` is the file's position in the list, so
        # ``_mw_seq`` is the same as per-file branches would give, without a UNION of hundreds
        # of scans (which ran out of memory on a 406-part, 150M-row cohort).
        listed = "[" + ", ".join(sql_str(f) for f in files) + "]"
        return (f"(SELECT * EXCLUDE (file_row_number), (CAST(file_index AS BIGINT) << 40) + file_row_number AS _mw_seq "
                f"FROM read_parquet({listed}, file_row_number = true, union_by_name = true))")
    parts = []
    for i, f in enumerate(files):
        base = i << 40
        if is_parquet(f):
            parts.append(
                f"SELECT * EXCLUDE (file_row_number), {base} + file_row_number AS _mw_seq "
                f"FROM read_parquet({sql_str(f)}, file_row_number = true)"
            )
        else:
            delim = "\t" if ".tsv" in f.name.casefold() else ","
            # all_varchar: types are decided here, column by column, never by a sniffer's sample.
            parts.append(
                f"SELECT *, {base} + row_number() OVER () - 1 AS _mw_seq "
                f"FROM read_csv({sql_str(f)}, header = true, all_varchar = true, delim = {sql_str(delim)})"
            )
    return "(" + " UNION ALL BY NAME ".join(parts) + ")"


RANGE_ROWS = 2_500_000
"""Rows per patient range when a source is clustered by patient (see :func:`patient_ranges`).
Measured at 155.6M rows (2 cores): 6M -> 76 s and 3,982 MiB peak, 4.5M -> 73 s, 3.5M -> 67 s,
2.5M -> 65 s and 2,856 MiB, 1.5M -> 66 s: smaller sorts, less sorted data in flight, until
the per-query cost shows."""
MAX_SCAN_AMPLIFICATION = 1.5
"""Ranges are used only if, by the row-group statistics, all ranges together read at most
this multiple of the file's rows (otherwise every range would rescan most of the data).
Measured: on a file whose ranges read 1.27x, ranges still screen 20% faster than one stream."""


def patient_ranges(con: duckdb.DuckDBPyConnection, files: list[Path], column: str,
                   range_rows: int = RANGE_ROWS) -> list[str]:
    """Boundaries splitting the patients of Parquet ``files`` into ranges of ~``range_rows``
    rows, if the files are clustered by the (text) patient column; else [] (one range).

    Read from the row-group statistics only (no scan). Correctness never depends on them:
    the ranges ``[b_i, b_i+1)`` (open-ended at both ends) cover every string, and a range
    query filters exactly; the statistics only say whether the filter can skip row groups,
    so that the screening engine can sort and evaluate one range while reading the next.
    """
    if not files or not all(is_parquet(f) for f in files):
        return []
    listed = "[" + ", ".join(sql_str(f) for f in files) + "]"
    try:
        stats = con.execute(
            f"SELECT stats_min_value, stats_max_value, row_group_num_rows, type FROM parquet_metadata({listed}) "
            f"WHERE path_in_schema = {sql_str(column)}").fetchall()
    except duckdb.Error:
        return []
    if not stats or any(lo is None or hi is None or t != "BYTE_ARRAY" for lo, hi, _, t in stats):
        return []
    groups = sorted((lo, hi, n) for lo, hi, n, _ in stats)
    total = sum(n for _, _, n in groups)
    bounds, acc = [], 0
    for lo, _, n in groups:
        if acc >= range_rows * (len(bounds) + 1) and (not bounds or lo > bounds[-1]):
            bounds.append(lo)
        acc += n
    if not bounds:
        return []
    edges = [None, *bounds, None]
    scanned = [sum(n for lo, hi, n in groups
                   if (edges[k] is None or hi >= edges[k]) and (edges[k + 1] is None or lo < edges[k + 1]))
               for k in range(len(edges) - 1)]
    # worth it only if the ranges together read little more than the file, none much more than its share
    largest = max(n for _, _, n in groups)
    ok = sum(scanned) <= MAX_SCAN_AMPLIFICATION * total and max(scanned) <= 2 * range_rows + largest
    return bounds if ok else []


def columns(con: duckdb.DuckDBPyConnection, relation_sql: str) -> dict[str, tuple[str, str]]:
    """casefolded column name -> (actual name, DuckDB type)."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql} LIMIT 0").fetchall()
    return {r[0].casefold(): (r[0], r[1]) for r in rows}


def require_columns(table: str, cols: dict, required: list[str], expected: list[str]) -> None:
    missing = [c for c in required if c.casefold() not in cols]
    if missing:
        raise InputError(
            f"{table}.{missing[0]}",
            f"table {table!r} has no column {', '.join(map(repr, missing))}. "
            f"Expected columns: {', '.join(expected)} (found: {', '.join(v[0] for v in cols.values())})",
        )


def require_one_of(table: str, cols: dict, options: list[str], expected: list[str]) -> None:
    if not any(c.casefold() in cols for c in options):
        raise InputError(
            f"{table}.{options[0]}",
            f"table {table!r} needs one of the columns {', '.join(map(repr, options))}. "
            f"Expected columns: {', '.join(expected)} (found: {', '.join(v[0] for v in cols.values())})",
        )


def missing_table(source: str, root: Path, name: str, expected: list[str]) -> InputError:
    return InputError(
        f"{source}.{name}",
        f"table {name!r} not found in {root} (looked for {name}.parquet, {name}.csv, {name}.csv.gz "
        f"or a directory {name}/ of part files). {source} needs the tables: {', '.join(expected)}",
    )
