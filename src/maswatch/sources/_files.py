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
