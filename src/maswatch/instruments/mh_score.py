"""MH score: sJIA-associated MAS versus primary HLH.

Minoia F, Bovis F, Davì S, et al. Development and Initial Validation of the Macrophage
Activation Syndrome/Primary Hemophagocytic Lymphohistiocytosis Score, a Diagnostic Tool
that Differentiates Primary Hemophagocytic Lymphohistiocytosis from Macrophage
Activation Syndrome. J Pediatr 2017;189:72-78. doi:10.1016/j.jpeds.2017.06.005
(DOI UNVERIFIED). (docs/clinical/criteria.md §5)

Population: a child with an HLH/MAS picture where the question is primary HLH versus
sJIA-associated MAS. Points (0-123) per item as published; the cut-off (>= 60 favours
primary HLH) is UNVERIFIED and configurable.
"""

from __future__ import annotations

import numpy as np

from ..batch import SnapshotBatch
from ..logic import le, score_verdict
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemSpec, flag_points, total

AGE_LE_YEARS = 1.6
AGE_POINTS = 37
NEUTROPHILS_LE_1E9_L = 1.4
NEUTROPHILS_POINTS = 37
FIBRINOGEN_LE_MG_DL = 131
FIBRINOGEN_POINTS = 15
SPLENOMEGALY_POINTS = 12
PLATELETS_LE_1E9_L = 78
PLATELETS_POINTS = 11
HEMOGLOBIN_LE_G_DL = 8.3
HEMOGLOBIN_POINTS = 11
MAX_SCORE = 123

SPEC = InstrumentSpec(
    id="mh_score",
    title="MH score (primary HLH vs sJIA-associated MAS)",
    citation="Minoia F, et al. J Pediatr 2017;189:72-78.",
    doi="10.1016/j.jpeds.2017.06.005",
    population="Children with an HLH/MAS picture: primary HLH versus sJIA-associated MAS.",
    intended_use="Differential diagnosis; a high score favours primary HLH (cut-off UNVERIFIED, default >= 60).",
    criteria_section="docs/clinical/criteria.md §5",
    items=(
        ItemSpec("age", "Age at onset", ("patient.age_years",), "<= 1.6 years: 37"),
        ItemSpec("neutrophils", "Neutrophil count", ("labs.neutrophils",), "<= 1.4 x10^9/L: 37"),
        ItemSpec("fibrinogen", "Fibrinogen", ("labs.fibrinogen",), "<= 131 mg/dL: 15"),
        ItemSpec("splenomegaly", "Splenomegaly", ("findings.splenomegaly",), "present: 12"),
        ItemSpec("platelets", "Platelet count", ("labs.platelets",), "<= 78 x10^9/L: 11"),
        ItemSpec("hemoglobin", "Haemoglobin", ("labs.hemoglobin",), "<= 8.3 g/dL: 11"),
    ),
    applicable={"sjia": True, "none": True},
    age_group="child",  # derivation: children with sJIA-MAS or primary HLH (Minoia 2017)
    population_source="docs/clinical/criteria.md §5",
    scored=True,
    cutoff_text="MH score >= 60 favours primary HLH (UNVERIFIED cut-off)",
)


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    items = {
        "age": flag_points(le(batch.age, AGE_LE_YEARS), AGE_POINTS),
        "neutrophils": flag_points(le(batch.lab("neutrophils"), NEUTROPHILS_LE_1E9_L), NEUTROPHILS_POINTS),
        "fibrinogen": flag_points(le(batch.lab("fibrinogen"), FIBRINOGEN_LE_MG_DL), FIBRINOGEN_POINTS),
        "splenomegaly": flag_points(batch.finding("splenomegaly"), SPLENOMEGALY_POINTS),
        "platelets": flag_points(le(batch.lab("platelets"), PLATELETS_LE_1E9_L), PLATELETS_POINTS),
        "hemoglobin": flag_points(le(batch.lab("hemoglobin"), HEMOGLOBIN_LE_G_DL), HEMOGLOBIN_POINTS),
    }
    lo, hi = total(items)
    return InstrumentResult(
        spec=SPEC,
        verdict=score_verdict(lo, hi, settings.mh_score_cutoff),
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items=items,
        score_min=lo,
        score_max=hi,
        extras={"cutoff": np.full(batch.n, float(settings.mh_score_cutoff))},
        unverified=settings.unverified("mh_score"),
        settings_used={"mh_score_cutoff": settings.mh_score_cutoff},
    )
