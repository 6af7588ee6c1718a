"""Alert levels from instruments, trends and context; de-duplication of notifications."""

import numpy as np
from hypothesis import given, settings, strategies as st

from maswatch import alerts, trends
from maswatch.batch import SnapshotBatch
from maswatch.instruments import evaluate_all
from maswatch.logic import NO, UNKNOWN, YES


def levels_for(batch, sig=None):
    res = evaluate_all(batch)
    sig = sig or {s: np.full(batch.n, UNKNOWN, np.int8) for s in trends.SIGNAL_IDS}
    return alerts.alert_levels(res, sig, batch), res, sig


def test_levels_are_ordered_names():
    assert alerts.LEVELS == ("none", "watch", "concern", "alert")


def test_ravelli_met_in_sjia_is_alert_and_nothing_is_none():
    b = SnapshotBatch.from_columns(
        3,
        labs={"ferritin": np.array([5000.0, np.nan, 5000.0]), "platelets": np.array([100.0, np.nan, 100.0]),
              "ast": np.array([120.0, np.nan, 120.0])},
        findings={"fever": np.array([2, 1, 2], np.int8)},
        context=np.array(["sjia", "unknown", "sle"]),
    )
    lv, res, sig = levels_for(b)
    assert res["ravelli2016"].verdict.tolist() == [YES, UNKNOWN, YES]
    assert lv[0] == alerts.ALERT
    assert lv[1] == alerts.NONE
    # SLE: ravelli not applicable; the jSLE guidelines are open (no clinical item) -> concern, not alert
    assert res["ravelli2016"].applicable[2] == NO
    assert lv[2] == alerts.CONCERN
    why = alerts.explain(res, sig, b, 0)
    assert why[0]["level"] == "alert" and "2016 sJIA-MAS criteria" in why[0]["text"] and why[0]["evidence"] == ["ravelli2016"]


def test_trends_raise_watch_then_concern_and_context_raises():
    # rows: one trend; two consensus trends; sJIA + falling platelets now <= 181; sJIA + fall still
    # within range (PLT 250); SLE + ESR/CRP dissociation only; nothing known
    b = SnapshotBatch.from_columns(
        6, labs={"platelets": np.array([np.nan, np.nan, 150, 250, np.nan, np.nan])},
        context=np.array(["unknown", "unknown", "sjia", "sjia", "sle", "none"]))
    sig = {s: np.full(6, NO, np.int8) for s in trends.SIGNAL_IDS}
    sig["falling_platelets"] = np.array([YES, YES, YES, YES, NO, UNKNOWN], np.int8)
    sig["rising_ferritin"] = np.array([NO, YES, NO, NO, NO, UNKNOWN], np.int8)
    sig["esr_falling_crp_rising"] = np.array([NO, NO, NO, NO, YES, UNKNOWN], np.int8)
    lv, res, _ = levels_for(b, sig)
    assert lv.tolist() == [alerts.WATCH, alerts.CONCERN, alerts.CONCERN, alerts.WATCH, alerts.WATCH, alerts.NONE]
    why = alerts.explain(res, sig, b, 2)
    assert [r["reason"] for r in why] == ["consensus_trend_known_context", "trend"]
    assert "platelets falling" in why[0]["text"] and "known sJIA" in why[0]["text"]
    assert why[0]["evidence"] == ["falling_platelets"]
    assert [r["reason"] for r in alerts.explain(res, sig, b, 1)] == ["consensus_trends", "trend"]


def test_ms_score_and_ferritin_esr_levels():
    # MS score met (sJIA): concern; ferritin:ESR met alone: watch (specificity 78 %)
    b = SnapshotBatch.from_columns(
        2, labs={"ferritin": np.array([20000.0, 5000.0]), "platelets": np.array([60.0, np.nan]),
                 "ldh": np.array([2000.0, np.nan]), "fibrinogen": np.array([120.0, np.nan]),
                 "esr": np.array([np.nan, 20.0])},
        findings={"cns_involvement": np.array([2, 1], np.int8), "hemorrhage": np.array([2, 1], np.int8),
                  "active_arthritis": np.array([0, 1], np.int8), "fever": np.array([0, 0], np.int8)},
        context=np.array(["sjia", "unknown"]))
    lv, res, sig = levels_for(b)
    assert res["ms_score"].verdict[0] == YES and res["ravelli2016"].verdict[0] == NO  # afebrile
    # afebrile: outside the MS score's population, but the 2016 laboratory criteria are met in known sJIA
    assert lv[0] == alerts.CONCERN
    assert [r["reason"] for r in alerts.explain(res, sig, b, 0)][0] == "ravelli_labs_without_fever"
    assert res["ferritin_esr"].verdict[1] == YES and lv[1] == alerts.WATCH


def test_notify_only_when_level_worsens():
    pid = np.array(["a"] * 7 + ["b"] * 2)
    lv = np.array([0, 1, 1, 2, 1, 2, 3, 1, 1])
    assert alerts.notify_mask(pid, lv).tolist() == [False, True, False, True, False, False, True, True, False]


def test_new_episode_restarts_deduplication():
    pid = np.zeros(6, int)
    lv = np.array([3, 3, 0, 1, 3, 3])
    ep = np.array([1, 1, 1, 2, 2, 2])
    assert alerts.notify_mask(pid, lv, ep).tolist() == [True, False, False, True, True, False]
    assert alerts.notify_mask(pid, lv).tolist() == [True, False, False, False, False, False]
    assert alerts.notify_mask(np.array([]), np.array([])).tolist() == []


def test_tests_to_order_from_indeterminate_instruments():
    row = {
        "a": {"verdict": "indeterminate", "applicable": True, "missing": ["labs.ferritin", "findings.fever"]},
        "b": {"verdict": "indeterminate", "applicable": None, "missing": ["labs.ferritin"]},
        "c": {"verdict": "met", "applicable": True, "missing": []},
        "d": {"verdict": "indeterminate", "applicable": False, "missing": ["labs.scd25"]},
    }
    out = alerts.tests_to_order(row)
    assert [t["input"] for t in out] == ["labs.ferritin", "findings.fever"]
    assert out[0]["settles"] == ["a", "b"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 3)), max_size=30))
def test_notify_mask_matches_a_plain_loop(rows):
    rows = sorted(rows, key=lambda r: (r[0], r[1]))  # sorted by patient; episodes non-decreasing
    pid = np.array([r[0] for r in rows], dtype=np.int64)
    ep = np.array([r[1] for r in rows], dtype=np.int64)
    lv = np.array([r[2] for r in rows], dtype=np.int8)
    want, best, key = [], 0, None
    for p, e, level in rows:
        if (p, e) != key:
            key, best = (p, e), 0
        want.append(level > best)
        best = max(best, level)
    assert alerts.notify_mask(pid, lv, ep).tolist() == want


def test_disease_specific_set_open_in_its_known_disease_is_a_concern():
    # febrile, ferritin 5000, nothing else known: the 2016 criteria are open with 2 items met
    b = SnapshotBatch.from_columns(
        3, labs={"ferritin": np.full(3, 5000.0)}, findings={"fever": np.full(3, 2, np.int8)},
        context=np.array(["sjia", "unknown", "other_rheumatic"]))
    lv, res, sig = levels_for(b)
    assert res["ravelli2016"].verdict.tolist() == [UNKNOWN] * 3
    assert lv.tolist() == [alerts.CONCERN, alerts.WATCH, alerts.WATCH]
    assert alerts.explain(res, sig, b, 0)[0]["reason"] == "disease_set_open_known_context"
    why = alerts.explain(res, sig, b, 0)[0]
    assert "2016 sJIA-MAS criteria" in why["text"] and why["evidence"] == ["ravelli2016"]


def test_ms_score_raises_concern_only_where_sjia_or_aosd_is_known():
    # Same MS-score-positive labs (MS = -1.25) in known sJIA, unknown context (e.g. a febrile
    # infection) and SLE: the score separates MAS from active sJIA and says nothing elsewhere.
    labs = {"platelets": np.full(3, 150.0), "ldh": np.full(3, 800.0), "fibrinogen": np.full(3, 200.0),
            "ferritin": np.full(3, 5000.0)}
    findings = {"cns_involvement": np.full(4, NO, np.int8), "hemorrhage": np.full(4, NO, np.int8),
                "active_arthritis": np.full(4, YES, np.int8), "fever": np.array([YES, YES, YES, NO], np.int8)}
    labs = {k: np.full(4, v[0]) for k, v in labs.items()}
    b = SnapshotBatch.from_columns(4, labs=labs, findings=findings,
                                   context=np.array(["sjia", "unknown", "sle", "sjia"]))
    res = evaluate_all(b)
    assert res["ms_score"].verdict.tolist() == [YES] * 4
    masks = alerts.reason_masks(res, {s: np.full(4, UNKNOWN, np.int8) for s in trends.SIGNAL_IDS}, b)
    # known sJIA and febrile only; an afebrile sJIA patient is outside the score's derivation population
    assert masks["ms_score_met"].tolist() == [True, False, False, False]


def test_jsle_guidelines_met_outside_sle_are_not_a_concern():
    # fever > 38, ferritin > 500, AST > 40: the jSLE 2009 guidelines are met in any febrile flare
    b = SnapshotBatch.from_columns(
        2, labs={"temperature": np.full(2, 39.0), "ferritin": np.full(2, 900.0), "ast": np.full(2, 60.0)},
        context=np.array(["sjia", "sle"]))
    res = evaluate_all(b)
    assert res["parodi2009"].verdict.tolist() == [YES, YES]
    sig = {s: np.full(2, UNKNOWN, np.int8) for s in trends.SIGNAL_IDS}
    masks = alerts.reason_masks(res, sig, b)
    assert "core_met_outside_population" not in masks  # outside its population a set never raises the level
    assert masks["core_met"].tolist() == [False, True]
    assert all("parodi2009" not in r["evidence"] for r in alerts.explain(res, sig, b, 0))


def test_explanations_name_instruments_trends_and_context_as_a_clinician_reads_them():
    """The text shows "HLH-2004", "AST rising", "known sJIA" — never an internal id; the ids stay in evidence."""
    import json
    import re
    from pathlib import Path

    from maswatch import batch, timeline, trends
    from maswatch.reading import TITLES

    ex = Path(__file__).resolve().parents[1] / "examples" / "timeline_sjia_mas_recurrence.json"
    out = timeline.assess(timeline.parse(json.loads(ex.read_text()))).to_json()
    rows = [e for h in out["history"] for e in h.get("explanation", [])]
    texts = {e["text"] for e in rows}
    ids = set(TITLES) | set(trends.SIGNAL_IDS) | {c for c in batch.CONTEXTS if "_" in c or c.islower()}
    assert len(texts) >= 5
    for t in texts:
        assert not [i for i in ids if re.search(rf"\b{re.escape(i)}\b", t)], t
    assert any("HLH-2004" in t for t in texts) and any("known sJIA" in t for t in texts)
    assert any("hlh2004" in e["evidence"] for e in rows)
