"""Preliminary diagnostic guidelines for MAS in juvenile systemic lupus erythematosus.

Parodi A, Davì S, Pringe AB, et al. Macrophage activation syndrome in juvenile systemic
lupus erythematosus: a multinational multicenter study of thirty-eight patients.
Arthritis Rheum 2009;60(11):3388-3399. doi:10.1002/art.24883. (docs/clinical/criteria.md §7)

Population: patients with active juvenile SLE. Preliminary diagnostic guidelines.
Rule: >= 1 clinical AND >= 2 laboratory criteria. Fever is graded by the measured
temperature (> 38 °C). Hepatomegaly and splenomegaly are published as ">= 3 cm below
the costal arch"; the snapshot's findings are taken to mean that.
"""

from __future__ import annotations

from ..analytes import get
from ..batch import SnapshotBatch
from ..logic import all_of, at_least, gt, le
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemResult, ItemSpec

FEVER_GT_C = 38.0
CYTOPENIA_WBC_LE_1E9_L = 4.0
CYTOPENIA_HEMOGLOBIN_LE_G_DL = 9.0  # <= 90 g/L
CYTOPENIA_PLATELETS_LE_1E9_L = 150
CYTOPENIA_LINEAGES_REQUIRED = 2
AST_GT_U_L = 40
LDH_GT_U_L = 567
FIBRINOGEN_LE_G_L = 1.5
TRIGLYCERIDES_GT_MG_DL = 178
FERRITIN_GT_UG_L = 500
CLINICAL_REQUIRED = 1
LABORATORY_REQUIRED = 2

_FIBRINOGEN_MG_DL = get("fibrinogen").conversion("g/L").apply(FIBRINOGEN_LE_G_L)
_TG_MMOL = get("triglycerides").conversion("mg/dL").apply(float(TRIGLYCERIDES_GT_MG_DL))

_CLINICAL = ("fever", "hepatomegaly", "splenomegaly", "hemorrhage", "cns_involvement")
_LABORATORY = ("cytopenia", "ast", "ldh", "fibrinogen", "triglycerides", "ferritin")

SPEC = InstrumentSpec(
    id="parodi2009",
    title="2009 preliminary diagnostic guidelines for MAS in juvenile SLE",
    citation="Parodi A, et al. Arthritis Rheum 2009;60(11):3388-3399.",
    doi="10.1002/art.24883",
    population="Patients with active juvenile systemic lupus erythematosus.",
    intended_use="Preliminary diagnostic guidelines (>= 1 clinical and >= 2 laboratory criteria).",
    criteria_section="docs/clinical/criteria.md §7",
    items=(
        ItemSpec("fever", "Fever (clinical)", ("findings.temperature",), "> 38 °C"),
        ItemSpec("hepatomegaly", "Hepatomegaly (clinical)", ("findings.hepatomegaly",), ">= 3 cm below costal arch"),
        ItemSpec("splenomegaly", "Splenomegaly (clinical)", ("findings.splenomegaly",), ">= 3 cm below costal arch"),
        ItemSpec("hemorrhage", "Haemorrhagic manifestations (clinical)", ("findings.hemorrhage",),
                 "purpura, easy bruising, mucosal bleeding"),
        ItemSpec("cns_involvement", "CNS dysfunction (clinical)", ("findings.cns_involvement",),
                 "irritability, disorientation, lethargy, headache, seizures, coma"),
        ItemSpec("cytopenia", "Cytopenia, >= 2 lineages (laboratory)", ("labs.wbc", "labs.hemoglobin", "labs.platelets"),
                 "WBC <= 4.0 x10^9/L, Hb <= 90 g/L, platelets <= 150 x10^9/L"),
        ItemSpec("ast", "AST (laboratory)", ("labs.ast",), "> 40 U/L"),
        ItemSpec("ldh", "LDH (laboratory)", ("labs.ldh",), "> 567 U/L"),
        ItemSpec("fibrinogen", "Fibrinogen (laboratory)", ("labs.fibrinogen",), "<= 1.5 g/L"),
        ItemSpec("triglycerides", "Triglycerides (laboratory)", ("labs.triglycerides",), "> 178 mg/dL (2.01 mmol/L)"),
        ItemSpec("ferritin", "Ferritin (laboratory)", ("labs.ferritin",), "> 500 ug/L"),
    ),
    applicable={"sle": True},
    age_group="child",  # juvenile SLE (Parodi 2009); the paper's age limit is UNVERIFIED (setting adult_age_years)
    population_source="docs/clinical/criteria.md §7",
    cutoff_text=">= 1 clinical and >= 2 laboratory criteria",
)


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    items = {
        "fever": gt(batch.lab("temperature"), FEVER_GT_C),
        "hepatomegaly": batch.finding("hepatomegaly"),
        "splenomegaly": batch.finding("splenomegaly"),
        "hemorrhage": batch.finding("hemorrhage"),
        "cns_involvement": batch.finding("cns_involvement"),
        "cytopenia": at_least(
            CYTOPENIA_LINEAGES_REQUIRED,
            le(batch.lab("wbc"), CYTOPENIA_WBC_LE_1E9_L),
            le(batch.lab("hemoglobin"), CYTOPENIA_HEMOGLOBIN_LE_G_DL),
            le(batch.lab("platelets"), CYTOPENIA_PLATELETS_LE_1E9_L),
        ),
        "ast": gt(batch.lab("ast"), AST_GT_U_L),
        "ldh": gt(batch.lab("ldh"), LDH_GT_U_L),
        "fibrinogen": le(batch.lab("fibrinogen"), _FIBRINOGEN_MG_DL),
        "triglycerides": gt(batch.lab("triglycerides"), _TG_MMOL),
        "ferritin": gt(batch.lab("ferritin"), FERRITIN_GT_UG_L),
    }
    verdict = all_of(
        at_least(CLINICAL_REQUIRED, *(items[k] for k in _CLINICAL)),
        at_least(LABORATORY_REQUIRED, *(items[k] for k in _LABORATORY)),
    )
    return InstrumentResult(
        spec=SPEC,
        verdict=verdict,
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items={k: ItemResult(v) for k, v in items.items()},
        extras={},
        unverified=settings.unverified("parodi2009"),
        settings_used={"adult_age_years": settings.adult_age_years},
    )
