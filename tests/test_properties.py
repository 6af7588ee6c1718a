"""Invariants (Hypothesis): unit invariance, monotonicity, missing-data bounds, scalar = array."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from maswatch import analytes, snapshot
from maswatch.evaluate import evaluate_one
from maswatch.instruments import evaluate_all

RANGES = {  # canonical units; wide enough to cross every cut-off
    "ferritin": (10, 60000), "platelets": (5, 800), "wbc": (0.3, 40), "neutrophils": (0.1, 25),
    "hemoglobin": (4, 17), "ast": (5, 3000), "alt": (5, 3000), "ldh": (100, 6000),
    "triglycerides": (0.3, 10), "fibrinogen": (40, 900), "esr": (0, 140), "crp": (0.5, 400),
    "scd25": (200, 30000), "d_dimer": (100, 50000), "il18": (100, 200000), "cxcl9": (50, 50000),
}
FINDINGS = ("fever", "hepatomegaly", "splenomegaly", "cns_involvement", "hemorrhage", "active_arthritis",
            "marrow_hemophagocytosis", "tissue_hemophagocytosis", "nk_activity_low")
CONTEXTS = ("sjia", "aosd", "sle", "other_rheumatic", "none", "unknown")
DECIMALS = {"triglycerides": 2, "hemoglobin": 1, "wbc": 1, "neutrophils": 2, "crp": 1}


@st.composite
def canonical_snapshots(draw, missing=True):
    labs = {}
    for k, (lo, hi) in RANGES.items():
        if missing and draw(st.booleans()) and draw(st.booleans()):
            continue
        v = round(draw(st.floats(lo, hi)), DECIMALS.get(k, 0))
        labs[k] = {"value": v, "unit": analytes.get(k).canonical_unit}
    findings = {}
    for f in FINDINGS:
        findings[f] = draw(st.sampled_from([True, False, None] if missing else [True, False]))
    if draw(st.booleans()) or not missing:
        findings["temperature"] = {"value": round(draw(st.floats(35.5, 41.5)), 1), "unit": "Cel"}
    patient = {"context": draw(st.sampled_from(CONTEXTS))}
    if draw(st.booleans()) or not missing:
        patient["age_years"] = round(draw(st.floats(0.01, 80)), 2)
    for flag in ("known_immunosuppression", "hlh_molecular_diagnosis"):
        patient[flag] = draw(st.sampled_from([True, False, None] if missing else [True, False]))
    return {"patient": patient, "findings": findings, "labs": labs}


def summary(result: dict) -> dict:
    return {
        k: (r["verdict"], r.get("score"), r.get("score_min"), r.get("score_max"), r.get("ratio"),
            tuple(it["status"] for it in r["items"]))
        for k, r in result["instruments"].items()
    }


def _express(value, analyte_id, unit):
    conv = analytes.get(analyte_id).units[unit]
    return value * conv.divide / conv.multiply + conv.subtract


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_snapshots(), st.data())
def test_unit_invariance(snap, data):
    """The same snapshot written in any accepted units gives the same results."""
    other = {**snap, "labs": {}, "findings": dict(snap["findings"])}
    for k, m in snap["labs"].items():
        unit = data.draw(st.sampled_from(analytes.get(k).accepted_units))
        other["labs"][k] = {"value": _express(m["value"], k, unit), "unit": unit}
    if "temperature" in snap["findings"]:
        unit = data.draw(st.sampled_from(analytes.get("temperature").accepted_units))
        t = snap["findings"]["temperature"]["value"]
        other["findings"]["temperature"] = {"value": _express(t, "temperature", unit), "unit": unit}
    a, b = snapshot.to_batch([snapshot.parse(snap)]), snapshot.to_batch([snapshot.parse(other)])
    for q in a.quantities:
        assert a.quantities[q].lo[0] == b.quantities[q].lo[0] or (
            np.isnan(a.quantities[q].lo[0]) and np.isnan(b.quantities[q].lo[0]))
    assert summary(evaluate_one(snap)) == summary(evaluate_one(other))


@settings(max_examples=150, deadline=None)
@given(canonical_snapshots(), st.floats(1, 60000), st.floats(1, 60000))
def test_higher_ferritin_never_lowers_hscore_or_ms_score(snap, f1, f2):
    lo_f, hi_f = sorted((round(f1), round(f2)))
    low = {**snap, "labs": {**snap["labs"], "ferritin": {"value": lo_f, "unit": "ng/mL"}}}
    high = {**snap, "labs": {**snap["labs"], "ferritin": {"value": hi_f, "unit": "ng/mL"}}}
    a, b = evaluate_one(low)["instruments"], evaluate_one(high)["instruments"]
    for inst in ("hscore", "ms_score"):
        assert b[inst]["score_min"] >= a[inst]["score_min"]
        assert b[inst]["score_max"] >= a[inst]["score_max"]
    order = {"not_met": 0, "indeterminate": 1, "met": 2}
    for inst in ("ravelli2016", "hlh2004", "hscore", "ms_score", "parodi2009", "ohi"):
        assert order[b[inst]["verdict"]] >= order[a[inst]["verdict"]], inst


def _drop(snap: dict, keys: list[str]) -> dict:
    out = {"patient": dict(snap["patient"]), "findings": dict(snap["findings"]), "labs": dict(snap["labs"])}
    for key in keys:
        section, name = key.split(".")
        out[section].pop(name, None)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_snapshots(missing=False), st.data())
def test_filling_missing_inputs_stays_within_bounds(full, data):
    """Removing inputs widens [score_min, score_max] around the full score; verdicts stay compatible.

    Domain: snapshots whose fever finding agrees with the measured temperature under the HLH-2004
    fever setting (38.5 °C). HLH-2004 lets either settle its fever item (the temperature only when
    no finding is given), so with contradictory inputs dropping one changes the answer; such input
    is flagged in the result instead (test_instruments: fever conflict)."""
    t = full["findings"].get("temperature")
    f = full["findings"].get("fever")
    assume(t is None or f is None or f == (t["value"] >= 38.5))
    keys = [f"labs.{k}" for k in full["labs"]] + [f"findings.{k}" for k in full["findings"]] + \
        ["patient.age_years", "patient.known_immunosuppression", "patient.hlh_molecular_diagnosis"]
    dropped = data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    partial = _drop(full, dropped)
    a, b = evaluate_one(full)["instruments"], evaluate_one(partial)["instruments"]
    for inst, r in a.items():
        p = b[inst]
        if p["verdict"] != "indeterminate":
            assert r["verdict"] == p["verdict"], (inst, dropped)
        if "score_min" in r:
            assert p["score_min"] <= r["score_min"] <= r["score_max"] <= p["score_max"], inst
            if r["score"] is not None:
                assert p["score_min"] <= r["score"] <= p["score_max"]
        for m in p["missing"]:
            assert m in dropped, (inst, m)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(canonical_snapshots(), min_size=2, max_size=12))
def test_batch_equals_one_at_a_time(snaps):
    """Evaluating many snapshots as arrays gives exactly what each gives alone."""
    parsed = [snapshot.parse(s) for s in snaps]
    batch = snapshot.to_batch(parsed)
    together = evaluate_all(batch)
    for i in range(len(snaps)):
        alone = evaluate_all(batch.row(i))
        for inst, r in together.items():
            assert r.verdict[i] == alone[inst].verdict[0]
            if r.score_min is not None:
                assert r.score_min[i] == alone[inst].score_min[0] and r.score_max[i] == alone[inst].score_max[0]
            for k, it in r.items.items():
                assert it.status[i] == alone[inst].items[k].status[0]
