"""Analyte registry: codes, exact conversions at published cut-offs, refusals that name what was wrong."""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from maswatch import analytes
from maswatch.errors import UnitError

ALL = analytes.registry()


def test_registry_has_every_snapshot_lab_and_temperature():
    assert set(analytes.LAB_IDS) | {"temperature"} == set(ALL)


@pytest.mark.parametrize(
    "aid, loinc",
    [("ferritin", "2276-4"), ("platelets", "777-3"), ("ast", "1920-8"), ("alt", "1742-6"), ("ldh", "2532-0"),
     ("triglycerides", "2571-8"), ("triglycerides", "14927-8"), ("fibrinogen", "3255-7"), ("esr", "4537-7"),
     ("crp", "1988-5"), ("wbc", "6690-2"), ("neutrophils", "751-8"), ("hemoglobin", "718-7"),
     ("hemoglobin", "59260-0"), ("temperature", "8310-5"), ("d_dimer", "48065-7")],
)
def test_loinc_codes_from_criteria_section_15(aid, loinc):
    assert analytes.by_loinc()[loinc] == aid


def test_percentage_neutrophil_code_is_not_an_absolute_count():
    assert "770-8" not in analytes.by_loinc()


@pytest.mark.parametrize("concept, aid", [(3001122, "ferritin"), (3024929, "platelets"), (3013721, "ast"),
                                          (3016407, "fibrinogen"), (3022192, "triglycerides"), (3020891, "temperature")])
def test_omop_concepts(concept, aid):
    assert analytes.by_omop_concept()[concept] == aid


@pytest.mark.parametrize("itemid, aid", [(50924, "ferritin"), (51265, "platelets"), (52075, "neutrophils"),
                                         (51214, "fibrinogen"), (51000, "triglycerides"), (51288, "esr")])
def test_mimic_itemids(itemid, aid):
    assert analytes.by_mimic_itemid()[itemid] == aid


def test_mimic_percentage_and_ddu_items_absent():
    assert 51256 not in analytes.by_mimic_itemid()  # neutrophils %
    assert 52551 not in analytes.by_mimic_itemid()  # D-dimer DDU


@pytest.mark.parametrize(
    "aid, value, unit, canonical",
    [
        ("fibrinogen", 3.6, "g/L", 360.0),  # 3.6 * 100 is 360.00000000000006 in binary: rounding makes it exact
        ("fibrinogen", 1.5, "g/L", 150.0),
        ("fibrinogen", 2.5, "g/L", 250.0),
        ("fibrinogen", 1.31, "g/L", 131.0),
        ("platelets", 181000, "/uL", 181.0),
        ("platelets", 181, "K/uL", 181.0),
        ("platelets", 110000, "/mm3", 110.0),
        ("wbc", 5000, "cells/uL", 5.0),
        ("neutrophils", 1000, "/uL", 1.0),
        ("ast", 0.8, "ukat/L", 48.0),
        ("ast", 48, "IU/L", 48.0),
        ("hemoglobin", 90, "g/L", 9.0),
        ("hemoglobin", 92, "g/L", 9.2),
        ("temperature", 101.3, "[degF]", 38.5),
        ("temperature", 100.4, "°F", 38.0),
        ("crp", 3.5, "mg/dL", 35.0),
        ("ferritin", 684, "ug/L", 684.0),
        ("triglycerides", 265.71, "mg/dL", 3.0),
    ],
)
def test_exact_conversions_at_published_cutoffs(aid, value, unit, canonical):
    assert analytes.get(aid).to_canonical(value, unit) == canonical


def test_triglyceride_factor_is_88_57():
    assert analytes.get("triglycerides").to_canonical(156, "mg/dL") == pytest.approx(156 / 88.57, rel=1e-11)


def test_hemoglobin_molar_factor_is_0_6206():
    assert analytes.get("hemoglobin").to_canonical(5.59, "mmol/L") == pytest.approx(5.59 / 0.6206, rel=1e-11)


@pytest.mark.parametrize("spelling", ["mg/dl", "MG/DL", " mg / dL ", "mg/dL"])
def test_unit_spellings_fold(spelling):
    assert analytes.get("fibrinogen").to_canonical(300, spelling) == 300.0


def test_micro_sign_spellings():
    assert analytes.get("ferritin").to_canonical(700, "µg/L") == 700.0
    assert analytes.get("ferritin").to_canonical(700, "mcg/L") == 700.0


def test_unknown_unit_refused_with_everything_named():
    with pytest.raises(UnitError) as e:
        analytes.get("platelets").to_canonical(150, "mg/dL", field_path="labs.platelets")
    msg = str(e.value)
    assert e.value.field == "labs.platelets"
    for part in ("Platelet count", "150", "mg/dL", "Accepted units", "10*9/L"):
        assert part in msg


def test_missing_unit_refused_never_assumed():
    with pytest.raises(UnitError, match="no unit"):
        analytes.get("ferritin").to_canonical(5000, None)
    with pytest.raises(UnitError, match="no unit"):
        analytes.get("ferritin").to_canonical(5000, "  ")


def test_implausible_value_for_unit_refused():
    with pytest.raises(UnitError, match="implausible"):
        analytes.get("platelets").to_canonical(150000, "10*9/L")


@pytest.mark.parametrize("aid, unit", [("scd25", "pg/mL"), ("d_dimer", "ng/mL"), ("d_dimer", "ng/mL{DDU}"),
                                       ("ferritin", "pmol/L"), ("neutrophils", "%"), ("fibrinogen", "umol/L")])
def test_recognised_but_refused_units_say_why(aid, unit):
    with pytest.raises(UnitError, match="refused"):
        analytes.get(aid).to_canonical(100, unit)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "12"])
def test_non_numbers_refused(bad):
    with pytest.raises(UnitError):
        analytes.get("ferritin").to_canonical(bad, "ng/mL")


def test_every_canonical_unit_converts_by_identity_and_plausible_range_is_ordered():
    for a in ALL.values():
        assert a.units[a.canonical_unit].is_identity
        assert a.plausible[0] < a.plausible[1]


@given(st.sampled_from(sorted(ALL)), st.data())
def test_conversion_is_increasing_and_array_equals_scalar(aid, data):
    a = ALL[aid]
    unit = data.draw(st.sampled_from(a.accepted_units))
    conv = a.conversion(unit)
    xs = data.draw(st.lists(st.floats(0.01, 1e5), min_size=2, max_size=5))
    arr = conv.apply(np.array(xs))
    for x, y in zip(xs, arr):
        assert conv.apply(x) == y
    order = np.argsort(xs, kind="stable")
    assert np.all(np.diff(np.asarray(arr)[order]) >= 0)


def test_multiplicative_factors_agree_with_ucum():
    """Cross-check our factors with a maintained UCUM implementation wherever the spelling is UCUM."""
    ucumvert = pytest.importorskip("ucumvert")
    ureg = ucumvert.PintUcumRegistry()
    checked = []
    for a in ALL.values():
        target = ureg.from_ucum(a.canonical_unit) if "{" not in a.canonical_unit else None
        for spelling, conv in a.units.items():
            if target is None or conv.subtract or spelling == a.canonical_unit:
                continue
            try:
                q = ureg.from_ucum(spelling)
                factor = (1 * q).to(target).magnitude
            except Exception:
                continue  # lab spellings (K/uL, IU/L) and mass<->molar: explicit mappings in our table
            assert math.isclose(factor, conv.apply(1.0), rel_tol=1e-9), (a.id, spelling, factor)
            checked.append((a.id, spelling))
    # UCUM spellings we rely on must all have been checked
    for expected in [("platelets", "10*3/uL"), ("fibrinogen", "g/L"), ("ast", "ukat/L"), ("crp", "mg/dL"),
                     ("hemoglobin", "g/L"), ("ferritin", "ug/L"), ("il18", "ng/mL")]:
        assert expected in checked


@pytest.mark.parametrize("spelling", ["×10⁹/L", "10⁹/L", "x10³/µL", "× 10^9/L", "10*9/l"])
def test_typographic_variants_of_accepted_spellings(spelling):
    assert analytes.get("platelets").to_canonical(150, spelling) == 150.0


def test_a_superscript_is_never_read_as_a_digit():
    with pytest.raises(UnitError):
        analytes.get("platelets").to_canonical(150, "109/L")
