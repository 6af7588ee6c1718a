"""The family diary's pure part: tier rules, parent-readable refusals, entry -> timeline, the
family red flag in the alert logic, and the guide's text (readability, sources, catalogues)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from maswatch import timeline
from maswatch.diary import guide
from maswatch.diary.entries import DiaryInputError, parse_entry, retractions, to_celsius, to_observations
from maswatch.diary.signs import SIGN_IDS
from maswatch.diary.tiers import NO_TIER, TIERS, advise, rules
from maswatch.errors import InputError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
RANK = {t: i for i, t in enumerate(reversed((*TIERS,)))} | {NO_TIER: -1}


def form(**kw) -> dict:
    return {"time": "2026-03-01T11:00", "tz_offset": "+00:00", **kw}


# ---------------------------------------------------------------- tier rules

@pytest.mark.parametrize("sign, tier", [("seizure", "emergency"), ("hard_to_wake", "emergency"),
                                        ("confused", "emergency"), ("bleeding", "emergency"),
                                        ("listless", "call_team"), ("not_eating", "call_team"),
                                        ("bruising", "call_team"), ("rash", "call_team"),
                                        ("yellow_skin", "call_team")])
def test_each_sign_gets_its_tier(sign, tier):
    a = advise({sign}, None)
    assert (a.tier, a.because) == (tier, (sign,))
    assert a.sources


def test_seizure_with_fever_is_emergency_and_names_both():
    a = advise({"seizure", "listless"}, 39.8)
    assert a.tier == "emergency" and a.because == ("seizure",)


def test_every_sign_has_a_rule_with_sources():
    r = rules()
    assert set(r.signs) == set(SIGN_IDS)
    assert all(rule.sources for rule in r.signs.values())


@pytest.mark.parametrize("temp, unit, tier", [
    ("38.4", "C", NO_TIER), ("38.5", "C", "call_team"),            # the fever cut-off, both sides
    ("101.1", "F", NO_TIER), ("101.3", "F", "call_team"),          # 101.3 °F is exactly 38.5 °C
    ("39.8", "C", "call_team"), ("103.64", "F", "call_team"),
])
def test_fever_cut_off_both_sides_in_both_units(temp, unit, tier):
    e = parse_entry(form(temperature=temp, unit=unit), NOW)
    assert advise(e.signs, e.temperature_c).tier == tier


def test_fahrenheit_converted_exactly():
    assert to_celsius(101.3, "F") == 38.5
    assert to_celsius(103.64, "F") == 39.8
    assert parse_entry(form(temperature="39,8", unit="C"), NOW).temperature_c == 39.8  # decimal comma


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=340, max_value=430))
def test_unit_invariance(tenths):
    c = Decimal(tenths) / 10
    f = c * Decimal("1.8") + 32
    ec = parse_entry(form(temperature=str(c), unit="C"), NOW)
    ef = parse_entry(form(temperature=str(f), unit="F"), NOW)
    assert ec.temperature_c == ef.temperature_c == float(c)
    assert advise(set(), ec.temperature_c) == advise(set(), ef.temperature_c)


@settings(max_examples=80, deadline=None)
@given(st.sets(st.sampled_from(SIGN_IDS)), st.sets(st.sampled_from(SIGN_IDS)),
       st.one_of(st.none(), st.floats(34, 43)))
def test_more_signs_never_lower_the_tier(a, b, temp):
    assert RANK[advise(a | b, temp).tier] >= RANK[advise(a, temp).tier]


# ---------------------------------------------------------------- refusals a parent understands

@pytest.mark.parametrize("fields, field, words", [
    ({"temperature": "3900", "unit": "C"}, "temperature", "not a body temperature"),
    ({"temperature": "98.6", "unit": "C"}, "temperature", "Did you mean °F?"),
    ({"temperature": "39.8"}, "unit", "choose °C or °F"),
    ({"temperature": "hot", "unit": "C"}, "temperature", "like 38.5"),
    ({}, "entry", "enter a temperature or tick at least one box"),
    ({"signs": ["seizure"], "time": "2026-03-01T12:30"}, "time", "in the future"),
    ({"signs": ["seizure"], "time": "2026-01-01T12:00"}, "time", "more than 30 days ago"),
    ({"signs": ["seizure"], "time": ""}, "time", "enter the date and time"),
    ({"signs": ["seizure"], "tz_offset": "Europe/Paris"}, "tz_offset", "time zone"),
    ({"signs": ["not_a_sign"]}, "signs", "reload the page"),
    ({"other_text": "x" * 501}, "other_text", "under 500"),
])
def test_bad_input_refused_with_a_parent_message(fields, field, words):
    with pytest.raises(DiaryInputError) as exc:
        parse_entry(form(**fields), NOW)
    assert exc.value.field == field and words in exc.value.message
    assert "Error" not in exc.value.message and "Traceback" not in exc.value.message


def test_local_time_keeps_its_offset_and_the_edge_of_now():
    e = parse_entry(form(signs=["rash"], time="2026-03-01T13:04", tz_offset="+01:00"), NOW)
    assert e.time.utcoffset() == timedelta(hours=1) and e.time.astimezone(timezone.utc) == NOW + timedelta(minutes=4)
    with pytest.raises(DiaryInputError):
        parse_entry(form(signs=["rash"], time="2026-03-01T13:06", tz_offset="+01:00"), NOW)


def test_free_text_ticks_other_worry():
    e = parse_entry(form(other_text="she says her head hurts"), NOW)
    assert e.signs == {"other_worry"} and advise(e.signs, None).tier == "call_team"


# ---------------------------------------------------------------- entry -> timeline -> alert logic

def doc(observations):
    return {"format": "maswatch-timeline/1", "synthetic": True, "patient": {"id": "SYN-F1", "birth_date": "2016-05-01"},
            "conditions": [{"code": "sjia"}], "observations": observations}


def assessed(observations, at=None):
    return timeline.assess(timeline.parse(doc(observations)), at).to_json()


def reasons(out):
    return {r["reason"]: r for r in out["assessment"]["explanation"]}


def test_entry_becomes_family_reported_observations():
    e = parse_entry(form(temperature="103.64", unit="F", signs=["listless", "rash"], other_text="not herself"), NOW)
    obs = to_observations(e, "7")
    assert [o.get("vital") or o.get("symptom") for o in obs] == ["temperature", "listless", "rash", "other_worry"]
    assert all(o["reporter"] == "family" for o in obs)
    assert obs[0]["unit"] == "[degF]" and obs[0]["value"] == 103.64  # kept as the family read it
    assert obs[-1]["note"] == "not herself"
    tl = timeline.parse(doc(obs))
    assert tl.table.series["temperature"].value.tolist() == [39.8]  # converted by the registry
    assert set(tl.table.symptoms) == {"listless", "rash", "other_worry"}


def test_family_signs_raise_concern_with_their_own_reason():
    e = parse_entry(form(temperature="39.8", unit="C", signs=["listless"]), NOW)
    out = assessed(to_observations(e, "1"))
    r = reasons(out)
    assert out["assessment"]["alert_level"] == "concern"
    assert r["family_red_flag"]["level"] == "concern" and r["family_red_flag"]["evidence"] == ["listless"]


def test_a_family_temperature_is_a_temperature_not_a_red_flag():
    e = parse_entry(form(temperature="39.8", unit="C"), NOW)
    out = assessed(to_observations(e, "1"))
    assert "family_red_flag" not in reasons(out)
    fever = [i for i in out["assessment"]["instruments"]["hlh2004"]["items"] if i["id"] == "fever"]
    assert fever[0]["status"] == "met"  # a family-recorded fever is a fever (HLH-2004 reads the temperature)
    assert out["assessment"]["inputs"][0]["id"] == "family-1-temperature"


def test_red_flag_window_both_sides():
    e = parse_entry(form(signs=["seizure"], time="2026-03-01T11:00"), NOW)
    obs = to_observations(e, "1")
    inside = assessed(obs, datetime(2026, 3, 2, 10, 59, tzinfo=timezone.utc))
    outside = assessed(obs, datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc))
    assert "family_red_flag" in reasons(inside)
    assert "family_red_flag" not in reasons(outside)
    # the explanation says when the sign was reported, and how long before the reading
    assert reasons(inside)["family_red_flag"]["text"].startswith(
        "reported by the family at home: seizure (reported 2026-03-01T11:00:00Z, 23 h 59 min before)")
    assert reasons(assessed(obs))["family_red_flag"]["text"].startswith(  # read at the report's own time
        "reported by the family at home: seizure (reported 2026-03-01T11:00:00Z) (home diary")


def test_a_retracted_entry_no_longer_counts():
    e = parse_entry(form(signs=["seizure"]), NOW)
    obs = to_observations(e, "1")
    out = assessed(obs + retractions([o["id"] for o in obs]) + [
        {"id": "p1", "time": "2026-03-01T11:30:00Z", "analyte": "platelets", "value": 250, "unit": "10*9/L"}])
    assert "family_red_flag" not in reasons(out)
    assert out["corrections"]["removed"] == ["family-1-seizure"]
    assert out["assessment"]["alert_level"] == "none"


def test_timeline_refuses_malformed_symptoms():
    base = {"id": "s", "time": "2026-03-01T11:00:00Z", "symptom": "seizure", "value": True}
    with pytest.raises(InputError, match="reporter"):
        timeline.parse(doc([base]))
    with pytest.raises(InputError, match="true or false"):
        timeline.parse(doc([{**base, "reporter": "family", "value": 1}]))
    with pytest.raises(InputError, match="only one of"):
        timeline.parse(doc([{**base, "reporter": "family", "finding": "fever"}]))


# ---------------------------------------------------------------- the guide

def _fk_grade(text: str) -> float:
    """Flesch-Kincaid grade (textstat) with Pyphen syllable counts: textstat's CMU dictionary is
    downloaded from the network at first use, which tests never do."""
    import textstat
    import textstat.backend.counts._count_syllables as cs

    original = cs.get_cmudict
    cs.get_cmudict = lambda lang: None  # textstat's own fallback: Pyphen
    try:
        return textstat.flesch_kincaid_grade(text)
    finally:
        cs.get_cmudict = original


def test_guide_readability_grade_at_most_7():
    text = guide.guide_text(guide.Messages("en"))
    grade = _fk_grade(text)
    print(f"family guide Flesch-Kincaid grade {grade:.1f}")
    assert 0 < grade <= 7


def test_readability_test_can_fail():
    hard = ("Macrophage activation syndrome constitutes a potentially life-threatening hyperinflammatory "
            "complication characterised by uncontrolled proliferation of histiocytes and cytokine dysregulation.")
    assert _fk_grade(hard) > 7


def test_every_guide_statement_has_sources_and_text():
    m = guide.Messages("en")
    view = guide.guide_view(m, "911")
    assert view["sections"][1]["title"].startswith("Call 911")
    statements = [it for sec in view["sections"] for it in sec["items"]]
    assert statements and all(it["sources"] and it["text"] for it in statements)
    assert {s["id"] for s in view["sources"]} >= {"aboutkidshealth_mas", "tcz_modifies_2020"}
    il = [it for it in statements if it["key"].startswith("guide.medicines")]
    assert il and not any(it["verified"] for it in il)  # IL-1 / IL-6 fever masking stays UNVERIFIED
    tiers = {sec["tier"] for sec in view["sections"]}
    assert {"emergency", "call_team", "next_visit"} <= tiers


def test_every_sign_and_message_is_in_the_english_catalogue():
    m = guide.Messages("en")
    for s in SIGN_IDS:
        assert m(f"sign.{s}")
    for key in ("advice.emergency", "advice.call_team", "advice.keep_watching", "refused.revoked"):
        assert m(key, emergency="112")
    with pytest.raises(KeyError):
        m("no.such.message")


def test_locale_choice_and_fallback():
    assert guide.choose_locale("xx", "fr-CA,fr;q=0.8") == "en"
    assert guide.choose_locale(None, "en-GB") == "en"
    assert guide.locales()["en"]["reviewed"] is True


# ---------------------------------------------------------------- invariance on generated patients

from maswatch import synth  # noqa: E402

_COHORT = synth.cohort(3, 11, timelines=True)["timelines"]  # SYNTHETIC


@settings(max_examples=6, deadline=None)
@given(st.integers(0, len(_COHORT) - 1), st.lists(st.sampled_from(SIGN_IDS), min_size=1, max_size=3),
       st.floats(0.0, 1.0))
def test_family_signs_never_change_an_instrument_and_never_lower_a_level(k, signs, where):
    doc_ = _COHORT[k]
    times = sorted(o["time"] for o in doc_["observations"] if o.get("time"))
    t = times[int(where * (len(times) - 1))]
    extra = [{"id": f"family-x-{i}", "time": t, "symptom": s, "value": True, "reporter": "family"}
             for i, s in enumerate(signs)]
    base = timeline.assess(timeline.parse(doc_)).to_json()
    withf = timeline.assess(timeline.parse({**doc_, "observations": doc_["observations"] + extra})).to_json()
    rows = {h["time"]: h for h in withf["history"]}
    rank = {"none": 0, "watch": 1, "concern": 2, "alert": 3}
    for h in base["history"]:
        w = rows[h["time"]]
        assert h["verdicts"] and (h["verdicts"], h["scores"]) == (w["verdicts"], w["scores"])
        assert rank[w["alert_level"]] >= rank[h["alert_level"]]
    assert rank[rows[t]["alert_level"]] >= rank["concern"]  # the reported signs themselves raise concern
