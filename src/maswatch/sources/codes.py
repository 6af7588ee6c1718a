"""Diagnosis and medication code tables (data in ``condition_codes.toml``) as SQL lookups."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

import duckdb
import pyarrow as pa

CONDITION_CODES = ("sjia", "aosd", "sle", "other_rheumatic", "infection", "primary_hlh")


@cache
def _data() -> dict:
    text = resources.files("maswatch.sources").joinpath("condition_codes.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def diagnosis_prefixes() -> list[tuple[str, str, str]]:
    """(system 'icd10'|'icd9'|'snomed', prefix without dots, condition code); SNOMED ids match whole."""
    out = []
    for system in ("icd10", "icd9", "snomed"):
        for row in _data()[system]:
            if row["code"] not in CONDITION_CODES:
                raise ValueError(f"condition_codes.toml: unknown code {row['code']!r}")
            out.append((system, row["prefix"].replace(".", "").upper(), row["code"]))
    return out


def drug_names() -> dict[str, str]:
    """lower-case name -> drug id."""
    return {name.casefold(): drug for drug, names in _data()["drugs"].items() for name in names}


def clean_code_sql(col: str) -> str:
    return f"upper(replace(trim(CAST({col} AS VARCHAR)), '.', ''))"


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables ``_mw_dx_prefix(system, prefix, code)`` and ``_mw_drug_names(name, drug)``."""
    dx = diagnosis_prefixes()
    con.register("_mw_dx_arrow", pa.table({"system": [d[0] for d in dx], "prefix": [d[1] for d in dx],
                                           "code": [d[2] for d in dx]}))
    con.execute("CREATE OR REPLACE TEMP TABLE _mw_dx_prefix AS SELECT * FROM _mw_dx_arrow")
    con.unregister("_mw_dx_arrow")
    names = drug_names()
    con.register("_mw_drug_arrow", pa.table({"name": list(names), "drug": list(names.values())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _mw_drug_names AS SELECT * FROM _mw_drug_arrow")
    con.unregister("_mw_drug_arrow")


def diagnosis_sql(rel: str, system_sql: str, code_sql: str) -> str:
    """Rows of ``rel`` (must have a ``_row`` key) joined to their condition code by longest prefix.

    Returns a relation with ``_row`` and ``code`` (only rows that map)."""
    return f"""
        SELECT r._row, arg_max(p.code, length(p.prefix)) AS code
        FROM {rel} r JOIN _mw_dx_prefix p
          ON p.system = {system_sql} AND (CASE WHEN p.system = 'snomed' THEN {clean_code_sql(code_sql)} = p.prefix
                                               ELSE starts_with({clean_code_sql(code_sql)}, p.prefix) END)
        GROUP BY r._row"""


def drug_sql(name_sql: str) -> str:
    """SQL expression: the drug id for a medication name, or NULL."""
    n = f"lower(trim(CAST({name_sql} AS VARCHAR)))"
    return (f"coalesce((SELECT d.drug FROM _mw_drug_names d WHERE d.name = {n}), "
            f"(SELECT d.drug FROM _mw_drug_names d WHERE d.name = split_part({n}, ' ', 1)))")
