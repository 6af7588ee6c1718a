"""Timeline parsing, corrections, and evaluation points (docs/evaluation-points.md)."""

from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from maswatch import timeline, trends
from maswatch.batch import CONTEXTS
from maswatch.errors import InputError, UnitError
from maswatch.logic import NO, UNKNOWN, YES
from maswatch.lookback import DEFAULT_LOOKBACK
from maswatch.timeline.observations import to_us
from maswatch.timeline.points import build_points, range_extreme


def obs(id, time, analyte="ferritin", value=1000, unit="ng/mL", **kw):
    return {"id": id, "time": time, "analyte": analyte, "value": value, "unit": unit, **kw}


def doc(observations, **kw):
    return {"format": "maswatch-timeline/1", "synthetic": True, "patient": {"id": "SYN-T", "birth_date": "2015-01-01"},
            "observations": observations, **kw}


def points_for(tl, times=None):
    t = tl.table.times() if times is None else np.array([to_us(x) for x in times], np.int64)
    return build_points(tl.table, t, tl.patient, tl.conditions, DEFAULT_LOOKBACK, trends.REFERENCE_COLUMNS)


def ferritin_at(tl, times=None):
    return points_for(tl, times).batch.lab("ferritin").value()


# ------------------------------------------------------------------ corrections


def test_amended_replaces_earlier_version_wherever_it_appears():
    tl = timeline.parse(doc([
        obs("o1", "2024-05-01T08:00:00Z", value=5400, status="final"),
        obs("o1", "2024-05-01T08:00:00Z", value=5600, status="amended"),
        obs("o1", "2024-05-01T08:00:00Z", value=9999, status="final"),  # later but lower rank
    ]))
    assert ferritin_at(tl).tolist() == [5600]
    assert tl.table.replaced == ["o1"]


def test_last_of_several_corrections_wins():
    tl = timeline.parse(doc([
        obs("o1", "2024-05-01T08:00:00Z", value=100),
        obs("o1", "2024-05-01T08:00:00Z", value=200, status="corrected"),
        obs("o1", "2024-05-01T08:00:00Z", value=300, status="amended"),
    ]))
    assert ferritin_at(tl).tolist() == [300]


def test_entered_in_error_removes_observation_and_its_time():
    tl = timeline.parse(doc([
        obs("o1", "2024-05-01T08:00:00Z", value=900),
        obs("o2", "2024-05-02T08:00:00Z", value=50000),
        {"id": "o2", "status": "entered-in-error"},
    ]))
    assert tl.table.removed == ["o2"]
    assert len(tl.table.times()) == 1  # o2's time is no longer an evaluation time
    assert ferritin_at(tl, [datetime(2024, 5, 2, 8, tzinfo=timezone.utc)]).tolist() == [900]


def test_cancelled_version_removes_even_after_amendment():
    tl = timeline.parse(doc([
        obs("o1", "2024-05-01T08:00:00Z", value=900),
        obs("o1", "2024-05-01T08:00:00Z", value=950, status="amended"),
        obs("o1", "2024-05-01T08:00:00Z", value=950, status="cancelled"),
    ]))
    assert tl.table.series == {}


def test_preliminary_is_used_and_flagged():
    tl = timeline.parse(doc([obs("o1", "2024-05-01T08:00:00Z", value=900, status="preliminary"),
                             obs("o2", "2024-05-03T08:00:00Z", analyte="ast", value=30, unit="U/L")]))
    p = points_for(tl)
    assert p.batch.lab("ferritin").value()[0] == 900
    assert p.preliminary.tolist() == [True, True]  # ferritin still inside its 72 h window on 3 May
    a = timeline.assess(tl)
    assert a.to_json()["history"][0]["uses_preliminary"] is True
    assert any(i["preliminary"] for i in a.to_json()["assessment"]["inputs"])


def test_bad_unit_of_a_removed_version_is_not_an_error_but_of_a_used_one_is():
    timeline.parse(doc([obs("o1", "2024-05-01T08:00:00Z", unit="pints"), {"id": "o1", "status": "entered-in-error"}]))
    with pytest.raises(UnitError) as e:
        timeline.parse(doc([obs("o0", "2024-05-01T07:00:00Z"), obs("o1", "2024-05-01T08:00:00Z", unit="pints")]))
    assert e.value.field == "observations[1].unit" and "'o1'" in e.value.message
    assert "Accepted units" in e.value.message


# ------------------------------------------------------------------ strict parsing


@pytest.mark.parametrize("bad, field, words", [
    ({"time": "2024-05-01T08:00:00"}, "observations[0].time", "UTC offset"),
    ({"unti": "ng/mL"}, "observations[0].unti", "not a field"),
    ({"analyte": "ferritn"}, "observations[0].analyte", "unknown analyte"),
    ({"status": "final-ish"}, "observations[0].status", "final"),
    ({"value": True}, "observations[0]", "number"),
    ({"value": 10**9}, "observations[0].value", "implausible"),
])
def test_errors_name_index_id_and_field(bad, field, words):
    o = {**obs("x9", "2024-05-01T08:00:00Z"), **bad}
    with pytest.raises(InputError) as e:
        timeline.parse(doc([o]))
    assert e.value.field == field
    assert words in e.value.message
    assert "x9" in e.value.message


def test_loinc_and_findings_and_weight():
    tl = timeline.parse(doc([
        {"id": "p", "time": "2024-05-01T08:00:00+02:00", "loinc": "777-3", "value": 132, "unit": "10*9/L"},
        {"id": "f", "time": "2024-05-01T06:00:00Z", "finding": "fever", "value": True},
        {"id": "w", "time": "2024-05-01T06:00:00Z", "vital": "weight", "value": 28.5, "unit": "kg"},
    ]))
    p = points_for(tl)
    assert p.batch.lab("platelets").value().tolist() == [132]  # 08:00+02:00 == 06:00Z: one time
    assert p.batch.finding("fever").tolist() == [YES]
    assert tl.table.weights[0][1] == 28.5 and len(p.times) == 1  # weight is not an evaluation time
    with pytest.raises(InputError, match="true or false"):
        timeline.parse(doc([{"id": "f", "time": "2024-05-01T06:00:00Z", "finding": "fever", "value": 1}]))
    with pytest.raises(InputError, match="kg"):
        timeline.parse(doc([{"id": "w", "time": "2024-05-01T06:00:00Z", "vital": "weight", "value": 28, "unit": "lb"}]))


def test_medication_errors_come_from_the_treatment_contract():
    with pytest.raises(InputError) as e:
        timeline.parse(doc([], medications=[{"id": "m", "drug": "anakinra", "start": "2024-05-01T00:00:00Z",
                                             "dose": {"value": 2, "unit": "mg/m2"}}]))
    assert e.value.field == "medications[0].dose.unit"


# ------------------------------------------------------------------ windows, ties, context, age


def test_window_edges_are_inclusive_at_both_ends():
    # ferritin window is 72 h: a value exactly 72 h old is used, 72 h + 1 s is not.
    tl = timeline.parse(doc([obs("o1", "2024-05-01T08:00:00Z", value=900),
                             obs("a", "2024-05-04T08:00:00Z", analyte="ast", value=30, unit="U/L"),
                             obs("b", "2024-05-04T08:00:01Z", analyte="ast", value=30, unit="U/L")]))
    v = points_for(tl).batch.lab("ferritin").value()
    assert v[0] == 900 and v[1] == 900 and np.isnan(v[2])


def test_ties_at_same_time_broken_by_greatest_id():
    tl = timeline.parse(doc([obs("b", "2024-05-01T08:00:00Z", value=2000), obs("a", "2024-05-01T08:00:00Z", value=1000)]))
    assert ferritin_at(tl).tolist() == [2000]


def test_context_follows_latest_rheumatic_onset_and_age_from_birth_date():
    tl = timeline.parse(doc(
        [obs("1", "2023-06-01T00:00:00Z"), obs("2", "2024-01-01T00:00:00Z"), obs("3", "2024-07-01T00:00:00Z")],
        conditions=[{"code": "infection", "onset": "2023-01-01"}, {"code": "sjia", "onset": "2023-09-01"},
                    {"code": "sle", "onset": "2024-06-01T00:00:00Z"}]))
    p = points_for(tl)
    assert [CONTEXTS[c] for c in p.batch.context] == ["unknown", "sjia", "sle"]
    assert p.batch.age.lo[0] == pytest.approx((to_us_dt("2023-06-01") - to_us_dt("2015-01-01")) / 86400e6 / 365.25)
    assert p.batch.flag("known_immunosuppression").tolist() == [UNKNOWN] * 3


def to_us_dt(d):
    from datetime import datetime, timezone
    return to_us(datetime.fromisoformat(d).replace(tzinfo=timezone.utc))


def test_observation_before_birth_is_refused():
    tl = timeline.parse(doc([obs("1", "2014-01-01T00:00:00Z")]))
    with pytest.raises(InputError, match="before the patient's birth"):
        timeline.assess(tl)


def test_trend_reference_is_strictly_before_t_and_within_window():
    tl = timeline.parse(doc([
        obs("p0", "2024-04-20T08:00:00Z", analyte="platelets", value=500, unit="10*9/L"),
        obs("p1", "2024-04-25T08:00:00Z", analyte="platelets", value=300, unit="10*9/L"),
        obs("p2", "2024-04-28T08:00:00Z", analyte="platelets", value=250, unit="10*9/L"),
        obs("p3", "2024-04-29T08:00:00Z", analyte="platelets", value=150, unit="10*9/L"),
    ]))
    p = points_for(tl)
    ref = p.reference["platelets_max_prior_168h"]
    assert np.isnan(ref[0]) and ref[1] == 500 and ref[2] == 300 and ref[3] == 300
    sig = trends.signals(p.batch, p.reference)["falling_platelets"]
    # 300 vs 500: -40 %; 250 vs 300: -17 %; 150 vs 300: -50 % (500 is 9 days old by then)
    assert sig.tolist() == [UNKNOWN, YES, NO, YES]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=40), st.data())
def test_range_extreme_matches_brute_force(values, data):
    v = np.array(values, dtype=float)
    n = len(v)
    m = data.draw(st.integers(1, 10))
    lo = np.array([data.draw(st.integers(0, n)) for _ in range(m)], np.int64)
    hi = np.array([data.draw(st.integers(int(a), n)) for a in lo], np.int64)
    for agg, fn in (("max", np.max), ("min", np.min)):
        got = range_extreme(v, lo, hi, agg)
        want = [fn(v[a:b]) if b > a else np.nan for a, b in zip(lo, hi)]
        np.testing.assert_array_equal(got, np.array(want, dtype=float))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.sampled_from("abc"), st.integers(1, 5000)), min_size=1, max_size=25),
       st.integers(1, 100))
def test_value_at_t_matches_brute_force(rows, window_h):
    """Latest valid value in [t - window, t], ties by greatest id (evaluation-points.md §3)."""
    from datetime import timedelta
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    seen, observations = set(), []
    for h, oid, v in rows:
        if (h, oid) in seen:
            continue
        seen.add((h, oid))
        observations.append(obs(f"{oid}{h}", (t0 + timedelta(hours=h)).isoformat(), value=v))
    tl = timeline.parse(doc(observations))
    lb = DEFAULT_LOOKBACK.with_overrides({"ferritin": window_h})
    times = tl.table.times()
    got = build_points(tl.table, times, tl.patient, [], lb, ()).batch.lab("ferritin").value()
    for t_us, g in zip(times.tolist(), got.tolist()):
        t = t0 + timedelta(microseconds=t_us - to_us(t0))
        cands = [(o["time"], o["id"], o["value"]) for o in observations
                 if t - timedelta(hours=window_h) <= datetime.fromisoformat(o["time"]) <= t]
        cands.sort(key=lambda c: (datetime.fromisoformat(c[0]), c[1]))
        assert g == cands[-1][2]
