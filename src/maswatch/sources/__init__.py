"""Population data sources -> one normalised table (issue 4, item 1).

``load(kind, path, con)`` reads OMOP CDM v5.4, MIMIC-IV hosp, FHIR Bulk NDJSON or the
documented long format (CSV/Parquet), registers the views ``obs``, ``patients``,
``conditions`` and ``medications`` in the DuckDB connection, and returns a
:class:`LoadedSource` whose ``unit_report`` counts every dropped row by source code,
unit and reason. Adapters translate; they never decide. See docs/sources.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import duckdb

from ..errors import InputError
from ._files import MALFORMED, keep_try_casts, malformed_rows
from .normalised import OBS_COLUMNS, LoadedSource

KINDS = ("long", "omop", "mimic", "fhir")


def load(kind: Literal["long", "omop", "mimic", "fhir"], path: str | Path,
         con: duckdb.DuckDBPyConnection) -> LoadedSource:
    """Register ``obs``, ``patients``, ``conditions``, ``medications`` in ``con`` (lazy views)."""
    if kind == "long":
        from .long import load_long as reader
    elif kind == "omop":
        from .omop import load_omop as reader
    elif kind == "mimic":
        from .mimic import load_mimic as reader
    elif kind == "fhir":
        from .fhir import load_fhir as reader
    else:
        raise InputError("kind", f"unknown source kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "fhir":  # JSON fields are cast in SQL (CSV files: see _files.check_csv)
        keep_try_casts(con)
    con.execute(f"DROP TABLE IF EXISTS {MALFORMED}")
    loaded = reader(path, con)
    # CSV rows refused by the parser (wrong number of fields), counted by file
    loaded.defects += [(kind, file, None, "malformed row", rows) for file, rows, _ in malformed_rows(con)]
    return loaded


__all__ = ["load", "LoadedSource", "KINDS", "OBS_COLUMNS"]
