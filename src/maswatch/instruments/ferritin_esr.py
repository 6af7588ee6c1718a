"""Ferritin:ESR ratio: MAS versus active systemic JIA.

Eloseily EMA, Minoia F, Crayne CB, et al. Ferritin to Erythrocyte Sedimentation Rate
Ratio: Simple Measure to Identify Macrophage Activation Syndrome in Systemic Juvenile
Idiopathic Arthritis. ACR Open Rheumatol 2019;1(6):345-349. doi:10.1002/acr2.11048.
(docs/clinical/criteria.md §6)

Population: sJIA (MAS vs active sJIA without MAS). Cut-off 21.5 (Youden): sensitivity
82%, specificity 78%. The direction at the cut-off is UNVERIFIED (default >=,
configurable). The ratio needs both measurements: a missing ferritin or ESR leaves it
undetermined, and an ESR of 0 mm/h makes it undefined (indeterminate, with a note).
Censored results are used honestly: ferritin >40,000 with ESR 20 gives a ratio > 2,000.
"""

from __future__ import annotations

import numpy as np

from ..batch import SnapshotBatch
from ..logic import UNKNOWN, score_verdict
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemResult, ItemSpec

CUTOFF = 21.5
RATIO_DECIMALS = 9

SPEC = InstrumentSpec(
    id="ferritin_esr",
    title="Ferritin:ESR ratio (MAS vs active sJIA)",
    citation="Eloseily EMA, et al. ACR Open Rheumatol 2019;1(6):345-349.",
    doi="10.1002/acr2.11048",
    population="Systemic JIA: MAS versus active sJIA without MAS.",
    intended_use="Differential aid (ratio >= 21.5: sensitivity 82%, specificity 78%).",
    criteria_section="docs/clinical/criteria.md §6",
    items=(
        ItemSpec("ratio", "Ferritin (ng/mL) / ESR (mm/h)", ("labs.ferritin", "labs.esr"), ">= 21.5 (direction UNVERIFIED)"),
    ),
    applicable={"sjia": True},
    population_source="docs/clinical/criteria.md §6",
    cutoff_text="ferritin:ESR >= 21.5",
    notes={"esr_zero": "ESR is 0 mm/h: the ratio is undefined (not addressed by the paper), so the result is indeterminate."},
)


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    ferritin, esr = batch.lab("ferritin"), batch.lab("esr")
    both = ferritin.present & esr.present
    esr_zero = esr.present & (esr.hi == 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r_min = np.round(ferritin.lo / esr.hi, RATIO_DECIMALS)
        r_max = np.round(np.where(esr.lo > 0, ferritin.hi / esr.lo, np.inf), RATIO_DECIMALS)
    defined = both & ~esr_zero
    verdict = score_verdict(
        np.where(defined, r_min, -np.inf), np.where(defined, r_max, np.inf), CUTOFF,
        inclusive=settings.ferritin_esr_cutoff_inclusive,
    )
    verdict = np.where(defined, verdict, np.where(both & esr_zero, UNKNOWN, verdict)).astype(np.int8)
    r_min = np.where(defined, r_min, np.nan)
    r_max = np.where(defined, r_max, np.nan)
    return InstrumentResult(
        spec=SPEC,
        verdict=verdict,
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items={"ratio": ItemResult(verdict)},
        extras={
            "ratio": np.where(r_min == r_max, r_min, np.nan),
            "ratio_min": r_min,
            "ratio_max": r_max,
        },
        notes={"esr_zero": esr_zero},
        unverified=settings.unverified("ferritin_esr"),
        settings_used={"ferritin_esr_cutoff_inclusive": settings.ferritin_esr_cutoff_inclusive},
    )


