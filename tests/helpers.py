"""Small builders for snapshot tests."""

from __future__ import annotations

from maswatch.evaluate import evaluate_one
from maswatch.settings import Settings


def lab(value, unit, comparator=None):
    d = {"value": value, "unit": unit}
    if comparator:
        d["comparator"] = comparator
    return d


def snap(labs=None, findings=None, patient=None, temperature=None):
    f = dict(findings or {})
    if temperature is not None:
        f["temperature"] = temperature if isinstance(temperature, dict) else lab(temperature, "Cel")
    return {"patient": dict(patient or {}), "findings": f, "labs": dict(labs or {})}


def run(labs=None, findings=None, patient=None, temperature=None, settings: Settings | None = None) -> dict:
    return evaluate_one(snap(labs, findings, patient, temperature), settings)["instruments"]


def item(result: dict, instrument: str, item_id: str) -> dict:
    for it in result[instrument]["items"]:
        if it["id"] == item_id:
            return it
    raise KeyError(item_id)
