"""FHIR R4 Bulk Data NDJSON (one resource per line) -> the normalised tables.

Read: Observation (code.coding LOINC or a maswatch coding, valueQuantity value/unit/
UCUM code/comparator, valueBoolean or valueCodeableConcept Y/N for findings,
effectiveDateTime / effectivePeriod.start / effectiveInstant / issued, status,
referenceRange[0].low/high, subject), Patient (id, birthDate, gender), Condition
(code.coding: maswatch, ICD-10, ICD-10-CM; onsetDateTime / onsetPeriod.start /
recordedDate), MedicationAdministration and MedicationRequest (medication name,
period, dose, route, frequency). Everything else (other resources, extensions,
components, interpretations, encounters) is ignored — docs/sources.md lists it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from . import codes
from ._files import file_sql, require_path, sql_str
from .long import register_code_tables
from .normalised import (
    CONDITION_COLUMNS, MEDICATION_COLUMNS, PATIENT_COLUMNS, LoadedSource, comparator_sql, normalise,
    register_view, time_sql,
)
from ..errors import InputError

# Code systems and code tables: one set for every FHIR path (data/fhir_codes.toml via maswatch.fhir.codes).
from ..fhir.codes import (  # noqa: E402,F401  (re-exported: writers.py and tests import them from here)
    ATC, BODY_WEIGHT_LOINC, ICD10, LOINC, MASWATCH_ANALYTE, MASWATCH_CONDITION, MASWATCH_FINDING, RXNORM, SNOMED, UCUM,
    V2_YESNO, drug_by_code, finding_by_snomed,
)

_CODING = """'[{"system":"VARCHAR","code":"VARCHAR","display":"VARCHAR"}]'"""

OBSERVATION_FIELDS = {
    "resourceType": "VARCHAR", "id": "VARCHAR", "status": "VARCHAR", "code": "JSON", "subject": "JSON",
    "effectiveDateTime": "VARCHAR", "effectivePeriod": "JSON", "effectiveInstant": "VARCHAR",
    "issued": "VARCHAR", "valueQuantity": "JSON", "valueBoolean": "BOOLEAN",
    "valueCodeableConcept": "JSON", "referenceRange": "JSON",
}
PATIENT_FIELDS = {"resourceType": "VARCHAR", "id": "VARCHAR", "birthDate": "VARCHAR", "gender": "VARCHAR"}
CONDITION_FIELDS = {"resourceType": "VARCHAR", "id": "VARCHAR", "subject": "JSON", "code": "JSON",
                    "onsetDateTime": "VARCHAR", "onsetPeriod": "JSON", "recordedDate": "VARCHAR"}
MED_FIELDS = {"resourceType": "VARCHAR", "id": "VARCHAR", "subject": "JSON", "medicationCodeableConcept": "JSON",
              "effectiveDateTime": "VARCHAR", "effectivePeriod": "JSON", "dosage": "JSON",
              "authoredOn": "VARCHAR", "dosageInstruction": "JSON"}


def resource_files(root: Path, resource: str) -> list[Path]:
    """NDJSON files of one resource type: ``Observation.ndjson``, ``Observation.000.ndjson``,
    ``1.Observation.ndjson`` (the Bulk Data server's naming is free), optionally gzipped."""
    want = resource.casefold()
    out = []
    for p in sorted(root.iterdir()):
        name = p.name.casefold()
        if not p.is_file() or not (name.endswith(".ndjson") or name.endswith(".ndjson.gz")):
            continue
        tokens = name.replace("-", ".").replace("_", ".").split(".")
        if want in tokens:
            out.append(p)
    return out


def scan_ndjson(files: list[Path], resource: str, fields: dict[str, str]) -> str:
    cols = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in fields.items()) + "}"
    parts = [
        f"SELECT *, {i << 40} + row_number() OVER () - 1 AS _mw_seq FROM read_json({file_sql(f)}, "
        f"format = 'newline_delimited', columns = {cols})"
        for i, f in enumerate(files)
    ]
    return f"(SELECT * FROM ({' UNION ALL '.join(parts)}) WHERE resourceType = {sql_str(resource)})"


def _code_of(coding_json: str, system: str | tuple[str, ...]) -> str:
    systems = (system,) if isinstance(system, str) else system
    cond = " OR ".join(f"x.system = {sql_str(s)}" for s in systems)
    return f"list_filter(from_json({coding_json}, {_CODING}), lambda x: {cond})[1].code"


def _subject(col: str) -> str:
    ref = f"({col}->>'reference')"
    return f"(CASE WHEN starts_with({ref}, 'Patient/') THEN substr({ref}, 9) ELSE {ref} END)"


def load_fhir(path: str | Path, con: duckdb.DuckDBPyConnection) -> LoadedSource:
    root = require_path(path, "fhir")
    if not root.is_dir():
        raise InputError("fhir", f"{root} is not a directory of Bulk Data NDJSON files")
    obs_files = resource_files(root, "Observation")
    if not obs_files:
        raise InputError("fhir.Observation", f"no Observation NDJSON file in {root} (expected e.g. "
                         "Observation.ndjson; also read: Patient, Condition, MedicationAdministration, "
                         "MedicationRequest)")
    register_code_tables(con)
    codes.register(con)
    _register_drug_codes(con)
    rel = scan_ndjson(obs_files, "Observation", OBSERVATION_FIELDS)
    coding = "r.code->'coding'"
    loinc = _code_of(coding, LOINC)
    snomed_finding = " ".join(f"WHEN {sql_str(c)} THEN {sql_str(f[0])}" for c, f in finding_by_snomed().items()
                              if len(f) == 1)  # coded bedside findings (fhir_codes.toml); multi-finding codes: R4 reader
    own = (f"coalesce({_code_of(coding, MASWATCH_ANALYTE)}, {_code_of(coding, MASWATCH_FINDING)}, "
           f"CASE {_code_of(coding, SNOMED)} {snomed_finding} END)")
    vq = "r.valueQuantity"
    yes_no = _code_of("r.valueCodeableConcept->'coding'", V2_YESNO)
    unit = (f"(CASE WHEN {vq}->>'system' = {sql_str(UCUM)} AND {vq}->>'code' IS NOT NULL "
            f"THEN {vq}->>'code' ELSE {vq}->>'unit' END)")
    time = "coalesce(r.effectiveDateTime, r.effectivePeriod->>'start', r.effectiveInstant, r.issued)"
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW _mw_fhir_staged AS
        WITH c AS (
            SELECT r.*, {loinc} AS _loinc, {own} AS _own, {unit} AS _unit FROM {rel} r
        )
        SELECT {_subject('r.subject')} AS patient_id, {time_sql(time, 'VARCHAR')} AS time,
               coalesce(r.id, 'line-' || CAST(r._mw_seq AS VARCHAR)) AS obs_id,
               r._own AS code_a, r._loinc AS code_b,
               coalesce(TRY_CAST({vq}->>'value' AS DOUBLE), CAST(r.valueBoolean AS DOUBLE),
                        CASE {yes_no} WHEN 'Y' THEN 1.0 WHEN 'N' THEN 0.0 END) AS value,
               {comparator_sql(f"({vq}->>'comparator')")} AS comparator,
               lower(coalesce(r.status, 'unknown')) AS status,
               TRY_CAST(r.referenceRange->0->'low'->>'value' AS DOUBLE) AS ref_low,
               TRY_CAST(r.referenceRange->0->'high'->>'value' AS DOUBLE) AS ref_high,
               'fhir' AS source,
               coalesce(r._loinc, r._own, from_json({coding}, {_CODING})[1].code) AS source_code,
               r._unit AS source_unit, r._unit AS unit, r._mw_seq AS seq
        FROM c r
    """)
    analyte = (f"coalesce((SELECT l.analyte FROM _mw_loinc l WHERE l.loinc = d.code_b), "
               f"CASE WHEN d.code_b = {sql_str(BODY_WEIGHT_LOINC)} THEN 'weight' END, "
               f"(SELECT k.id FROM _mw_known k WHERE k.id = d.code_a))")
    checked = normalise(con, "_mw_fhir_staged", "_mw_fhir", analyte)
    extra = {}
    _patients(con, root)
    extra.update(_conditions(con, root))
    extra.update(_medications(con, root))
    return LoadedSource("fhir", str(root), con, checked, extra)


def _patients(con, root: Path) -> None:
    files = resource_files(root, "Patient")
    if not files:
        register_view(con, "patients", None, PATIENT_COLUMNS)
        return
    rel = scan_ndjson(files, "Patient", PATIENT_FIELDS)
    register_view(con, "patients", f"""
        SELECT r.id AS patient_id, TRY_CAST(r.birthDate AS DATE) AS birth_date, lower(r.gender) AS sex
        FROM {rel} r""", PATIENT_COLUMNS)


def _conditions(con, root: Path) -> dict:
    files = resource_files(root, "Condition")
    if not files:
        register_view(con, "conditions", None, CONDITION_COLUMNS)
        return {}
    rel = scan_ndjson(files, "Condition", CONDITION_FIELDS)
    coding = "r.code->'coding'"
    own = _code_of(coding, MASWATCH_CONDITION)
    valid_own = f"CASE WHEN {own} IN ({', '.join(sql_str(c) for c in codes.CONDITION_CODES)}) THEN {own} END"
    onset = "coalesce(r.onsetDateTime, r.onsetPeriod->>'start', r.recordedDate)"
    body = f"""
        WITH src AS (SELECT r.*, r._mw_seq AS _row, {_code_of(coding, ICD10)} AS _icd10,
                            {_code_of(coding, SNOMED)} AS _snomed FROM {rel} r),
        icd AS ({codes.diagnosis_sql('src', "'icd10'", 'r._icd10')}),
        sct AS ({codes.diagnosis_sql('src', "'snomed'", 'r._snomed')})
        SELECT {_subject('r.subject')} AS patient_id, coalesce({valid_own}, icd.code, sct.code) AS code,
               {time_sql(onset, 'VARCHAR')} AS onset
        FROM src r LEFT JOIN icd ON icd._row = r._row LEFT JOIN sct ON sct._row = r._row"""
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_conditions_all AS {body}")
    register_view(con, "conditions", "SELECT * FROM _mw_conditions_all WHERE code IS NOT NULL", CONDITION_COLUMNS)
    return {"conditions_unmapped": con.execute(
        "SELECT count(*) FROM _mw_conditions_all WHERE code IS NULL").fetchall()[0][0]}


def _register_drug_codes(con) -> None:
    """Temp table ``_mw_drug_codes(system, code, drug)``: RxNorm ingredient and ATC codes (fhir_codes.toml)."""
    rows = [(sys, code, drug) for (sys, code), drug in drug_by_code().items()]
    con.execute("CREATE OR REPLACE TEMP TABLE _mw_drug_codes (system VARCHAR, code VARCHAR, drug VARCHAR)")
    con.executemany("INSERT INTO _mw_drug_codes VALUES (?, ?, ?)", rows)


_PER_DAY = "CASE lower(x->'timing'->'repeat'->>'periodUnit') WHEN 'd' THEN 1.0 WHEN 'h' THEN 24.0 WHEN 'min' THEN 1440.0 WHEN 'wk' THEN 1.0 / 7 END"


def _medications(con, root: Path) -> dict:
    parts = []
    name = ("coalesce(r.medicationCodeableConcept->>'text', "
            f"from_json(r.medicationCodeableConcept->'coding', {_CODING})[1].display)")
    rx, atc = (_code_of("r.medicationCodeableConcept->'coding'", RXNORM),
               _code_of("r.medicationCodeableConcept->'coding'", ATC))
    drug = (f"coalesce((SELECT d.drug FROM _mw_drug_codes d WHERE d.system = {sql_str(RXNORM)} AND d.code = trim({rx})), "
            f"(SELECT d.drug FROM _mw_drug_codes d WHERE d.system = {sql_str(ATC)} AND d.code = upper(trim({atc}))), "
            f"{codes.drug_sql(name)})")
    admin = resource_files(root, "MedicationAdministration")
    if admin:
        rel = scan_ndjson(admin, "MedicationAdministration", MED_FIELDS)
        parts.append(f"""
            SELECT {_subject('r.subject')} AS patient_id, {drug} AS drug,
                   {time_sql("coalesce(r.effectiveDateTime, r.effectivePeriod->>'start')", 'VARCHAR')} AS start,
                   {time_sql("r.effectivePeriod->>'end'", 'VARCHAR')} AS "end",
                   TRY_CAST(r.dosage->'dose'->>'value' AS DOUBLE) AS dose_value,
                   coalesce(r.dosage->'dose'->>'code', r.dosage->'dose'->>'unit') AS dose_unit,
                   CAST(NULL AS DOUBLE) AS frequency_per_day,
                   lower(coalesce(r.dosage->'route'->>'text',
                         from_json(r.dosage->'route'->'coding', {_CODING})[1].code)) AS route
            FROM {rel} r""")
    req = resource_files(root, "MedicationRequest")
    if req:
        rel = scan_ndjson(req, "MedicationRequest", MED_FIELDS)
        x = "r.dosageInstruction->0"
        parts.append(f"""
            SELECT {_subject('r.subject')} AS patient_id, {drug} AS drug,
                   {time_sql(f"coalesce({x}->'timing'->'repeat'->'boundsPeriod'->>'start', r.authoredOn)", 'VARCHAR')} AS start,
                   {time_sql(f"{x}->'timing'->'repeat'->'boundsPeriod'->>'end'", 'VARCHAR')} AS "end",
                   TRY_CAST({x}->'doseAndRate'->0->'doseQuantity'->>'value' AS DOUBLE) AS dose_value,
                   coalesce({x}->'doseAndRate'->0->'doseQuantity'->>'code', {x}->'doseAndRate'->0->'doseQuantity'->>'unit') AS dose_unit,
                   TRY_CAST({x}->'timing'->'repeat'->>'frequency' AS DOUBLE)
                     / TRY_CAST({x}->'timing'->'repeat'->>'period' AS DOUBLE)
                     * ({_PER_DAY.replace('x->', x + '->')}) AS frequency_per_day,
                   lower(coalesce({x}->'route'->>'text', from_json({x}->'route'->'coding', {_CODING})[1].code)) AS route
            FROM {rel} r""")
    if not parts:
        register_view(con, "medications", None, MEDICATION_COLUMNS)
        return {}
    con.execute(f"CREATE OR REPLACE TEMP VIEW _mw_medications_all AS {' UNION ALL '.join(parts)}")
    register_view(con, "medications", "SELECT * FROM _mw_medications_all WHERE drug IS NOT NULL",
                  MEDICATION_COLUMNS)
    return {"medications_unmapped": con.execute(
        "SELECT count(*) FROM _mw_medications_all WHERE drug IS NULL").fetchall()[0][0]}


UCUM_CODES = frozenset({
    "10*9/L", "10*3/uL", "10*3/mm3", "/nL", "/uL", "/mm3", "{cells}/uL", "g/dL", "g/L", "mmol/L", "U/L",
    "[IU]/L", "ukat/L", "mg/dL", "mg/L", "ug/L", "ug/dL", "ng/mL", "ng/L", "pg/mL", "ug/mL", "U/mL",
    "[arb'U]/mL", "kU/L", "ng/mL{FEU}", "ug/L{FEU}", "ug/mL{FEU}", "mg/L{FEU}", "mm/h", "mm/[h]", "Cel",
    "[degF]", "kg", "g", "[lb_av]", "mg", "mg/kg", "g/kg",
})
"""Unit spellings written as UCUM codes (system http://unitsofmeasure.org); others only as text."""
