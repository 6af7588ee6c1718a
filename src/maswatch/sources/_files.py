"""Finding a source's tables on disk and scanning them lazily with DuckDB.

A table named ``measurement`` may be ``measurement.parquet``, ``measurement.csv``,
``measurement.csv.gz``, or a directory ``measurement/`` of part files (sorted by name);
names match case-insensitively (``MEASUREMENT.csv`` is common in OMOP exports).
Every scan adds ``_mw_seq``: the row's position in source order (file index << 40 +
row number in the file), which the screening engine uses to pick the last version of
a corrected observation (docs/evaluation-points.md, step 1).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from ..errors import InputError

TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".tsv", ".tsv.gz", ".ndjson", ".ndjson.gz", ".json")


def sql_str(s: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def file_sql(path: str | Path) -> str:
    """A file path as a SQL literal DuckDB reads *literally*: its readers expand ``*``,
    ``?`` and ``[...]`` (a directory ``src[1]`` would read ``src1``), so each of these
    characters is put in a one-character class (``[[]``), which matches only itself."""
    return sql_str("".join(f"[{c}]" if c in "*?[" else c for c in str(path)))


HEADER_BYTES = 1 << 20
"""The longest CSV header line read (1 MiB): a longer one is refused, not read whole."""


def csv_header(path: Path, delim: str) -> list[str]:
    """The column names of a CSV file, read by Python's csv module from its first line
    (gzip when the name ends ``.gz``). DuckDB is then told the columns and the dialect,
    so no sniffer guesses them: a sniffer that decides "no quoting" turns a stray quote
    (``"P2``) into a patient."""
    import csv
    import gzip

    where = printable(path)
    try:
        opener = gzip.open if path.name.casefold().endswith(".gz") else open
        with opener(path, "rb") as fh:
            raw = fh.readline(HEADER_BYTES + 1)
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError
        raise InputError(where, f"cannot be read: {type(exc).__name__} (not a gzip file, truncated, or unreadable); "
                                "nothing was screened") from None
    if len(raw) > HEADER_BYTES:
        raise InputError(where, f"header line longer than {HEADER_BYTES:,} bytes: not a CSV table")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(where, f"line 1: not UTF-8 text (byte {exc.start + 1})") from None
    try:
        names = next(csv.reader([text.rstrip("\r\n")], delimiter=delim, strict=True), [])
    except csv.Error:
        raise InputError(where, "line 1: malformed CSV header") from None
    if not names or not any(n.strip() for n in names):
        raise InputError(where, "empty file or empty header line: expected a header with column names")
    seen: set[str] = set()
    for n in names:
        if n.casefold() in seen:
            raise InputError(where, f"line 1: column {shown(n)} appears twice")
        seen.add(n.casefold())
    return names


def printable(text: object, limit: int = 160) -> str:
    """Text for a one-line message: control and other non-printable characters escaped
    (``\\x1b``), cut to ``limit`` characters with ``…`` — a 1 MB field never floods a terminal."""
    s = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text)[: limit + 1])
    return s if len(s) <= limit else s[: limit - 1] + "…"


def shown(text: object, limit: int = 80) -> str:
    """A user-supplied value quoted inside a message (see :func:`printable`)."""
    return "'" + printable(text, limit - 2) + "'"


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


def scan_sql(files: list[Path], con: duckdb.DuckDBPyConnection | None = None) -> str:
    """A SQL relation over the files, with all CSV columns read as text and ``_mw_seq`` added.

    With ``con``, each CSV file is first checked (:func:`check_csv`): rows with the wrong
    number of fields are refused — left out of every scan — and counted in ``con``'s
    ``_mw_malformed`` table; a defect that makes the rest of a file unreadable refuses
    the file. Without ``con`` any malformed row stops the scan."""
    if files and all(is_parquet(f) for f in files):
        # One scan over every part file: ``file_index`` is the file's position in the list, so
        # ``_mw_seq`` is the same as per-file branches would give, without a UNION of hundreds
        # of scans (which ran out of memory on a 406-part, 150M-row cohort).
        listed = "[" + ", ".join(file_sql(f) for f in files) + "]"
        return (f"(SELECT * EXCLUDE (file_row_number), (CAST(file_index AS BIGINT) << 40) + file_row_number AS _mw_seq "
                f"FROM read_parquet({listed}, file_row_number = true, union_by_name = true))")
    parts = []
    for i, f in enumerate(files):
        base = i << 40
        if is_parquet(f):
            parts.append(
                f"SELECT * EXCLUDE (file_row_number), {base} + file_row_number AS _mw_seq "
                f"FROM read_parquet({file_sql(f)}, file_row_number = true)"
            )
        else:
            skip = con is not None and check_csv(con, f) > 0
            parts.append(f"SELECT *, {base} + row_number() OVER () - 1 AS _mw_seq FROM {csv_scan(f, skip_malformed=skip)}")
    return "(" + " UNION ALL BY NAME ".join(parts) + ")"


COUNTED_DEFECTS = ("MISSING COLUMNS", "TOO MANY COLUMNS", "LINE SIZE OVER MAXIMUM")
"""CSV row defects (DuckDB's reject error types) that are refused row by row and counted;
any other (an unterminated quote, which swallows the rest of the file; text that is not
UTF-8, i.e. a file in another encoding) refuses the whole file."""
MALFORMED = "_mw_malformed"
"""Temp table of a connection's refused CSV rows: (file, rows, first_line)."""


def check_csv(con: duckdb.DuckDBPyConnection, f: Path) -> int:
    """Scan CSV file ``f`` once for malformed rows; record them in ``_mw_malformed``; return
    how many rows the readers must skip. Raises :class:`InputError` (file and line) for a
    defect that is not row-local."""
    keep_try_casts(con)
    rej, scans = "_mw_csv_rejects", "_mw_csv_reject_scans"
    for t in (rej, scans):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    scan = csv_scan(f)[:-1] + f", store_rejects = true, rejects_table = '{rej}', rejects_scan = '{scans}')"
    con.execute(f"SELECT count(*) FROM {scan}").fetchall()
    # one row per refused line (DuckDB may report a line once per missing column)
    found = con.execute(f"SELECT error_type, min(line), count(DISTINCT line) FROM {rej} GROUP BY ALL ORDER BY 2").fetchall()
    for t in (rej, scans):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    refused = [(kind, line) for kind, line, _ in found if kind not in COUNTED_DEFECTS]
    if refused:
        kind, line = refused[0]
        what = {"UNQUOTED VALUE": "malformed CSV row (unterminated or stray quote)",
                "INVALID ENCODING": "not UTF-8 text"}.get(kind, "malformed CSV row")
        raise InputError(printable(f), f"line {line}: {what}; nothing was screened")
    rows = sum(n for kind, _, n in found)
    if rows:
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {MALFORMED} (path VARCHAR, file VARCHAR, rows BIGINT, "
                    "first_line BIGINT)")
        con.execute(f"DELETE FROM {MALFORMED} WHERE path = ?", [str(f)])
        con.execute(f"INSERT INTO {MALFORMED} VALUES (?, ?, ?, ?)",
                    [str(f), f"{f.parent.name}/{f.name}", rows, min(line for _, line, _ in found)])
    return rows


def keep_try_casts(con: duckdb.DuckDBPyConnection) -> None:
    """Turn off DuckDB's ``type_pushdown`` optimizer on ``con`` (CSV and JSON sources only;
    Parquet scans keep it): it pushes the readers' ``TRY_CAST(text AS DOUBLE/DATE)`` into
    the CSV scan as a strict cast, so one ``abc``, decimal comma or bad date aborted the
    whole screen (DuckDB 2.0) instead of becoming a missing value the unit report counts."""
    known = {r[0] for r in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    if "type_pushdown" not in known:
        return
    current = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] or ""
    names = [n.strip() for n in current.split(",") if n.strip()]
    if "type_pushdown" not in names:
        con.execute("SET disabled_optimizers = '" + ",".join([*names, "type_pushdown"]) + "'")


def malformed_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(file name, rows refused, first line) for every CSV file of the source with malformed rows."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [MALFORMED]).fetchall()[0][0]
    if not exists:
        return []
    return con.execute(f"SELECT file, sum(rows)::BIGINT, min(first_line) FROM {MALFORMED} GROUP BY ALL ORDER BY 1").fetchall()


def csv_scan(f: Path, *, skip_malformed: bool = False) -> str:
    """``read_csv`` of one file with its header's columns, all text, and a fixed dialect
    (RFC 4180 quoting, strict): types are decided column by column by the readers, never by
    a sniffer's sample (which, deciding "no quoting", made ``"P2`` a patient). A malformed
    row stops the scan with its line number, or, with ``skip_malformed`` (after
    :func:`check_csv` counted them), is left out."""
    delim = "\t" if ".tsv" in f.name.casefold() else ","
    cols = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in csv_header(f, delim)) + "}"
    return (f"read_csv({file_sql(f)}, header = true, auto_detect = false, columns = {cols}, "
            f"delim = {sql_str(delim)}, quote = '\"', escape = '\"', strict_mode = true"
            + (", ignore_errors = true)" if skip_malformed else ")"))


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
    listed = "[" + ", ".join(file_sql(f) for f in files) + "]"
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
            f"Expected columns: {', '.join(expected)} ({found_columns(cols)})",
        )


def found_columns(cols: dict) -> str:
    """The columns a table has, for an error message — only when they look like column
    names: a file that is not a table (say, a symlink to a system file) has its first line
    read as the header, and a message must never echo a file's content."""
    names = [v[0] for v in cols.values()]
    if len(names) <= 40 and all(_IDENTIFIER.match(n) for n in names):
        return "found: " + ", ".join(names)
    return f"found {len(names)} column(s) whose names are not shown: not plain column names"


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def require_one_of(table: str, cols: dict, options: list[str], expected: list[str]) -> None:
    if not any(c.casefold() in cols for c in options):
        raise InputError(
            f"{table}.{options[0]}",
            f"table {table!r} needs one of the columns {', '.join(map(repr, options))}. "
            f"Expected columns: {', '.join(expected)} ({found_columns(cols)})",
        )


def missing_table(source: str, root: Path, name: str, expected: list[str]) -> InputError:
    return InputError(
        f"{source}.{name}",
        f"table {name!r} not found in {root} (looked for {name}.parquet, {name}.csv, {name}.csv.gz "
        f"or a directory {name}/ of part files). {source} needs the tables: {', '.join(expected)}",
    )
