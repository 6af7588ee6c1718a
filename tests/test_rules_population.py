"""HLH-2004 criterion 5 and its two routes; applicability by context and age (issue 11, items 5).

Sources: Henter 2007 Table 2 (docs/clinical/criteria.md §2); populations of HScore (§3),
MH score (§5), jSLE 2009 guidelines (§7), OHI (§12).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from maswatch import alerts, timeline, trends
from maswatch.batch import SnapshotBatch
from maswatch.errors import InputError
from maswatch.instruments import evaluate_all
from maswatch.logic import NO, UNKNOWN, YES
from maswatch.settings import Settings
from helpers import item, lab, run

ROOT = Path(__file__).resolve().parents[1]

# Five HLH-2004 criteria without haemophagocytosis: fever, cytopenias (Hb 85 g/L, PLT 80),
# TG 3.2 mmol/L, ferritin 800, sCD25 3,000; the other three are negative.
FOUR_WITHOUT_HP = {"ferritin": lab(800, "ng/mL"), "platelets": lab(80, "10*9/L"), "hemoglobin": lab(8.5, "g/dL"),
                   "triglycerides": lab(3.2, "mmol/L")}
NEGATIVE = {"fever": True, "splenomegaly": False, "nk_activity_low": False}


class TestCriterion5Malignancy:
    """Haemophagocytosis counts only with "no evidence of malignancy" (Henter 2007, Table 2)."""

    def hlh(self, malignancy, marrow=True):
        patient = {"hlh_molecular_diagnosis": False}
        if malignancy is not None:
            patient["malignancy"] = malignancy
        findings = {**NEGATIVE, "marrow_hemophagocytosis": marrow, "tissue_hemophagocytosis": False}
        labs = {**FOUR_WITHOUT_HP, "scd25": lab(2000, "U/mL")}  # sCD25 below 2,400: four criteria + HP = 5
        return run(labs=labs, findings=findings, patient=patient)["hlh2004"]

    def test_no_malignancy_counts_haemophagocytosis(self):
        r = self.hlh(False)
        assert item({"hlh2004": r}, "hlh2004", "hemophagocytosis")["status"] == "met"
        assert r["criteria_met"] == 5 and r["verdict"] == "met" and r["clinical_criteria"] == "met"
        assert not any("malignancy" in x for x in r.get("reasons", []))

    def test_recorded_malignancy_makes_it_not_countable(self):
        r = self.hlh(True)
        assert item({"hlh2004": r}, "hlh2004", "hemophagocytosis")["status"] == "not_met"
        assert r["criteria_met"] == 4 and r["verdict"] == "not_met" and r["clinical_criteria"] == "not_met"
        assert any("malignancy is recorded" in x for x in r["reasons"])

    def test_unknown_malignancy_counts_and_is_stated(self):
        r = self.hlh(None)
        assert r["criteria_met"] == 5 and r["clinical_criteria"] == "met"
        assert any("malignancy status is not recorded" in x for x in r["reasons"])

    def test_no_haemophagocytosis_no_malignancy_note(self):
        for m in (True, False, None):
            r = self.hlh(m, marrow=False)
            assert r["criteria_met"] == 4 and r["verdict"] == "not_met"
            assert not any("malignancy" in x for x in r.get("reasons", []))

    def test_malignancy_without_marrow_result_settles_the_item(self):
        r = run(findings={"fever": True}, patient={"malignancy": True})["hlh2004"]
        assert item({"hlh2004": r}, "hlh2004", "hemophagocytosis")["status"] == "not_met"
        assert "findings.marrow_hemophagocytosis" not in r["missing"]


class TestClinicalAndMolecularRoutes:
    def test_one_of_eight_with_molecular_unknown(self):
        # fever alone, everything else unknown: the strict verdict stays open, and so does the
        # clinical route (7 criteria could still be met)
        r = run(findings={"fever": True})["hlh2004"]
        assert r["verdict"] == "indeterminate" and r["molecular_route"] == "not_assessed"
        assert r["clinical_criteria"] == "indeterminate"
        assert any("Molecular route not assessed" in x for x in r["reasons"])

    def test_one_of_eight_rest_negative_is_clinically_not_met(self):
        findings = {"fever": True, "splenomegaly": False, "marrow_hemophagocytosis": False,
                    "tissue_hemophagocytosis": False, "nk_activity_low": False}
        labs = {"ferritin": lab(300, "ng/mL"), "platelets": lab(250, "10*9/L"), "hemoglobin": lab(12, "g/dL"),
                "triglycerides": lab(1.0, "mmol/L"), "fibrinogen": lab(3.0, "g/L"), "scd25": lab(1000, "U/mL")}
        r = run(labs=labs, findings=findings)["hlh2004"]
        assert r["criteria_met"] == 1 and r["criteria_possible"] == 1
        assert r["clinical_criteria"] == "not_met"
        assert r["verdict"] == "indeterminate"  # published OR: the molecular route is still open
        assert r["molecular_route"] == "not_assessed"

    def test_five_of_eight_with_molecular_unknown_is_met(self):
        labs = {**FOUR_WITHOUT_HP, "scd25": lab(2400, "U/mL")}  # sCD25 >= 2,400: fifth criterion (at the cut-off)
        r = run(labs=labs, findings={"fever": True})["hlh2004"]
        assert r["criteria_met"] == 5 and r["clinical_criteria"] == "met" and r["verdict"] == "met"
        assert not any("Molecular route not assessed" in x for x in r.get("reasons", []))

    def test_four_of_eight_just_below_scd25_cutoff(self):
        findings = {**NEGATIVE, "marrow_hemophagocytosis": False, "tissue_hemophagocytosis": False}
        labs = {**FOUR_WITHOUT_HP, "scd25": lab(2399, "U/mL")}
        r = run(labs=labs, findings=findings)["hlh2004"]
        assert r["criteria_met"] == 4 and r["clinical_criteria"] == "not_met"

    def test_molecular_route_alone(self):
        r = run(patient={"hlh_molecular_diagnosis": True})["hlh2004"]
        assert r["verdict"] == "met" and r["molecular_route"] == "met" and r["clinical_criteria"] == "indeterminate"
        assert run(patient={"hlh_molecular_diagnosis": False})["hlh2004"]["molecular_route"] == "not_met"

    def test_molecular_diagnosis_alone_never_raises_the_level(self):
        # a lifelong patient fact: the alert level and episode onset read the clinical route
        b = SnapshotBatch.from_columns(2, flags={"hlh_molecular_diagnosis": np.array([YES, UNKNOWN], np.int8)},
                                       context=np.array(["none", "none"]), age_years=np.array([30.0, 30.0]))
        res = evaluate_all(b)
        assert res["hlh2004"].verdict.tolist() == [YES, UNKNOWN]
        lv = alerts.alert_levels(res, {s: np.full(2, UNKNOWN, np.int8) for s in trends.SIGNAL_IDS}, b)
        assert lv.tolist() == [alerts.NONE, alerts.NONE]

    @hsettings(max_examples=60, deadline=None)
    @given(st.lists(st.sampled_from([NO, UNKNOWN, YES]), min_size=10, max_size=10))
    def test_verdict_is_molecular_or_clinical(self, tri):
        findings = dict(zip(("fever", "splenomegaly", "marrow_hemophagocytosis", "nk_activity_low"),
                            (np.array([t], np.int8) for t in tri[:4])))
        flags = {"hlh_molecular_diagnosis": np.array([tri[4]], np.int8), "malignancy": np.array([tri[5]], np.int8)}
        labs = {"ferritin": np.array([[300.0, 800.0, np.nan][tri[6]]]),
                "scd25": np.array([[1000.0, 3000.0, np.nan][tri[7]]]),
                "triglycerides": np.array([[1.0, 3.5, np.nan][tri[8]]])}
        r = evaluate_all(SnapshotBatch.from_columns(1, labs=labs, findings=findings, flags=flags))["hlh2004"]
        clinical, molecular = r.extras["clinical_criteria"][0], r.extras["molecular_route"][0]
        assert r.verdict[0] == max(clinical, molecular)
        if tri[5] == YES:  # a recorded malignancy never lets haemophagocytosis count
            assert r.items["hemophagocytosis"].status[0] == NO


def _adult_child(iid, context, ages):
    out = []
    for a in ages:
        patient = {"context": context}
        if a is not None:
            patient["age_years"] = a
        out.append(run(patient=patient)[iid])
    return out


class TestApplicabilityByAge:
    @pytest.mark.parametrize("iid, context", [("hscore", "sjia"), ("hscore", "aosd"), ("hscore", "none")])
    def test_hscore_adults_only(self, iid, context):
        child, adult, unknown = _adult_child(iid, context, [17.9, 18, None])
        assert child["applicable"] is False and "derived in adults (>= 18 years)" in child["applicability_reason"]
        assert adult["applicable"] is True and "applicability_reason" not in adult
        assert unknown["applicable"] is None and "age not given" in unknown["applicability_reason"]

    def test_parodi_juvenile_sle_only(self):
        child, adult, unknown = _adult_child("parodi2009", "sle", [17.9, 18, None])
        assert child["applicable"] is True
        assert adult["applicable"] is False and "children (< 18 years)" in adult["applicability_reason"]
        assert unknown["applicable"] is None

    def test_mh_score_children_only(self):
        child, adult = _adult_child("mh_score", "sjia", [17.9, 18])
        assert child["applicable"] is True and adult["applicable"] is False

    def test_ohi_adults_with_malignancy(self):
        def ohi(age, malignancy):
            return run(patient={"context": "none", "age_years": age, "malignancy": malignancy})["ohi"]["applicable"]
        assert ohi(18, True) is True
        assert ohi(17.9, True) is False
        assert ohi(40, False) is False
        assert run(patient={"context": "none", "age_years": 40})["ohi"]["applicable"] is None

    def test_context_limited_sets_have_no_age_limit(self):
        # 2016 criteria and MS score: sJIA children and AOSD adults (Yao 2021, §13); HLH-2004: any age
        for age in (3, 40):
            r = run(patient={"context": "aosd", "age_years": age})
            assert r["ravelli2016"]["applicable"] is True and r["ms_score"]["applicable"] is True
            assert r["hlh2004"]["applicable"] is True

    def test_age_boundary_is_a_setting(self):
        s = Settings(adult_age_years=16)
        r = run(patient={"context": "sjia", "age_years": 16.5}, settings=s)
        assert r["hscore"]["applicable"] is True
        assert "(< 16 years)" in r["mh_score"]["applicability_reason"]
        assert run(patient={"context": "none", "age_years": 16.5})["hscore"]["applicable"] is False


class TestOutsidePopulationIsShownApart:
    def test_parodi_met_in_sjia_child_is_outside_population_and_never_headlines(self):
        # fever > 38, ferritin > 500, AST > 40: met by the jSLE rule in any febrile sJIA flare
        r = run(labs={"ferritin": lab(900, "ng/mL"), "ast": lab(60, "U/L")}, temperature=39.0,
                patient={"context": "sjia", "age_years": 8})
        p = r["parodi2009"]
        assert p["verdict"] == "met" and p["applicable"] is False
        assert "context sJIA is outside the population (SLE)" in p["applicability_reason"]
        b = SnapshotBatch.from_columns(1, labs={"temperature": np.array([39.0]), "ferritin": np.array([900.0]),
                                                "ast": np.array([60.0])},
                                       context=np.array(["sjia"]), age_years=np.array([8.0]))
        res = evaluate_all(b)
        sig = {s: np.full(1, UNKNOWN, np.int8) for s in trends.SIGNAL_IDS}
        assert all("parodi2009" not in x["evidence"] for x in alerts.explain(res, sig, b, 0))

    def test_hscore_met_in_a_child_does_not_raise_the_level(self):
        # HScore >= 169 in a child (outside its adult population), nothing else settled
        labs = {"ferritin": np.array([7000.0, 7000.0]), "triglycerides": np.array([4.5, 4.5]),
                "fibrinogen": np.array([200.0, 200.0]), "ast": np.array([100.0, 100.0]),
                "temperature": np.array([39.0, 39.0])}
        b = SnapshotBatch.from_columns(2, labs=labs, context=np.array(["none", "none"]),
                                       age_years=np.array([10.0, 30.0]))
        res = evaluate_all(b)
        assert res["hscore"].verdict.tolist() == [YES, YES]
        assert res["hscore"].applicable.tolist() == [NO, YES]
        masks = alerts.reason_masks(res, {s: np.full(2, UNKNOWN, np.int8) for s in trends.SIGNAL_IDS}, b)
        assert masks["core_met"].tolist() == [False, True]

    def test_cli_table_shows_outside_population_apart(self, tmp_path):
        from typer.testing import CliRunner

        from maswatch.cli import app

        snap = {"patient": {"context": "sjia", "age_years": 8},
                "findings": {"fever": True, "temperature": {"value": 39.0, "unit": "Cel"}},
                "labs": {"ferritin": {"value": 900, "unit": "ng/mL"}, "ast": {"value": 60, "unit": "U/L"}}}
        f = tmp_path / "s.json"
        f.write_text(json.dumps(snap))
        out = CliRunner().invoke(app, ["evaluate", str(f)], env={"COLUMNS": "200"}).stdout
        head, _, apart = out.partition("Outside their validated population")
        assert apart, out
        assert "parodi2009" in apart and "hscore" in apart
        assert "parodi2009" not in head


class TestTimelineMalignancy:
    def doc(self, **extra):
        d = json.loads((ROOT / "examples/timeline_sjia_mas_recurrence.json").read_text())
        d.update(extra)
        return d

    def test_condition_sets_malignancy_from_onset(self):
        d = self.doc()
        d["conditions"] = d.get("conditions", []) + [{"code": "malignancy", "onset": "2000-01-01"}]
        tl = timeline.parse(d)
        a = timeline.assess(tl)
        assert (a.points.batch.flag("malignancy") == YES).all()

    def test_stated_no_malignancy_contradicting_a_condition_is_refused(self):
        d = self.doc()
        d["patient"] = {**d.get("patient", {}), "malignancy": False}
        d["conditions"] = d.get("conditions", []) + [{"code": "malignancy"}]
        with pytest.raises(InputError, match="malignancy"):
            timeline.parse(d)


@hsettings(max_examples=80, deadline=None)
@given(st.data())
def test_an_instrument_outside_its_population_never_changes_the_level(data):
    """Levels with every result as computed == levels with each not-applicable verdict blanked out."""
    from maswatch.batch import CONTEXTS, FINDING_IDS, PATIENT_FLAGS
    from maswatch.instruments._base import InstrumentResult

    n = 6
    tri = st.sampled_from([NO, UNKNOWN, YES])
    draw = data.draw
    labs = {a: np.array([draw(st.one_of(st.just(np.nan), st.floats(lo, hi))) for _ in range(n)])
            for a, (lo, hi) in {"ferritin": (100, 20000), "platelets": (10, 400), "ast": (10, 500),
                                "fibrinogen": (50, 500), "triglycerides": (0.5, 6), "temperature": (36, 41),
                                "hemoglobin": (5, 15), "scd25": (500, 10000)}.items()}
    b = SnapshotBatch.from_columns(
        n, labs=labs,
        findings={f: np.array([draw(tri) for _ in range(n)], np.int8) for f in FINDING_IDS},
        flags={f: np.array([draw(tri) for _ in range(n)], np.int8) for f in PATIENT_FLAGS},
        age_years=np.array([draw(st.one_of(st.just(np.nan), st.floats(0.1, 80))) for _ in range(n)]),
        context=np.array([draw(st.sampled_from(CONTEXTS)) for _ in range(n)]))
    sig = {s: np.array([draw(tri) for _ in range(n)], np.int8) for s in trends.SIGNAL_IDS}
    res = evaluate_all(b)
    blank = {}
    for k, r in res.items():
        outside = r.applicable == NO
        blank[k] = InstrumentResult(**{**r.__dict__, "verdict": np.where(outside, NO, r.verdict).astype(np.int8),
                                       "extras": {e: (np.where(outside, NO, v).astype(np.int8) if v.dtype == np.int8
                                                      else v) for e, v in r.extras.items()}})
    assert alerts.alert_levels(res, sig, b).tolist() == alerts.alert_levels(blank, sig, b).tolist()


@pytest.mark.parametrize("context", ["sjia", "aosd", "sle", "other_rheumatic", "none"])
def test_population_reasons_name_contexts_as_a_clinician_writes_them(context):
    """'context sJIA is outside the population (SLE)', never the codes 'sjia' / 'sle'."""
    import re

    r = run(labs={"ferritin": lab(900, "ng/mL"), "ast": lab(60, "U/L")}, temperature=39.0,
            patient={"context": context, "age_years": 8})
    reasons = [x["applicability_reason"] for x in r.values() if isinstance(x, dict) and x.get("applicability_reason")]
    assert any("outside the population" in t for t in reasons)
    for text in reasons:
        assert not re.search(r"\b(sjia|aosd|sle|other_rheumatic|none|unknown)\b", text), text
