"""The columnar table builder (``timeline.observations.build_table``) against the per-record
oracle it replaced (``tests/reference_table.py``): the same series, weights, removed and
replaced ids and reported signs, or the same refusal (field and message), on generated
timelines that mix versions and corrections, equal times, every unit of an analyte and
wrong ones, implausible and censored values, reference ranges, weights, findings and
family-reported signs. All data SYNTHETIC."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_table  # noqa: E402

from maswatch import analytes  # noqa: E402
from maswatch.errors import InputError  # noqa: E402
from maswatch.timeline.model import validate  # noqa: E402
from maswatch.timeline.observations import ObservationTable, build_table, facts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ["final", "final", "final", "registered", "preliminary", "amended", "corrected", "entered-in-error",
            "cancelled"]
LABS = ["ferritin", "platelets", "fibrinogen", "temperature", "esr", "triglycerides"]
TIMES = [f"2024-05-0{d}T0{h}:00:00Z" for d in (1, 2) for h in (0, 6)] + ["2024-05-01T00:00:00+02:00"]


def _units(analyte: str) -> list:
    return [*analytes.get(analyte).units, None, "bogus"]


@st.composite
def record(draw) -> dict:
    r = {"time": draw(st.sampled_from(TIMES)), "status": draw(st.sampled_from(STATUSES))}
    oid = draw(st.sampled_from([None, "a", "b", "c", "B", "", "a1"]))
    if oid is not None:
        r["id"] = oid
    kind = draw(st.sampled_from(["lab"] * 12 + ["loinc", "loinc", "finding", "finding", "weight", "symptom",
                                                 "retract", "retract", "unknown"]))
    if kind == "retract" and oid:
        return {"id": oid, "status": draw(st.sampled_from(["entered-in-error", "cancelled"]))}
    if kind in ("finding", "symptom"):
        r["finding" if kind == "finding" else "symptom"] = "fever" if kind == "finding" else "seizure"
        r["value"] = draw(st.booleans())
        if kind == "symptom":
            r["reporter"] = "family"
        return r
    if kind == "weight":
        r |= {"vital": "weight", "value": draw(st.sampled_from([20.0, 35.5, 0.1, 900])),
              "unit": draw(st.sampled_from(["kg"] * 6 + ["KG ", "lb", None]))}
        if draw(st.integers(0, 12)) == 0:
            r["comparator"] = "<"
        return r
    analyte = draw(st.sampled_from(LABS[:2] * 4 + LABS))
    if kind == "loinc":
        r["loinc"] = draw(st.sampled_from(["2276-4", "777-3"] * 4 + ["0000-0"]))
        analyte = analytes.by_loinc().get(r["loinc"], "ferritin")
        if draw(st.booleans()):
            r["analyte"] = draw(st.sampled_from([analyte] * 6 + ["platelets"]))
    else:
        r["analyte"] = "not_an_analyte" if kind == "unknown" else analyte
    units = _units(analyte)
    r["unit"] = draw(st.sampled_from(units[:1] * 2 * len(units) + units))
    if r["unit"] is None:
        del r["unit"]
    lo, hi = analytes.get(analyte).plausible
    r["value"] = draw(st.one_of(st.floats(lo, hi), st.floats(lo, hi), st.floats(lo, hi), st.sampled_from([lo, hi]),
                                st.sampled_from([hi * 1000, max(lo, 1e-9) / 1000, 300]), st.integers(0, 5000)))
    if draw(st.integers(0, 4)) == 0:
        r["comparator"] = draw(st.sampled_from(["<", "<=", ">=", ">"]))
    if draw(st.integers(0, 3)) == 0:
        a, b = sorted(draw(st.lists(st.floats(0, 2 * hi), min_size=2, max_size=2)))
        r["reference_range"] = {k: v for k, v in (("low", a), ("high", b)) if draw(st.booleans())}
    return r


def _observations(records: list[dict]):
    try:
        return validate({"format": "maswatch-timeline/1", "observations": records}).observations
    except InputError:
        return None


def _same_table(a: ObservationTable, b: ObservationTable) -> None:
    assert list(a.series) == list(b.series)
    for key, s in a.series.items():
        r = b.series[key]
        for name in ("t", "value", "comparator", "src", "preliminary", "low", "high"):
            x, y = getattr(s, name), getattr(r, name)
            assert x.dtype == y.dtype, (key, name)
            np.testing.assert_array_equal(x, y, err_msg=f"{key}.{name}")
    assert a.weights == b.weights and a.removed == b.removed and a.replaced == b.replaced
    assert list(a.symptoms) == list(b.symptoms)
    for k in a.symptoms:
        np.testing.assert_array_equal(a.symptoms[k], b.symptoms[k])


def _outcome(build, obs):
    try:
        return build(obs), None
    except InputError as exc:
        return None, (type(exc), exc.field, exc.message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record(), max_size=30))
def test_same_table_or_same_refusal_as_the_per_record_reader(records):
    obs = _observations(records)
    if obs is None:
        return
    want, want_error = _outcome(reference_table.build_table, obs)
    for _ in range(2):  # the second time from the records' remembered facts
        got, got_error = _outcome(build_table, obs)
        assert got_error == want_error
        if want is not None:
            _same_table(got, want)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("timeline_*.json")), ids=lambda p: p.stem)
def test_examples_build_the_same_table(path):
    obs = validate(json.loads(path.read_text("utf-8"))).observations
    _same_table(build_table(obs), reference_table.build_table(obs))


def test_a_long_course_builds_the_same_table():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_assess import synthetic_timeline

    obs = validate(synthetic_timeline(2000)).observations
    _same_table(build_table(obs), reference_table.build_table(obs))


def test_facts_are_taken_once_per_record():
    obs = validate({"observations": [{"id": "x", "time": TIMES[0], "analyte": "ferritin", "value": 500,
                                      "unit": "ug/L"}]}).observations
    first = facts(obs[0])
    assert facts(obs[0]) is first
    build_table(obs)
    assert obs[0].__dict__["_facts"] is first


def test_what_a_record_remembers_changes_neither_equality_nor_a_copy():
    """Pydantic compares private attributes: the facts live in the instance's __dict__ instead, so a
    record that was read into a table equals one that was not; a changed copy is read afresh."""
    (a,), (b,) = (validate({"observations": [{"id": "x", "time": TIMES[0], "analyte": "ferritin", "value": 500,
                                              "unit": "ug/L"}]}).observations for _ in range(2))
    build_table([a])
    assert a == b and hash(a) == hash(b) and a.model_dump() == b.model_dump() and "_facts" not in a.model_dump_json()
    c = a.model_copy(update={"value": 900})
    assert build_table([c]).series["ferritin"].value.tolist() == [900.0]


def test_none_and_the_text_none_are_different_units():
    """The kind of a record is grouped by its text: a unit spelled 'None' is not a missing unit."""
    obs = validate({"observations": [
        {"time": TIMES[0], "analyte": "ferritin", "value": 500, "unit": "ng/mL"},
        {"time": TIMES[1], "analyte": "ferritin", "value": 500, "unit": "None"}]}).observations
    with pytest.raises(InputError) as exc:
        build_table(obs)
    assert exc.value.field == "observations[1].unit" and "'None'" in exc.value.message
