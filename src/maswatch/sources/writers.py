"""Write a synthetic cohort as long CSV, OMOP CDM v5.4, MIMIC-IV and FHIR Bulk NDJSON.

The input is the generator's output (a ``maswatch synth --out`` directory, or a dict of
Arrow tables ``observations``, ``patients``, ``conditions``, ``medications`` in that
shape). Each writer lets a reader be tested against a known answer: reading the files
back gives the same normalised rows, except what the target format cannot hold, which
the writer returns in ``WriteResult.skipped`` (by reason). All output is SYNTHETIC.

OMOP and MIMIC have no versions of a result, so their writers export the *resolved*
observations (docs/evaluation-points.md step 1: entered-in-error/cancelled remove an
observation, amended/corrected replace it, else the last version in file order) with
status final. FHIR keeps every version as its own line (same id), in file order.
Integer ids (person_id, subject_id, measurement_id) are assigned in sorted order of the
synthetic ids; ``patient_crosswalk.csv`` maps them back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from .. import analytes
from ..batch import FINDING_IDS
from ._files import find_table, scan_sql, sql_str
from .fhir import (
    BODY_WEIGHT_LOINC, ICD10, LOINC, MASWATCH_ANALYTE, MASWATCH_CONDITION, MASWATCH_FINDING, SNOMED, UCUM,
    UCUM_CODES,
)
from .mimic import D_DIMER_FEU_ITEMIDS
from .normalised import register_functions, round_significant_sql
from .omop import GENDER_CONCEPTS, OPERATOR_CONCEPTS, UNIT_CONCEPTS

SYNTHETIC_NOTE = "SYNTHETIC data written by maswatch from a synthetic cohort; not real patients."
TABLES = ("observations", "patients", "conditions", "medications")
EHR_TYPE_CONCEPT = 32817  # OMOP Type Concept "EHR"


@dataclass
class WriteResult:
    path: Path
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def cohort_connection(cohort) -> duckdb.DuckDBPyConnection:
    """A connection with views ``syn_<table>`` over a synth directory or a dict of Arrow tables.

    ``syn_observations`` gets ``_rn``, the source order."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    register_functions(con)
    for t in TABLES:
        if isinstance(cohort, dict):
            tab = cohort.get(t)
            if tab is None:
                continue
            if not isinstance(tab, pa.Table):
                tab = pa.Table.from_pylist(tab) if isinstance(tab, list) else pa.table(tab)
            con.register(f"_syn_{t}_arrow", tab)
            rel = f"(SELECT *, row_number() OVER () AS _mw_seq FROM _syn_{t}_arrow)"
        else:
            files = find_table(Path(cohort), t)
            if files is None:
                continue
            rel = scan_sql(files)
        con.execute(f"CREATE TEMP VIEW syn_{t} AS SELECT * EXCLUDE (_mw_seq), _mw_seq AS _rn FROM {rel}")
    have = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if "syn_observations" not in have:
        raise FileNotFoundError(f"no observations table in the cohort {cohort!r}")
    for t, cols in (("patients", "patient_id VARCHAR, birth_date DATE, sex VARCHAR"),
                    ("conditions", "patient_id VARCHAR, code VARCHAR, onset TIMESTAMPTZ, icd10 VARCHAR, snomed VARCHAR"),
                    ("medications", 'patient_id VARCHAR, med_id VARCHAR, drug VARCHAR, start TIMESTAMPTZ, "end" TIMESTAMPTZ, '
                                    "dose_value DOUBLE, dose_unit VARCHAR, frequency_per_day DOUBLE, route VARCHAR")):
        if f"syn_{t}" not in have:
            con.execute(f"CREATE TEMP TABLE syn_{t} ({cols}, _rn BIGINT)")
    _crosswalk(con)
    return con


def _crosswalk(con) -> None:
    con.execute("""
        CREATE TEMP TABLE syn_xwalk AS
        SELECT patient_id, row_number() OVER (ORDER BY patient_id) AS int_id FROM (
            SELECT CAST(patient_id AS VARCHAR) AS patient_id FROM syn_observations
            UNION SELECT CAST(patient_id AS VARCHAR) FROM syn_patients
            UNION SELECT CAST(patient_id AS VARCHAR) FROM syn_conditions
            UNION SELECT CAST(patient_id AS VARCHAR) FROM syn_medications)""")


def _resolved_sql() -> str:
    """Observations after corrections (docs/evaluation-points.md step 1), for formats without versions."""
    return """
        WITH removed AS (SELECT DISTINCT obs_id FROM syn_observations
                         WHERE lower(status) IN ('entered-in-error', 'cancelled')),
        ranked AS (
            SELECT o.*, row_number() OVER (
                PARTITION BY o.obs_id
                ORDER BY (lower(o.status) IN ('amended', 'corrected')) DESC, o._rn DESC) AS _k
            FROM syn_observations o WHERE o.obs_id NOT IN (SELECT obs_id FROM removed))
        SELECT * EXCLUDE (_k) FROM ranked WHERE _k = 1"""


def _copy(con, sql: str, out: Path, fmt: str) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    n = con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
    if fmt == "parquet":
        con.execute(f"COPY ({sql}) TO {sql_str(out)} (FORMAT parquet, COMPRESSION zstd)")
    else:
        opts = ", COMPRESSION gzip" if out.name.endswith(".gz") else ""
        con.execute(f"COPY ({sql}) TO {sql_str(out)} (FORMAT csv, HEADER true{opts})")
    return n


def _write_readme(out: Path, what: str) -> None:
    (out / "README.txt").write_text(f"{SYNTHETIC_NOTE}\nFormat: {what}\n", encoding="utf-8")


def _crosswalk_file(con, out: Path, id_name: str) -> None:
    _copy(con, f"SELECT int_id AS {id_name}, patient_id FROM syn_xwalk ORDER BY int_id",
          out / "patient_crosswalk.csv", "csv")


def _skipped(con, where_sql: str, label_sql: str) -> dict[str, int]:
    rows = con.execute(f"SELECT {label_sql} AS k, count(*) FROM ({_resolved_sql()}) o WHERE {where_sql} "
                       "GROUP BY ALL ORDER BY 1").fetchall()
    return {k: n for k, n in rows}


def _map_table(con, name: str, mapping: dict, kt: str, vt: str) -> None:
    con.register(f"{name}_arrow", pa.table({"k": list(mapping), "v": list(mapping.values())}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT CAST(k AS {kt}) AS k, CAST(v AS {vt}) AS v FROM {name}_arrow")


# --------------------------------------------------------------------------- long CSV

def write_long_csv(cohort, out: str | Path) -> WriteResult:
    """``observations.csv`` (+ patients, conditions, medications) in the documented long format."""
    out = Path(out)
    con = cohort_connection(cohort)
    res = WriteResult(out)
    res.written["observations"] = _copy(con, """
        SELECT patient_id, strftime(time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS time, obs_id, loinc, analyte,
               value, unit, comparator, status, ref_low, ref_high
        FROM syn_observations ORDER BY _rn""", out / "observations.csv", "csv")
    res.written["patients"] = _copy(con, "SELECT patient_id, birth_date, sex FROM syn_patients ORDER BY _rn",
                                    out / "patients.csv", "csv")
    res.written["conditions"] = _copy(con, """
        SELECT patient_id, code, strftime(onset AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS onset, icd10
        FROM syn_conditions ORDER BY _rn""", out / "conditions.csv", "csv")
    res.written["medications"] = _copy(con, """
        SELECT patient_id, drug, strftime(start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS start,
               strftime("end" AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS "end",
               dose_value, dose_unit, frequency_per_day, route
        FROM syn_medications ORDER BY _rn""", out / "medications.csv", "csv")
    _write_readme(out, "maswatch long CSV (docs/sources.md)")
    return res


# --------------------------------------------------------------------------- OMOP

def write_omop(cohort, out: str | Path, fmt: str = "csv") -> WriteResult:
    """OMOP CDM v5.4 tables measurement, person, condition_occurrence, drug_exposure."""
    out = Path(out)
    con = cohort_connection(cohort)
    ext = ".parquet" if fmt == "parquet" else ".csv"
    res = WriteResult(out)
    concept = {a.id: a.omop_concept_ids[0] for a in analytes.registry().values() if a.omop_concept_ids}
    _map_table(con, "w_concept", concept, "VARCHAR", "BIGINT")
    _map_table(con, "w_operator", {v: k for k, v in OPERATOR_CONCEPTS.items() if v}, "VARCHAR", "BIGINT")
    _map_table(con, "w_unit", {v: k for k, v in UNIT_CONCEPTS.items()}, "VARCHAR", "BIGINT")
    _map_table(con, "w_gender", {v: k for k, v in GENDER_CONCEPTS.items()}, "VARCHAR", "BIGINT")
    # Findings and weight belong to OMOP observation/condition tables with concepts not
    # verified here; quantities without an OMOP concept (CXCL9) cannot be coded.
    res.skipped = _skipped(con, "o.analyte NOT IN (SELECT k FROM w_concept)", "'not representable: ' || o.analyte")
    res.written["measurement"] = _copy(con, f"""
        SELECT row_number() OVER (ORDER BY o._rn) AS measurement_id, x.int_id AS person_id,
               c.v AS measurement_concept_id, CAST(o.time AT TIME ZONE 'UTC' AS DATE) AS measurement_date,
               strftime(o.time AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS measurement_datetime,
               {EHR_TYPE_CONCEPT} AS measurement_type_concept_id,
               coalesce(op.v, 0) AS operator_concept_id, o.value AS value_as_number,
               coalesce(u.v, 0) AS unit_concept_id, o.ref_low AS range_low, o.ref_high AS range_high,
               coalesce(o.loinc, o.analyte) AS measurement_source_value, o.unit AS unit_source_value
        FROM ({_resolved_sql()}) o JOIN syn_xwalk x ON x.patient_id = CAST(o.patient_id AS VARCHAR)
        JOIN w_concept c ON c.k = o.analyte
        LEFT JOIN w_operator op ON op.k = o.comparator LEFT JOIN w_unit u ON u.k = o.unit
        ORDER BY o._rn""", out / f"measurement{ext}", fmt)
    res.written["person"] = _copy(con, """
        SELECT x.int_id AS person_id, coalesce(g.v, 0) AS gender_concept_id,
               year(p.birth_date) AS year_of_birth, month(p.birth_date) AS month_of_birth,
               day(p.birth_date) AS day_of_birth, CAST(p.birth_date AS TIMESTAMP) AS birth_datetime,
               0 AS race_concept_id, 0 AS ethnicity_concept_id,
               p.patient_id AS person_source_value, p.sex AS gender_source_value
        FROM syn_patients p JOIN syn_xwalk x ON x.patient_id = CAST(p.patient_id AS VARCHAR)
        LEFT JOIN w_gender g ON g.k = lower(p.sex) ORDER BY x.int_id""", out / f"person{ext}", fmt)
    res.written["condition_occurrence"] = _copy(con, f"""
        SELECT row_number() OVER (ORDER BY c._rn) AS condition_occurrence_id, x.int_id AS person_id,
               0 AS condition_concept_id, CAST(c.onset AT TIME ZONE 'UTC' AS DATE) AS condition_start_date,
               strftime(c.onset AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS condition_start_datetime,
               {EHR_TYPE_CONCEPT} AS condition_type_concept_id, c.icd10 AS condition_source_value
        FROM syn_conditions c JOIN syn_xwalk x ON x.patient_id = CAST(c.patient_id AS VARCHAR)
        ORDER BY c._rn""", out / f"condition_occurrence{ext}", fmt)
    res.written["drug_exposure"] = _copy(con, f"""
        SELECT row_number() OVER (ORDER BY m._rn) AS drug_exposure_id, x.int_id AS person_id,
               0 AS drug_concept_id,
               CAST(m.start AT TIME ZONE 'UTC' AS DATE) AS drug_exposure_start_date,
               strftime(m.start AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS drug_exposure_start_datetime,
               CAST(m."end" AT TIME ZONE 'UTC' AS DATE) AS drug_exposure_end_date,
               strftime(m."end" AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS drug_exposure_end_datetime,
               {EHR_TYPE_CONCEPT} AS drug_type_concept_id, m.drug AS drug_source_value,
               m.route AS route_source_value, m.dose_unit AS dose_unit_source_value
        FROM syn_medications m JOIN syn_xwalk x ON x.patient_id = CAST(m.patient_id AS VARCHAR)
        ORDER BY m._rn""", out / f"drug_exposure{ext}", fmt)
    _crosswalk_file(con, out, "person_id")
    _write_readme(out, "OMOP CDM v5.4")
    return res


# --------------------------------------------------------------------------- MIMIC-IV

def write_mimic(cohort, out: str | Path) -> WriteResult:
    """MIMIC-IV-shaped hosp/labevents, d_labitems, patients, diagnoses_icd, admissions; icu/chartevents."""
    out = Path(out)
    con = cohort_connection(cohort)
    res = WriteResult(out)
    reg = analytes.registry()
    lab_item = {a.id: a.mimic_itemids[0] for a in reg.values() if a.mimic_itemids and a.id != "temperature"}
    _map_table(con, "w_item", lab_item, "VARCHAR", "BIGINT")
    # (The registry's D-dimer units convert by a factor only, rounded as Conversion.apply.)
    _map_table(con, "w_ddimer", {u: c.multiply for u, c in reg["d_dimer"].units.items()}, "VARCHAR", "DOUBLE")
    res.skipped = _skipped(con, "o.analyte NOT IN (SELECT k FROM w_item) AND o.analyte <> 'temperature'",
                           "'not representable: ' || o.analyte")
    # MIMIC's D-dimer unit is a bare "ng/mL" read as FEU: a result in any other unit
    # (DDU, or no FEU/DDU stated) cannot be written without changing its meaning.
    ddimer_ok = "coalesce(o.unit, '') IN (SELECT k FROM w_ddimer)"
    celsius = [u for u, c in reg["temperature"].units.items() if c.is_identity]
    fahrenheit = [u for u, c in reg["temperature"].units.items() if not c.is_identity]
    d_dimer_item = lab_item["d_dimer"]
    assert d_dimer_item in D_DIMER_FEU_ITEMIDS
    # MIMIC writes D-dimer as a bare "ng/mL" meaning FEU: convert the value to ng/mL FEU first.
    scaled = "o.{c} * (SELECT v FROM w_ddimer WHERE k = o.unit)"
    value = (f"CASE WHEN o.analyte = 'd_dimer' AND (SELECT v FROM w_ddimer WHERE k = o.unit) <> 1 "
             f"THEN {round_significant_sql(scaled)} ELSE o.{{c}} END")
    text = (f"CASE WHEN o.comparator IS NOT NULL AND o.comparator <> '' "
            f"THEN o.comparator || CAST({value.format(c='value')} AS VARCHAR) "
            f"ELSE CAST({value.format(c='value')} AS VARCHAR) END")
    valuenum = f"CASE WHEN o.comparator IS NOT NULL AND o.comparator <> '' THEN NULL ELSE {value.format(c='value')} END"
    uom = "CASE WHEN o.analyte = 'd_dimer' THEN 'ng/mL' ELSE o.unit END"
    res.written["labevents"] = _copy(con, f"""
        SELECT row_number() OVER (ORDER BY o._rn) AS labevent_id, x.int_id AS subject_id, NULL AS hadm_id,
               row_number() OVER (ORDER BY o._rn) AS specimen_id, i.v AS itemid,
               strftime(o.time AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS charttime,
               {text} AS value, {valuenum} AS valuenum, {uom} AS valueuom,
               {value.format(c='ref_low')} AS ref_range_lower, {value.format(c='ref_high')} AS ref_range_upper,
               CASE WHEN o.value < o.ref_low OR o.value > o.ref_high THEN 'abnormal' END AS flag
        FROM ({_resolved_sql()}) o JOIN syn_xwalk x ON x.patient_id = CAST(o.patient_id AS VARCHAR)
        JOIN w_item i ON i.k = o.analyte
        WHERE o.analyte <> 'd_dimer' OR {ddimer_ok}
        ORDER BY o._rn""", out / "hosp" / "labevents.csv.gz", "csv")
    res.skipped.update(_skipped(con, f"o.analyte = 'd_dimer' AND NOT {ddimer_ok}",
                                "'not representable: d_dimer in ' || coalesce(o.unit, 'no unit')"))
    rows = [(iid, reg[a].label, "Blood", "Hematology" if a in ("platelets", "wbc", "neutrophils", "hemoglobin") else "Chemistry")
            for a, iid in lab_item.items()]
    con.register("w_items_arrow", pa.table({"itemid": [r[0] for r in rows], "label": [r[1] for r in rows],
                                            "fluid": [r[2] for r in rows], "category": [r[3] for r in rows]}))
    res.written["d_labitems"] = _copy(con, "SELECT * FROM w_items_arrow ORDER BY itemid",
                                      out / "hosp" / "d_labitems.csv.gz", "csv")
    cel = ", ".join(sql_str(u) for u in celsius)
    res.written["chartevents"] = _copy(con, f"""
        SELECT x.int_id AS subject_id, NULL AS hadm_id, NULL AS stay_id,
               strftime(o.time AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS charttime,
               CASE WHEN o.unit IN ({cel}) THEN 223762 ELSE 223761 END AS itemid,
               CAST(o.value AS VARCHAR) AS value, o.value AS valuenum,
               CASE WHEN o.unit IN ({cel}) THEN '°C' ELSE '°F' END AS valueuom
        FROM ({_resolved_sql()}) o JOIN syn_xwalk x ON x.patient_id = CAST(o.patient_id AS VARCHAR)
        WHERE o.analyte = 'temperature' AND o.unit IN ({cel}, {', '.join(sql_str(u) for u in fahrenheit)})
          AND coalesce(o.comparator, '') = ''
        ORDER BY o._rn""", out / "icu" / "chartevents.csv.gz", "csv")
    # anchor_year: the year of the patient's first observation (2020 if none);
    # anchor_age: anchor_year minus the birth year, so the reader's estimate
    # (1 January of anchor_year - anchor_age) falls in the true birth year.
    res.written["patients"] = _copy(con, """
        SELECT x.int_id AS subject_id, CASE lower(p.sex) WHEN 'female' THEN 'F' WHEN 'male' THEN 'M' END AS gender,
               coalesce(year(f.first), 2020) - year(p.birth_date) AS anchor_age,
               coalesce(year(f.first), 2020) AS anchor_year, NULL AS anchor_year_group, NULL AS dod
        FROM syn_patients p JOIN syn_xwalk x ON x.patient_id = CAST(p.patient_id AS VARCHAR)
        LEFT JOIN (SELECT CAST(patient_id AS VARCHAR) AS pid, min(time AT TIME ZONE 'UTC') AS first
                   FROM syn_observations GROUP BY 1) f ON f.pid = x.patient_id
        ORDER BY x.int_id""", out / "hosp" / "patients.csv.gz", "csv")
    res.written["admissions"] = _copy(con, """
        SELECT x.int_id AS subject_id, 1000000 + row_number() OVER (ORDER BY c._rn) AS hadm_id,
               strftime(c.onset AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS admittime
        FROM syn_conditions c JOIN syn_xwalk x ON x.patient_id = CAST(c.patient_id AS VARCHAR)
        ORDER BY c._rn""", out / "hosp" / "admissions.csv.gz", "csv")
    res.written["diagnoses_icd"] = _copy(con, """
        SELECT x.int_id AS subject_id, 1000000 + row_number() OVER (ORDER BY c._rn) AS hadm_id, 1 AS seq_num,
               replace(c.icd10, '.', '') AS icd_code, 10 AS icd_version
        FROM syn_conditions c JOIN syn_xwalk x ON x.patient_id = CAST(c.patient_id AS VARCHAR)
        ORDER BY c._rn""", out / "hosp" / "diagnoses_icd.csv.gz", "csv")
    _crosswalk_file(con, out, "subject_id")
    _write_readme(out, "MIMIC-IV shaped (hosp, icu); medications not written")
    return res


# --------------------------------------------------------------------------- FHIR

def _iso(ts) -> str | None:
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _num(v):
    """JSON number: integral floats stay floats (repr round-trips exactly)."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def write_fhir(cohort, out: str | Path) -> WriteResult:
    """FHIR R4 Bulk Data NDJSON: Patient, Observation, Condition, MedicationRequest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    con = cohort_connection(cohort)
    res = WriteResult(out)
    def q(sql: str):
        """Rows of a query in batches, so a large cohort streams to disk."""
        res = con.execute(sql)  # temp views live on this connection, so no cursor()
        while batch := res.fetchmany(10_000):
            yield from batch

    def dump(name: str, resources) -> None:
        n = 0
        with open(out / f"{name}.ndjson", "w", encoding="utf-8") as fh:
            for r in resources:
                fh.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")
                n += 1
        res.written[name] = n

    def patients():
        for pid, birth, sex in q("SELECT CAST(patient_id AS VARCHAR), birth_date, lower(sex) FROM syn_patients ORDER BY _rn"):
            r = {"resourceType": "Patient", "id": pid,
                 "meta": {"tag": [{"system": "urn:maswatch:tag", "code": "synthetic"}]}}
            if sex in ("male", "female", "other", "unknown"):
                r["gender"] = sex
            if birth is not None:
                r["birthDate"] = birth.isoformat()
            yield r

    versions: dict[str, int] = {}

    def observations():
        for (pid, t, oid, loinc, analyte, value, unit, comp, status, lo, hi) in q("""
                SELECT CAST(patient_id AS VARCHAR), time AT TIME ZONE 'UTC', CAST(obs_id AS VARCHAR), loinc,
                       analyte, value, unit, comparator, status, ref_low, ref_high
                FROM syn_observations ORDER BY _rn"""):
            versions[oid] = versions.get(oid, 0) + 1
            coding = []
            if loinc:
                coding.append({"system": LOINC, "code": loinc})
            elif analyte == "weight":
                coding.append({"system": LOINC, "code": BODY_WEIGHT_LOINC})
            elif analyte in FINDING_IDS:
                coding.append({"system": MASWATCH_FINDING, "code": analyte})
            elif analyte is not None:
                coding.append({"system": MASWATCH_ANALYTE, "code": analyte})
            r = {"resourceType": "Observation", "id": oid, "meta": {"versionId": str(versions[oid])},
                 "status": status, "code": {"coding": coding, "text": analyte},
                 "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": _iso(t)}
            if analyte in FINDING_IDS:
                if value in (0.0, 1.0):
                    r["valueBoolean"] = value == 1.0
                else:
                    r["valueQuantity"] = {"value": _num(value)}
            else:
                vq = {"value": _num(value)}
                if comp:
                    vq["comparator"] = comp
                if unit is not None:
                    vq["unit"] = unit
                    if unit in UCUM_CODES:
                        vq.update({"system": UCUM, "code": unit})
                r["valueQuantity"] = vq
            rr = {}
            if lo is not None:
                rr["low"] = {"value": _num(lo), **({"unit": unit} if unit else {})}
            if hi is not None:
                rr["high"] = {"value": _num(hi), **({"unit": unit} if unit else {})}
            if rr:
                r["referenceRange"] = [rr]
            yield r

    def conditions():
        for i, (pid, code, onset, icd10, snomed) in enumerate(q("""
                SELECT CAST(patient_id AS VARCHAR), code, onset AT TIME ZONE 'UTC', icd10, snomed
                FROM syn_conditions ORDER BY _rn""")):
            coding = [{"system": MASWATCH_CONDITION, "code": code}] if code else []
            if icd10:
                coding.append({"system": ICD10[0], "code": icd10})
            if snomed:  # as given by the generator
                coding.append({"system": SNOMED, "code": str(snomed)})
            r = {"resourceType": "Condition", "id": f"cond-{i + 1}", "subject": {"reference": f"Patient/{pid}"},
                 "code": {"coding": coding}}
            if onset is not None:
                r["onsetDateTime"] = _iso(onset)
            yield r

    def medications():
        for i, (pid, drug, start, end, dose, dunit, freq, route) in enumerate(q("""
                SELECT CAST(patient_id AS VARCHAR), drug, start AT TIME ZONE 'UTC', "end" AT TIME ZONE 'UTC',
                       dose_value, dose_unit, frequency_per_day, route
                FROM syn_medications ORDER BY _rn""")):
            bounds = {"start": _iso(start)}
            if end is not None:
                bounds["end"] = _iso(end)
            repeat = {"boundsPeriod": bounds}
            if freq is not None:
                repeat.update({"frequency": 1, "period": 1.0 / freq, "periodUnit": "d"} if freq < 1 else
                              {"frequency": freq, "period": 1, "periodUnit": "d"})
            dosage = {"timing": {"repeat": repeat}}
            if dose is not None:
                dq = {"value": _num(dose)}
                if dunit:
                    dq.update({"unit": dunit, "system": UCUM, "code": dunit})
                dosage["doseAndRate"] = [{"doseQuantity": dq}]
            if route:
                dosage["route"] = {"text": route}
            yield {"resourceType": "MedicationRequest", "id": f"medreq-{i + 1}", "status": "active",
                   "intent": "order", "subject": {"reference": f"Patient/{pid}"},
                   "medicationCodeableConcept": {"text": drug}, "dosageInstruction": [dosage]}

    dump("Patient", patients())
    dump("Observation", observations())
    dump("Condition", conditions())
    dump("MedicationRequest", medications())
    _write_readme(out, "FHIR R4 Bulk Data NDJSON")
    return res


__all__ = ["WriteResult", "write_long_csv", "write_omop", "write_mimic", "write_fhir", "cohort_connection"]
