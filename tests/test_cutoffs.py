"""Both sides of every published cut-off, in every accepted unit (criteria.md §1-7, 12).

Each case names the instrument item, the analyte, the direction and threshold exactly as
published (in the paper's unit). For every accepted unit of that analyte the value just
inside and just outside the threshold is expressed in that unit and must give the
expected status; at the threshold itself (in the paper's unit and in every unit where
the threshold is exactly representable) the direction (< vs <=, > vs >=) is checked.
"""

from __future__ import annotations

import pytest

from maswatch import analytes
from helpers import item, lab, run

# (instrument, item, analyte, op, threshold, paper unit, extra labs/findings making the item hinge on this value)
CUTS = [
    ("ravelli2016", "ferritin", "ferritin", ">", 684, "ng/mL", {}),
    ("ravelli2016", "platelets", "platelets", "<=", 181, "10*9/L", {}),
    ("ravelli2016", "ast", "ast", ">", 48, "U/L", {}),
    ("ravelli2016", "triglycerides", "triglycerides", ">", 156, "mg/dL", {}),
    ("ravelli2016", "fibrinogen", "fibrinogen", "<=", 360, "mg/dL", {}),
    ("hlh2004", "ferritin", "ferritin", ">=", 500, "ug/L", {}),
    ("hlh2004", "scd25", "scd25", ">=", 2400, "U/mL", {}),
    ("hlh2004", "triglycerides_fibrinogen", "triglycerides", ">=", 3.0, "mmol/L", {"fibrinogen": lab(300, "mg/dL")}),
    ("hlh2004", "triglycerides_fibrinogen", "fibrinogen", "<=", 1.5, "g/L", {"triglycerides": lab(1.0, "mmol/L")}),
    ("hlh2004", "cytopenias", "hemoglobin", "<", 90, "g/L",
     {"platelets": lab(50, "10*9/L"), "neutrophils": lab(2.0, "10*9/L")}),
    ("hlh2004", "cytopenias", "platelets", "<", 100, "10*9/L",
     {"hemoglobin": lab(8.0, "g/dL"), "neutrophils": lab(2.0, "10*9/L")}),
    ("hlh2004", "cytopenias", "neutrophils", "<", 1.0, "10*9/L",
     {"hemoglobin": lab(8.0, "g/dL"), "platelets": lab(150, "10*9/L")}),
    ("hscore", "ast", "ast", ">=", 30, "U/L", {}),
    ("hscore", "fibrinogen", "fibrinogen", "<=", 2.5, "g/L", {}),
    ("hscore", "cytopenias", "hemoglobin", "<=", 9.2, "g/dL", {"wbc": lab(4.0, "10*9/L"), "platelets": lab(300, "10*9/L")}),
    ("hscore", "cytopenias", "wbc", "<=", 5.0, "10*9/L", {"hemoglobin": lab(8.0, "g/dL"), "platelets": lab(300, "10*9/L")}),
    ("hscore", "cytopenias", "platelets", "<=", 110, "10*9/L", {"hemoglobin": lab(8.0, "g/dL"), "wbc": lab(9.0, "10*9/L")}),
    ("mh_score", "neutrophils", "neutrophils", "<=", 1.4, "10*9/L", {}),
    ("mh_score", "fibrinogen", "fibrinogen", "<=", 131, "mg/dL", {}),
    ("mh_score", "platelets", "platelets", "<=", 78, "10*9/L", {}),
    ("mh_score", "hemoglobin", "hemoglobin", "<=", 8.3, "g/dL", {}),
    ("parodi2009", "ast", "ast", ">", 40, "U/L", {}),
    ("parodi2009", "ldh", "ldh", ">", 567, "U/L", {}),
    ("parodi2009", "fibrinogen", "fibrinogen", "<=", 1.5, "g/L", {}),
    ("parodi2009", "triglycerides", "triglycerides", ">", 178, "mg/dL", {}),
    ("parodi2009", "ferritin", "ferritin", ">", 500, "ug/L", {}),
    ("parodi2009", "cytopenia", "wbc", "<=", 4.0, "10*9/L", {"hemoglobin": lab(8.0, "g/dL"), "platelets": lab(300, "10*9/L")}),
    ("parodi2009", "cytopenia", "hemoglobin", "<=", 90, "g/L", {"wbc": lab(3.0, "10*9/L"), "platelets": lab(300, "10*9/L")}),
    ("parodi2009", "cytopenia", "platelets", "<=", 150, "10*9/L", {"wbc": lab(3.0, "10*9/L"), "hemoglobin": lab(12, "g/dL")}),
    ("ohi", "scd25", "scd25", ">", 3900, "U/mL", {}),
    ("ohi", "ferritin", "ferritin", ">", 1000, "ng/mL", {}),
]

PATIENT = {"age_years": 10, "context": "sjia"}


def _met_above(op: str) -> bool:
    return op in (">", ">=")


def _status(instrument, item_id, analyte, value, unit, extra):
    labs = {k: v for k, v in extra.items()}
    labs[analyte] = lab(value, unit)
    res = run(labs=labs, patient=PATIENT)
    it = item(res, instrument, item_id)
    if "points_min" in it:  # scored item: met = scores points
        return "met" if it["points_min"] > 0 else ("not_met" if it["points_max"] == 0 else "unknown")
    return it["status"]


def _cases():
    for inst, item_id, analyte, op, thr, unit, extra in CUTS:
        a = analytes.get(analyte)
        canonical_thr = a.to_canonical(thr, unit)
        for u in a.accepted_units:
            conv = a.units[u]
            yield pytest.param(inst, item_id, analyte, op, canonical_thr, u, conv, extra, id=f"{inst}-{item_id}-{analyte}-{u}")


def _in_unit(conv, canonical):
    # inverse of canonical = (v - s) * m / d
    return canonical * conv.divide / conv.multiply + conv.subtract


@pytest.mark.parametrize("inst,item_id,analyte,op,thr,unit,conv,extra", list(_cases()))
def test_both_sides_in_every_unit(inst, item_id, analyte, op, thr, unit, conv, extra):
    above = _in_unit(conv, thr * 1.01)
    below = _in_unit(conv, thr * 0.99)
    met_above = _met_above(op)
    assert _status(inst, item_id, analyte, above, unit, extra) == ("met" if met_above else "not_met")
    assert _status(inst, item_id, analyte, below, unit, extra) == ("not_met" if met_above else "met")


@pytest.mark.parametrize("inst,item_id,analyte,op,thr,unit,extra", CUTS, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CUTS])
def test_direction_exactly_at_threshold_in_paper_unit(inst, item_id, analyte, op, thr, unit, extra):
    inclusive = op in (">=", "<=")
    assert _status(inst, item_id, analyte, thr, unit, extra) == ("met" if inclusive else "not_met")


@pytest.mark.parametrize(
    "inst,item_id,analyte,value,unit,expected",
    [
        ("ravelli2016", "fibrinogen", "fibrinogen", 3.6, "g/L", "met"),  # 3.6 g/L == 360 mg/dL, <=
        ("ravelli2016", "fibrinogen", "fibrinogen", 3.61, "g/L", "not_met"),
        ("ravelli2016", "platelets", "platelets", 181000, "/uL", "met"),
        ("ravelli2016", "platelets", "platelets", 181001, "/uL", "not_met"),
        ("ravelli2016", "ast", "ast", 0.8, "ukat/L", "not_met"),  # 0.8 ukat/L == 48 U/L, strict >
        ("ravelli2016", "ast", "ast", 0.81, "ukat/L", "met"),
        ("ravelli2016", "triglycerides", "triglycerides", 1.76, "mmol/L", "not_met"),  # 156 mg/dL = 1.761 mmol/L
        ("ravelli2016", "triglycerides", "triglycerides", 1.77, "mmol/L", "met"),
        ("hlh2004", "ferritin", "ferritin", 500, "ng/mL", "met"),
        ("hlh2004", "triglycerides_fibrinogen", "triglycerides", 265, "mg/dL", "not_met"),  # 2.99 mmol/L (conflict 2)
        ("hlh2004", "triglycerides_fibrinogen", "triglycerides", 265.71, "mg/dL", "met"),  # 3.0 mmol/L
        ("hscore", "fibrinogen", "fibrinogen", 250, "mg/dL", "met"),
        ("parodi2009", "hemoglobin" if False else "cytopenia", "hemoglobin", 9.0, "g/dL", "met"),
    ],
)
def test_exact_threshold_in_other_units(inst, item_id, analyte, value, unit, expected):
    extra = {"cytopenia": {"wbc": lab(3.0, "10*9/L"), "platelets": lab(300, "10*9/L")},
             "triglycerides_fibrinogen": {"fibrinogen": lab(300, "mg/dL")}}.get(item_id, {})
    assert _status(inst, item_id, analyte, value, unit, extra) == expected


def test_hlh2004_infant_hemoglobin_threshold():
    extra = {"platelets": lab(50, "10*9/L"), "neutrophils": lab(2.0, "10*9/L")}

    def cyto(hb, age):
        labs = {**extra, "hemoglobin": lab(hb, "g/dL")}
        patient = {} if age is None else {"age_years": age}
        return item(run(labs=labs, patient=patient), "hlh2004", "cytopenias")["status"]

    assert cyto(9.5, 0.05) == "met"  # 18 days old: < 10 g/dL
    assert cyto(10.0, 0.05) == "not_met"
    assert cyto(9.5, 0.08) == "not_met"  # 29 days old: < 9 g/dL applies
    assert cyto(8.9, 0.08) == "met"
    assert cyto(9.5, None) == "unknown"  # age unknown and Hb between the two thresholds
    assert cyto(8.9, None) == "met"
    assert cyto(10.0, None) == "not_met"


@pytest.mark.parametrize(
    "temp, points",
    [(38.39, 0), (38.4, 33), (39.4, 33), (39.41, 49), (37.0, 0), (40.5, 49)],
)
def test_hscore_temperature_bands_celsius(temp, points):
    assert item(run(temperature=temp), "hscore", "temperature")["points"] == points


@pytest.mark.parametrize("temp_f, points", [(101.1, 0), (101.12, 33), (102.92, 33), (102.94, 49)])
def test_hscore_temperature_bands_fahrenheit(temp_f, points):
    # 38.4 °C = 101.12 °F; 39.4 °C = 102.92 °F
    assert item(run(temperature=lab(temp_f, "[degF]")), "hscore", "temperature")["points"] == points


@pytest.mark.parametrize(
    "analyte, value, unit, points, item_id",
    [
        ("ferritin", 1999, "ng/mL", 0, "ferritin"), ("ferritin", 2000, "ng/mL", 35, "ferritin"),
        ("ferritin", 6000, "ng/mL", 35, "ferritin"), ("ferritin", 6001, "ng/mL", 50, "ferritin"),
        ("triglycerides", 1.49, "mmol/L", 0, "triglycerides"), ("triglycerides", 1.5, "mmol/L", 44, "triglycerides"),
        ("triglycerides", 4.0, "mmol/L", 44, "triglycerides"), ("triglycerides", 4.01, "mmol/L", 64, "triglycerides"),
        ("triglycerides", 132.8, "mg/dL", 0, "triglycerides"), ("triglycerides", 133, "mg/dL", 44, "triglycerides"),
        ("triglycerides", 354.2, "mg/dL", 44, "triglycerides"), ("triglycerides", 354.4, "mg/dL", 64, "triglycerides"),
        ("fibrinogen", 2.5, "g/L", 30, "fibrinogen"), ("fibrinogen", 2.51, "g/L", 0, "fibrinogen"),
        ("ast", 29, "U/L", 0, "ast"), ("ast", 30, "U/L", 19, "ast"),
    ],
)
def test_hscore_bands(analyte, value, unit, points, item_id):
    assert item(run(labs={analyte: lab(value, unit)}), "hscore", item_id)["points"] == points


@pytest.mark.parametrize(
    "temp, status",
    [(38.0, "not_met"), (38.1, "met"), (100.4, None)],
)
def test_parodi_fever_is_above_38(temp, status):
    if status is None:  # 100.4 °F == 38.0 °C exactly: not > 38
        res = run(temperature=lab(100.4, "[degF]"))
        assert item(res, "parodi2009", "fever")["status"] == "not_met"
    else:
        assert item(run(temperature=temp), "parodi2009", "fever")["status"] == status


@pytest.mark.parametrize("age, points", [(1.6, 37), (1.61, 0), (0.5, 37)])
def test_mh_age(age, points):
    assert item(run(patient={"age_years": age}), "mh_score", "age")["points"] == points
