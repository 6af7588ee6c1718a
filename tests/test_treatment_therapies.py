"""Active therapies at a time (with day numbers) and escalation lines."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from maswatch.errors import InputError
from maswatch.treatment import THERAPY_CLASSES, DRUGS, active_therapies, parse_medications, treatment_lines

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def t(days=0.0, hours=0.0):
    return T0 + timedelta(days=days, hours=hours)


def meds(*rows):
    out = []
    for i, (drug, start, end, dose, freq) in enumerate(rows):
        d = {"id": f"m{i}", "drug": drug, "start": start.isoformat(), "frequency_per_day": freq}
        if end is not None:
            d["end"] = end.isoformat()
        if dose is not None:
            d["dose"] = {"value": dose[0], "unit": dose[1]}
        out.append(d)
    return parse_medications(out)


REGIMEN = meds(
    ("methylprednisolone", t(0), t(3), (30, "mg/kg"), 1),
    ("prednisolone", t(3), None, (1, "mg/kg"), 2),
    ("anakinra", t(1, -3), None, (2, "mg/kg"), 2),
    ("ciclosporin", t(4), t(20), (2.5, "mg/kg"), 2),
    ("emapalumab", t(8), t(8, 1), (6, "mg/kg"), 1),
    ("emapalumab", t(11), t(26), (3, "mg/kg"), 1 / 3),
    ("tocilizumab", t(-60), t(-59), (12, "mg/kg"), 1),
)


def test_every_drug_has_a_class():
    assert set(THERAPY_CLASSES) == set(DRUGS)


def test_active_at_start_inclusive_end_exclusive():
    at_end = [a["drug"] for a in active_therapies(REGIMEN, t(3))]
    assert "methylprednisolone" not in at_end and "prednisolone" in at_end
    assert "methylprednisolone" in [a["drug"] for a in active_therapies(REGIMEN, t(3, -0.01))]
    assert [a["drug"] for a in active_therapies(REGIMEN, t(-1))] == []


def test_day_numbers_of_drug_and_class_courses():
    act = {a["drug"]: a for a in active_therapies(REGIMEN, t(5))}
    assert set(act) == {"prednisolone", "anakinra", "ciclosporin"}
    assert act["prednisolone"]["day"] == 3          # started t(3): days 1, 2, 3
    assert act["prednisolone"]["class_day"] == 6     # glucocorticoid course began with pulses at t(0)
    assert act["anakinra"]["day"] == 5               # started 3 h before t(1)
    assert act["ciclosporin"]["day"] == 2 and act["ciclosporin"]["line"] == 2
    assert act["prednisolone"]["prednisone_equivalent_per_administration"] == {"value": 1.0, "unit": "mg/kg"}
    assert [a["line"] for a in active_therapies(REGIMEN, t(5))] == [1, 2, 2]


def test_methylprednisolone_dose_is_shown_in_prednisone_equivalents():
    (a,) = [a for a in active_therapies(REGIMEN, t(1)) if a["drug"] == "methylprednisolone"]
    assert a["day"] == 2 and a["prednisone_equivalent_per_administration"] == {"value": 37.5, "unit": "mg/kg"}


def test_intermittent_emapalumab_is_one_course_across_its_dosing_gap():
    (e,) = [a for a in active_therapies(REGIMEN, t(12)) if a["drug"] == "emapalumab"]
    assert e["course_start"] == t(8).isoformat() and e["day"] == 5


def test_a_long_gap_starts_a_new_course():
    m = meds(("prednisone", t(0), t(5), (10, "mg"), 1), ("prednisone", t(30), None, (10, "mg"), 1))
    (a,) = active_therapies(m, t(31))
    assert a["day"] == 2 and a["class_day"] == 2


def test_treatment_lines_in_order_of_escalation():
    s = treatment_lines(REGIMEN)
    assert s["escalation_order"] == [1, 2, 3] and s["highest_line"] == 3 and s["in_expected_order"]
    assert s["lines"][0]["drugs"] == ["methylprednisolone", "prednisolone"]
    assert s["lines"][1]["drugs"] == ["anakinra", "ciclosporin"]
    assert s["lines"][2]["medication_ids"] == ["m4", "m5"]
    assert s["background_or_adjunct"]["drugs"] == ["tocilizumab"]
    assert "ASSUMPTION" in s["basis"]
    json.loads(json.dumps(s)) and json.loads(json.dumps(active_therapies(REGIMEN, t(5))))
    assert treatment_lines(REGIMEN, at=t(2))["highest_line"] == 2
    assert treatment_lines(REGIMEN, at=t(0.5))["escalation_order"] == [1]


def test_out_of_order_escalation_is_shown():
    m = meds(("emapalumab", t(0), None, (6, "mg/kg"), 1 / 3), ("prednisone", t(1), None, (60, "mg"), 1))
    s = treatment_lines(m)
    assert s["escalation_order"] == [3, 1] and not s["in_expected_order"]


def test_empty_and_bad_time():
    assert treatment_lines([])["highest_line"] is None
    with pytest.raises(InputError):
        active_therapies(REGIMEN, datetime(2024, 5, 1))
    with pytest.raises(InputError) as e:
        treatment_lines([{"id": "m", "drug": "anakinra"}])
    assert e.value.field == "meds[0]"
