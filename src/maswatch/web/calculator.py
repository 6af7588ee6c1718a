"""The calculator page's form <-> a one-time timeline document.

The form is translated into a ``maswatch-timeline/1`` document and assessed by the same
``Rules.assess`` as ``maswatch assess`` (and the monitor), so the refusals and unit-slip
hints are the registry's own messages; this module only says which field they belong to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..analytes import LAB_IDS, get as analyte
from ..batch import FINDING_IDS, PATIENT_FLAGS
from ..display import unit_text
from ..errors import InputError
from ..timeline.model import RHEUMATIC_CONTEXTS

QUANTITIES = LAB_IDS + ("temperature",)
CONTEXT_CHOICES = ("unknown",) + RHEUMATIC_CONTEXTS
"""'unknown': no diagnosis recorded (instruments that need one are shown as outside their population)."""
TRISTATE = {"": "not recorded", "yes": "present", "no": "absent"}
FINDING_LABELS = {"fever": "Fever", "hepatomegaly": "Hepatomegaly", "splenomegaly": "Splenomegaly",
                  "cns_involvement": "CNS involvement", "hemorrhage": "Haemorrhage",
                  "active_arthritis": "Active arthritis", "marrow_hemophagocytosis": "Haemophagocytosis in marrow",
                  "tissue_hemophagocytosis": "Haemophagocytosis in other tissue", "nk_activity_low": "Low NK-cell activity"}
FLAG_LABELS = {"known_immunosuppression": "Known immunosuppression", "hlh_molecular_diagnosis":
               "Molecular diagnosis of HLH", "malignancy": "Malignancy"}
_OBS_FIELD = re.compile(r"^observations\[(\d+)\]")


def unit_choices(aid: str) -> list[tuple[str, str]]:
    """(code, shown) for each distinct conversion among the registry's accepted units, canonical first."""
    a = analyte(aid)
    seen, out = [], []
    for u in [a.canonical_unit, *a.accepted_units]:
        conv = a.conversion(u)
        if conv in seen:
            continue
        seen.append(conv)
        out.append((u, unit_text(u)))
    return out


def form_spec() -> dict:
    labs = []
    for aid in QUANTITIES:
        a = analyte(aid)
        labs.append({"id": aid, "label": a.label, "units": unit_choices(aid)})
    return {"labs": labs, "findings": [(f, FINDING_LABELS.get(f, f)) for f in FINDING_IDS],
            "flags": [(f, FLAG_LABELS.get(f, f)) for f in PATIENT_FLAGS], "contexts": CONTEXT_CHOICES,
            "tristate": TRISTATE}


@dataclass
class Snapshot:
    doc: dict
    errors: dict[str, str] = field(default_factory=dict)
    """Form field -> the message shown beside it."""
    order: list[str] = field(default_factory=list)
    """The form field of each observation, in document order (to place a refusal)."""


def _number(text: str, name: str, errors: dict) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        v = float(text.replace(",", "")) if text.count(",") and "." in text else float(text.replace(",", "."))
    except ValueError:
        errors[name] = f"not a number: {text[:40]!r}"
        return None
    if v != v or v in (float("inf"), float("-inf")):
        errors[name] = "not a finite number"
        return None
    return v


def snapshot_doc(form: dict[str, str], at: datetime, patient_id: str = "calculator") -> Snapshot:
    """The form as a timeline document at ``at``; form-level problems (not a number, bad choice) in ``errors``."""
    errors: dict[str, str] = {}
    t = at.isoformat().replace("+00:00", "Z")
    patient: dict = {"id": patient_id}
    age = _number(form.get("age_years", ""), "age_years", errors)
    if age is not None:
        patient["age_years"], patient["age_at"] = age, t
    for f in PATIENT_FLAGS:
        v = form.get(f"flag_{f}", "")
        if v in ("yes", "no"):
            patient[f] = v == "yes"
    context = form.get("context", "unknown")
    if context not in CONTEXT_CHOICES:
        errors["context"] = f"must be one of {', '.join(CONTEXT_CHOICES)}"
    obs, order = [], []
    for aid in QUANTITIES:
        v = _number(form.get(f"lab_{aid}", ""), f"lab_{aid}", errors)
        if v is None:
            continue
        unit = form.get(f"unit_{aid}", "")
        o = {"id": f"calc-{aid}", "time": t, "value": v, "unit": unit}
        o["vital" if aid == "temperature" else "analyte"] = aid
        obs.append(o)
        order.append(f"lab_{aid}")
    for f in FINDING_IDS:
        v = form.get(f"finding_{f}", "")
        if v in ("yes", "no"):
            obs.append({"id": f"calc-{f}", "time": t, "finding": f, "value": v == "yes"})
            order.append(f"finding_{f}")
    doc = {"format": "maswatch-timeline/1", "patient": patient, "observations": obs,
           "conditions": [{"code": context}] if context in RHEUMATIC_CONTEXTS else []}
    return Snapshot(doc, errors, order)


def field_of(exc: InputError, snap: Snapshot) -> str:
    """The form field an InputError from the timeline reader belongs to ('form' when none)."""
    m = _OBS_FIELD.match(exc.field or "")
    if m and int(m.group(1)) < len(snap.order):
        return snap.order[int(m.group(1))]
    if (exc.field or "").startswith("patient.age"):
        return "age_years"
    return "form"
