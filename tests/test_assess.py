"""Assessment over time: first-met times, peaks, alert de-duplication, episodes and recurrence,
treatment integration, and --at semantics (on a SYNTHETIC course in examples/)."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from maswatch import timeline
from maswatch.treatment import glucocorticoid_exposure

EXAMPLES = Path(__file__).parent.parent / "examples"
RECUR = EXAMPLES / "timeline_sjia_mas_recurrence.json"


def utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def course():
    tl = timeline.load(RECUR)
    return tl, timeline.assess(tl).to_json()


def test_first_met_times_and_peaks(course):
    _, j = course
    assert j["first_met"]["ravelli2016"] == "2024-05-03T08:00:00Z"  # ferritin 7400, PLT 140, AST 160, febrile
    assert j["first_met"]["hlh2004"] is None
    assert j["first_indeterminate"]["ravelli2016"] == "2024-05-01T07:00:00Z"  # fever only: labs unknown
    peak = j["peak_scores"]["hscore"]
    assert peak["time"] == "2024-05-05T08:00:00Z"  # the sickest panel (ferritin 15800, PLT 90)
    assert peak["highest_certain"] <= peak["highest_possible"]
    assert j["peak_scores"]["hlh2004"]["unit"] == "criteria of 8"


def test_alert_repeats_only_when_level_worsens_and_restarts_after_remission(course):
    _, j = course
    notified = [(h["time"], h["alert_level"]) for h in j["history"] if h["notify"]]
    assert notified == [
        ("2024-05-01T08:00:00Z", "watch"),     # febrile, HLH-2004 open with fever + ferritin >= 500
        ("2024-05-02T08:00:00Z", "concern"),   # platelets falling and ferritin rising (consensus)
        ("2024-05-03T08:00:00Z", "alert"),     # 2016 criteria met: episode 1
        ("2024-05-27T08:00:00Z", "alert"),     # recurrence after remission: notified again
    ]
    for h in j["history"]:
        assert ("explanation" in h) == h["notify"]  # each notification says why and what to order
    first_alert = [h for h in j["history"] if h["notify"] and h["alert_level"] == "alert"][0]
    assert first_alert["explanation"][0]["reason"] == "core_met"
    assert "labs.hemoglobin" in first_alert["tests_to_order"]
    # the alert persists on 5 May but is not repeated
    may5 = [h for h in j["history"] if h["time"] == "2024-05-05T08:00:00Z"][0]
    assert may5["alert_level"] == "alert" and may5["notify"] is False


def test_episodes_remission_and_recurrence(course):
    _, j = course
    ep = j["assessment"]["episode"]
    assert [e["number"] for e in ep["episodes"]] == [1, 2]
    assert ep["episodes"][0]["onset"] == "2024-05-03T08:00:00Z"
    assert ep["episodes"][0]["remission"] is not None
    assert utc(ep["episodes"][0]["remission"]) < utc(ep["episodes"][1]["onset"])
    assert ep["current"] == 2 and ep["recurrence"] is True and ep["state"] == "active"
    by_time = {h["time"]: h for h in j["history"]}
    assert by_time["2024-05-05T08:00:00Z"]["episode"] == 1
    assert by_time["2024-05-20T08:00:00Z"]["episode"] is None  # between remission and recurrence
    assert j["assessment"]["response"]["onset"].startswith("2024-05-27T08:00:00")


def test_remission_is_reported_for_the_episode_in_progress():
    tl = timeline.load(RECUR)
    j = timeline.assess(tl, utc("2024-05-12T08:00:00Z")).to_json()
    ep = j["assessment"]["episode"]
    assert ep["state"] == "in remission" and ep["current"] is None
    assert j["assessment"]["response"]["episode"] == 1 and j["assessment"]["response"]["remission"] == "met"
    assert len(ep["episodes"]) == 1 and ep["episodes"][0]["remission"] is not None
    j2 = timeline.assess(tl, utc("2024-05-05T08:00:00Z")).to_json()
    assert j2["assessment"]["episode"]["state"] == "active"
    assert j2["assessment"]["response"]["remission"] != "met"


def test_treatment_integration_matches_the_exposure_computation(course):
    tl, j = course
    tr = j["assessment"]["treatment"]
    want = glucocorticoid_exposure(tl.medications, tl.table.weights, utc(j["at"])).to_json()
    assert tr["glucocorticoids"]["cumulative_mg"] == want["cumulative_mg"]
    # 3 pulses of 30 mg/kg methylprednisolone at 32 kg are part of it
    assert tr["glucocorticoids"]["cumulative_mg"] > 3 * 30 * 32
    assert [m["drug"] for m in tr["active"]] == ["anakinra"]


def test_at_is_a_prefix_of_the_history_and_an_extra_point_when_not_a_result_time(course):
    tl, full = course
    j = timeline.assess(tl, utc("2024-05-10T00:00:00Z")).to_json()
    hist = j["history"]
    assert hist[-1]["time"] == "2024-05-10T00:00:00Z" and hist[-1]["result_time"] is False
    assert hist[:-1] == [h for h in full["history"] if utc(h["time"]) < utc("2024-05-09T09:00:00Z")]
    # the snapshot at 'at' keeps only values inside their look-back windows
    assert "fibrinogen" in hist[-1]["labs"] and j["assessment"]["instruments"]["ravelli2016"]["verdict"] == "not_met"


def test_at_before_any_result_gives_an_empty_snapshot():
    tl = timeline.load(RECUR)
    j = timeline.assess(tl, utc("2024-04-01T00:00:00Z")).to_json()
    assert len(j["history"]) == 1 and j["assessment"]["alert_level"] == "none"
    assert j["history"][0]["labs"] == {}
    assert j["assessment"]["tests_to_order"]  # everything is missing: tell what to order


def test_output_shape_labels_and_settings(course):
    _, j = course
    assert j["synthetic"] is True and "SYNTHETIC" in j["label"]
    assert set(j) >= {"patient", "synthetic", "at", "assessment", "history", "first_met", "first_indeterminate",
                      "peak_scores", "settings"}
    a = j["assessment"]
    assert set(a) >= {"alert_level", "explanation", "instruments", "differential", "trends", "tests_to_order",
                      "treatment", "response", "episode"}
    assert set(a["differential"]) == {"ms_score", "ferritin_esr", "mh_score"}
    assert all(r["population"] for r in a["differential"].values())
    assert j["settings"]["trends"]["label"] == "heuristic — not validated"
    assert all(r["label"] == "heuristic — not validated" for r in j["settings"]["trends"]["rules"].values())
    assert j["settings"]["lookback_hours"]["values"]["ferritin"] == 72
    json.dumps(j)  # JSON-able


def test_falling_trends_show_in_assessment():
    tl = timeline.load(RECUR)
    j = timeline.assess(tl, utc("2024-05-03T08:00:00Z")).to_json()
    t = j["assessment"]["trends"]
    assert t["falling_platelets"]["status"] == "yes"   # 140 vs 320 (-56 %)
    assert t["rising_ferritin"]["status"] == "yes"
    assert t["rising_ast"]["status"] == "yes"
    assert t["falling_fibrinogen"]["status"] == "yes"  # 250 vs 420 mg/dL (-40 %)
    v = t["falling_platelets"]["values"][0]
    assert (v["current"], v["reference"]) == (140, 320)
