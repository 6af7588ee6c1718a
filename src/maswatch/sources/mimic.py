"""MIMIC-IV (hosp module; ICU temperature optional) -> the normalised tables.

``path`` is the MIMIC-IV root (with ``hosp/`` and optionally ``icu/``) or the hosp
directory itself. Files as distributed (``labevents.csv.gz``) or converted to Parquet.
Read: hosp/labevents, hosp/patients (required); hosp/diagnoses_icd, hosp/admissions,
icu/chartevents (optional). Codes: itemids from the analyte registry, so hosp/d_labitems
is not needed (the writer provides it for completeness).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from .. import analytes
from . import codes
from ._files import columns, find_table, missing_table, require_columns, require_path, scan_sql
from .normalised import (
    CONDITION_COLUMNS, MEDICATION_COLUMNS, PATIENT_COLUMNS, LoadedSource, comparator_sql, normalise,
    register_view, time_sql,
)

# mimic-code's lab_itemid_to_loinc.csv maps D-dimer items 51196 and 50915 to LOINC
# 48065-7 "Fibrin D-dimer FEU", while MIMIC reports their unit as a bare "ng/mL". The
# registry refuses a bare ng/mL for D-dimer (FEU and DDU differ ~2-fold), so for these
# two items — and only these — "ng/mL" is read as "ng/mL{FEU}". source_unit keeps "ng/mL".
D_DIMER_FEU_ITEMIDS = (51196, 50915)
# ICU chartevents body temperature items (registry mimic_itemids of 'temperature').
TEMPERATURE_ITEMIDS = (223761, 223762)  # 223761 Temperature Fahrenheit, 223762 Temperature Celsius

LABEVENTS = ["labevent_id", "subject_id", "itemid", "charttime", "value", "valuenum", "valueuom",
             "(optional) ref_range_lower, ref_range_upper, flag"]
PATIENTS = ["subject_id", "gender", "anchor_age", "anchor_year"]
CHARTEVENTS = ["subject_id", "charttime", "itemid", "value", "valuenum", "valueuom"]
TABLES = ["hosp/labevents", "hosp/patients", "hosp/diagnoses_icd (optional)",
          "hosp/admissions (optional)", "icu/chartevents (optional, temperature)"]

# A censored result has no valuenum in MIMIC; its text is e.g. "<0.5" or ">1000".
_CENSORED = r"^\s*(<=|>=|<|>)\s*([0-9]+(\.[0-9]+)?)\s*$"


def _dirs(root: Path) -> tuple[Path, Path | None]:
    if (root / "hosp").is_dir():
        return root / "hosp", (root / "icu") if (root / "icu").is_dir() else None
    return root, (root.parent / "icu") if (root.parent / "icu").is_dir() else None


def _c(cols: dict, name: str) -> str:
    return f'r."{cols[name][0]}"' if name in cols else "NULL"


def _events_sql(rel: str, cols: dict, itemid_filter: str, obs_prefix: str, id_col: str | None) -> str:
    text = f"CAST({_c(cols, 'value')} AS VARCHAR)"
    valuenum = f"TRY_CAST({_c(cols, 'valuenum')} AS DOUBLE)"
    item = f"TRY_CAST(r.\"{cols['itemid'][0]}\" AS BIGINT)"
    uom = f"nullif(trim(CAST({_c(cols, 'valueuom')} AS VARCHAR)), '')"
    obs_id = (f"CAST(r.\"{cols[id_col][0]}\" AS VARCHAR)" if id_col and id_col in cols
              else f"'{obs_prefix}' || CAST(r._mw_seq AS VARCHAR)")
    ref = {k: f"TRY_CAST({_c(cols, k)} AS DOUBLE)" for k in ("ref_range_lower", "ref_range_upper")}
    return f"""
        SELECT CAST(r."{cols['subject_id'][0]}" AS VARCHAR) AS patient_id,
               {time_sql(_c(cols, 'charttime'), cols['charttime'][1])} AS time,
               {obs_id} AS obs_id, CAST({item} AS VARCHAR) AS code_a, CAST(NULL AS VARCHAR) AS code_b,
               coalesce({valuenum}, TRY_CAST(regexp_extract({text}, '{_CENSORED}', 2) AS DOUBLE)) AS value,
               CASE WHEN {valuenum} IS NULL
                    THEN {comparator_sql(f"nullif(regexp_extract({text}, '{_CENSORED}', 1), '')")}
                    ELSE 0::TINYINT END AS comparator,
               'final' AS status, {ref['ref_range_lower']} AS ref_low, {ref['ref_range_upper']} AS ref_high,
               'mimic' AS source, CAST({item} AS VARCHAR) AS source_code, {uom} AS source_unit,
               CASE WHEN {item} IN {D_DIMER_FEU_ITEMIDS} AND lower({uom}) = 'ng/ml' THEN 'ng/mL{{FEU}}'
                    ELSE {uom} END AS unit,
               r._mw_seq AS seq
        FROM {rel} r
        {itemid_filter}"""


def load_mimic(path: str | Path, con: duckdb.DuckDBPyConnection) -> LoadedSource:
    root = require_path(path, "mimic")
    hosp, icu = _dirs(root)
    items = analytes.by_mimic_itemid()
    con.register("_mw_mimic_item_arrow", pa.table({"itemid": list(items), "analyte": list(items.values())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _mw_mimic_item AS SELECT * FROM _mw_mimic_item_arrow")
    con.unregister("_mw_mimic_item_arrow")
    codes.register(con)

    files = find_table(hosp, "labevents")
    if files is None:
        raise missing_table("mimic", hosp, "labevents", TABLES)
    rel = scan_sql(files, con)
    cols = columns(con, rel)
    require_columns("labevents", cols, ["subject_id", "itemid", "charttime", "valuenum", "valueuom"], LABEVENTS)
    parts = [_events_sql(rel, cols, "", "lab-", "labevent_id")]
    extra = {"chartevents_read": False}
    chart = find_table(icu, "chartevents") if icu is not None else None
    if chart:
        crel = scan_sql(chart, con)
        ccols = columns(con, crel)
        require_columns("chartevents", ccols, ["subject_id", "charttime", "itemid", "valuenum", "valueuom"],
                        CHARTEVENTS)
        # Only body temperature is read from the ICU; the file index offset keeps seq unique.
        crel_shifted = f"(SELECT * REPLACE (_mw_seq + (1::BIGINT << 50) AS _mw_seq) FROM {crel})"
        parts.append(_events_sql(crel_shifted, ccols,
                                 f"WHERE TRY_CAST(r.\"{ccols['itemid'][0]}\" AS BIGINT) IN {TEMPERATURE_ITEMIDS}",
                                 "chart-", None))
        extra["chartevents_read"] = True
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_mimic_staged AS {' UNION ALL '.join(parts)}")
    checked = normalise(con, "_mw_mimic_staged", "_mw_mimic",
                        "(SELECT m.analyte FROM _mw_mimic_item m WHERE m.itemid = TRY_CAST(d.code_a AS BIGINT))")

    pfiles = find_table(hosp, "patients")
    if pfiles is None:
        raise missing_table("mimic", hosp, "patients", TABLES)
    prel = scan_sql(pfiles, con)
    pc = columns(con, prel)
    require_columns("patients", pc, PATIENTS, PATIENTS + ["(optional) dod"])
    # MIMIC gives only the age in a shifted anchor year; birth ~ 1 January of
    # (anchor_year - anchor_age), the midpoint of the possible birth dates (error <= ~1
    # year). Ages > 89 are reported as 91 in MIMIC-IV, so those birth dates are unknown.
    register_view(con, "patients", f"""
        SELECT CAST(r.subject_id AS VARCHAR) AS patient_id,
               CASE WHEN TRY_CAST(r.anchor_age AS INTEGER) <= 89
                    THEN make_date(TRY_CAST(r.anchor_year AS INTEGER) - TRY_CAST(r.anchor_age AS INTEGER), 1, 1)
               END AS birth_date,
               CASE upper(CAST(r.gender AS VARCHAR)) WHEN 'F' THEN 'female' WHEN 'M' THEN 'male' END AS sex
        FROM {prel} r""", PATIENT_COLUMNS)
    extra.update(_diagnoses(con, hosp))
    # Medications: MIMIC-IV hosp prescriptions/emar are not read (docs/sources.md).
    register_view(con, "medications", None, MEDICATION_COLUMNS)
    return LoadedSource("mimic", str(root), con, checked, extra)


def _diagnoses(con, hosp: Path) -> dict:
    files = find_table(hosp, "diagnoses_icd")
    if files is None:
        register_view(con, "conditions", None, CONDITION_COLUMNS)
        return {"conditions_unmapped": 0}
    rel = scan_sql(files, con)
    cols = columns(con, rel)
    require_columns("diagnoses_icd", cols, ["subject_id", "hadm_id", "icd_code", "icd_version"],
                    ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"])
    adm = find_table(hosp, "admissions")
    if adm:
        arel = scan_sql(adm, con)
        acols = columns(con, arel)
        require_columns("admissions", acols, ["hadm_id", "admittime"], ["subject_id", "hadm_id", "admittime"])
        onset_join = f"LEFT JOIN {arel} a ON CAST(a.hadm_id AS VARCHAR) = CAST(r.hadm_id AS VARCHAR)"
        onset = time_sql("a.admittime", acols["admittime"][1])
    else:
        onset_join, onset = "", "NULL"  # no date: the condition counts from the start of the record
    body = f"""
        WITH src AS (SELECT r.*, r._mw_seq AS _row,
                            CASE TRY_CAST(r.icd_version AS INTEGER) WHEN 10 THEN 'icd10' WHEN 9 THEN 'icd9' END AS _system
                     FROM {rel} r),
        icd AS ({codes.diagnosis_sql('src', 'r._system', 'r.icd_code')})
        SELECT CAST(r.subject_id AS VARCHAR) AS patient_id, icd.code AS code, {onset} AS onset
        FROM src r LEFT JOIN icd ON icd._row = r._row {onset_join}"""
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_conditions_all AS {body}")
    register_view(con, "conditions", "SELECT * FROM _mw_conditions_all WHERE code IS NOT NULL", CONDITION_COLUMNS)
    return {"conditions_unmapped": con.execute(
        "SELECT count(*) FROM _mw_conditions_all WHERE code IS NULL").fetchall()[0][0]}
