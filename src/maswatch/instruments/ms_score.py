"""MS score: MAS versus active systemic JIA without MAS.

Minoia F, Bovis F, Davì S, et al. Development and initial validation of the MS score
for diagnosis of macrophage activation syndrome in systemic juvenile idiopathic
arthritis. Ann Rheum Dis 2019;78(10):1357-1362. doi:10.1136/annrheumdis-2019-215211.
(docs/clinical/criteria.md §4, ARD Table 4)

Population: febrile patient with known or suspected sJIA. Diagnostic aid: MS >= -2.1
suggests MAS (sensitivity 0.85, specificity 0.95, development sample). AOSD option:
cut-off -1.74 (Yao H, et al. Clin Exp Rheumatol 2021, doi:10.55563/clinexprheumatol/k7ri2l;
sensitivity 93.5%, specificity 92.6%), used only when asked for.

MS = 2.44 CNS + 1.54 haemorrhage - 1.30 active arthritis - 0.003 platelets (x10^9/L)
     + 0.001 LDH (U/L) - 0.004 fibrinogen (mg/dL) + 0.0001 ferritin (ng/mL)
"""

from __future__ import annotations

import numpy as np

from ..batch import SnapshotBatch
from ..logic import UNKNOWN, YES, bool_bounds, score_verdict
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemResult, ItemSpec

# (term, snapshot input, coefficient) exactly as ARD Table 4; units are the canonical ones.
COEFFICIENTS = (
    ("cns_involvement", "findings.cns_involvement", 2.44),
    ("hemorrhage", "findings.hemorrhage", 1.54),
    ("active_arthritis", "findings.active_arthritis", -1.30),
    ("platelets", "labs.platelets", -0.003),  # x10^9/L
    ("ldh", "labs.ldh", 0.001),  # U/L
    ("fibrinogen", "labs.fibrinogen", -0.004),  # mg/dL
    ("ferritin", "labs.ferritin", 0.0001),  # ng/mL
)
CUTOFF_SJIA = -2.1
CUTOFF_AOSD = -1.74
SCORE_DECIMALS = 9  # rounding that removes binary noise before comparing with the cut-off

_LABELS = {
    "cns_involvement": "CNS involvement", "hemorrhage": "Haemorrhagic manifestations",
    "active_arthritis": "Active arthritis", "platelets": "Platelet count (x10^9/L)", "ldh": "LDH (U/L)",
    "fibrinogen": "Fibrinogen (mg/dL)", "ferritin": "Ferritin (ng/mL)",
}

SPEC = InstrumentSpec(
    id="ms_score",
    title="MS score (MAS vs active sJIA)",
    citation="Minoia F, et al. Ann Rheum Dis 2019;78(10):1357-1362.",
    doi="10.1136/annrheumdis-2019-215211",
    population="Febrile patient with known or suspected systemic JIA (AOSD cut-off -1.74 from Yao 2021).",
    intended_use="Differentiates MAS from active sJIA without MAS; MS >= -2.1 suggests MAS.",
    criteria_section="docs/clinical/criteria.md §4",
    items=tuple(ItemSpec(term, _LABELS[term], (path,), f"coefficient {coef:+g}") for term, path, coef in COEFFICIENTS),
    applicable={"sjia": True, "aosd": True},
    scored=True,
    population_source="docs/clinical/criteria.md §4",
    cutoff_text="MS >= -2.1 (AOSD option: >= -1.74)",
)


def cutoff(settings: Settings) -> float:
    return CUTOFF_AOSD if settings.ms_score_cutoff == "aosd" else CUTOFF_SJIA


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    items: dict[str, ItemResult] = {}
    for term, path, coef in COEFFICIENTS:
        section, name = path.split(".")
        if section == "findings":
            status = batch.finding(name)
            lo, hi = bool_bounds(status)
        else:
            x = batch.lab(name)
            lo, hi = x.lo, x.hi
            # A continuous term is "scored" (YES) once its value is exact, otherwise unknown.
            status = np.where(x.lo == x.hi, YES, UNKNOWN).astype(np.int8)
        a, b = coef * lo, coef * hi
        items[term] = ItemResult(status=status, points_min=np.minimum(a, b), points_max=np.maximum(a, b))
    score_min = np.round(sum(it.points_min for it in items.values()), SCORE_DECIMALS)
    score_max = np.round(sum(it.points_max for it in items.values()), SCORE_DECIMALS)
    cut = cutoff(settings)
    return InstrumentResult(
        spec=SPEC,
        verdict=score_verdict(score_min, score_max, cut, inclusive=True),
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items=items,
        score_min=score_min,
        score_max=score_max,
        extras={"cutoff": np.full(batch.n, cut)},
        settings_used={"ms_score_cutoff": settings.ms_score_cutoff},
    )
