"""Verdicts, scores and explanations of each instrument against published and worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from maswatch.instruments import hscore
from maswatch.settings import Settings
from helpers import item, lab, run

FULL_RAVELLI = {
    "ferritin": lab(5000, "ng/mL"), "platelets": lab(150, "10*9/L"), "ast": lab(90, "U/L"),
    "triglycerides": lab(120, "mg/dL"), "fibrinogen": lab(400, "mg/dL"),
}
SJIA = {"context": "sjia", "age_years": 8}


class TestRavelli2016:
    def test_worked_example_criteria_md(self):
        # criteria.md §1: febrile sJIA, ferritin 5000, PLT 150, AST 90, TG 120, fib 400 -> MAS
        r = run(labs=FULL_RAVELLI, findings={"fever": True}, patient=SJIA)["ravelli2016"]
        assert r["verdict"] == "met"
        assert r["applicable"] is True
        assert r["missing"] == []

    def test_ferritin_exactly_684_not_met(self):
        labs = {**FULL_RAVELLI, "ferritin": lab(684, "ng/mL")}
        assert run(labs=labs, findings={"fever": True})["ravelli2016"]["verdict"] == "not_met"

    def test_one_minor_criterion_not_enough(self):
        labs = {**FULL_RAVELLI, "ast": lab(30, "U/L")}
        assert run(labs=labs, findings={"fever": True})["ravelli2016"]["verdict"] == "not_met"

    def test_afebrile_is_not_met_with_reason(self):
        r = run(labs=FULL_RAVELLI, findings={"fever": False}, patient=SJIA)["ravelli2016"]
        assert r["verdict"] == "not_met"
        assert any("not febrile" in x for x in r["reasons"])

    def test_fever_unknown_can_never_be_met(self):
        r = run(labs=FULL_RAVELLI, patient=SJIA)["ravelli2016"]
        assert r["verdict"] == "indeterminate"
        assert r["missing"] == ["findings.fever"]

    def test_temperature_does_not_stand_for_the_fever_finding(self):
        r = run(labs=FULL_RAVELLI, temperature=39.5)["ravelli2016"]
        assert r["verdict"] == "indeterminate"

    def test_missing_minor_criteria_named(self):
        labs = {"ferritin": lab(5000, "ng/mL"), "platelets": lab(150, "10*9/L")}
        r = run(labs=labs, findings={"fever": True})["ravelli2016"]
        assert r["verdict"] == "indeterminate"
        assert r["missing"] == ["labs.ast", "labs.triglycerides", "labs.fibrinogen"]

    def test_determined_verdict_lists_nothing_missing(self):
        r = run(labs={"ferritin": lab(300, "ng/mL")}, findings={"fever": True})["ravelli2016"]
        assert r["verdict"] == "not_met" and r["missing"] == []

    def test_censored_ferritin_above_cutoff_counts(self):
        labs = {**FULL_RAVELLI, "ferritin": lab(40000, "ng/mL", ">")}
        r = run(labs=labs, findings={"fever": True})["ravelli2016"]
        assert r["verdict"] == "met"
        ev = item(run(labs=labs, findings={"fever": True}), "ravelli2016", "ferritin")["inputs"][0]
        assert ev["censored"] == ">" and ev["bound"] == 40000 and ev["as_given"]["comparator"] == ">"

    def test_censored_value_straddling_the_cutoff_is_said_undecided(self):
        labs = {**FULL_RAVELLI, "ferritin": lab(1000, "ng/mL", "<")}
        r = run(labs=labs, findings={"fever": True})["ravelli2016"]
        assert r["verdict"] == "indeterminate"
        assert r["undecided_by_censored"] == ["labs.ferritin"]
        assert r["missing"] == []

    def test_censored_below_cutoff_decides(self):
        labs = {**FULL_RAVELLI, "ferritin": lab(500, "ng/mL", "<")}
        assert run(labs=labs, findings={"fever": True})["ravelli2016"]["verdict"] == "not_met"

    @pytest.mark.parametrize("context, applicable", [("sjia", True), ("aosd", True), ("sle", False),
                                                     ("none", False), ("unknown", None)])
    def test_applicability_by_context(self, context, applicable):
        r = run(labs=FULL_RAVELLI, findings={"fever": True}, patient={"context": context})["ravelli2016"]
        assert r["applicable"] is applicable
        assert r["verdict"] == "met"  # always computed


class TestHLH2004:
    FIVE = {
        "ferritin": lab(800, "ng/mL"), "platelets": lab(80, "10*9/L"), "hemoglobin": lab(8.5, "g/dL"),
        "triglycerides": lab(3.2, "mmol/L"), "scd25": lab(3000, "U/mL"),
    }

    def test_five_criteria_met(self):
        r = run(labs=self.FIVE, findings={"fever": True})["hlh2004"]
        assert r["verdict"] == "met"
        assert r["criteria_met"] == 5

    def test_four_criteria_rest_negative_not_met(self):
        findings = {"fever": True, "splenomegaly": False, "marrow_hemophagocytosis": False,
                    "tissue_hemophagocytosis": False, "nk_activity_low": False}
        labs = {**self.FIVE, "scd25": lab(2000, "U/mL")}
        r = run(labs=labs, findings=findings, patient={"hlh_molecular_diagnosis": False})["hlh2004"]
        assert r["verdict"] == "not_met" and r["criteria_met"] == 4 and r["criteria_possible"] == 4

    def test_unknown_molecular_diagnosis_keeps_it_open(self):
        findings = {"fever": False, "splenomegaly": False, "marrow_hemophagocytosis": False,
                    "tissue_hemophagocytosis": False, "nk_activity_low": False}
        r = run(labs={"ferritin": lab(100, "ng/mL")}, findings=findings)["hlh2004"]
        assert r["verdict"] == "indeterminate"
        assert "patient.hlh_molecular_diagnosis" in r["missing"]

    def test_molecular_diagnosis_alone_is_met(self):
        r = run(patient={"hlh_molecular_diagnosis": True})["hlh2004"]
        assert r["verdict"] == "met" and any("molecular" in x for x in r["reasons"])

    def test_fever_from_temperature_only_when_finding_absent(self):
        assert item(run(temperature=38.5), "hlh2004", "fever")["status"] == "met"
        assert item(run(temperature=38.4), "hlh2004", "fever")["status"] == "not_met"
        assert item(run(temperature=38.4, findings={"fever": True}), "hlh2004", "fever")["status"] == "met"
        assert item(run(temperature=39.5, findings={"fever": False}), "hlh2004", "fever")["status"] == "not_met"
        assert item(run(), "hlh2004", "fever")["status"] == "unknown"

    def test_contradictory_fever_finding_and_temperature_are_flagged(self):
        r = run(temperature=39.5, findings={"fever": False})["hlh2004"]
        assert any("contradicts the measured temperature" in x for x in r["reasons"])
        r = run(temperature=39.5, findings={"fever": True})["hlh2004"]
        assert not any("contradicts" in x for x in r.get("reasons", []))

    def test_fever_temperature_configurable_and_flagged_unverified(self):
        s = Settings(hlh2004_fever_temperature_c=38.3)
        r = run(temperature=38.3, settings=s)
        assert item(r, "hlh2004", "fever")["status"] == "met"
        assert any("38.3" in u for u in r["hlh2004"]["unverified"])
        assert any("38.5" in u for u in run()["hlh2004"]["unverified"])

    def test_hemophagocytosis_any_site(self):
        assert item(run(findings={"tissue_hemophagocytosis": True}), "hlh2004", "hemophagocytosis")["status"] == "met"
        both_no = {"marrow_hemophagocytosis": False, "tissue_hemophagocytosis": False}
        assert item(run(findings=both_no), "hlh2004", "hemophagocytosis")["status"] == "not_met"
        assert item(run(findings={"marrow_hemophagocytosis": False}), "hlh2004", "hemophagocytosis")["status"] == "unknown"


class TestHScore:
    def test_full_score_and_probability(self):
        labs = {"ferritin": lab(7000, "ng/mL"), "triglycerides": lab(4.5, "mmol/L"), "fibrinogen": lab(2.0, "g/L"),
                "ast": lab(100, "U/L"), "hemoglobin": lab(8.0, "g/dL"), "wbc": lab(3.0, "10*9/L"),
                "platelets": lab(50, "10*9/L")}
        findings = {"hepatomegaly": True, "splenomegaly": True, "marrow_hemophagocytosis": True}
        r = run(labs=labs, findings=findings, temperature=39.8, patient={"known_immunosuppression": True})["hscore"]
        assert r["score"] == 18 + 49 + 38 + 34 + 50 + 64 + 30 + 19 + 35 == 337
        assert r["probability"] == 0.99 and r["probability_text"] == ">99%"
        assert r["verdict"] == "met"

    def test_cutoff_169_both_sides(self):
        # 33 (temp) + 38 (organs) + 35 (ferritin) + 44 (TG) + 19 (AST) = 169
        base = {"ferritin": lab(3000, "ng/mL"), "triglycerides": lab(2.0, "mmol/L"), "fibrinogen": lab(4.0, "g/L"),
                "ast": lab(50, "U/L"), "hemoglobin": lab(12, "g/dL"), "wbc": lab(8, "10*9/L"),
                "platelets": lab(200, "10*9/L")}
        f = {"hepatomegaly": True, "splenomegaly": True, "marrow_hemophagocytosis": False}
        p = {"known_immunosuppression": False}
        r = run(labs=base, findings=f, temperature=39.0, patient=p)["hscore"]
        assert r["score"] == 169 and r["verdict"] == "met"
        r = run(labs={**base, "ast": lab(20, "U/L")}, findings=f, temperature=39.0, patient=p)["hscore"]
        assert r["score"] == 150 and r["verdict"] == "not_met"

    def test_missing_items_give_bounds_and_names(self):
        r = run(labs={"ferritin": lab(7000, "ng/mL")})["hscore"]
        assert r["score"] is None and r["score_min"] == 50 and r["score_max"] == 337
        assert r["verdict"] == "indeterminate" and r["probability"] is None
        assert r["probability_min"] == pytest.approx(0.01) and r["probability_max"] == 0.99
        assert "findings.temperature" in r["missing"]

    def test_zero_cytopenias_scores_like_one(self):
        labs = {"hemoglobin": lab(12, "g/dL"), "wbc": lab(8, "10*9/L"), "platelets": lab(250, "10*9/L")}
        assert item(run(labs=labs), "hscore", "cytopenias")["points"] == 0


PUBLISHED_TABLE = [(90, 0.01), (100, 0.01), (110, 0.03), (120, 0.05), (130, 0.09), (140, 0.16), (150, 0.25),
                   (160, 0.40), (170, 0.54), (180, 0.70), (190, 0.80), (200, 0.88), (210, 0.93), (220, 0.96),
                   (230, 0.98), (240, 0.99)]


class TestHScoreProbability:
    @pytest.mark.parametrize("score, p", PUBLISHED_TABLE)
    def test_published_table_rows(self, score, p):
        assert float(hscore.probability(score)) == pytest.approx(p)

    def test_interpolation_between_rows(self):
        assert float(hscore.probability(169)) == pytest.approx(0.40 + 0.9 * 0.14)
        assert float(hscore.probability(165)) == pytest.approx(0.47)

    def test_tails_and_text(self):
        assert hscore.probability_text(0) == "<1%" and hscore.probability_text(90) == "<1%"
        assert hscore.probability_text(250) == ">99%" and hscore.probability_text(337) == ">99%"
        assert hscore.probability_text(170) == "54%"

    def test_not_the_public_calculator_curve(self):
        # the widely copied 1/(1+exp(-(-4.3+0.03 s))) gives 17% at 90 and 69% at 170 (criteria.md §3)
        assert float(hscore.probability(90)) < 0.02 and float(hscore.probability(170)) == pytest.approx(0.54)

    def test_monotone(self):
        s = np.arange(0, 338)
        assert np.all(np.diff(hscore.probability(s)) >= 0)


def ms(cns=False, haem=False, arthritis=False, plt=None, ldh=None, fib=None, ferritin=None, settings=None):
    labs = {}
    if plt is not None:
        labs["platelets"] = lab(plt, "10*9/L")
    if ldh is not None:
        labs["ldh"] = lab(ldh, "U/L")
    if fib is not None:
        labs["fibrinogen"] = lab(fib, "mg/dL")
    if ferritin is not None:
        labs["ferritin"] = lab(ferritin, "ng/mL")
    f = {"cns_involvement": cns, "hemorrhage": haem, "active_arthritis": arthritis}
    return run(labs=labs, findings=f, patient=SJIA, settings=settings)["ms_score"]


class TestMSScore:
    def test_worked_example_consider_mas(self):
        r = ms(arthritis=True, plt=150, ldh=800, fib=200, ferritin=5000)
        assert r["score"] == pytest.approx(-1.25) and r["verdict"] == "met"

    def test_worked_example_below_cutoff(self):
        r = ms(arthritis=True, plt=350, ldh=400, fib=450, ferritin=1500)
        assert r["score"] == pytest.approx(-3.60) and r["verdict"] == "not_met"

    def test_formula_coefficients(self):
        r = ms(cns=True, haem=True, plt=100, ldh=1000, fib=100, ferritin=10000)
        assert r["score"] == pytest.approx(2.44 + 1.54 - 0.3 + 1.0 - 0.4 + 1.0)

    def test_cutoff_inclusive_at_minus_2_1(self):
        # -1.30 (arthritis) - 0.003*300 (-0.9) + 0.001*100 (0.1) - 0.004*10 fib + 0.0001*400 ferritin = -2.1
        assert ms(arthritis=True, plt=300, ldh=100, fib=10, ferritin=400)["verdict"] == "met"
        assert ms(arthritis=True, plt=301, ldh=100, fib=10, ferritin=400)["verdict"] == "not_met"

    def test_aosd_cutoff_only_when_asked(self):
        # score -1.30 - 0.6 + 0.1 - 0.14 + 0.04 = -1.9: met at -2.1 (default) and not met at -1.74 (AOSD option)
        args = dict(arthritis=True, plt=200, ldh=100, fib=35, ferritin=400)
        assert ms(**args)["score"] == pytest.approx(-1.9)
        assert ms(**args)["verdict"] == "met"
        assert ms(**args, settings=Settings(ms_score_cutoff="aosd"))["verdict"] == "not_met"

    def test_fibrinogen_must_be_in_mg_dl(self):
        a = run(labs={"fibrinogen": lab(2.0, "g/L")}, findings={"cns_involvement": False})["ms_score"]
        b = run(labs={"fibrinogen": lab(200, "mg/dL")}, findings={"cns_involvement": False})["ms_score"]
        assert a["score_min"] == b["score_min"] and a["score_max"] == b["score_max"]

    def test_missing_lab_bounds(self):
        r = ms(arthritis=True, plt=150, ldh=800, fib=200)  # ferritin missing: its reported range 0.5-1,000,000
        assert r["score"] is None                          # ng/mL adds 0.00005 to +100
        assert r["score_min"] == pytest.approx(-1.75 + 0.00005) and r["verdict"] == "met"
        assert r["missing"] == []  # verdict already determined


class TestMHScore:
    def test_cutoff_60_both_sides_and_unverified_flag(self):
        p = {"age_years": 1.0}
        f = {"splenomegaly": True}
        labs = {"neutrophils": lab(3, "10*9/L"), "fibrinogen": lab(200, "mg/dL"), "platelets": lab(50, "10*9/L"),
                "hemoglobin": lab(10, "g/dL")}
        r = run(labs=labs, findings=f, patient=p)["mh_score"]
        assert r["score"] == 37 + 12 + 11 == 60 and r["verdict"] == "met"
        r = run(labs={**labs, "platelets": lab(100, "10*9/L")}, findings=f, patient=p)["mh_score"]
        assert r["score"] == 49 and r["verdict"] == "not_met"
        assert r["unverified"] and "mh_score_cutoff" in r["unverified"][0]

    def test_cutoff_configurable(self):
        r = run(patient={"age_years": 1.0}, findings={"splenomegaly": True}, labs={
            "neutrophils": lab(3, "10*9/L"), "fibrinogen": lab(200, "mg/dL"), "platelets": lab(50, "10*9/L"),
            "hemoglobin": lab(10, "g/dL")}, settings=Settings(mh_score_cutoff=61))["mh_score"]
        assert r["verdict"] == "not_met" and "61" in r["unverified"][0]


class TestFerritinESR:
    @pytest.mark.parametrize("ferritin, esr, verdict", [(430, 20, "met"), (429, 20, "not_met"), (2150, 100, "met")])
    def test_cutoff_21_5_inclusive_default(self, ferritin, esr, verdict):
        r = run(labs={"ferritin": lab(ferritin, "ng/mL"), "esr": lab(esr, "mm/h")})["ferritin_esr"]
        assert r["verdict"] == verdict and r["ratio"] == pytest.approx(ferritin / esr)

    def test_strict_direction_option(self):
        s = Settings(ferritin_esr_cutoff_inclusive=False)
        r = run(labs={"ferritin": lab(430, "ng/mL"), "esr": lab(20, "mm/h")}, settings=s)["ferritin_esr"]
        assert r["verdict"] == "not_met" and any("'> 21.5'" in u for u in r["unverified"])

    def test_needs_both_measurements(self):
        r = run(labs={"ferritin": lab(50000, "ng/mL")})["ferritin_esr"]
        assert r["verdict"] == "indeterminate" and r["ratio"] is None and r["missing"] == ["labs.esr"]

    def test_esr_zero_is_undefined(self):
        r = run(labs={"ferritin": lab(5000, "ng/mL"), "esr": lab(0, "mm/h")})["ferritin_esr"]
        assert r["verdict"] == "indeterminate" and r["ratio"] is None
        assert any("ESR is 0" in x for x in r["reasons"])

    def test_censored_ferritin_gives_a_lower_bound(self):
        r = run(labs={"ferritin": lab(40000, "ng/mL", ">"), "esr": lab(20, "mm/h")})["ferritin_esr"]
        assert r["verdict"] == "met" and r["ratio"] is None and r["ratio_min"] == pytest.approx(2000)

    def test_applicable_only_in_sjia(self):
        assert run(patient={"context": "sjia"})["ferritin_esr"]["applicable"] is True
        assert run(patient={"context": "sle"})["ferritin_esr"]["applicable"] is False


class TestParodi2009:
    LABS = {"ferritin": lab(800, "ug/L"), "ast": lab(60, "U/L")}

    def test_one_clinical_two_laboratory(self):
        r = run(labs=self.LABS, temperature=38.6, patient={"context": "sle", "age_years": 14})["parodi2009"]
        assert r["verdict"] == "met" and r["applicable"] is True

    def test_no_clinical_criterion(self):
        f = {"hepatomegaly": False, "splenomegaly": False, "hemorrhage": False, "cns_involvement": False}
        r = run(labs=self.LABS, temperature=37.0, findings=f)["parodi2009"]
        assert r["verdict"] == "not_met"

    def test_only_one_laboratory_criterion(self):
        labs = {"ferritin": lab(800, "ug/L"), "ast": lab(30, "U/L"), "ldh": lab(300, "U/L"),
                "fibrinogen": lab(3, "g/L"), "triglycerides": lab(1.0, "mmol/L"), "wbc": lab(6, "10*9/L"),
                "hemoglobin": lab(12, "g/dL"), "platelets": lab(250, "10*9/L")}
        assert run(labs=labs, temperature=39)["parodi2009"]["verdict"] == "not_met"


class TestOHI:
    def test_both_strict(self):
        assert run(labs={"scd25": lab(3901, "U/mL"), "ferritin": lab(1001, "ng/mL")})["ohi"]["verdict"] == "met"
        assert run(labs={"scd25": lab(3900, "U/mL"), "ferritin": lab(5000, "ng/mL")})["ohi"]["verdict"] == "not_met"
        assert run(labs={"scd25": lab(5000, "U/mL"), "ferritin": lab(1000, "ng/mL")})["ohi"]["verdict"] == "not_met"

    def test_sil2r_in_pg_ml_is_refused_not_converted(self):
        from maswatch.errors import UnitError

        with pytest.raises(UnitError, match="no fixed conversion"):
            run(labs={"scd25": lab(5000, "pg/mL")})


def test_only_unverified_settings_are_flagged():
    r = run()
    assert r["ravelli2016"]["unverified"] == [] and r["hscore"]["unverified"] == []
    assert r["ms_score"]["unverified"] == [] and r["ohi"]["unverified"] == []
    # the jSLE guidelines' age limit ("juvenile") was not retrieved: the boundary is a flagged setting
    assert [u.split(" =")[0] for u in r["parodi2009"]["unverified"]] == ["adult_age_years"]
    assert r["hlh2004"]["unverified"] and r["mh_score"]["unverified"] and r["ferritin_esr"]["unverified"]


def test_every_result_cites_its_paper():
    for iid, r in run().items():
        assert "doi:10." in r["reference"], iid
        assert r["population"] and r["intended_use"]


def test_laboratory_part_of_2016_criteria_is_reported_as_a_status():
    r = run(labs=FULL_RAVELLI, findings={"fever": False})["ravelli2016"]
    assert r["verdict"] == "not_met" and r["laboratory_criteria"] == "met"
    r = run(labs={"ferritin": lab(5000, "ng/mL"), "platelets": lab(150, "10*9/L")})["ravelli2016"]
    assert r["laboratory_criteria"] == "unknown"
    r = run(labs={**FULL_RAVELLI, "ferritin": lab(684, "ng/mL")}, findings={"fever": True})["ravelli2016"]
    assert r["laboratory_criteria"] == "not_met"
