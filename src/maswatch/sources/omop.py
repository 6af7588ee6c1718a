"""OMOP CDM v5.4 -> the normalised tables.

``path`` is a directory of table files (``measurement.csv``, ``MEASUREMENT.parquet``,
``measurement/`` part files, ...) or a DuckDB database file (``.duckdb``/``.db``,
attached read-only; e.g. the Eunomia test database). Tables: measurement and person
(required), condition_occurrence and drug_exposure (optional; absent = empty).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from .. import analytes
from . import codes
from ._files import columns, find_table, missing_table, require_columns, require_path, scan_sql, sql_str
from .long import register_code_tables
from .normalised import (
    CONDITION_COLUMNS, MEDICATION_COLUMNS, PATIENT_COLUMNS, LoadedSource, double_sql, normalise,
    register_view, time_sql,
)

# OMOP "Meas Value Operator" concepts (verified in public OMOP ETL code: OHDSI-style
# operator maps; the '=' concept 4172703 is read as no comparator).
OPERATOR_CONCEPTS = {4171756: "<", 4171754: "<=", 4171755: ">=", 4172704: ">", 4172703: ""}
# UCUM unit concepts verified in a published OMOP lab table (Samsung Medical Center /
# Ajou University "Sample Measurement Concept ID", which pairs unit_concept_id with the
# LOINC UCUM example unit). Any other unit_concept_id falls back to unit_source_value.
UNIT_CONCEPTS = {8645: "U/L", 8713: "g/dL", 8842: "ng/mL"}
GENDER_CONCEPTS = {8507: "male", 8532: "female"}  # OMOP Gender vocabulary (also in Eunomia)

MEASUREMENT = ["measurement_id", "person_id", "measurement_concept_id", "measurement_date", "value_as_number",
               "(optional) measurement_datetime, operator_concept_id, unit_concept_id, "
               "unit_source_value, range_low, range_high, measurement_source_value"]
PERSON = ["person_id", "gender_concept_id", "year_of_birth", "(optional) month_of_birth, day_of_birth, birth_datetime"]
TABLES = ["measurement", "person", "condition_occurrence (optional)", "drug_exposure (optional)"]


class _Tables:
    """Locate OMOP tables in a directory or an attached DuckDB database."""

    def __init__(self, con: duckdb.DuckDBPyConnection, root: Path):
        self.con, self.root, self.db = con, root, None
        if root.is_file():
            self.db = "_mw_omop_db"
            attached = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
            if self.db not in attached:
                con.execute(f"ATTACH {sql_str(root)} AS {self.db} (READ_ONLY)")
            self.names = {r[1].casefold(): (r[0], r[1]) for r in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                "UNION ALL SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ?",
                [self.db, self.db]).fetchall()}

    def get(self, name: str) -> str | None:
        if self.db is not None:
            hit = self.names.get(name)
            if hit is None:
                return None
            return (f'(SELECT *, row_number() OVER () - 1 AS _mw_seq '
                    f'FROM {self.db}."{hit[0]}"."{hit[1]}")')
        files = find_table(self.root, name)
        return scan_sql(files, self.con) if files else None


def _c(cols: dict, name: str) -> str:
    return f'r."{cols[name][0]}"' if name in cols else "NULL"


def _lookup(con, name: str, mapping: dict, key_type: str = "BIGINT") -> None:
    con.register(f"{name}_arrow", pa.table({"k": list(mapping), "v": list(mapping.values())}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT CAST(k AS {key_type}) AS k, v FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def load_omop(path: str | Path, con: duckdb.DuckDBPyConnection) -> LoadedSource:
    root = require_path(path, "omop")
    tables = _Tables(con, root)
    register_code_tables(con)
    codes.register(con)
    _lookup(con, "_mw_omop_concept", analytes.by_omop_concept())

    rel = tables.get("measurement")
    if rel is None:
        raise missing_table("omop", root, "measurement", TABLES)
    cols = columns(con, rel)
    require_columns("measurement", cols, ["measurement_id", "person_id", "measurement_concept_id",
                                          "measurement_date", "value_as_number"], MEASUREMENT)
    time = (f"coalesce({time_sql(_c(cols, 'measurement_datetime'), cols['measurement_datetime'][1])}, "
            f"{time_sql(_c(cols, 'measurement_date'), cols['measurement_date'][1])})"
            if "measurement_datetime" in cols else time_sql(_c(cols, "measurement_date"), cols["measurement_date"][1]))
    src_value = f"nullif(trim(CAST({_c(cols, 'measurement_source_value')} AS VARCHAR)), '')"
    unit_src = f"nullif(trim(CAST({_c(cols, 'unit_source_value')} AS VARCHAR)), '')"
    concept = f"TRY_CAST({_c(cols, 'measurement_concept_id')} AS BIGINT)"
    op = f"TRY_CAST({_c(cols, 'operator_concept_id')} AS BIGINT)"
    value = double_sql(_c(cols, "value_as_number"), cols["value_as_number"][1])
    codes_of = {c: i for i, c in enumerate(("", "<", "<=", ">=", ">"))}
    # unknown operator concept -> NULL -> counted as 'invalid comparator'
    comparator = (f"CASE WHEN coalesce({op}, 0) = 0 THEN 0::TINYINT ELSE (CASE {op} "
                  + " ".join(f"WHEN {k} THEN {codes_of[v]}" for k, v in OPERATOR_CONCEPTS.items())
                  + " END)::TINYINT END")
    unit_concept = f"TRY_CAST({_c(cols, 'unit_concept_id')} AS BIGINT)"
    unit = (f"coalesce(CASE {unit_concept} " + " ".join(f"WHEN {k} THEN {sql_str(v)}" for k, v in UNIT_CONCEPTS.items())
            + f" END, {unit_src})")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW _mw_omop_staged AS
        SELECT CAST(r."{cols['person_id'][0]}" AS VARCHAR) AS patient_id, {time} AS time,
               CAST(r."{cols['measurement_id'][0]}" AS VARCHAR) AS obs_id,
               CAST({concept} AS VARCHAR) AS code_a, {src_value} AS code_b,
               {value} AS value, {comparator} AS comparator, 'final' AS status,
               {double_sql(_c(cols, 'range_low'), cols.get('range_low', ('', 'VARCHAR'))[1])} AS ref_low,
               {double_sql(_c(cols, 'range_high'), cols.get('range_high', ('', 'VARCHAR'))[1])} AS ref_high,
               'omop' AS source,
               CASE WHEN coalesce({concept}, 0) <> 0 OR {src_value} IS NULL THEN CAST({concept} AS VARCHAR)
                    ELSE {src_value} END AS source_code,
               {unit} AS source_unit, {unit} AS unit, r._mw_seq AS seq
        FROM {rel} r
    """)
    # the standard concept first; else the source value read as a LOINC code
    analyte = ("coalesce((SELECT mc.v FROM _mw_omop_concept mc WHERE mc.k = TRY_CAST(d.code_a AS BIGINT)), "
               "(SELECT l.analyte FROM _mw_loinc l WHERE l.loinc = d.code_b))")
    checked = normalise(con, "_mw_omop_staged", "_mw_omop", analyte)

    person = tables.get("person")
    if person is None:
        raise missing_table("omop", root, "person", TABLES)
    pc = columns(con, person)
    require_columns("person", pc, ["person_id", "gender_concept_id", "year_of_birth"], PERSON)
    _lookup(con, "_mw_omop_gender", GENDER_CONCEPTS)
    birth_dt = time_sql(_c(pc, "birth_datetime"), pc["birth_datetime"][1]) if "birth_datetime" in pc else "NULL"
    year, month, day = (f"TRY_CAST({_c(pc, k)} AS INTEGER)" for k in ("year_of_birth", "month_of_birth", "day_of_birth"))
    # Missing month/day: mid-year (1 July) / mid-month (15th), an approximation of at most
    # ~6 months documented in docs/sources.md; missing year -> unknown birth date.
    register_view(con, "patients", f"""
        SELECT CAST(r."{pc['person_id'][0]}" AS VARCHAR) AS patient_id,
               coalesce(CAST({birth_dt} AS DATE),
                        CASE WHEN {year} IS NOT NULL THEN
                          TRY_CAST(make_date({year}, coalesce({month}, 7), coalesce({day}, CASE WHEN {month} IS NULL THEN 1 ELSE 15 END)) AS DATE)
                        END) AS birth_date,
               coalesce(g.v, lower(CAST({_c(pc, 'gender_source_value')} AS VARCHAR))) AS sex
        FROM {person} r LEFT JOIN _mw_omop_gender g ON g.k = TRY_CAST(r."{pc['gender_concept_id'][0]}" AS BIGINT)""",
                  PATIENT_COLUMNS)
    extra = _conditions(con, tables)
    extra.update(_drugs(con, tables))
    return LoadedSource("omop", str(root), con, checked, extra)


def _conditions(con, tables: _Tables) -> dict:
    rel = tables.get("condition_occurrence")
    if rel is None:
        register_view(con, "conditions", None, CONDITION_COLUMNS)
        return {"conditions_unmapped": 0}
    cols = columns(con, rel)
    require_columns("condition_occurrence", cols, ["person_id", "condition_start_date", "condition_source_value"],
                    ["person_id", "condition_concept_id", "condition_start_date",
                     "(optional) condition_start_datetime", "condition_source_value"])
    onset = time_sql(_c(cols, "condition_start_date"), cols["condition_start_date"][1])
    if "condition_start_datetime" in cols:
        onset = f"coalesce({time_sql(_c(cols, 'condition_start_datetime'), cols['condition_start_datetime'][1])}, {onset})"
    # condition_source_value is read as ICD-10 when it looks like one (letter + 2 digits)
    # and as a SNOMED CT id when it has 6-18 digits (SCTIDs do; ICD-9 codes have <= 5
    # digits without the dot, so ICD-9 is never guessed).
    sv = f"trim(CAST({_c(cols, 'condition_source_value')} AS VARCHAR))"
    body = f"""
        WITH src AS (SELECT r.*, r._mw_seq AS _row,
                            CASE WHEN regexp_matches(upper({sv}), '^[A-Z][0-9]{{2}}') THEN {sv} END AS _icd10,
                            CASE WHEN regexp_matches({sv}, '^[0-9]{{6,18}}$') THEN {sv} END AS _snomed
                     FROM {rel} r),
        icd AS ({codes.diagnosis_sql('src', "'icd10'", 'r._icd10')}),
        sct AS ({codes.diagnosis_sql('src', "'snomed'", 'r._snomed')})
        SELECT CAST(r."{cols['person_id'][0]}" AS VARCHAR) AS patient_id, coalesce(icd.code, sct.code) AS code,
               {onset} AS onset
        FROM src r LEFT JOIN icd ON icd._row = r._row LEFT JOIN sct ON sct._row = r._row"""
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_conditions_all AS {body}")
    register_view(con, "conditions", "SELECT * FROM _mw_conditions_all WHERE code IS NOT NULL", CONDITION_COLUMNS)
    return {"conditions_unmapped": con.execute(
        "SELECT count(*) FROM _mw_conditions_all WHERE code IS NULL").fetchall()[0][0]}


def _drugs(con, tables: _Tables) -> dict:
    rel = tables.get("drug_exposure")
    if rel is None:
        register_view(con, "medications", None, MEDICATION_COLUMNS)
        return {"medications_unmapped": 0}
    cols = columns(con, rel)
    require_columns("drug_exposure", cols, ["person_id", "drug_exposure_start_date", "drug_source_value"],
                    ["person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date",
                     "drug_source_value", "(optional) route_source_value"])

    def t(name: str) -> str:
        d = name.replace("_datetime", "_date")
        base = time_sql(_c(cols, d), cols[d][1]) if d in cols else "NULL"
        return f"coalesce({time_sql(_c(cols, name), cols[name][1])}, {base})" if name in cols else base

    # Doses are not read: OMOP quantity is the amount dispensed, not a dose per
    # administration, and the dose fields of drug_strength need the vocabulary.
    body = f"""
        SELECT CAST(r."{cols['person_id'][0]}" AS VARCHAR) AS patient_id,
               {codes.drug_sql(_c(cols, 'drug_source_value'))} AS drug,
               {t('drug_exposure_start_datetime')} AS start, {t('drug_exposure_end_datetime')} AS "end",
               CAST(NULL AS DOUBLE) AS dose_value, CAST(NULL AS VARCHAR) AS dose_unit,
               CAST(NULL AS DOUBLE) AS frequency_per_day,
               lower(CAST({_c(cols, 'route_source_value')} AS VARCHAR)) AS route
        FROM {rel} r"""
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_medications_all AS {body}")
    register_view(con, "medications", "SELECT * FROM _mw_medications_all WHERE drug IS NOT NULL",
                  MEDICATION_COLUMNS)
    return {"medications_unmapped": con.execute(
        "SELECT count(*) FROM _mw_medications_all WHERE drug IS NULL").fetchall()[0][0]}


__all__ = ["load_omop", "OPERATOR_CONCEPTS", "UNIT_CONCEPTS"]
