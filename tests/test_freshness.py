"""Freshness: results that age out never lower the level silently (issue 11, item 2).

A patient in an active MAS episode whose labs were not repeated must not read ``none``;
the assessment names the stale results and the overdue labs and says the level was
carried. Fresh results, on the other hand, still lower the level."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from maswatch import alerts, freshness, timeline
from maswatch.cli import app

RECUR = Path(__file__).parents[1] / "examples" / "timeline_sjia_mas_recurrence.json"
T0 = datetime(2024, 5, 1, 8, tzinfo=timezone.utc)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _recur():
    return timeline.parse(json.loads(RECUR.read_text()))


def test_recurrence_example_in_its_active_episode_is_not_none_and_names_stale_and_overdue_labs():
    out = timeline.assess(_recur(), _at("2024-06-05T08:00:00Z")).to_json()
    a = out["assessment"]
    assert a["episode"]["state"] == "active" and a["episode"]["current"] == 2
    assert a["alert_level"] != "none"
    assert a["alert_level"] == "alert"  # the last level reached in episode 2, carried
    f = a["freshness"]
    assert f["level_from_fresh_results"] == "none" and f["level_carried"] is True
    stale = {x["input"]: x for x in f["stale"]}
    assert {"ferritin", "platelets", "fibrinogen", "ast"} <= set(stale)
    assert stale["ferritin"]["last_time"] == "2024-05-27T08:00:00Z" and stale["ferritin"]["age_hours"] == 216
    assert stale["ferritin"]["lookback_hours"] == 72
    overdue = {x["input"] for x in f["overdue"]}
    assert {"ferritin", "platelets", "wbc", "hemoglobin", "neutrophils"} == overdue
    assert "results stale" in f["reason"] and "ferritin" in f["reason"]
    assert a["explanation"][0]["reason"] == "results_stale"
    assert a["reading"]["text"].startswith("ALERT carried, results stale")
    # the history row at the same time says so too
    last = out["history"][-1]
    assert last["alert_level"] == "alert" and last["level_from_fresh_results"] == "none"
    assert "ferritin" in last["stale"] and "ferritin" in last["overdue"]


def test_rows_inside_the_first_episode_do_not_read_none_when_labs_age_out():
    hist = timeline.assess(_recur()).history_json()
    for h in hist:
        if h["episode"] is not None and h["stale"]:
            assert h["alert_level"] != "none", h


def test_every_used_value_carries_its_time_and_age():
    a = timeline.assess(_recur(), _at("2024-05-28T08:00:00Z")).to_json()["assessment"]
    ferritin = next(x for x in a["inputs"] if x["input"] == "ferritin")
    assert ferritin["time"] == "2024-05-27T08:00:00Z" and ferritin["age_hours"] == 24


def test_the_cli_table_shows_the_carried_level_and_names_the_stale_labs():
    r = CliRunner().invoke(app, ["assess", str(RECUR), "--at", "2024-06-05T08:00:00Z"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    head = r.output.splitlines()[1]
    assert "ALERT" in head and "NONE" not in head and "carried: results stale" in head
    assert "Stale (aged out" in r.output and "ferritin 216 h old" in r.output
    assert "Overdue in an active episode" in r.output and "haemoglobin never measured" in r.output


def test_overdue_interval_is_configurable_and_refused_when_wrong():
    r = CliRunner().invoke(app, ["assess", str(RECUR), "--at", "2024-05-28T07:00:00Z", "--json",
                                 "--overdue", "ferritin=12"])
    assert r.exit_code == 0, r.output
    f = json.loads(r.stdout)["assessment"]["freshness"]
    assert {x["input"]: x["due_every_hours"] for x in f["overdue"]}["ferritin"] == 12
    r = CliRunner().invoke(app, ["assess", str(RECUR), "--at", "2024-05-28T07:00:00Z", "--json",
                                 "--overdue", "ferritin=25"])
    f = json.loads(r.stdout)["assessment"]["freshness"]
    assert "ferritin" not in {x["input"] for x in f["overdue"]}  # 23 h old, due every 25 h
    for bad in ("ferritin", "ferritin=0", "nonsense=4", "ferritin=x"):
        r = CliRunner().invoke(app, ["assess", str(RECUR), "--overdue", bad])
        assert r.exit_code == 2 and "--overdue" in r.output and "Traceback" not in r.output


# ---------------------------------------------------------------- a concern outside any episode
def _obs(i, hours, analyte, value, unit):
    return {"id": f"o{i}", "time": (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z"),
            "analyte": analyte, "value": value, "unit": unit}


def _doc(obs, context="sjia"):
    return {"format": "maswatch-timeline/1", "synthetic": True,
            "patient": {"id": "SYN-F", "birth_date": "2015-01-01"},
            "conditions": [{"code": context, "onset": "2020-01-01"}], "observations": obs}


def _trend_case(later=()):
    # platelets falling and ferritin rising (two top-ranked changes): concern, no set met
    obs = [_obs(1, 0, "platelets", 400, "10*9/L"), _obs(2, 0, "ferritin", 300, "ng/mL"),
           _obs(3, 24, "platelets", 200, "10*9/L"), _obs(4, 24, "ferritin", 900, "ng/mL")]
    return timeline.parse(_doc(obs + list(later)))


def test_a_concern_is_carried_while_its_results_are_stale_not_dropped_to_none():
    tl = _trend_case()
    fresh = timeline.assess(tl, T0 + timedelta(hours=24)).to_json()["assessment"]
    assert fresh["alert_level"] == "concern" and not fresh["freshness"]["level_carried"]
    later = timeline.assess(tl, T0 + timedelta(hours=24 + 80)).to_json()["assessment"]
    assert later["freshness"]["level_from_fresh_results"] == "none"
    assert later["alert_level"] == "concern" and later["freshness"]["level_carried"]
    assert later["freshness"]["overdue"] == []  # overdue applies in an active episode only


def test_fresh_normal_results_lower_the_level():
    tl = _trend_case(later=[_obs(5, 100, "platelets", 380, "10*9/L"), _obs(6, 100, "ferritin", 120, "ng/mL")])
    a = timeline.assess(tl, T0 + timedelta(hours=100)).to_json()["assessment"]
    assert a["alert_level"] == "none" and not a["freshness"]["level_carried"]


# ---------------------------------------------------------------- the rule itself
def test_carried_levels_rule_both_sides():
    fresh = np.array([3, 0, 0, 2, 0])
    cf = np.array([3, 3, 0, 2, 2])
    seg = np.zeros(5, np.int64)
    stale = np.array([False, True, True, False, True])
    active = np.array([True, True, True, False, False])
    overdue = np.array([False, False, True, False, False])
    shown, carried = freshness.carried_levels(fresh, cf, seg, stale, active, overdue)
    # row 1: stale in an episode -> carried alert; row 2: counterfactual none but an active episode
    # with stale results -> never below watch; row 4: outside an episode, carried only at >= concern
    assert shown.tolist() == [3, 3, alerts.WATCH, 2, 2]
    assert carried.tolist() == [False, True, True, False, True]
    # never above the highest level already reached in the segment from fresh results
    shown, _ = freshness.carried_levels(np.array([1, 0]), np.array([3, 3]), np.zeros(2, np.int64),
                                        np.array([False, True]), np.array([False, False]), np.zeros(2, bool))
    assert shown.tolist() == [1, 0]  # watch reached; a stale combination is not raised to alert or concern


_hours = st.lists(st.tuples(st.integers(0, 400), st.sampled_from(("platelets", "ferritin", "ast", "fibrinogen",
                                                                    "fever")), st.integers(0, 3)),
                  min_size=1, max_size=18)
_VALUES = {"platelets": (400, 250, 150, 60), "ferritin": (200, 800, 3000, 12000), "ast": (30, 60, 150, 400),
           "fibrinogen": (4.0, 3.0, 2.0, 1.0), "fever": (False, True, True, True)}
_UNITS = {"platelets": "10*9/L", "ferritin": "ng/mL", "ast": "U/L", "fibrinogen": "g/L", "fever": None}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_hours, st.integers(0, 300))
def test_property_levels_only_rise_above_fresh_and_never_none_in_an_active_episode(recs, extra):
    obs = []
    for i, (h, a, k) in enumerate(recs):
        o = {"id": f"o{i}", "time": (T0 + timedelta(hours=h)).isoformat().replace("+00:00", "Z"),
             "analyte" if _UNITS[a] else "finding": a, "value": _VALUES[a][k]}
        if _UNITS[a]:
            o["unit"] = _UNITS[a]
        obs.append(o)
    tl = timeline.parse(_doc(obs))
    at = T0 + timedelta(hours=max(h for h, _, _ in recs) + extra)
    res = timeline.assess(tl, at)
    assert (res.levels >= res.fresh_levels).all()
    reached = freshness.running_max_by_group(res.fresh_levels, res.segment)
    assert (res.levels <= np.maximum(reached, res.fresh_levels)).all()
    # carrying never raises a notification of its own: the notifications are those of the fresh levels
    assert (res.notify == alerts.notify_mask(np.zeros(res.n, np.int8), res.fresh_levels, res.segment)).all()
    a = res.to_json()["assessment"]
    if a["episode"]["state"] == "active" and (a["freshness"]["stale"] or a["freshness"]["overdue"]):
        assert a["alert_level"] != "none"
