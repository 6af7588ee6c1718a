"""Diagnosis and drug code mapping (condition_codes.toml) through every reader. SYNTHETIC rows."""

from __future__ import annotations

import json

import duckdb
import pytest

from maswatch import sources
from maswatch.sources import codes


def load(kind, path):
    con = duckdb.connect()
    return con, sources.load(kind, path, con)


def _map(system: str, code: str):
    con = duckdb.connect()
    codes.register(con)
    con.execute(f"CREATE TEMP TABLE t AS SELECT 1 AS _row, '{system}' AS sys, '{code}' AS c")
    rows = con.execute(codes.diagnosis_sql("t", "r.sys", "r.c")).fetchall()
    return rows[0][1] if rows else None


@pytest.mark.parametrize("system,code,want", [
    ("icd10", "M08.2", "sjia"), ("icd10", "M08.20", "sjia"), ("icd10", "m0829", "sjia"),
    ("icd10", "M08.0", "other_rheumatic"),        # longest prefix: M08.2 beats M08
    ("icd10", "M06.1", "aosd"), ("icd10", "M06.9", "other_rheumatic"),
    ("icd10", "M32.14", "sle"), ("icd10", "M35.3", "other_rheumatic"),
    ("icd10", "A41.9", "infection"), ("icd10", "J18.9", "infection"), ("icd10", "J45.9", None),
    ("icd10", "D76.1", "primary_hlh"), ("icd10", "D76.2", None), ("icd10", "D76.3", None),
    ("icd9", "7100", "sle"), ("icd9", "71430", "other_rheumatic"), ("icd9", "0389", "infection"),
    ("icd9", "2884", None), ("icd10", "7100", None),   # the system decides, not the digits
    ("snomed", "201796004", "sjia"), ("snomed", "55464009", "sle"), ("snomed", "40733004", "infection"),
    ("snomed", "410795001", "other_rheumatic"), ("snomed", "5546400", None), ("snomed", "554640091", None),
])
def test_diagnosis_prefixes(system, code, want):
    assert _map(system, code) == want


def test_drug_names():
    names = codes.drug_names()
    assert names["cyclosporine"] == "ciclosporin" and names["kineret"] == "anakinra"
    con = duckdb.connect()
    codes.register(con)
    got = con.execute(f"SELECT {codes.drug_sql(chr(39) + 'Methylprednisolone Sodium Succinate' + chr(39))}, "
                      f"{codes.drug_sql(chr(39) + 'aspirin' + chr(39))}").fetchall()
    assert got == [("methylprednisolone", None)]


def test_omop_condition_source_values_icd10_or_snomed_never_icd9(tmp_path):
    (tmp_path / "measurement.csv").write_text(
        "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number\n")
    (tmp_path / "person.csv").write_text("person_id,gender_concept_id,year_of_birth\n1,8507,2010\n")
    (tmp_path / "condition_occurrence.csv").write_text(
        "person_id,condition_concept_id,condition_start_date,condition_source_value\n"
        "1,0,2020-01-01,M08.20\n1,0,2020-01-01,7100\n1,0,2020-01-01,55464009\n1,0,2020-01-01,71430\n")
    con, src = load("omop", tmp_path)
    assert sorted(con.execute("SELECT code FROM conditions").fetchall()) == [("sjia",), ("sle",)]
    assert src.counts["conditions_unmapped"] == 2  # ICD-9 7100 (SLE) and 71430 are not guessed
    assert src.counts["observations_read"] == 0


def test_fhir_medication_administration(tmp_path):
    (tmp_path / "Observation.ndjson").write_text("")
    lines = [{"resourceType": "MedicationAdministration", "id": "ma1", "subject": {"reference": "Patient/p"},
              "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                        "code": "x", "display": "Anakinra 100 MG/0.67ML"}]},
              "effectivePeriod": {"start": "2024-05-01T08:00:00Z", "end": "2024-05-01T08:05:00Z"},
              "dosage": {"dose": {"value": 100, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
                         "route": {"text": "SC"}}},
             {"resourceType": "MedicationAdministration", "id": "ma2", "subject": {"reference": "Patient/p"},
              "medicationCodeableConcept": {"text": "paracetamol"}, "effectiveDateTime": "2024-05-01T09:00:00Z"}]
    (tmp_path / "MedicationAdministration.ndjson").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    con, src = load("fhir", tmp_path)
    rows = con.execute("SELECT patient_id, drug, CAST(start AS VARCHAR), CAST(\"end\" AS VARCHAR), dose_value, "
                       "dose_unit, route FROM medications").fetchall()
    assert rows == [("p", "anakinra", "2024-05-01 08:00:00", "2024-05-01 08:05:00", 100.0, "mg", "sc")]
    assert src.counts["medications_unmapped"] == 1
