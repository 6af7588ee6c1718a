"""maswatch.rules: one loader of the clinical rules for the CLI, the monitor and the server."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from maswatch.errors import InputError
from maswatch.rules import DEFAULT_RULES, build_rules, load_rules


def test_defaults_fingerprint_is_stable_and_described():
    assert build_rules({}).fingerprint == DEFAULT_RULES.fingerprint
    assert len(DEFAULT_RULES.fingerprint) == 64
    assert DEFAULT_RULES.describe()[0].startswith("all defaults")


@settings(max_examples=25, deadline=None)
@given(hours=st.floats(min_value=1, max_value=500, allow_nan=False), cut=st.sampled_from(["sjia", "aosd"]))
def test_fingerprint_changes_exactly_when_a_value_changes(hours, cut):
    a = build_rules({"ms_score_cutoff": cut, "lookback": {"ferritin": hours}})
    b = build_rules({"lookback": {"ferritin": hours}, "ms_score_cutoff": cut})  # order does not matter
    assert a.fingerprint == b.fingerprint
    same = hours == 72 and cut == "sjia"
    assert (a.fingerprint == DEFAULT_RULES.fingerprint) == same
    if not same:
        assert any(line.startswith(("lookback_hours.ferritin", "settings.ms_score_cutoff")) for line in a.describe())


@pytest.mark.parametrize("values,field", [
    ({"lookback": {"ferritn": 3}}, "clinical.lookback"),
    ({"lookback": {"ferritin": 0}}, "clinical.lookback"),
    ({"lookback": {"ferritin": "3"}}, "clinical.lookback.ferritin"),
    ({"overdue": {"unknown_lab": 3}}, "clinical.overdue"),
    ({"trends": {"rising_ferritin": {"relative": -1}}}, "clinical.trends.rising_ferritin.relative"),
    ({"trends": {"rising_gossip": {}}}, "clinical.trends.rising_gossip"),
    ({"mh_cutoff": 3}, "clinical.mh_cutoff"),
])
def test_bad_rules_name_the_key(values, field):
    with pytest.raises(InputError) as exc:
        build_rules(values)
    assert exc.value.field == field


def test_cli_form_file_then_options(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('ms_score_cutoff = "aosd"\n[lookback]\nferritin = 48\nplatelets = 24\n')
    r = load_rules(cfg, lookback={"ferritin": 12}, settings={"mh_score_cutoff": 70})
    assert r.lookback.hours["ferritin"] == 12 and r.lookback.hours["platelets"] == 24
    assert r.settings.ms_score_cutoff == "aosd" and r.settings.mh_score_cutoff == 70
    with pytest.raises(InputError) as exc:
        load_rules(None, lookback={"nothing": 1})
    assert exc.value.field == "--lookback"
    trend = tmp_path / "t.toml"
    trend.write_text("[falling_platelets]\nrelative = 0.4\n")
    assert load_rules(None, trend_file=trend).trends.falling_platelets.relative == 0.4
