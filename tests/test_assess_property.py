"""Property: a one-time-point timeline assessed gives the same instrument results as
``maswatch evaluate`` on the equivalent snapshot (one path for bedside and monitoring)."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from maswatch import analytes, timeline
from maswatch.batch import FINDING_IDS
from maswatch.errors import InputError
from maswatch.evaluate import evaluate_one

T = "2024-05-01T08:00:00Z"
CONTEXTS = ("sjia", "aosd", "sle", "other_rheumatic", "unknown")


@st.composite
def measurement(draw, aid):
    a = analytes.get(aid)
    unit = draw(st.sampled_from(a.accepted_units))
    conv = a.conversion(unit)
    lo, hi = a.bounds
    canonical = draw(st.floats(lo, min(hi, lo + (hi - lo) / 4 if hi > 1e4 else hi), allow_nan=False))
    # back to the unit given (then registry plausibility decides on the converted value)
    value = round(canonical * conv.divide / conv.multiply + conv.subtract, 3)
    if not a.is_plausible(conv.apply(value)):
        value = round(canonical, 3) if unit == a.canonical_unit else value
    comp = draw(st.sampled_from([None, None, None, "<", "<=", ">=", ">"]))
    m = {"value": value, "unit": unit}
    if comp:
        m["comparator"] = comp
    return m


@st.composite
def snapshot_case(draw):
    labs = {}
    for aid in draw(st.sets(st.sampled_from(analytes.LAB_IDS + ("temperature",)), max_size=12)):
        m = draw(measurement(aid))
        a = analytes.get(aid)
        if not a.is_plausible(a.conversion(m["unit"]).apply(float(m["value"]))):
            continue
        labs[aid] = m
    findings = {f: draw(st.sampled_from([True, False, None])) for f in FINDING_IDS}
    ctx = draw(st.sampled_from(CONTEXTS))
    age = draw(st.one_of(st.none(), st.floats(0.1, 80).map(lambda x: round(x, 2))))
    flags = {f: draw(st.sampled_from([True, False, None])) for f in ("known_immunosuppression", "hlh_molecular_diagnosis",
                                                                     "malignancy")}
    return labs, findings, ctx, age, flags


def as_timeline(labs, findings, ctx, age, flags) -> dict:
    obs = []
    for k, (aid, m) in enumerate(sorted(labs.items())):
        obs.append({"id": f"l{k}", "time": T, "analyte": aid, **m})
    for k, (f, v) in enumerate(sorted(findings.items())):
        if v is not None:
            obs.append({"id": f"f{k}", "time": T, "finding": f, "value": v})
    patient = {"id": "SYN-P", **{k: v for k, v in flags.items() if v is not None}}
    if age is not None:
        patient.update(age_years=age, age_at=T)
    conditions = [] if ctx == "unknown" else [{"code": ctx, "onset": "2020-01-01"}]
    return {"format": "maswatch-timeline/1", "synthetic": True, "patient": patient, "conditions": conditions,
            "observations": obs}


def as_snapshot(labs, findings, ctx, age, flags) -> dict:
    f = {k: v for k, v in findings.items() if v is not None}
    lab = {k: v for k, v in labs.items() if k != "temperature"}
    if "temperature" in labs:
        f["temperature"] = labs["temperature"]
    patient = {"context": ctx, **{k: v for k, v in flags.items() if v is not None}}
    if age is not None:
        patient["age_years"] = age
    return {"patient": patient, "findings": f, "labs": lab}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshot_case())
def test_one_time_point_timeline_equals_evaluate(case):
    labs, findings, ctx, age, flags = case
    obj = as_timeline(labs, findings, ctx, age, flags)
    if not obj["observations"]:
        return  # no result time: nothing to evaluate (covered in test_assess)
    try:
        want = evaluate_one(as_snapshot(labs, findings, ctx, age, flags))["instruments"]
    except InputError:
        with pytest.raises(InputError):  # refused by both paths
            timeline.parse(obj)
        return
    a = timeline.assess(timeline.parse(obj))
    assert a.n == 1
    assert a.instruments_row(0) == want
    assert a.to_json()["assessment"]["instruments"] == want


def test_example_snapshot_equivalence():
    """The documented example snapshot (examples/snapshot.json) through both paths."""
    labs = {"ferritin": {"value": 5400, "unit": "ng/mL"}, "platelets": {"value": 132, "unit": "10*9/L"},
            "triglycerides": {"value": 2.1, "unit": "mmol/L"}, "temperature": {"value": 39.6, "unit": "Cel"}}
    findings = {f: None for f in FINDING_IDS} | {"fever": True, "hepatomegaly": True, "splenomegaly": False,
                                                 "cns_involvement": False, "hemorrhage": False, "active_arthritis": True}
    flags = {"known_immunosuppression": False, "hlh_molecular_diagnosis": False}
    case = (labs, findings, "sjia", 8.5, flags)
    a = timeline.assess(timeline.parse(as_timeline(*case)))
    got = a.instruments_row(0)
    assert got == evaluate_one(as_snapshot(*case))["instruments"]
    assert got["ravelli2016"]["verdict"] == "met"  # febrile, ferritin > 684, PLT <= 181 and TG > 156
