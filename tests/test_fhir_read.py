"""FHIR R4 -> timeline: the one reader (maswatch.fhir.read), proven equal to the timeline path."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from maswatch import synth, timeline
from maswatch.cli import app
from maswatch.errors import InputError
from maswatch.fhir import codes as C
from maswatch.fhir.export import timeline_to_bundle
from maswatch.fhir.read import is_fhir, parse_timeline, read_fhir, single_timeline
from maswatch.sources.writers import write_fhir

PID = "p1"
SUBJ = {"reference": f"Patient/{PID}"}


@pytest.fixture(scope="module")
def cohort():
    return synth.cohort(6, 20260412, timelines=True)


def _assess_json(tl) -> str:
    return json.dumps(timeline.assess(tl).to_json(), sort_keys=True)


def obs(oid, loinc, value, unit, t="2024-05-01T08:00:00Z", status="final", **kw):
    r = {"resourceType": "Observation", "id": oid, "status": status, "subject": SUBJ,
         "code": {"coding": [{"system": C.LOINC, "code": loinc}]}, "effectiveDateTime": t}
    if value is not None:
        q = {"value": value, "unit": unit}
        if unit:
            q.update({"system": C.UCUM, "code": unit})
        r["valueQuantity"] = q
    r.update(kw)
    return r


def bundle(*resources, btype="collection"):
    return {"resourceType": "Bundle", "type": btype, "entry": [{"resource": r} for r in resources]}


# ------------------------------------------------------------------ equality with the timeline path


def test_bundle_assesses_as_the_timeline_on_generated_patients(cohort):
    """timeline -> FHIR Bundle -> reader gives the same assessment, byte for byte, for every patient."""
    for doc in cohort["timelines"]:
        for btype in ("collection", "transaction", "searchset"):
            b = json.loads(json.dumps(timeline_to_bundle(doc, btype)))
            res = read_fhir(b)
            assert list(res.timelines) == [doc["patient"]["id"]]
            assert res.counts.get("left_out", 0) == 0, res.report
            assert _assess_json(parse_timeline(res.timelines[doc["patient"]["id"]], res)) == \
                _assess_json(timeline.parse(doc))


def _strip_ids(x):
    if isinstance(x, dict):
        return {k: _strip_ids(v) for k, v in x.items()
                if k not in ("medication_id", "medication_ids") and not (k == "id" and str(v).startswith(("SYN-", "medreq-")))}
    if isinstance(x, list):
        return [_strip_ids(v) for v in x]
    return x


def test_bulk_ndjson_writer_output_reads_to_the_same_assessments(cohort, tmp_path):
    """The population screen's FHIR writer (sources.writers.write_fhir) and this reader share the code
    tables: its NDJSON, read as one Bundle, assesses as the generator's timelines (the writer numbers
    MedicationRequests itself, so medication ids are set aside)."""
    write_fhir({k: v for k, v in cohort.items() if k != "timelines"}, tmp_path)
    res = [json.loads(line) for f in sorted(tmp_path.glob("*.ndjson")) for line in f.read_text().splitlines() if line]
    r = read_fhir(bundle(*res))
    assert r.counts["timelines"] == len(cohort["timelines"])
    for doc in cohort["timelines"]:
        pid = doc["patient"]["id"]
        a1 = _strip_ids(timeline.assess(timeline.parse(doc)).to_json())
        a2 = _strip_ids(timeline.assess(parse_timeline(r.timelines[pid], r)).to_json())
        assert a1 == a2, pid


def test_cli_assess_on_a_bundle_equals_assess_on_the_timeline(cohort, tmp_path):
    runner = CliRunner()
    doc = max(cohort["timelines"], key=lambda d: len(d["observations"]))
    (tmp_path / "t.json").write_text(json.dumps(doc))
    (tmp_path / "b.json").write_text(json.dumps(timeline_to_bundle(doc)))
    a = runner.invoke(app, ["assess", str(tmp_path / "t.json"), "--json"])
    b = runner.invoke(app, ["assess", str(tmp_path / "b.json"), "--json"])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_cli_refuses_a_bundle_of_several_patients(cohort, tmp_path):
    b = timeline_to_bundle(cohort["timelines"][0])
    b["entry"] += timeline_to_bundle(cohort["timelines"][1])["entry"]
    (tmp_path / "b.json").write_text(json.dumps(b))
    r = CliRunner().invoke(app, ["assess", str(tmp_path / "b.json")])
    assert r.exit_code == 2
    assert "2 patients" in r.output and "Traceback" not in r.output


# ------------------------------------------------------------------ Observation rules


def test_data_absent_reason_is_missing_never_a_value():
    r = obs("f1", "2276-4", 0, "ng/mL", dataAbsentReason={"coding": [{"system": C.DATA_ABSENT_REASON,
                                                                         "code": "error"}]})
    res = read_fhir(bundle(r))
    assert res.timelines[PID]["observations"] == []
    assert res.counts["data_absent"] == 1
    assert res.report[0]["id"] == "f1" and "data absent" in res.report[0]["reason"]


def test_unknown_codes_are_counted_and_reported_not_errors():
    res = read_fhir(bundle(obs("x1", "99999-9", 5, "mg/dL"), obs("f1", "2276-4", 800, "ng/mL")))
    assert res.counts["unknown_code"] == 1
    assert [o["id"] for o in res.timelines[PID]["observations"]] == ["f1"]
    assert res.report[0]["path"] == "entry[0].resource.code"


def test_a_malformed_resource_is_reported_with_id_and_path_and_the_rest_is_read():
    bad = obs("b1", "777-3", "many", "10*9/L")
    no_time = obs("b2", "777-3", 100, "10*9/L")
    del no_time["effectiveDateTime"]
    date_only = obs("b3", "777-3", 100, "10*9/L", t="2024-05-01")
    res = read_fhir(bundle(bad, no_time, date_only, obs("ok", "777-3", 100, "10*9/L"), "not a resource"))
    by_id = {r["id"]: r for r in res.report}
    assert by_id["b1"]["path"] == "entry[0].resource.valueQuantity.value"
    assert "effective" in by_id["b2"]["path"] and "no time" in by_id["b2"]["reason"]
    assert "time of day" in by_id["b3"]["reason"]
    assert any(r["path"] == "entry[4].resource" for r in res.report)
    assert [o["id"] for o in res.timelines[PID]["observations"]] == ["ok"]


def test_units_follow_the_registry_and_nothing_is_guessed():
    no_unit = obs("u1", "2276-4", 900, None)
    wrong = obs("u2", "777-3", 150000, "10*9/L")  # platelets per uL sent as 10^9/L: implausible
    fine = obs("u3", "2276-4", 900, "ug/L")
    res = read_fhir(bundle(no_unit, wrong, fine))
    by_id = {r["id"]: r["reason"] for r in res.report}
    assert "u1" in by_id and "u2" in by_id and "implausible" in by_id["u2"]
    tl = parse_timeline(res.timelines[PID], res)
    assert tl.table.series["ferritin"].value.tolist() == [900.0]


def test_unit_text_is_used_when_not_ucum():
    r = obs("t1", "2276-4", 900, None)
    r["valueQuantity"] = {"value": 900, "unit": "ng/mL"}
    tl = parse_timeline(read_fhir(bundle(r)).timelines[PID])
    assert tl.table.series["ferritin"].value.tolist() == [900.0]


def test_status_corrections_follow_the_timeline_rules():
    res = read_fhir(bundle(
        obs("a", "2276-4", 500, "ng/mL"), obs("a", "2276-4", 5000, "ng/mL", status="amended"),
        obs("b", "777-3", 90, "10*9/L"), {"resourceType": "Observation", "id": "b", "status": "entered-in-error",
                                          "code": {"text": "x"}, "subject": SUBJ},
        obs("c", "1920-8", 60, "U/L", status="preliminary"),
        obs("d", "1920-8", 70, "U/L", status="unknown")))
    tl = parse_timeline(res.timelines[PID], res)
    assert tl.table.series["ferritin"].value.tolist() == [5000.0]
    assert "platelets" not in tl.table.series
    assert tl.table.series["ast"].preliminary.tolist() == [True]
    assert any(r["id"] == "d" and "status" in r["path"] for r in res.report)


def test_an_unreadable_correction_withdraws_the_earlier_version():
    res = read_fhir(bundle(obs("a", "2276-4", 500, "ng/mL"), obs("a", "2276-4", 5000, "pmol/L", status="corrected")))
    tl = parse_timeline(res.timelines[PID], res)
    assert "ferritin" not in tl.table.series
    assert "withdrawn" in res.report[0]["reason"]


def test_comparator_time_fallbacks_and_reference_range():
    r1 = obs("a", "2276-4", 40000, "ng/mL", referenceRange=[{"low": {"value": 15, "unit": "ng/mL"},
                                                              "high": {"value": 150, "unit": "ng/mL"}}])
    r1["valueQuantity"]["comparator"] = ">"
    r2 = obs("b", "777-3", 100, "10*9/L")
    del r2["effectiveDateTime"]
    r2["effectivePeriod"] = {"start": "2024-05-01T09:00:00+02:00"}
    r3 = obs("c", "1920-8", 80, "U/L")
    del r3["effectiveDateTime"]
    r3["issued"] = "2024-05-01T10:00:00.123Z"
    r4 = obs("d", "1920-8", 90, "U/L", referenceRange=[{"low": {"value": 1, "unit": "ukat/L"}}])
    r4["valueQuantity"]["comparator"] = "ad"
    res = read_fhir(bundle(r1, r2, r3, r4))
    o = {x["id"]: x for x in res.timelines[PID]["observations"]}
    assert o["a"]["comparator"] == ">" and o["a"]["reference_range"] == {"low": 15, "high": 150}
    assert o["b"]["time"] == "2024-05-01T09:00:00+02:00"
    assert o["c"]["time"].startswith("2024-05-01T10:00:00.123")
    assert "d" not in o and any(r["id"] == "d" and "comparator" in r["path"] for r in res.report)


def test_interpretation_is_ignored():
    a = obs("a", "2276-4", 900, "ng/mL")
    b = obs("a", "2276-4", 900, "ng/mL", interpretation=[{"coding": [{"code": "N"}]}])
    assert read_fhir(bundle(a)).timelines == read_fhir(bundle(b)).timelines


# ------------------------------------------------------------------ Patient, Condition, findings, medications


def test_patient_conditions_and_coded_findings():
    pat = {"resourceType": "Patient", "id": PID, "birthDate": "2015-03-14", "gender": "female",
           "meta": {"tag": [{"system": C.MASWATCH_TAG, "code": "synthetic"}]}}
    sjia = {"resourceType": "Condition", "id": "c1", "subject": SUBJ, "onsetDateTime": "2023-09-01",
            "code": {"coding": [{"system": C.ICD10[1], "code": "M08.20"}]}}
    sle = {"resourceType": "Condition", "id": "c2", "subject": SUBJ,
           "code": {"coding": [{"system": C.SNOMED, "code": "55464009"}]}}
    refuted = {**sle, "id": "c3", "verificationStatus": {"coding": [{"code": "refuted"}]}}
    unknown = {"resourceType": "Condition", "id": "c4", "subject": SUBJ, "code": {"coding": [{"system": C.ICD10[0],
                                                                                               "code": "J45"}]}}
    hsm = {"resourceType": "Condition", "id": "c5", "subject": SUBJ, "onsetDateTime": "2024-05-01T08:00:00Z",
           "code": {"coding": [{"system": C.SNOMED, "code": "36760000"}]}}
    spleen_no = {"resourceType": "Observation", "id": "s1", "status": "final", "subject": SUBJ,
                 "effectiveDateTime": "2024-05-02T08:00:00Z", "code": {"coding": [{"system": C.SNOMED,
                                                                                   "code": "16294009"}]},
                 "valueCodeableConcept": {"coding": [{"system": C.SNOMED, "code": "373067005"}]}}
    fever_no_value = {**spleen_no, "id": "s2", "code": {"coding": [{"system": C.SNOMED, "code": "386661006"}]}}
    del fever_no_value["valueCodeableConcept"]
    res = read_fhir(bundle(pat, sjia, sle, refuted, unknown, hsm, spleen_no, fever_no_value))
    d = res.timelines[PID]
    assert d["synthetic"] is True and d["patient"] == {"id": PID, "birth_date": "2015-03-14", "sex": "female"}
    assert [c["code"] for c in d["conditions"]] == ["sjia", "sle"]
    assert res.counts["conditions_unmapped"] == 1
    fnd = [(o["finding"], o["value"]) for o in d["observations"]]
    assert fnd == [("hepatomegaly", True), ("splenomegaly", True), ("splenomegaly", False)]
    assert {r["id"] for r in res.report} == {"c3", "c4", "s2"}
    parse_timeline(d)


def test_medications_by_rxnorm_atc_and_name_with_dose_and_timing():
    req = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order", "subject": SUBJ,
           "medicationCodeableConcept": {"coding": [{"system": C.RXNORM, "code": "6902"}]},
           "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2024-05-01T12:00:00Z",
                                                                         "end": "2024-05-04T12:00:00Z"},
                                                        "frequency": 1, "period": 1, "periodUnit": "d"}},
                                  "doseAndRate": [{"doseQuantity": {"value": 30, "unit": "mg/kg",
                                                                    "system": C.UCUM, "code": "mg/kg"}}],
                                  "route": {"text": "IV"}}]}
    admin = {"resourceType": "MedicationAdministration", "id": "m2", "status": "completed", "subject": SUBJ,
             "medicationCodeableConcept": {"coding": [{"system": C.ATC, "code": "l04ac03"}]},
             "effectiveDateTime": "2024-05-02T08:00:00Z", "dosage": {"dose": {"value": 100, "unit": "mg"}}}
    stmt = {"resourceType": "MedicationStatement", "id": "m3", "status": "active", "subject": SUBJ,
            "medicationCodeableConcept": {"text": "Ciclosporin 50 mg capsule"},
            "effectivePeriod": {"start": "2024-05-03T00:00:00Z"},
            "dosage": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                        "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "mL"}}]}]}
    other = {**req, "id": "m4", "medicationCodeableConcept": {"text": "paracetamol"}}
    proposal = {**req, "id": "m5", "intent": "proposal"}
    res = read_fhir(bundle(req, admin, stmt, other, proposal))
    meds = {m["id"]: m for m in res.timelines[PID]["medications"]}
    assert meds["m1"] == {"id": "m1", "drug": "methylprednisolone", "start": "2024-05-01T12:00:00+00:00",
                          "end": "2024-05-04T12:00:00+00:00", "frequency_per_day": 1.0,
                          "dose": {"value": 30.0, "unit": "mg/kg"}, "route": "iv"}
    assert meds["m2"]["drug"] == "anakinra" and meds["m2"]["end"] == "2024-05-03T08:00:00+00:00"
    assert meds["m3"]["drug"] == "ciclosporin" and "dose" not in meds["m3"] and meds["m3"]["frequency_per_day"] == 2.0
    assert set(meds) == {"m1", "m2", "m3"}
    reasons = {(r["id"], r["path"].rsplit(".", 1)[-1]): r["reason"] for r in res.report}
    assert "not counted" in reasons[("m3", "doseQuantity")]
    assert res.counts["medications_unmapped"] == 1
    parse_timeline(res.timelines[PID])


# ------------------------------------------------------------------ bundles


def test_bundle_types_batch_response_and_operation_outcome():
    oo = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden",
                                                         "diagnostics": "no access"}]}
    inner = bundle(obs("a", "2276-4", 900, "ng/mL"), btype="searchset")
    br = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": inner, "response": {"status": "200 OK"}},
        {"resource": oo, "response": {"status": "403 Forbidden"}},
        {"resource": oo}]}
    res = read_fhir(br)
    assert [o["id"] for o in res.timelines[PID]["observations"]] == ["a"]
    assert res.counts["failed_entries"] == 1 and res.counts["operation_outcomes"] == 1
    assert any("403" in r["reason"] and "no access" in r["reason"] for r in res.report)
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Observation/a"}},
        {"resource": obs("b", "2276-4", 900, "ng/mL"), "request": {"method": "POST", "url": "Observation"}}]}
    res = read_fhir(tx)
    assert "DELETE" in res.report[0]["reason"] and len(res.timelines[PID]["observations"]) == 1
    with pytest.raises(InputError, match="history"):
        read_fhir({"resourceType": "Bundle", "type": "history", "entry": []})


def test_single_resources_urn_references_and_detection():
    pat = {"resourceType": "Patient", "id": "x9", "birthDate": "2010-01-01"}
    o = obs("a", "2276-4", 900, "ng/mL", subject={"reference": "urn:uuid:1234"})
    b = {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:uuid:1234", "resource": pat},
                                                                   {"resource": o}]}
    assert list(read_fhir(b).timelines) == ["x9"]
    assert list(read_fhir(pat).timelines) == ["x9"]
    assert list(read_fhir([pat, {**o, "subject": {"reference": "http://h/fhir/Patient/x9/_history/2"}}]).timelines) \
        == ["x9"]
    assert is_fhir(pat) and is_fhir([pat]) and not is_fhir({"observations": []}) and not is_fhir([])
    with pytest.raises(InputError):
        single_timeline({"resourceType": "Bundle", "type": "collection", "entry": []})


@settings(max_examples=30, deadline=None)
@given(value=st.floats(min_value=1, max_value=100_000, allow_nan=False),
       unit=st.sampled_from(["ng/mL", "ug/L", "ug/dL", "mg/L"]))
def test_ferritin_in_any_accepted_unit_reads_as_the_registry_converts_it(value, unit):
    from maswatch import analytes

    r = obs("a", "2276-4", value, unit)
    res = read_fhir(bundle(r))
    expected = analytes.get("ferritin").to_canonical(value, unit) if 0 <= analytes.get("ferritin").units[unit].apply(
        value) <= 1_000_000 else None
    if expected is None:
        assert res.timelines[PID]["observations"] == []
    else:
        assert parse_timeline(res.timelines[PID]).table.series["ferritin"].value.tolist() == [expected]
