"""One reading and the next steps; readable values (issue 11, items 3 and 4)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from maswatch import display, reading
from maswatch.cli import app
from maswatch.evaluate import evaluate_one

SPARSE = {"id": "SYNTHETIC sparse", "patient": {"age_years": 7, "context": "sjia"}, "findings": {"fever": True},
          "labs": {"ferritin": {"value": 2500, "unit": "ng/mL"}}}
CLASSIC = {
    "id": "SYNTHETIC classic", "patient": {"age_years": 9, "context": "sjia", "known_immunosuppression": False},
    "findings": {"fever": True, "temperature": {"value": 39.8, "unit": "Cel"}, "hepatomegaly": True,
                 "splenomegaly": True, "cns_involvement": False, "hemorrhage": False, "active_arthritis": False},
    "labs": {"ferritin": {"value": 10000, "unit": "ng/mL"}, "platelets": {"value": 90, "unit": "10*9/L"},
             "wbc": {"value": 3.0, "unit": "10*9/L"}, "neutrophils": {"value": 0.8, "unit": "10*9/L"},
             "hemoglobin": {"value": 8.5, "unit": "g/dL"}, "ast": {"value": 250, "unit": "U/L"},
             "alt": {"value": 180, "unit": "U/L"}, "ldh": {"value": 1500, "unit": "U/L"},
             "triglycerides": {"value": 250, "unit": "mg/dL"}, "fibrinogen": {"value": 1.2, "unit": "g/L"},
             "esr": {"value": 10, "unit": "mm/h"}, "crp": {"value": 80, "unit": "mg/L"},
             "d_dimer": {"value": 5000, "unit": "ng/mL{FEU}"}},
}
SPECIALISED = {"scd25", "nk_function", "marrow", "genetics"}


def _adult(doc, **drop):
    d = json.loads(json.dumps(doc))
    d["patient"].update(age_years=35, context="aosd")
    for section, keys in drop.items():
        for k in keys:
            d[section].pop(k)
    return d


def test_sparse_case_gives_one_reading_and_an_ordered_short_list():
    r = evaluate_one(SPARSE)
    text = r["reading"]["text"]
    assert "ferritin 2,500 ng/mL" in text and "start the HLH/MAS work-up" in text
    assert "no MAS/HLH classification or diagnostic set met" in text
    assert r["reading"]["met"] == []
    groups = [s["group"] for s in r["next_steps"]]
    assert groups == sorted(groups, key=["bedside", "routine", "specialised"].index)  # bedside, routine, then specialised
    assert groups[0] == "bedside" and "routine" in groups
    assert [s["rank"] for s in r["next_steps"]] == list(range(1, len(groups) + 1))
    steps = {s["step"] for s in r["next_steps"]}
    assert {"liver_spleen", "cbc", "coagulation", "triglycerides"} <= steps
    assert "ferritin" not in steps and "temperature" not in steps  # already there
    assert "genetics" not in steps  # known sJIA: the primary-HLH question is not open
    assert len(r["next_steps"]) <= 16  # one list, not eight overlapping ones


def test_sparse_case_cli_opens_with_the_reading_and_grouped_steps():
    res = CliRunner().invoke(app, ["evaluate", "-"], input=json.dumps(SPARSE), env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("fever with ferritin 2,500 ng/mL")
    assert lines[2].startswith("  1. Bedside now") and lines[3].startswith("  2. Routine labs now")
    assert lines[4].startswith("  3. Specialised tests")


def test_classic_case_reads_met_and_suggests_no_specialised_test():
    r = evaluate_one(CLASSIC)
    text = r["reading"]["text"]
    assert text.startswith("2016 sJIA-MAS criteria met (febrile sJIA, ferritin 10,000 ng/mL, 4 of 4 laboratory items)")
    assert "HLH-2004 clinical route met" in text and "molecular route not assessed" in text
    assert not SPECIALISED & {s["step"] for s in r["next_steps"]}
    assert r["next_steps"] == []


def test_specialised_tests_come_last_and_only_when_they_can_change_an_open_verdict():
    # HLH-2004 open at 4 of 8 with marrow / NK / sCD25 unknown: they can change it, after the routine labs
    doc = json.loads(json.dumps(CLASSIC))
    doc["findings"]["splenomegaly"] = False
    doc["labs"]["neutrophils"] = {"value": 2.0, "unit": "10*9/L"}
    doc["labs"]["hemoglobin"] = {"value": 11, "unit": "g/dL"}
    del doc["labs"]["ldh"]
    r = evaluate_one(doc)
    assert r["instruments"]["hlh2004"]["verdict"] == "indeterminate"
    steps = r["next_steps"]
    special = [s for s in steps if s["group"] == "specialised"]
    assert {s["step"] for s in special} == {"scd25", "nk_function", "marrow"}
    assert all(s["settles"] == ["hlh2004"] for s in special)
    assert steps.index(special[0]) > max(i for i, s in enumerate(steps) if s["group"] != "specialised")


def test_genetics_is_asked_when_no_rheumatic_disease_is_recorded():
    doc = json.loads(json.dumps(SPARSE))
    doc["patient"]["context"] = "none"
    assert "genetics" in {s["step"] for s in evaluate_one(doc)["next_steps"]}


def test_an_instrument_outside_its_population_never_headlines_met():
    r = evaluate_one(CLASSIC)  # a 9-year-old: HScore (adults) and jSLE 2009 (SLE) do not apply
    assert r["instruments"]["hscore"]["verdict"] == "met" and r["instruments"]["hscore"]["applicable"] is False
    assert "hscore" not in r["reading"]["met"] and "HScore" not in r["reading"]["text"].split("outside")[0]
    assert "hscore" in r["reading"]["outside_population"]


def test_adult_headline_carries_the_hscore_with_its_probability():
    r = evaluate_one(_adult(CLASSIC))
    assert "HScore ≥ 264 (probability >99%)" in r["reading"]["text"]
    r = evaluate_one(_adult(CLASSIC, labs=["triglycerides", "ldh"], findings=["hepatomegaly"]))
    assert r["instruments"]["hscore"]["score_display"] == "≥ 205 (probability ≥ 90%)"


# ---------------------------------------------------------------- readable values
def _displays(r, iid):
    return [e["display"] for it in r["instruments"][iid]["items"] for e in it["inputs"]]


def test_values_show_their_unit_as_entered_and_in_the_papers_unit():
    r = evaluate_one(CLASSIC)
    rav = _displays(r, "ravelli2016")
    assert "fibrinogen 1.2 g/L (120 mg/dL)" in rav  # the 2016 criteria are in mg/dL
    assert "triglycerides 250 mg/dL" in rav
    assert "triglycerides 250 mg/dL (2.82 mmol/L)" in _displays(r, "hlh2004")  # HLH-2004 in mmol/L
    assert "fibrinogen 1.2 g/L" in _displays(r, "hlh2004")
    assert "haemoglobin 8.5 g/dL (85 g/L)" in _displays(r, "hlh2004")
    # exact numbers stay in the JSON
    fib = next(e for it in r["instruments"]["ravelli2016"]["items"] for e in it["inputs"] if e["input"] == "labs.fibrinogen")
    assert fib["value"] == 120 and fib["unit"] == "mg/dL" and fib["as_given"] == {"value": 1.2, "unit": "g/L"}


def test_cli_table_has_no_raw_canonical_noise_and_has_the_hscore_probability():
    res = CliRunner().invoke(app, ["evaluate", "-"], input=json.dumps(_adult(CLASSIC)), env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "2.82263" not in res.output
    assert "fibrinogen 120" not in res.output and "fibrinogen 1.2 g/L (120 mg/dL)" in res.output
    assert "≥ 264 (probability >99%)" in res.output
    res = CliRunner().invoke(app, ["evaluate", "-"], input=json.dumps(SPARSE), env={"COLUMNS": "250"})
    assert "-26.3" not in res.output and "303.98" not in res.output
    assert "cannot be scored without" in res.output


def test_score_text_both_sides_of_settled():
    base = {"missing": ["labs.ldh", "labs.fibrinogen"]}
    assert reading.score_text("ms_score", {**base, "verdict": "indeterminate", "score": None, "score_min": -26.3,
                                           "score_max": 303.98}) == "cannot be scored without LDH, fibrinogen"
    assert reading.score_text("mh_score", {**base, "verdict": "met", "score": None, "score_min": 70,
                                           "score_max": 90}) == "≥ 70"
    assert reading.score_text("mh_score", {**base, "verdict": "not_met", "score": None, "score_min": 10,
                                           "score_max": 40}) == "≤ 40"
    assert reading.score_text("hscore", {**base, "verdict": "met", "score": 190, "score_min": 190,
                                         "score_max": 190}) == "190 (probability 80%)"
    assert reading.score_text("hlh2004", {**base, "verdict": "indeterminate", "criteria_met": 2,
                                          "criteria_possible": 6}) == "2 of 8 met, up to 6 possible"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.5, 9.0), st.sampled_from(["g/L", "mg/dL"]))
def test_property_fibrinogen_display_round_trips_at_clinical_precision(g_per_l, unit):
    value = round(g_per_l, 1) if unit == "g/L" else round(g_per_l * 100)
    mg_dl = value * 100 if unit == "g/L" else value
    text = display.value_text("fibrinogen", mg_dl, {"value": value, "unit": unit}, "mg/dL")
    assert text.startswith(f"{display.number(value)} {unit}")  # as typed, first
    if unit == "g/L":
        shown = float(text.split("(")[1].split()[0].replace(",", ""))
        assert abs(shown - mg_dl) <= 0.005 * mg_dl + 1e-9  # three significant digits
    else:
        assert "(" not in text  # already in the paper's unit


def test_number_formatting():
    assert display.number(10000) == "10,000"
    assert display.number(2.8226298, 3) == "2.82"
    assert display.number(85.0, 3) == "85"
    assert display.number(0.000123456, 3) == "0.000123"
    assert display.number(123456.7, 3) == "123,457"


def test_durations_to_the_minute():
    assert [display.duration(s) for s in (0, 59, 60, 3599, 3600, 86340, 86399, 90000)] == [
        "0 min", "0 min", "1 min", "59 min", "1 h", "23 h 59 min", "23 h 59 min", "25 h"]


def test_censored_and_other_spellings_read_as_entered():
    from importlib import resources

    snaps = json.loads(resources.files("maswatch").joinpath("data/demo_snapshots.json").read_text("utf-8"))
    r = evaluate_one(snaps[1])  # SI units, platelets per uL, AST in ukat/L, ferritin censored '>'
    hs = _displays(r, "hscore")
    assert "ferritin >40,000 µg/L" in hs  # same number in ng/mL: no second unit
    assert "platelets 98,000 /µL (98 ×10⁹/L)" in hs
    assert "AST 2.5 ukat/L (150 U/L)" in hs
    assert "temperature 103.1 °F (39.5 °C)" in hs
    assert "haemoglobin 88 g/L (8.8 g/dL)" in hs  # HScore's table is in g/dL


def test_next_step_data_is_well_formed():
    from maswatch.report import ALL_INPUTS

    data = reading._data()
    assert [g["id"] for g in data["groups"]] == ["bedside", "routine", "specialised"]
    assert "Halyabar" in data["source"] and "docs/clinical/next-steps.md" in data["source"]
    for g in data["groups"]:
        for step in g["steps"]:
            assert step["inputs"] and set(step["inputs"]) <= set(ALL_INPUTS), step["id"]
