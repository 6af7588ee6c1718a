"""2016 EULAR/ACR/PRINTO classification criteria for MAS complicating systemic JIA.

Ravelli A, Minoia F, Davì S, et al. 2016 Classification Criteria for Macrophage
Activation Syndrome Complicating Systemic Juvenile Idiopathic Arthritis.
Ann Rheum Dis 2016;75(3):481. doi:10.1136/annrheumdis-2015-208982; Arthritis Rheumatol
2016;68(3):566-576. doi:10.1002/art.39332. (docs/clinical/criteria.md §1)

Population: a febrile patient with known or suspected systemic JIA. Classification
criteria (sensitivity 0.73, specificity 0.99), not diagnostic criteria.

Rule: ferritin > 684 ng/mL AND any 2 of platelets <= 181 x10^9/L, AST > 48 U/L,
triglycerides > 156 mg/dL, fibrinogen <= 360 mg/dL. The paper states no temperature:
the clinician's fever finding is required; fever false -> not met, unknown -> never met.
"""

from __future__ import annotations

from ..analytes import get
from ..batch import SnapshotBatch
from ..logic import NO, all_of, at_least, gt, le
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemResult, ItemSpec

# Thresholds exactly as published (paper units), converted once by the registry.
FERRITIN_GT_NG_ML = 684
PLATELETS_LE_1E9_L = 181
AST_GT_U_L = 48
TRIGLYCERIDES_GT_MG_DL = 156
FIBRINOGEN_LE_MG_DL = 360
MINOR_REQUIRED = 2

_TG_MMOL = get("triglycerides").conversion("mg/dL").apply(float(TRIGLYCERIDES_GT_MG_DL))

SPEC = InstrumentSpec(
    id="ravelli2016",
    title="2016 EULAR/ACR/PRINTO classification criteria for sJIA-MAS",
    citation="Ravelli A, et al. Ann Rheum Dis 2016;75(3):481; Arthritis Rheumatol 2016;68(3):566-576.",
    doi="10.1136/annrheumdis-2015-208982",
    population="Febrile patient with known or suspected systemic JIA (externally studied in AOSD: Ahn 2017, Yao 2021).",
    intended_use="Classification (sensitivity 0.73, specificity 0.99); not a diagnostic test.",
    criteria_section="docs/clinical/criteria.md §1",
    items=(
        ItemSpec("fever", "Febrile patient", ("findings.fever",), "fever present (required)"),
        ItemSpec("ferritin", "Ferritin", ("labs.ferritin",), "> 684 ng/mL (required)"),
        ItemSpec("platelets", "Platelet count", ("labs.platelets",), "<= 181 x10^9/L"),
        ItemSpec("ast", "AST", ("labs.ast",), "> 48 U/L"),
        ItemSpec("triglycerides", "Triglycerides", ("labs.triglycerides",), "> 156 mg/dL (1.76 mmol/L)"),
        ItemSpec("fibrinogen", "Fibrinogen", ("labs.fibrinogen",), "<= 360 mg/dL (3.6 g/L)"),
    ),
    applicable={"sjia": True, "aosd": True},
    population_source="docs/clinical/criteria.md §1",
    cutoff_text="ferritin > 684 ng/mL and at least 2 of 4 laboratory criteria, in a febrile patient",
    notes={"afebrile": "Not met: the patient is not febrile; the 2016 criteria classify febrile patients only."},
)


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    fever = batch.finding("fever")
    items = {
        "fever": fever,
        "ferritin": gt(batch.lab("ferritin"), FERRITIN_GT_NG_ML),
        "platelets": le(batch.lab("platelets"), PLATELETS_LE_1E9_L),
        "ast": gt(batch.lab("ast"), AST_GT_U_L),
        "triglycerides": gt(batch.lab("triglycerides"), _TG_MMOL),
        "fibrinogen": le(batch.lab("fibrinogen"), FIBRINOGEN_LE_MG_DL),
    }
    minor = at_least(MINOR_REQUIRED, items["platelets"], items["ast"], items["triglycerides"], items["fibrinogen"])
    laboratory = all_of(items["ferritin"], minor)
    verdict = all_of(fever, laboratory)
    return InstrumentResult(
        spec=SPEC,
        verdict=verdict,
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items={k: ItemResult(v) for k, v in items.items()},
        # the laboratory part alone (ferritin and 2 of 4), tri-state: used where fever is not recorded
        extras={"laboratory_criteria": laboratory},
        notes={"afebrile": fever == NO},
    )
