"""HLH-2004 diagnostic criteria.

Henter JI, Horne A, Aricó M, et al. HLH-2004: Diagnostic and therapeutic guidelines for
hemophagocytic lymphohistiocytosis. Pediatr Blood Cancer 2007;48(2):124-131.
doi:10.1002/pbc.21039. (docs/clinical/criteria.md §2)

Population: developed for children with (familial) HLH; widely applied to secondary
HLH/MAS and adults but not validated for MAS. Diagnostic guideline (expert opinion).

Rule: a molecular diagnosis consistent with HLH, OR >= 5 of 8 criteria. Directions as
the primary: cytopenias <, ferritin >=, triglycerides >=, fibrinogen <=, sCD25 >=.
The two routes are also reported apart: ``clinical_criteria`` (the 5-of-8 route: met /
not_met / indeterminate) and ``molecular_route`` (met / not_met / not_assessed). The
overall verdict stays the published OR; alert levels and episode onset use the clinical
route, because a molecular diagnosis is a lifelong patient fact, not a state at time t.

Criterion 5 (haemophagocytosis in marrow, spleen or lymph nodes) requires "no evidence
of malignancy" (Table 2): a recorded malignancy makes it not countable; when malignancy
status is not recorded the haemophagocytosis still counts and the result says so.
Fever is the clinician's finding; only when it is not given does a temperature at or
above a configurable value (default 38.5 °C, UNVERIFIED) count as fever (and one below it
as no fever). When both are given and disagree, the finding is used and the result says
so: the two inputs can each settle the item, so contradictory inputs cannot both be
honoured.
"""

from __future__ import annotations

import numpy as np

from ..batch import SnapshotBatch
from ..logic import NO, TRI, UNKNOWN, YES, any_of, at_least, count_met, count_possible, either, ge, le, lt
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemResult, ItemSpec

HEMOGLOBIN_LT_G_DL = 9.0  # < 90 g/L
HEMOGLOBIN_INFANT_LT_G_DL = 10.0  # < 100 g/L in infants < 4 weeks
INFANT_AGE_LT_YEARS = 28 / 365.25  # 4 weeks
PLATELETS_LT_1E9_L = 100
NEUTROPHILS_LT_1E9_L = 1.0
CYTOPENIA_LINEAGES_REQUIRED = 2
TRIGLYCERIDES_GE_MMOL_L = 3.0
FIBRINOGEN_LE_MG_DL = 150  # 1.5 g/L
FERRITIN_GE_UG_L = 500
SCD25_GE_U_ML = 2400
CRITERIA_REQUIRED = 5

SPEC = InstrumentSpec(
    id="hlh2004",
    title="HLH-2004 diagnostic criteria",
    citation="Henter JI, et al. Pediatr Blood Cancer 2007;48(2):124-131.",
    doi="10.1002/pbc.21039",
    population="Children with (familial) HLH; applied to secondary HLH and adults, not validated for MAS.",
    intended_use="Diagnosis of HLH (expert consensus; no derivation statistics).",
    criteria_section="docs/clinical/criteria.md §2",
    items=(
        ItemSpec("molecular_diagnosis", "Molecular diagnosis consistent with HLH", ("patient.hlh_molecular_diagnosis",),
                 "pathogenic variant in an HLH-associated gene (sufficient alone)"),
        ItemSpec("fever", "Fever", ("findings.fever", "findings.temperature"),
                 "fever (finding; if not given, temperature >= configured value)"),
        ItemSpec("splenomegaly", "Splenomegaly", ("findings.splenomegaly",), "present"),
        ItemSpec("cytopenias", "Cytopenias (>= 2 of 3 lineages)",
                 ("labs.hemoglobin", "labs.platelets", "labs.neutrophils", "patient.age_years"),
                 "Hb < 90 g/L (< 100 g/L under 4 weeks), platelets < 100 x10^9/L, neutrophils < 1.0 x10^9/L"),
        ItemSpec("triglycerides_fibrinogen", "Hypertriglyceridaemia and/or hypofibrinogenaemia",
                 ("labs.triglycerides", "labs.fibrinogen"), "fasting TG >= 3.0 mmol/L or fibrinogen <= 1.5 g/L"),
        ItemSpec("hemophagocytosis", "Haemophagocytosis (marrow, spleen or lymph nodes)",
                 ("findings.marrow_hemophagocytosis", "findings.tissue_hemophagocytosis"),
                 "present, with no evidence of malignancy (not counted when a malignancy is recorded)"),
        ItemSpec("nk_activity", "Low or absent NK-cell activity", ("findings.nk_activity_low",), "low or absent"),
        ItemSpec("ferritin", "Ferritin", ("labs.ferritin",), ">= 500 ug/L"),
        ItemSpec("scd25", "sCD25 (soluble IL-2 receptor)", ("labs.scd25",), ">= 2,400 U/mL"),
    ),
    applicable={c: True for c in ("sjia", "aosd", "sle", "other_rheumatic", "none")},
    population_source="docs/clinical/criteria.md §2",
    cutoff_text="molecular diagnosis, or at least 5 of 8 criteria",
    notes={
        "molecular": "Met by a molecular diagnosis consistent with HLH (criterion 1).",
        "fever_conflict": "The fever finding contradicts the measured temperature (judged against the fever "
                          "temperature setting); the clinician's finding was used. Please check both.",
        "malignancy_recorded": "Haemophagocytosis is present but a malignancy is recorded: criterion 5 requires no "
                               "evidence of malignancy and is not counted (Henter 2007, Table 2).",
        "malignancy_unknown": "Haemophagocytosis counted for criterion 5, but malignancy status is not recorded: "
                              "the criterion requires no evidence of malignancy - confirm.",
        "molecular_not_assessed": "Molecular route not assessed (no molecular diagnosis recorded): the verdict "
                                  "stays open on that route; clinical_criteria gives the 5-of-8 route alone.",
    },
    extra_names={"clinical_criteria": ("not_met", "indeterminate", "met"),
                 "molecular_route": ("not_met", "not_assessed", "met")},
)

_COUNTED = ("fever", "splenomegaly", "cytopenias", "triglycerides_fibrinogen", "hemophagocytosis",
            "nk_activity", "ferritin", "scd25")


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    fever_finding = batch.finding("fever")
    fever_by_temperature = ge(batch.lab("temperature"), settings.hlh2004_fever_temperature_c)
    fever = np.where(fever_finding == UNKNOWN, fever_by_temperature, fever_finding)

    hemophagocytosis = any_of(batch.finding("marrow_hemophagocytosis"), batch.finding("tissue_hemophagocytosis"))
    malignancy = batch.flag("malignancy")
    infant = lt(batch.age, INFANT_AGE_LT_YEARS)
    hb = batch.lab("hemoglobin")
    anaemia = either(infant, lt(hb, HEMOGLOBIN_INFANT_LT_G_DL), lt(hb, HEMOGLOBIN_LT_G_DL))
    cytopenias = at_least(
        CYTOPENIA_LINEAGES_REQUIRED,
        anaemia,
        lt(batch.lab("platelets"), PLATELETS_LT_1E9_L),
        lt(batch.lab("neutrophils"), NEUTROPHILS_LT_1E9_L),
    )
    items = {
        "molecular_diagnosis": batch.flag("hlh_molecular_diagnosis"),
        "fever": fever,
        "splenomegaly": batch.finding("splenomegaly"),
        "cytopenias": cytopenias,
        "triglycerides_fibrinogen": any_of(
            ge(batch.lab("triglycerides"), TRIGLYCERIDES_GE_MMOL_L), le(batch.lab("fibrinogen"), FIBRINOGEN_LE_MG_DL)
        ),
        "hemophagocytosis": np.where(malignancy == YES, NO, hemophagocytosis).astype(TRI, copy=False),
        "nk_activity": batch.finding("nk_activity_low"),
        "ferritin": ge(batch.lab("ferritin"), FERRITIN_GE_UG_L),
        "scd25": ge(batch.lab("scd25"), SCD25_GE_U_ML),
    }
    counted = [items[k] for k in _COUNTED]
    molecular = items["molecular_diagnosis"]
    clinical = at_least(CRITERIA_REQUIRED, *counted)
    verdict = any_of(molecular, clinical)
    return InstrumentResult(
        spec=SPEC,
        verdict=verdict,
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items={k: ItemResult(v) for k, v in items.items()},
        extras={"criteria_met": count_met(*counted), "criteria_possible": count_possible(*counted),
                "clinical_criteria": clinical, "molecular_route": molecular},
        notes={
            "molecular": molecular == YES,
            # finding and temperature both known and disagreeing: the finding is used (module doc)
            "fever_conflict": (fever_finding != UNKNOWN) & (fever_by_temperature != UNKNOWN)
                              & (fever_finding != fever_by_temperature),
            "malignancy_recorded": (hemophagocytosis == YES) & (malignancy == YES),
            "malignancy_unknown": (hemophagocytosis == YES) & (malignancy == UNKNOWN),
            "molecular_not_assessed": (molecular == UNKNOWN) & (clinical != YES),
        },
        unverified=settings.unverified("hlh2004"),
        settings_used={"hlh2004_fever_temperature_c": settings.hlh2004_fever_temperature_c},
    )
