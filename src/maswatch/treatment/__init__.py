"""Treatment and response tracking (issue 3, item 6).

- :mod:`.medications` — the strict ``medications[]`` contract (:class:`Medication`).
- :mod:`.glucocorticoids` — daily and cumulative prednisone-equivalent exposure.
- :mod:`.response` — normalisation, ferritin fall, remission and its loss from MAS onset.
- :mod:`.therapies` — what is active at a time, and the escalation lines.

See ``docs/treatment.md``.
"""

from .glucocorticoids import (
    DEFAULT_GC_CONFIG,
    DayExposure,
    Equivalence,
    GlucocorticoidConfig,
    GlucocorticoidExposure,
    equivalence,
    glucocorticoid_exposure,
)
from .medications import DRUGS, GLUCOCORTICOIDS, Dose, Medication, parse_medication, parse_medications
from .response import (
    DEFAULT,
    VERIFIED_LAB_CRITERIA,
    CriterionStatus,
    FerritinCourse,
    LabPoint,
    ResponseConfig,
    ResponseStatus,
    response_status,
)
from .therapies import THERAPY_CLASSES, active_therapies, treatment_lines

__all__ = [
    "DEFAULT", "DEFAULT_GC_CONFIG", "DRUGS", "GLUCOCORTICOIDS", "THERAPY_CLASSES", "VERIFIED_LAB_CRITERIA",
    "CriterionStatus", "DayExposure", "Dose", "Equivalence", "FerritinCourse", "GlucocorticoidConfig",
    "GlucocorticoidExposure", "LabPoint", "Medication", "ResponseConfig", "ResponseStatus",
    "active_therapies", "equivalence", "glucocorticoid_exposure", "parse_medication", "parse_medications",
    "response_status", "treatment_lines",
]
