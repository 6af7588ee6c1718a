"""HScore for reactive haemophagocytic syndrome.

Fardet L, Galicier L, Lambotte O, et al. Development and validation of the HScore, a
score for the diagnosis of reactive hemophagocytic syndrome. Arthritis Rheumatol
2014;66(9):2613-2620. doi:10.1002/art.38690. (docs/clinical/criteria.md §3)

Population: adults with suspected reactive (secondary) haemophagocytic syndrome.
Diagnostic score (0-337). Best cut-off 169: sensitivity 93%, specificity 86%.

Probability: the paper's score -> probability table (§3), linearly interpolated between
its rows; "<1%" at <= 90 and ">99%" at >= 250 as published. Never a fitted curve.
Zero cytopenic lineages scores 0 like one lineage (the paper's lowest band is "1 lineage").
"""

from __future__ import annotations

import numpy as np

from ..analytes import get
from ..batch import SnapshotBatch
from ..logic import count_met, count_possible, le, score_verdict
from ..settings import DEFAULT, Settings
from ._base import InstrumentResult, InstrumentSpec, ItemResult, ItemSpec, banded, flag_points, total

IMMUNOSUPPRESSION_POINTS = 18
TEMPERATURE_BANDS_C = (38.4, 39.4)  # < 38.4: 0; 38.4-39.4: 33; > 39.4: 49
TEMPERATURE_POINTS = (0, 33, 49)
ORGANOMEGALY_POINTS = (0, 23, 38)  # none / hepatomegaly or splenomegaly / both
CYTOPENIA_HEMOGLOBIN_LE_G_DL = 9.2
CYTOPENIA_WBC_LE_1E9_L = 5.0
CYTOPENIA_PLATELETS_LE_1E9_L = 110
CYTOPENIA_POINTS = (0, 0, 24, 34)  # by number of lineages 0 / 1 / 2 / 3
FERRITIN_BANDS_NG_ML = (2000, 6000)  # < 2000: 0; 2000-6000: 35; > 6000: 50
FERRITIN_POINTS = (0, 35, 50)
TRIGLYCERIDES_BANDS_MMOL_L = (1.5, 4.0)  # < 1.5: 0; 1.5-4: 44; > 4: 64
TRIGLYCERIDES_POINTS = (0, 44, 64)
FIBRINOGEN_LE_G_L = 2.5  # <= 2.5 g/L: 30
FIBRINOGEN_POINTS = 30
AST_GE_U_L = 30  # >= 30 IU/L: 19
AST_POINTS = 19
MARROW_HEMOPHAGOCYTOSIS_POINTS = 35
CUTOFF = 169
MAX_SCORE = 337

# Fardet 2014, score -> probability of reactive haemophagocytic syndrome (docs/clinical/criteria.md §3).
PROBABILITY_TABLE = (
    (90, 0.01), (100, 0.01), (110, 0.03), (120, 0.05), (130, 0.09), (140, 0.16), (150, 0.25),
    (160, 0.40), (170, 0.54), (180, 0.70), (190, 0.80), (200, 0.88), (210, 0.93), (220, 0.96),
    (230, 0.98), (240, 0.99), (250, 0.99),
)
PROBABILITY_FLOOR_SCORE = 90  # "<1%" at or below
PROBABILITY_CEILING_SCORE = 250  # ">99%" at or above
_SCORES = np.array([s for s, _ in PROBABILITY_TABLE], dtype=np.float64)
_PROBS = np.array([p for _, p in PROBABILITY_TABLE], dtype=np.float64)
_FIBRINOGEN_MG_DL = get("fibrinogen").conversion("g/L").apply(FIBRINOGEN_LE_G_L)

SPEC = InstrumentSpec(
    id="hscore",
    title="HScore (reactive haemophagocytic syndrome)",
    citation="Fardet L, et al. Arthritis Rheumatol 2014;66(9):2613-2620.",
    doi="10.1002/art.38690",
    population="Adults with suspected reactive (secondary) haemophagocytic syndrome.",
    intended_use="Diagnostic probability; best cut-off 169 (sensitivity 93%, specificity 86%).",
    criteria_section="docs/clinical/criteria.md §3",
    items=(
        ItemSpec("immunosuppression", "Known underlying immunosuppression", ("patient.known_immunosuppression",),
                 "HIV or long-term immunosuppressive therapy: 18"),
        ItemSpec("temperature", "Temperature", ("findings.temperature",), "< 38.4 °C: 0; 38.4-39.4: 33; > 39.4: 49"),
        ItemSpec("organomegaly", "Organomegaly", ("findings.hepatomegaly", "findings.splenomegaly"),
                 "hepatomegaly or splenomegaly: 23; both: 38"),
        ItemSpec("cytopenias", "Cytopenias (lineages)", ("labs.hemoglobin", "labs.wbc", "labs.platelets"),
                 "Hb <= 9.2 g/dL, WBC <= 5 x10^9/L, platelets <= 110 x10^9/L; 2 lineages: 24, 3: 34"),
        ItemSpec("ferritin", "Ferritin", ("labs.ferritin",), "< 2,000 ng/mL: 0; 2,000-6,000: 35; > 6,000: 50"),
        ItemSpec("triglycerides", "Triglycerides", ("labs.triglycerides",), "< 1.5 mmol/L: 0; 1.5-4: 44; > 4: 64"),
        ItemSpec("fibrinogen", "Fibrinogen", ("labs.fibrinogen",), "<= 2.5 g/L: 30"),
        ItemSpec("ast", "AST", ("labs.ast",), ">= 30 IU/L: 19"),
        ItemSpec("marrow_hemophagocytosis", "Haemophagocytosis on bone-marrow aspirate",
                 ("findings.marrow_hemophagocytosis",), "yes: 35"),
    ),
    applicable={c: True for c in ("sjia", "aosd", "sle", "other_rheumatic", "none")},
    age_group="adult",  # derivation cohort: adults (Fardet 2014)
    population_source="docs/clinical/criteria.md §3",
    scored=True,
    cutoff_text="HScore >= 169",
)


def _three_bands(low: float, high: float, points: tuple[int, int, int]):
    """value < low -> points[0]; low <= value <= high -> points[1]; value > high -> points[2]."""
    return lambda v: np.where(v > high, points[2], np.where(v >= low, points[1], points[0]))


def probability(score) -> np.ndarray:
    """Probability of reactive haemophagocytic syndrome from the published table (NaN stays NaN)."""
    return np.interp(np.asarray(score, dtype=np.float64), _SCORES, _PROBS, left=_PROBS[0], right=_PROBS[-1])


def probability_text(score: float) -> str:
    if score <= PROBABILITY_FLOOR_SCORE:
        return "<1%"
    if score >= PROBABILITY_CEILING_SCORE:
        return ">99%"
    return f"{float(probability(score)) * 100:.0f}%"


def evaluate(batch: SnapshotBatch, settings: Settings | None = None) -> InstrumentResult:
    settings = settings or DEFAULT
    organs = (batch.finding("hepatomegaly"), batch.finding("splenomegaly"))
    lineages = (
        le(batch.lab("hemoglobin"), CYTOPENIA_HEMOGLOBIN_LE_G_DL),
        le(batch.lab("wbc"), CYTOPENIA_WBC_LE_1E9_L),
        le(batch.lab("platelets"), CYTOPENIA_PLATELETS_LE_1E9_L),
    )
    organ_pts = np.array(ORGANOMEGALY_POINTS, dtype=np.float64)
    cyto_pts = np.array(CYTOPENIA_POINTS, dtype=np.float64)

    def counted(table, items):
        lo, hi = table[count_met(*items)], table[count_possible(*items)]
        return ItemResult(status=(lo > 0).astype(np.int8) + (hi > 0).astype(np.int8), points_min=lo, points_max=hi)

    items = {
        "immunosuppression": flag_points(batch.flag("known_immunosuppression"), IMMUNOSUPPRESSION_POINTS),
        "temperature": banded(batch.lab("temperature"), _three_bands(*TEMPERATURE_BANDS_C, TEMPERATURE_POINTS),
                              increasing=True),
        "organomegaly": counted(organ_pts, organs),
        "cytopenias": counted(cyto_pts, lineages),
        "ferritin": banded(batch.lab("ferritin"), _three_bands(*FERRITIN_BANDS_NG_ML, FERRITIN_POINTS), increasing=True),
        "triglycerides": banded(batch.lab("triglycerides"),
                                _three_bands(*TRIGLYCERIDES_BANDS_MMOL_L, TRIGLYCERIDES_POINTS), increasing=True),
        "fibrinogen": banded(batch.lab("fibrinogen"), lambda v: np.where(v <= _FIBRINOGEN_MG_DL, FIBRINOGEN_POINTS, 0),
                             increasing=False),
        "ast": banded(batch.lab("ast"), lambda v: np.where(v >= AST_GE_U_L, AST_POINTS, 0), increasing=True),
        "marrow_hemophagocytosis": flag_points(batch.finding("marrow_hemophagocytosis"), MARROW_HEMOPHAGOCYTOSIS_POINTS),
    }
    lo, hi = total(items)
    p_lo, p_hi = probability(lo), probability(hi)
    return InstrumentResult(
        spec=SPEC,
        verdict=score_verdict(lo, hi, CUTOFF),
        applicable=SPEC.population_fit(batch, settings.adult_age_years),
        adult_age_years=settings.adult_age_years,
        items=items,
        score_min=lo,
        score_max=hi,
        extras={
            "probability": np.where(lo == hi, p_lo, np.nan),
            "probability_min": p_lo,
            "probability_max": p_hi,
        },
    )
