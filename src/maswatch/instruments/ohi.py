"""Optimized HLH Inflammatory (OHI) index.

Zoref-Lorenz A, Murakami J, Hofstetter L, et al. An improved index for diagnosis and
mortality prediction in malignancy-associated hemophagocytic lymphohistiocytosis.
Blood 2022;139(7):1098-1110. doi:10.1182/blood.2021012764. (docs/clinical/criteria.md §12)

Population: adults with haematological malignancy; not derived in rheumatic disease.
Rule: sCD25 > 3,900 U/mL AND ferritin > 1,000 ng/mL (both strict). Identified
HLH-2004-defining features with sensitivity 84%, specificity 81%; OHI+ predicted
mortality (HR 4.3).
"""

from __future__ import annotations

from ..batch import SnapshotBatch
from ..logic import all_of, gt
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemResult, ItemSpec

SCD25_GT_U_ML = 3900
FERRITIN_GT_NG_ML = 1000

SPEC = InstrumentSpec(
    id="ohi",
    title="Optimized HLH Inflammatory (OHI) index",
    citation="Zoref-Lorenz A, et al. Blood 2022;139(7):1098-1110.",
    doi="10.1182/blood.2021012764",
    population="Adults with haematological malignancy (malignancy-associated HLH); not derived in rheumatic disease.",
    intended_use="Diagnosis of HLH-defining features (sensitivity 84%, specificity 81%) and mortality risk.",
    criteria_section="docs/clinical/criteria.md §12",
    items=(
        ItemSpec("scd25", "sCD25 (soluble IL-2 receptor)", ("labs.scd25",), "> 3,900 U/mL"),
        ItemSpec("ferritin", "Ferritin", ("labs.ferritin",), "> 1,000 ng/mL"),
    ),
    applicable={c: True for c in ("sjia", "aosd", "sle", "other_rheumatic", "none")},
    age_group="adult",  # derived in adults with haematological malignancy (Zoref-Lorenz 2022)
    requires_flag="malignancy",
    population_source="docs/clinical/criteria.md §12",
    cutoff_text="sCD25 > 3,900 U/mL and ferritin > 1,000 ng/mL",
)


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    items = {
        "scd25": gt(batch.lab("scd25"), SCD25_GT_U_ML),
        "ferritin": gt(batch.lab("ferritin"), FERRITIN_GT_NG_ML),
    }
    return InstrumentResult(
        spec=SPEC,
        verdict=all_of(items["scd25"], items["ferritin"]),
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items={k: ItemResult(v) for k, v in items.items()},
    )
