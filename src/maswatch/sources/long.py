"""The documented long format (docs/sources.md) and the synthetic cohort directory.

``path`` is one CSV/Parquet file of observations, or a directory holding
``observations`` (required) and optionally ``patients``, ``conditions``,
``medications`` — each a file or a directory of part files (``maswatch synth --out``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from .. import analytes
from . import codes
from ._files import (columns, find_table, missing_table, patient_ranges, require_columns, require_one_of, require_path,
                     scan_sql)
from .normalised import (
    CONDITION_COLUMNS, KNOWN_IDS, MEDICATION_COLUMNS, PATIENT_COLUMNS, LoadedSource, comparator_sql,
    double_sql, normalise, register_view, time_sql,
)

OBS_EXPECTED = ["patient_id", "time", "loinc | analyte", "value", "unit", "status",
                "(optional) obs_id, comparator, ref_low, ref_high"]
TABLES = ["observations", "patients (optional)", "conditions (optional)", "medications (optional)"]


def register_code_tables(con: duckdb.DuckDBPyConnection) -> None:
    """``_mw_known(id)`` (analyte/finding/weight ids) and ``_mw_loinc(loinc, analyte)``."""
    con.register("_mw_known_arrow", pa.table({"id": list(KNOWN_IDS)}))
    con.execute("CREATE OR REPLACE TEMP TABLE _mw_known AS SELECT * FROM _mw_known_arrow")
    con.unregister("_mw_known_arrow")
    by_loinc = analytes.by_loinc()
    con.register("_mw_loinc_arrow", pa.table({"loinc": list(by_loinc), "analyte": list(by_loinc.values())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _mw_loinc AS SELECT * FROM _mw_loinc_arrow")
    con.unregister("_mw_loinc_arrow")


def _col(cols: dict, name: str, *, cast: str | None = None, default: str = "NULL") -> str:
    if name not in cols:
        return default
    q = f'r."{cols[name][0]}"'
    return f"CAST({q} AS {cast})" if cast else q


SOURCE_OF_KEY = ("'long'", "coalesce(code_b, code_a)", "unit")
"""The reported source, code (LOINC as given, else the analyte id) and unit: functions of
the (code_a, code_b, unit) key, so normalise() counts rows per key alone."""


def load_long(path: str | Path, con: duckdb.DuckDBPyConnection) -> LoadedSource:
    p = require_path(path, "long")
    if p.is_dir():
        files = find_table(p, "observations")
        if files is None:
            raise missing_table("long", p, "observations", TABLES)
    else:
        files = [p]
    rel = scan_sql(files, con)
    cols = columns(con, rel)
    require_columns("observations", cols, ["patient_id", "time", "value", "unit"], OBS_EXPECTED)
    require_one_of("observations", cols, ["loinc", "analyte"], OBS_EXPECTED)
    register_code_tables(con)

    value_t = cols["value"][1]
    ref = {k: double_sql(_col(cols, k), cols[k][1]) if k in cols else "NULL" for k in ("ref_low", "ref_high")}
    code_a = _col(cols, "analyte", cast="VARCHAR")
    code_b = _col(cols, "loinc", cast="VARCHAR")  # as found: trimmed once per distinct key below
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW _mw_long_staged AS
        SELECT *, {", ".join(f"{e} AS {c}" for e, c in zip(SOURCE_OF_KEY, ("source", "source_code", "source_unit")))}
        FROM (SELECT CAST(r.patient_id AS VARCHAR) AS patient_id,
               {time_sql('r."' + cols['time'][0] + '"', cols['time'][1])} AS time,
               coalesce({_col(cols, 'obs_id', cast='VARCHAR')}, 'row-' || CAST(r._mw_seq AS VARCHAR)) AS obs_id,
               {code_a} AS code_a, {code_b} AS code_b,
               {double_sql('r."' + cols['value'][0] + '"', value_t)} AS value,
               {comparator_sql(_col(cols, 'comparator', cast='VARCHAR'))} AS comparator,
               lower(trim(coalesce({_col(cols, 'status', cast='VARCHAR')}, 'final'))) AS status,
               {ref['ref_low']} AS ref_low, {ref['ref_high']} AS ref_high,
               CAST(r.unit AS VARCHAR) AS unit, r._mw_seq AS seq
        FROM {rel} r)
    """)
    # the registry id wins; else the LOINC code is mapped through the registry
    analyte = ("coalesce((SELECT k.id FROM _mw_known k WHERE k.id = d.code_a), "
               "(SELECT l.analyte FROM _mw_loinc l WHERE l.loinc = trim(d.code_b)))")
    checked = normalise(con, "_mw_long_staged", "_mw_long", analyte, SOURCE_OF_KEY)
    extra = _side_tables(con, p if p.is_dir() else None)
    defects = extra.pop("_defects", [])
    # text patient ids compare in the file as in ``obs``, so range filters can skip row groups
    ranges = patient_ranges(con, files, cols["patient_id"][0]) if cols["patient_id"][1] == "VARCHAR" else []
    return LoadedSource("long", str(p), con, checked, extra, ranges, defects)


def _side_tables(con: duckdb.DuckDBPyConnection, root: Path | None) -> dict:
    codes.register(con)
    found = {t: (find_table(root, t) if root is not None else None)
             for t in ("patients", "conditions", "medications")}
    extra: dict = {}
    # patients
    if found["patients"]:
        rel = scan_sql(found["patients"], con)
        cols = columns(con, rel)
        require_columns("patients", cols, ["patient_id", "birth_date"], ["patient_id", "birth_date", "sex"])
        sex = _col(cols, "sex", cast="VARCHAR")
        register_view(con, "patients", f"""
            SELECT CAST(r.patient_id AS VARCHAR) AS patient_id,
                   TRY_CAST(r.birth_date AS DATE) AS birth_date, lower({sex}) AS sex FROM {rel} r""",
                      PATIENT_COLUMNS)
        # a birth date given but not a date: the age is unknown (never guessed), and counted
        bad = con.execute(f"""SELECT count(*) FROM {rel} r WHERE nullif(trim(CAST(r.birth_date AS VARCHAR)), '')
                              IS NOT NULL AND TRY_CAST(r.birth_date AS DATE) IS NULL""").fetchall()[0][0]
        extra["_defects"] = [("long", "patients.birth_date", None, "invalid date", bad)] if bad else []
    else:
        register_view(con, "patients", None, PATIENT_COLUMNS)
    # conditions: our code column, else ICD-10 through condition_codes.toml
    if found["conditions"]:
        rel = scan_sql(found["conditions"], con)
        cols = columns(con, rel)
        require_columns("conditions", cols, ["patient_id", "onset"], ["patient_id", "code | icd10", "onset"])
        require_one_of("conditions", cols, ["code", "icd10"], ["patient_id", "code | icd10", "onset"])
        code_sql = (f"CASE WHEN lower(CAST(r.code AS VARCHAR)) IN ({', '.join(repr(c) for c in codes.CONDITION_CODES)}) "
                    f"THEN lower(CAST(r.code AS VARCHAR)) END") if "code" in cols else "NULL"
        icd = "LEFT JOIN icd ON icd._row = r._mw_seq" if "icd10" in cols else ""
        if "icd10" in cols:
            icd_sql = codes.diagnosis_sql("src", "'icd10'", "r.icd10")
            icd_cte = f"WITH src AS (SELECT *, _mw_seq AS _row FROM {rel}), icd AS ({icd_sql}) "
            body = (f"{icd_cte} SELECT CAST(r.patient_id AS VARCHAR) AS patient_id, "
                    f"coalesce({code_sql}, icd.code) AS code, {time_sql('r.onset', cols['onset'][1])} AS onset "
                    f"FROM src r {icd}")
        else:
            body = (f"SELECT CAST(r.patient_id AS VARCHAR) AS patient_id, {code_sql} AS code, "
                    f"{time_sql('r.onset', cols['onset'][1])} AS onset FROM {rel} r")
        _conditions_view(con, body)
        extra["conditions_unmapped"] = con.execute(
            "SELECT count(*) FROM _mw_conditions_all WHERE code IS NULL").fetchall()[0][0]
    else:
        register_view(con, "conditions", None, CONDITION_COLUMNS)
    if found["medications"]:
        rel = scan_sql(found["medications"], con)
        cols = columns(con, rel)
        expected = [c for c, _ in MEDICATION_COLUMNS]
        require_columns("medications", cols, ["patient_id", "drug", "start"], expected)
        _medications_view(con, f"""
            SELECT CAST(r.patient_id AS VARCHAR) AS patient_id, {codes.drug_sql('r.drug')} AS drug,
                   {time_sql('r.start', cols['start'][1])} AS start,
                   {time_sql('r."end"', cols['end'][1]) if 'end' in cols else 'NULL'} AS "end",
                   {double_sql('r.dose_value', cols['dose_value'][1]) if 'dose_value' in cols else 'NULL'} AS dose_value,
                   {_col(cols, 'dose_unit', cast='VARCHAR')} AS dose_unit,
                   {double_sql('r.frequency_per_day', cols['frequency_per_day'][1]) if 'frequency_per_day' in cols else 'NULL'} AS frequency_per_day,
                   lower({_col(cols, 'route', cast='VARCHAR')}) AS route
            FROM {rel} r""")
        extra["medications_unmapped"] = con.execute(
            "SELECT count(*) FROM _mw_medications_all WHERE drug IS NULL").fetchall()[0][0]
    else:
        register_view(con, "medications", None, MEDICATION_COLUMNS)
    return extra


def _conditions_view(con: duckdb.DuckDBPyConnection, body: str) -> None:
    """``conditions`` keeps mapped rows; ``_mw_conditions_all`` keeps all, for counting."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_conditions_all AS {body}")
    register_view(con, "conditions", "SELECT * FROM _mw_conditions_all WHERE code IS NOT NULL", CONDITION_COLUMNS)


def _medications_view(con: duckdb.DuckDBPyConnection, body: str) -> None:
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_medications_all AS {body}")
    register_view(con, "medications", "SELECT * FROM _mw_medications_all WHERE drug IS NOT NULL",
                  MEDICATION_COLUMNS)
