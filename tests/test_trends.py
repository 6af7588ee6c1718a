"""Trend signals: each signal on both sides of its (heuristic) threshold; missing -> unknown."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from maswatch import trends
from maswatch.batch import SnapshotBatch
from maswatch.logic import NO, UNKNOWN, YES


def refs(n, **values):
    out = {c.name: np.full(n, np.nan) for c in trends.REFERENCE_COLUMNS}
    for k, v in values.items():
        out[k] = np.asarray(v, dtype=float)
    return out


def batch(**labs):
    n = len(next(iter(labs.values())))
    return SnapshotBatch.from_columns(n, labs={k: np.asarray(v, dtype=float) for k, v in labs.items()})


def test_reference_columns_contract():
    names = [c.name for c in trends.REFERENCE_COLUMNS]
    assert len(names) == len(set(names))
    by = {c.name: c for c in trends.REFERENCE_COLUMNS}
    assert by["platelets_max_prior_168h"].agg == "max"
    assert by["ferritin_min_prior_168h"].agg == "min"
    assert {c.analyte for c in trends.REFERENCE_COLUMNS} == {
        "platelets", "ferritin", "ast", "ldh", "fibrinogen", "wbc", "neutrophils", "esr", "crp"}


@pytest.mark.parametrize("signal, analyte, ref_name, ref, yes_value, no_value", [
    ("falling_platelets", "platelets", "platelets_max_prior_168h", 300, 210, 211),      # 30% fall
    ("rising_ferritin", "ferritin", "ferritin_min_prior_168h", 1000, 1500, 1499),       # +50%
    ("rising_ast", "ast", "ast_min_prior_168h", 100, 150, 149),                         # +50%
    ("rising_ldh", "ldh", "ldh_min_prior_168h", 400, 600, 599),                         # +50%
    ("falling_fibrinogen", "fibrinogen", "fibrinogen_max_prior_168h", 400, 300, 301),   # -25%
    ("falling_wbc", "wbc", "wbc_max_prior_168h", 10, 7, 7.01),                          # -30%
    ("falling_neutrophils", "neutrophils", "neutrophils_max_prior_168h", 5, 3.5, 3.51),  # -30%
])
def test_single_signals_both_sides(signal, analyte, ref_name, ref, yes_value, no_value):
    b = batch(**{analyte: [yes_value, no_value, np.nan, yes_value]})
    s = trends.signals(b, refs(4, **{ref_name: [ref, ref, ref, np.nan]}))
    assert s[signal].tolist() == [YES, NO, UNKNOWN, UNKNOWN]
    assert s[signal].dtype == np.int8


def test_absolute_minimum_keeps_small_changes_out():
    # AST 20 -> 35 is +75% but only 15 U/L (< 20 U/L minimum): not a signal.
    b = batch(ast=[35, 40])
    s = trends.signals(b, refs(2, ast_min_prior_168h=[20, 20]))
    assert s["rising_ast"].tolist() == [NO, YES]


def test_esr_dissociation_signals():
    b = batch(esr=[30, 30, 60, 30, np.nan], ferritin=[3000, 1000, 3000, np.nan, 3000], crp=[100, 10, 10, 100, 100])
    r = refs(5, esr_max_prior_168h=[60] * 5, ferritin_min_prior_168h=[1000] * 5, crp_min_prior_168h=[10] * 5)
    s = trends.signals(b, r)
    assert s["esr_falling_ferritin_rising"].tolist() == [YES, NO, NO, UNKNOWN, UNKNOWN]
    assert s["esr_falling_crp_rising"].tolist() == [YES, NO, NO, YES, UNKNOWN]


def test_censored_current_value_decides_only_when_bound_allows():
    # ferritin > 40000 vs earlier 1000: certainly risen; platelets < 250 vs 300: maybe.
    b = SnapshotBatch.from_columns(1, labs={"ferritin": np.array([40000.0]), "platelets": np.array([250.0])},
                                   comparators={"ferritin": np.array([4], np.int8), "platelets": np.array([1], np.int8)})
    s = trends.signals(b, refs(1, ferritin_min_prior_168h=[1000], platelets_max_prior_168h=[300]))
    assert s["rising_ferritin"][0] == YES
    assert s["falling_platelets"][0] == UNKNOWN


def test_config_is_configurable_and_labelled():
    cfg = trends.TrendConfig(falling_platelets=trends.ChangeRule(analyte="platelets", direction="falling",
                                                                   relative=0.5, window_hours=72))
    cols = {c.name for c in trends.reference_columns(cfg)}
    assert "platelets_max_prior_72h" in cols
    b = batch(platelets=[200])
    assert trends.signals(b, refs(1, platelets_max_prior_72h=[300]), cfg)["falling_platelets"][0] == NO
    assert all(r.label == trends.HEURISTIC for r in cfg.rules().values())
    assert "not validated" in trends.HEURISTIC
    with pytest.raises(ValueError):
        trends.TrendConfig(falling_platelets=trends.ChangeRule(analyte="ferritin", direction="rising", relative=0.5))
    with pytest.raises(KeyError):
        trends.signals(b, {}, cfg)


def test_evidence_shows_values_behind_signal():
    b = batch(platelets=[150])
    ev = trends.evidence(b, refs(1, platelets_max_prior_168h=[300]), 0)
    p = ev["falling_platelets"]
    assert p["status"] == "yes" and p["heuristic"] == trends.HEURISTIC
    v = p["values"][0]
    assert (v["current"], v["reference"], v["change"], v["change_percent"]) == (150, 300, -150, -50)
    assert "heuristic" in v["threshold"]
    assert ev["rising_ferritin"]["status"] == "unknown"


@settings(max_examples=60, deadline=None)
@given(ref=st.floats(1, 1000), cur=st.floats(0, 1000), rel=st.floats(0, 0.9))
def test_falling_signal_monotone_in_current(ref, cur, rel):
    """A lower current value never turns a met fall into a non-met one."""
    cfg = trends.TrendConfig(falling_platelets=trends.ChangeRule(analyte="platelets", direction="falling", relative=rel))
    r = refs(2, platelets_max_prior_168h=[ref, ref])
    s = trends.signals(batch(platelets=[cur, cur * 0.5]), r, cfg)["falling_platelets"]
    assert s[1] >= s[0]
    assert s[0] != UNKNOWN
