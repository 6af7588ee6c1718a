"""An assessment (the JSON of ``maswatch assess --json``) as FHIR R4 resources.

- one ``RiskAssessment``: the alert level (``prediction[0].qualitativeRisk``, maswatch
  CodeSystem) and, when HScore could be computed or bounded, its probability of HLH
  (``prediction[1].probabilityDecimal`` or ``probabilityRange``); ``basis`` -> the input
  Observations; ``note``: the explanation, the disclaimer, SYNTHETIC when it applies;
- one ``Observation`` per instrument: ``valueCodeableConcept`` = verdict (met / not-met /
  indeterminate), a ``component`` for the score (exact value, or the lowest and highest
  still possible as a ``valueRange``), ``derivedFrom`` -> the input Observations.

Codes come from the maswatch CodeSystem (``data/fhir_codesystem.json``, documented in
docs/fhir.md). Pure: it translates the assessment JSON and decides nothing.
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from importlib import resources
from typing import Any

SYSTEM = "urn:maswatch:assessment"
"""The maswatch CodeSystem's url (``CodeSystem.url``)."""
VERDICT_CODE = {"met": "met", "not_met": "not-met", "indeterminate": "indeterminate"}
OBSERVATION_CATEGORY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey",
                        "display": "Survey"}


@cache
def codesystem() -> dict:
    """The CodeSystem resource shipped with maswatch (every code this module writes)."""
    return json.loads(resources.files("maswatch").joinpath("data/fhir_codesystem.json").read_text(encoding="utf-8"))


@cache
def _display() -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(concepts):
        for c in concepts:
            out[c["code"]] = c["display"]
            walk(c.get("concept", []))

    walk(codesystem()["concept"])
    return out


def coding(code: str) -> dict:
    return {"system": SYSTEM, "code": code, "display": _display()[code]}


def _ref(pid: Any) -> dict:
    return {"reference": f"Patient/{pid}"} if pid is not None else {"display": "patient without id"}


def _inputs(a: dict) -> list[dict]:
    seen, out = set(), []
    for i in a.get("inputs") or []:
        oid = i.get("id")
        if oid is not None and oid not in seen:
            seen.add(oid)
            out.append({"reference": f"Observation/{oid}", "display": f"{i.get('input')} at {i.get('time')}"})
    return out


def _score_component(iid: str, r: dict) -> list[dict]:
    for key in ("score", "ratio", "criteria_met"):
        if key not in r:
            continue
        code = coding("score" if key != "criteria_met" else "criteria-met")
        code = {"coding": [code], "text": f"{iid} {key.replace('_', ' ')}"}
        lo, hi = r.get(f"{key}_min"), r.get(f"{key}_max")
        if key == "criteria_met":
            lo, hi = r.get("criteria_met"), r.get("criteria_possible")
            if lo is None:
                return []
            if hi is None or hi == lo:
                return [{"code": code, "valueInteger": int(lo)}]
            return [{"code": code, "valueRange": {"low": {"value": lo}, "high": {"value": hi}}}]
        if r.get(key) is not None:
            return [{"code": code, "valueQuantity": {"value": r[key]}}]
        if lo is not None or hi is not None:
            rng = {}
            if lo is not None:
                rng["low"] = {"value": lo}
            if hi is not None:
                rng["high"] = {"value": hi}
            return [{"code": code, "valueRange": rng}]
        return [{"code": code, "dataAbsentReason": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-performed"}],
            "text": "cannot be computed from the data available"}}]
    return []


def _probability(h: dict) -> dict | None:
    if not h:
        return None
    out: dict[str, Any] = {"outcome": {"coding": [coding("hlh")], "text": "HLH (HScore probability, Fardet 2014)"}}
    if h.get("probability") is not None:
        out["probabilityDecimal"] = h["probability"]
    elif h.get("probability_min") is not None and h.get("probability_max") is not None:
        out["probabilityRange"] = {"low": {"value": h["probability_min"]}, "high": {"value": h["probability_max"]}}
    else:
        return None
    out["rationale"] = h.get("score_display") or ""
    if h.get("applicable") is False:
        out["rationale"] += f" — outside its population: {h.get('applicability_reason', '')}"
    return out


def assessment_resources(out: dict) -> list[dict]:
    """RiskAssessment + one Observation per instrument, for an ``assess --json`` object."""
    a = out["assessment"]
    pid = (out.get("patient") or {}).get("id")
    at = out["at"]
    synthetic = bool(out.get("synthetic"))
    meta = {"tag": [{"system": "urn:maswatch:tag", "code": "synthetic", "display": "SYNTHETIC"}]} if synthetic else None
    basis = _inputs(a)
    notes = [{"text": f"{r['level']}: {r['text']}"} for r in a.get("explanation", [])]
    notes.append({"text": out.get("disclaimer", "Decision support only: not a diagnosis.")})
    if synthetic:
        notes.insert(0, {"text": "SYNTHETIC data — not a real patient"})
    level = a["alert_level"]
    ra: dict[str, Any] = {
        "resourceType": "RiskAssessment", "id": str(uuid.uuid4()), "status": "final", "subject": _ref(pid),
        "occurrenceDateTime": at, "method": {"coding": [coding("alert-level")], "text": "maswatch alert level"},
        "prediction": [{"outcome": {"coding": [coding("mas")], "text": "MAS / secondary HLH"},
                        "qualitativeRisk": {"coding": [coding(f"level-{level}")], "text": level}}],
        "note": notes,
    }
    if meta:
        ra["meta"] = meta
    if basis:
        ra["basis"] = basis
    instruments = {**(a.get("instruments") or {}), **(a.get("differential") or {})}
    prob = _probability(instruments.get("hscore"))
    if prob:
        ra["prediction"].append(prob)
    res = [ra]
    for iid, r in instruments.items():
        if iid not in _display():
            continue
        obs: dict[str, Any] = {
            "resourceType": "Observation", "id": str(uuid.uuid4()), "status": "final",
            "category": [{"coding": [OBSERVATION_CATEGORY]}],
            "code": {"coding": [coding(iid)], "text": r.get("title") or r.get("question") or iid},
            "subject": _ref(pid), "effectiveDateTime": at,
            "valueCodeableConcept": {"coding": [coding(VERDICT_CODE[r["verdict"]])], "text": r["verdict"]},
        }
        if meta:
            obs["meta"] = meta
        comp = _score_component(iid, r)
        if comp:
            obs["component"] = comp
        if basis:
            obs["derivedFrom"] = basis
        note = [r.get("reference")]
        if r.get("applicable") is False:
            note.append(f"outside its population: {r.get('applicability_reason', '')}")
        obs["note"] = [{"text": n} for n in note if n]
        res.append(obs)
    return res


def assessment_bundle(out: dict) -> dict:
    """A ``collection`` Bundle of :func:`assessment_resources` (full urls are urn:uuid)."""
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in assessment_resources(out)]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "timestamp": out["at"], "entry": entries}
    if out.get("synthetic"):
        bundle["meta"] = {"tag": [{"system": "urn:maswatch:tag", "code": "synthetic", "display": "SYNTHETIC"}]}
    return bundle


__all__ = ["SYSTEM", "assessment_bundle", "assessment_resources", "codesystem", "coding"]
