"""Response from MAS onset: emapalumab-trial normalisation items, ferritin, remission, recurrence."""

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maswatch import analytes
from maswatch.errors import InputError
from maswatch.treatment import LabPoint, ResponseConfig, response_status

UTC = timezone.utc
ONSET = datetime(2024, 5, 1, 8, tzinfo=UTC)


def t(days=0.0, hours=0.0):
    return ONSET + timedelta(days=days, hours=hours)


# Reference ranges as a lab would send them (canonical units).
RANGES = {"wbc": (4.0, 11.0), "platelets": (150.0, 400.0), "ldh": (120.0, 250.0), "alt": (7.0, 40.0),
          "ast": (10.0, 40.0), "fibrinogen": (200.0, 400.0), "ferritin": (15.0, 150.0)}
ACTIVE = {"wbc": 2.1, "platelets": 62, "ldh": 1850, "alt": 320, "ast": 610, "fibrinogen": 95, "ferritin": 42000}
NORMAL = {"wbc": 6.0, "platelets": 240, "ldh": 220, "alt": 30, "ast": 35, "fibrinogen": 260, "ferritin": 900}


def point(a, time, value, comparator=None, ranged=True):
    lo, hi = RANGES[a] if ranged else (None, None)
    return LabPoint(time, value, lo, hi, comparator)


def panel(time, values):
    return {a: [point(a, time, v)] for a, v in values.items()}


def merge(*panels):
    out = {}
    for p in panels:
        for a, pts in p.items():
            out.setdefault(a, []).extend(pts)
    return out


AFEBRILE = [(t(0), True), (t(1), True)] + [(t(d), False) for d in (2, 3, 4, 5, 6, 7)]


def status_of(analyte, value, comparator=None, **kw):
    labs = merge(panel(t(0), ACTIVE), panel(t(5), {**NORMAL, analyte: value}))
    if comparator:
        labs[analyte][-1] = point(analyte, t(5), value, comparator)
    return response_status(ONSET, t(6), labs, AFEBRILE, **kw)


CRIT = {"wbc": "wbc_above_lln", "platelets": "platelets_above_lln", "ldh": "ldh_below_1_5_uln",
        "alt": "alt_below_1_5_uln", "ast": "ast_below_1_5_uln"}


# ---------------------------------------------------------------- both sides of every limit


@pytest.mark.parametrize("analyte, at_limit, inside", [
    ("wbc", 4.0, 4.01), ("platelets", 150, 151),
    ("ldh", 375, 374.9), ("alt", 60, 59.9), ("ast", 60, 59.9),
])
def test_verified_items_are_strict_at_their_limit(analyte, at_limit, inside):
    r = status_of(analyte, at_limit)
    c = r.criteria[CRIT[analyte]]
    assert c.status == "not_met" and c.limit == at_limit and c.evidence == "VERIFIED"
    assert r.complete_lab_response == "not_met"
    r = status_of(analyte, inside)
    assert r.criteria[CRIT[analyte]].status == "met"
    assert r.complete_lab_response == "met"


def test_the_limit_comes_from_each_results_own_reference_range():
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    labs["ldh"][-1] = LabPoint(t(5), 400, 135, 280)           # another lab: ULN 280 -> limit 420
    r = response_status(ONSET, t(6), labs, AFEBRILE)
    c = r.criteria["ldh_below_1_5_uln"]
    assert (c.status, c.limit, c.reference_high, c.reference_source) == ("met", 420, 280, "result")


def test_missing_reference_limit_is_unknown_unless_a_labelled_fallback_is_configured():
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    labs["wbc"][-1] = LabPoint(t(5), 6.0)
    r = response_status(ONSET, t(6), labs, AFEBRILE)
    c = r.criteria["wbc_above_lln"]
    assert c.status == "unknown" and c.limit is None and "not assumed" in c.note
    assert r.complete_lab_response == "unknown"
    cfg = ResponseConfig(fallback_reference_ranges={"wbc": (4.5, 11.0)})
    r = response_status(ONSET, t(6), labs, AFEBRILE, config=cfg)
    c = r.criteria["wbc_above_lln"]
    assert (c.status, c.limit, c.reference_source) == ("met", 4.5, "config fallback")
    assert any("CONFIG FALLBACK" in s and "wbc" in s for s in r.to_json()["unverified_or_proxy"])


def test_fallback_only_for_response_analytes():
    with pytest.raises(ValueError):
        ResponseConfig(fallback_reference_ranges={"crp": (0, 5)})
    with pytest.raises(ValueError):
        ResponseConfig(fallback_reference_ranges={"wbc": (11, 4)})


def test_decimal_uln_times_1_5_is_compared_as_printed():
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    labs["alt"][-1] = LabPoint(t(5), 6.15, 0.5, 4.1)
    c = response_status(ONSET, t(6), labs, AFEBRILE).criteria["alt_below_1_5_uln"]
    assert (c.limit, c.status) == (6.15, "not_met")
    labs["alt"][-1] = LabPoint(t(5), 6.14, 0.5, 4.1)
    assert response_status(ONSET, t(6), labs, AFEBRILE).criteria["alt_below_1_5_uln"].status == "met"


def test_missing_value_is_unknown_and_never_normal():
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    del labs["ast"]
    r = response_status(ONSET, t(6), labs, AFEBRILE)
    assert r.criteria["ast_below_1_5_uln"].status == "unknown"
    assert r.criteria["ast_below_1_5_uln"].note == "no result since onset"
    assert r.complete_lab_response == "unknown" and r.remission == "unknown"
    labs["alt"][-1] = point("alt", t(5), 200)
    assert response_status(ONSET, t(6), labs, AFEBRILE).complete_lab_response == "not_met"


def test_only_results_since_onset_and_up_to_at_are_used():
    labs = merge(panel(t(-3), NORMAL), panel(t(0), ACTIVE), panel(t(8), NORMAL))
    r = response_status(ONSET, t(6), labs, AFEBRILE)
    assert r.criteria["wbc_above_lln"].value == ACTIVE["wbc"]
    assert r.complete_lab_response == "not_met" and r.lab_response_time is None
    r = response_status(t(-2), t(-1), labs)   # pre-onset normal values belong to no later episode
    assert r.criteria["wbc_above_lln"].status == "unknown"


def test_censored_results_meet_a_limit_only_if_every_allowed_value_does():
    assert status_of("ldh", 100, "<").criteria["ldh_below_1_5_uln"].status == "met"
    assert status_of("ldh", 500, ">").criteria["ldh_below_1_5_uln"].status == "not_met"
    assert status_of("wbc", 3.0, ">").criteria["wbc_above_lln"].status == "unknown"
    assert status_of("wbc", 4.0, ">").criteria["wbc_above_lln"].status == "met"


def test_max_result_age_makes_stale_results_unknown():
    labs = merge(panel(t(0), ACTIVE), panel(t(2), NORMAL))
    cfg = ResponseConfig(max_result_age_hours=72)
    assert response_status(ONSET, t(4), labs, AFEBRILE, config=cfg).complete_lab_response == "met"
    r = response_status(ONSET, t(6), labs, AFEBRILE, config=cfg)
    assert r.complete_lab_response == "unknown"


# ---------------------------------------------------------------- ferritin


def ferritin_status(values, **cfg):
    labs = merge(panel(t(0), {**ACTIVE, "ferritin": values[0]}), panel(t(5), NORMAL))
    labs["ferritin"] = [point("ferritin", t(i), v) for i, v in enumerate(values)]
    return response_status(ONSET, t(6), labs, AFEBRILE, config=ResponseConfig(**cfg))


def test_ferritin_peak_and_fall_from_peak():
    r = ferritin_status([20000, 50000, 30000, 10000])
    f = r.ferritin
    assert (f.peak, f.peak_time, f.current, f.fall_from_peak_pct) == (50000, t(1), 10000, 80.0)
    assert r.criteria["ferritin"].evidence == "UNVERIFIED"


def test_ferritin_fall_arm_at_80_percent_both_sides():
    only_fall = {"ferritin_below_ng_ml": None}
    assert ferritin_status([50000, 10000], **only_fall).criteria["ferritin"].status == "met"      # 80.0 %
    assert ferritin_status([50000, 10005], **only_fall).criteria["ferritin"].status == "not_met"  # 79.99 %


def test_ferritin_absolute_arm_at_2000_both_sides():
    only_abs = {"ferritin_fall_from_peak_pct": None}
    assert ferritin_status([3000, 1999], **only_abs).criteria["ferritin"].status == "met"
    assert ferritin_status([3000, 2000], **only_abs).criteria["ferritin"].status == "not_met"
    assert ferritin_status([3000, 2000]).criteria["ferritin"].status == "not_met"  # fall 33 % either
    assert ferritin_status([30000, 2000]).criteria["ferritin"].status == "met"     # fall 93 %


def test_ferritin_can_be_left_out_of_remission():
    r = ferritin_status([3000, 2900], ferritin_fall_from_peak_pct=None, ferritin_below_ng_ml=None)
    assert "ferritin" not in r.criteria and "ferritin" not in r.remission_components
    assert r.remission == "met"


def test_censored_peak_gives_a_fall_range():
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    labs["ferritin"] = [point("ferritin", t(0), 40000, ">"), point("ferritin", t(5), 9000)]
    r = response_status(ONSET, t(6), labs, AFEBRILE, config=ResponseConfig(ferritin_below_ng_ml=None))
    lo, hi = r.ferritin.fall_from_peak_pct_range
    assert lo == 77.5 and hi > 99 and r.ferritin.fall_from_peak_pct is None
    assert r.ferritin.peak_may_be_higher
    assert r.criteria["ferritin"].status == "unknown"


# ---------------------------------------------------------------- clinical proxy


def afebrile_status(fever, at=t(6), **cfg):
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    return response_status(ONSET, at, labs, fever, config=ResponseConfig(**cfg)).criteria["afebrile_proxy"]


def test_afebrile_proxy_both_sides_of_48_hours():
    fever = [(t(0), True), (t(2), False), (t(3), False), (t(3, 23), False)]
    assert afebrile_status(fever, at=t(4)).status == "met"                # run began exactly 48 h before
    assert afebrile_status(fever, at=t(3, 23.9)).status == "unknown"      # 47.9 h documented
    assert afebrile_status(fever + [(t(3, 1), True)], at=t(4)).status == "not_met"
    assert afebrile_status(fever, at=t(4)).evidence == "PROXY"


def test_afebrile_needs_a_recent_observation():
    fever = [(t(0), True), (t(1), False), (t(3), False)]
    assert afebrile_status(fever, at=t(3, 23)).status == "met"
    assert afebrile_status(fever, at=t(4, 1)).status == "unknown"          # last observation > 24 h old
    assert afebrile_status(fever, at=t(4, 1), fever_max_gap_hours=48).status == "met"


def test_without_fever_data_the_proxy_is_unknown_and_so_is_remission():
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    r = response_status(ONSET, t(6), labs, None)
    assert r.criteria["afebrile_proxy"].status == "unknown"
    assert r.complete_lab_response == "met" and r.remission == "unknown"
    r = response_status(ONSET, t(6), labs, None, config=ResponseConfig(afebrile_hours=None))
    assert r.remission == "met" and "afebrile_proxy" not in r.remission_components


# ---------------------------------------------------------------- remission and recurrence


def test_remission_time_is_the_first_time_every_component_was_met():
    labs = merge(panel(t(0), ACTIVE), panel(t(3), {**NORMAL, "ast": 80}), panel(t(4), NORMAL), panel(t(5), NORMAL))
    fever = [(t(0), True), (t(1, 12), False), (t(3), False), (t(4), False), (t(5), False)]
    r = response_status(ONSET, t(6), labs, fever)
    assert r.lab_response_time == t(4) and r.days_to_lab_response == 4.0
    assert r.remission_time == t(4) and r.days_to_remission == 4.0
    # the afebrile run completes at 1.5 d + 48 h = 3.5 d, a time with no result: it is scanned too
    fever2 = [(t(0), True), (t(2, 12), False), (t(3), False), (t(4), False), (t(4, 12), False), (t(5), False)]
    r = response_status(ONSET, t(6), labs, fever2)
    assert r.remission_time == t(4, 12)


def test_remission_then_recurrence_across_two_episodes():
    # Episode 1: onset, treatment, remission by day 6.
    ep1 = merge(panel(t(0), ACTIVE), panel(t(3), {**NORMAL, "ferritin": 15000}), panel(t(6), {**NORMAL, "ferritin": 1200}))
    # Day 40: MAS comes back (second onset at day 40), then a second remission.
    ep2 = merge(panel(t(40), {**ACTIVE, "ferritin": 25000}), panel(t(46), {**NORMAL, "ferritin": 800}))
    labs = merge(ep1, ep2)
    fever = ([(t(0), True), (t(2), False)] + [(t(d), False) for d in range(3, 40)]
             + [(t(40), True), (t(41), True), (t(42), False)] + [(t(d), False) for d in range(43, 48)])

    r = response_status(ONSET, t(10), labs, fever)
    assert r.remission == "met" and r.remission_time == t(6) and r.response_lost == "not_met"

    # Still judged against episode 1's onset, the day-40 results show the response was lost:
    # the signal that restarts the alert logic.
    r = response_status(ONSET, t(40, 6), labs, fever)
    assert r.remission == "not_met" and r.remission_time == t(6) and r.response_lost == "met"
    assert r.criteria["platelets_above_lln"].status == "not_met"
    assert r.criteria["afebrile_proxy"].status == "not_met"

    # Episode 2 from its own onset: its own peak, its own time to remission.
    onset2 = t(40)
    r = response_status(onset2, t(41), labs, fever)
    assert r.remission == "not_met" and r.remission_time is None and r.response_lost is None
    assert r.ferritin.peak == 25000
    r = response_status(onset2, t(47), labs, fever)
    assert r.remission == "met" and r.remission_time == t(46) and r.days_to_remission == 6.0
    assert r.ferritin.fall_from_peak_pct == 96.8


def test_to_json_labels_verified_unverified_and_proxy_items():
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    j = response_status(ONSET, t(6), labs, AFEBRILE).to_json()
    assert j["verified"] == ["WBC > LLN", "Platelets > LLN", "LDH < 1.5 × ULN", "ALT < 1.5 × ULN", "AST < 1.5 × ULN"]
    u = " | ".join(j["unverified_or_proxy"])
    assert "UNVERIFIED: fibrinogen > 100 mg/dL" in u and "UNVERIFIED: Ferritin" in u and "PROXY: afebrile >= 48 h" in u
    assert {c["evidence"] for c in j["criteria"].values()} == {"VERIFIED", "UNVERIFIED", "PROXY"}
    assert j["criteria"]["alt_below_1_5_uln"]["limit"] == 60 and j["criteria"]["alt_below_1_5_uln"]["value_time"]
    assert j["remission"] == "met" and j["days_to_remission"] == 5.0
    assert "NCT05001737" in j["source"]
    json.loads(json.dumps(j))  # plain JSON, no datetimes left


def test_fibrinogen_item_both_sides_and_optional():
    def fib(v, **cfg):
        labs = merge(panel(t(0), ACTIVE), panel(t(5), {**NORMAL, "fibrinogen": v}))
        return response_status(ONSET, t(6), labs, AFEBRILE, config=ResponseConfig(**cfg))
    assert fib(100).criteria["fibrinogen"].status == "not_met" and fib(100).remission == "not_met"
    assert fib(100.1).criteria["fibrinogen"].status == "met"
    r = fib(50, fibrinogen_above_mg_dl=None)
    assert "fibrinogen" not in r.criteria and r.remission == "met"


# ---------------------------------------------------------------- input errors


def test_bad_inputs_are_refused_with_their_field():
    labs = panel(t(0), ACTIVE)
    with pytest.raises(InputError) as e:
        response_status(ONSET, t(1), {"platelet": labs["platelets"]})
    assert e.value.field == "labs.platelet"
    with pytest.raises(InputError) as e:
        response_status(datetime(2024, 5, 1), t(1), labs)
    assert e.value.field == "onset"
    with pytest.raises(InputError) as e:
        response_status(ONSET, t(-1), labs)
    assert e.value.field == "at"
    with pytest.raises(InputError) as e:
        response_status(ONSET, t(1), {"platelets": [LabPoint(t(0), 150000, 150, 400)]})
    assert e.value.field == "labs.platelets[0].value"
    with pytest.raises(InputError) as e:
        response_status(ONSET, t(1), labs, [(t(0), "yes")])
    assert e.value.field == "fever[0].value"
    with pytest.raises(InputError):
        LabPoint(datetime(2024, 5, 1), 5.0)
    with pytest.raises(InputError):
        LabPoint(t(0), math.nan)
    with pytest.raises(InputError):
        LabPoint(t(0), 5.0, 10.0, 4.0)


# ---------------------------------------------------------------- invariants


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(list(CRIT)), st.floats(0.1, 900), st.floats(0.1, 900))
def test_moving_a_value_towards_normal_never_worsens_its_status(analyte, a, b):
    order = {"not_met": 0, "unknown": 1, "met": 2}
    floor = analytes.get(analyte).bounds[0]  # below it a value is refused (docs/clinical/plausibility.md)
    lo, hi = sorted((max(a, floor), max(b, floor)))
    s_lo = status_of(analyte, lo).criteria[CRIT[analyte]].status
    s_hi = status_of(analyte, hi).criteria[CRIT[analyte]].status
    if CRIT[analyte].endswith("lln"):   # higher is better
        assert order[s_hi] >= order[s_lo]
    else:                               # lower is better
        assert order[s_lo] >= order[s_hi]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(1, 100000), min_size=1, max_size=8))
def test_ferritin_fall_is_between_0_and_100_percent(values):
    labs = merge(panel(t(0), ACTIVE), panel(t(5), NORMAL))
    labs["ferritin"] = [point("ferritin", t(i * 0.5), v) for i, v in enumerate(values)]
    f = response_status(ONSET, t(6), labs, AFEBRILE).ferritin
    assert 0 <= f.fall_from_peak_pct <= 100 and f.peak == max(values)
