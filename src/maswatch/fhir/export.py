"""A timeline document (``maswatch-timeline/1``) -> FHIR R4 resources (the reader's inverse).

Used to hand a patient to an EHR-facing peer (a FHIR server, a CDS Hooks prefetch) and to
prove that every path gives the same assessment: ``read_fhir(timeline_to_bundle(doc))``
assesses exactly as ``doc``. Codes come from the same tables the reader uses (``fhir.codes``):
LOINC from the analyte registry, SNOMED CT for coded findings, RxNorm for drugs, maswatch
codings where no standard code is verified. Generated data keeps its synthetic tag.
"""

from __future__ import annotations

from typing import Any

from .. import analytes
from . import codes as C

UCUM_UNITS = frozenset({
    "10*9/L", "10*3/uL", "10*3/mm3", "/nL", "/uL", "/mm3", "{cells}/uL", "g/dL", "g/L", "mmol/L", "U/L",
    "[IU]/L", "ukat/L", "mg/dL", "mg/L", "ug/L", "ug/dL", "ng/mL", "ng/L", "pg/mL", "ug/mL", "U/mL",
    "[arb'U]/mL", "kU/L", "ng/mL{FEU}", "ug/L{FEU}", "ug/mL{FEU}", "mg/L{FEU}", "mm/h", "mm/[h]", "Cel",
    "[degF]", "kg", "g", "[lb_av]", "mg", "mg/kg", "g/kg",
})
"""Unit spellings written as UCUM codes (system http://unitsofmeasure.org); others as text only."""


def _finding_snomed() -> dict[str, str]:
    return {names[0]: code for code, names in C.finding_by_snomed().items() if len(names) == 1}


def _rxnorm() -> dict[str, str]:
    out: dict[str, str] = {}
    for (system, code), drug in C.drug_by_code().items():
        if system == C.RXNORM:
            out.setdefault(drug, code)
    return out


def _quantity(value, unit: str | None) -> dict:
    q: dict[str, Any] = {"value": value}
    if unit is not None:
        q["unit"] = unit
        if unit in UCUM_UNITS:
            q.update({"system": C.UCUM, "code": unit})
    return q


def timeline_to_resources(doc: dict) -> list[dict]:
    """Patient, Observations (every version, in order), Conditions and MedicationRequests."""
    pat = doc.get("patient", {}) or {}
    pid = str(pat.get("id", "patient"))
    ref = {"reference": f"Patient/{pid}"}
    patient: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if doc.get("synthetic"):
        patient["meta"] = {"tag": [{"system": C.MASWATCH_TAG, "code": "synthetic", "display": "SYNTHETIC"}]}
    if pat.get("birth_date"):
        patient["birthDate"] = str(pat["birth_date"])
    if pat.get("sex"):
        patient["gender"] = pat["sex"]
    out = [patient]
    snomed = _finding_snomed()
    code_of_id: dict[str, dict] = {}
    for i, o in enumerate(doc.get("observations", [])):
        r: dict[str, Any] = {"resourceType": "Observation", "status": o.get("status", "final"), "subject": ref}
        if o.get("id") is not None:
            r["id"] = str(o["id"])
        if "finding" in o:
            f = o["finding"]
            code = {"coding": [{"system": C.SNOMED, "code": snomed[f]}] if f in snomed else
                    [{"system": C.MASWATCH_FINDING, "code": f}], "text": f}
            r["valueBoolean"] = bool(o["value"])
        elif o.get("vital") == "weight":
            code = {"coding": [{"system": C.LOINC, "code": C.BODY_WEIGHT_LOINC}], "text": "body weight"}
        elif "analyte" in o or "loinc" in o or o.get("vital") == "temperature":
            aid = o.get("analyte") or ("temperature" if o.get("vital") == "temperature" else
                                        analytes.by_loinc()[o["loinc"]])
            loinc = o.get("loinc") or next(iter(analytes.get(aid).loinc), None)
            code = {"coding": [{"system": C.LOINC, "code": loinc} if loinc else
                               {"system": C.MASWATCH_ANALYTE, "code": aid}], "text": analytes.get(aid).label}
        else:  # a bare retraction: repeat the code of the version it removes
            code = code_of_id.get(str(o.get("id")), {"text": "retracted result"})
        r["code"] = code
        if o.get("id") is not None:
            code_of_id[str(o["id"])] = code
        if "time" in o:
            r["effectiveDateTime"] = str(o["time"])
        if "value" in o and "finding" not in o:
            q = _quantity(o["value"], o.get("unit"))
            if o.get("comparator"):
                q["comparator"] = o["comparator"]
            r["valueQuantity"] = q
        rr = o.get("reference_range")
        if rr:
            r["referenceRange"] = [{k: _quantity(rr[k], o.get("unit")) for k in ("low", "high") if rr.get(k) is not None}]
        out.append(r)
    for i, c in enumerate(doc.get("conditions", [])):
        r = {"resourceType": "Condition", "id": f"{pid}-cond-{i + 1}", "subject": ref,
             "code": {"coding": [{"system": C.MASWATCH_CONDITION, "code": c["code"]}]}}
        if c.get("text"):
            r["code"]["text"] = c["text"]
        if c.get("onset"):
            r["onsetDateTime"] = str(c["onset"])
        out.append(r)
    rx = _rxnorm()
    for m in doc.get("medications", []):
        coding = [{"system": C.RXNORM, "code": rx[m["drug"]]}] if m["drug"] in rx else []
        bounds = {"start": str(m["start"])}
        if m.get("end"):
            bounds["end"] = str(m["end"])
        dosage: dict[str, Any] = {"timing": {"repeat": {"boundsPeriod": bounds, "frequency": 1,
                                                        "period": 1.0 / float(m.get("frequency_per_day", 1.0)),
                                                        "periodUnit": "d"}}}
        if m.get("dose"):
            dosage["doseAndRate"] = [{"doseQuantity": {"value": m["dose"]["value"], "unit": m["dose"]["unit"],
                                                       "system": C.UCUM, "code": m["dose"]["unit"]}}]
        if m.get("route"):
            dosage["route"] = {"text": m["route"]}
        out.append({"resourceType": "MedicationRequest", "id": str(m["id"]), "status": "active", "intent": "order",
                    "subject": ref, "medicationCodeableConcept": {"coding": coding, "text": m["drug"]},
                    "dosageInstruction": [dosage]})
    return out


def timeline_to_bundle(doc: dict, bundle_type: str = "collection") -> dict:
    entries = []
    for r in timeline_to_resources(doc):
        e: dict[str, Any] = {"resource": r}
        if bundle_type == "transaction":
            url = f"{r['resourceType']}/{r['id']}" if "id" in r else r["resourceType"]
            e["request"] = {"method": "PUT" if "id" in r else "POST", "url": url}
        entries.append(e)
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


__all__ = ["timeline_to_bundle", "timeline_to_resources"]
