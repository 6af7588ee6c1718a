"""The CDS Services maswatch offers (the discovery document's data) and their prefetch templates.

Prefetch templates use only the CDS Hooks 2.0.1 token ``{{context.patientId}}`` (no date
arithmetic exists in 2.0.1), so every EHR can fill them. When the EHR leaves a key out, the
service reads the same data from ``fhirServer`` itself, with the observations limited to
``[cds_hooks] fhir_window_days`` (docs/cds-hooks.md).
"""

from __future__ import annotations

from functools import cache

from .. import analytes
from ..fhir import codes as C

PATIENT_VIEW = "maswatch-patient-view"
ORDER_SELECT = "maswatch-order-select"
ORDERED_DRUGS = ("prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone",
                 "ciclosporin", "anakinra", "emapalumab", "etoposide")
"""Orders the order-select service speaks about: glucocorticoids and the MAS second-line drugs."""
REQUIRED_KEYS = ("observations",)
"""Without results there is nothing to assess: when they cannot be obtained the call gets 412."""


@cache
def observation_codes() -> str:
    loincs = sorted({c for a in analytes.registry().values() for c in a.loinc} | {C.BODY_WEIGHT_LOINC})
    return ",".join([f"{C.LOINC}|{c}" for c in loincs] + [f"{C.SNOMED}|{c}" for c in sorted(C.finding_by_snomed())])


@cache
def prefetch_templates() -> dict[str, str]:
    pid = "{{context.patientId}}"
    return {
        "patient": f"Patient/{pid}",
        "observations": f"Observation?patient={pid}&code={observation_codes()}",
        "conditions": f"Condition?patient={pid}",
        "medications": f"MedicationRequest?patient={pid}",
    }


def discovery() -> dict:
    """``GET /cds-services``."""
    return {"services": [
        {"hook": "patient-view", "id": PATIENT_VIEW, "title": "maswatch: macrophage activation syndrome watch",
         "description": "Assesses the patient's laboratory results, findings, diagnoses and treatment for MAS / "
                        "secondary HLH (2016 sJIA-MAS criteria, HLH-2004, HScore, MS score, trends) and shows a "
                        "card only when something is of concern, once per level and episode. Decision support, "
                        "not a diagnosis.",
         "prefetch": prefetch_templates(), "usageRequirements":
             "Trusted clients are configured in [[cds_hooks.clients]] (docs/cds-hooks.md)."},
        {"hook": "order-select", "id": ORDER_SELECT,
         "title": "maswatch: glucocorticoid exposure and MAS response at ordering",
         "description": "When a glucocorticoid, ciclosporin, anakinra, emapalumab or etoposide order is selected, "
                        "shows the cumulative glucocorticoid exposure, the MAS response status and the alert level.",
         "prefetch": prefetch_templates()},
    ]}


SERVICE_IDS = (PATIENT_VIEW, ORDER_SELECT)
HOOK_OF = {PATIENT_VIEW: "patient-view", ORDER_SELECT: "order-select"}

__all__ = ["HOOK_OF", "ORDERED_DRUGS", "ORDER_SELECT", "PATIENT_VIEW", "REQUIRED_KEYS", "SERVICE_IDS", "discovery",
           "prefetch_templates"]
