"""Instrument results (columns) -> one explainable JSON object per evaluation point.

Rendering only: every decision was taken by the instruments. For each row this gives
the verdict, applicability, the items with the values used (canonical and as given),
thresholds and statuses, the score range, and the inputs whose absence leaves the
verdict open (``missing``) — what to order or examine next.
"""

from __future__ import annotations

import math

import numpy as np

from . import analytes, display, reading
from .batch import CONTEXTS, FINDING_IDS, PATIENT_FLAGS, QUANTITY_IDS, SnapshotBatch
from .instruments import InstrumentResult
from .instruments.hscore import probability_text
from .logic import ITEM_STATUS_NAMES, UNKNOWN, VERDICT_NAMES

_APPLICABLE = {0: False, 1: None, 2: True}


def _num(x):
    """A JSON number: ints stay ints, NaN -> None, floats rounded for display stability."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return None
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    return round(x, 6)


def input_present(batch: SnapshotBatch, path: str, i: int) -> bool:
    section, name = path.split(".")
    if section == "labs" or (section == "findings" and name == "temperature"):
        return bool(batch.quantities[name].present[i])
    if section == "findings":
        return bool(batch.findings[name][i] != UNKNOWN)
    if name == "age_years":
        return bool(batch.age.present[i])
    if name == "context":
        return bool(batch.context[i] != 0)
    return bool(batch.flags[name][i] != UNKNOWN)


def input_evidence(batch: SnapshotBatch, path: str, i: int) -> dict:
    """The value an item used: canonical (with interval bounds if censored) and as given."""
    section, name = path.split(".")
    if section == "labs" or (section == "findings" and name == "temperature"):
        x = batch.quantities[name]
        unit = analytes.get(name).canonical_unit
        out: dict = {"input": path, "unit": unit}
        if not x.present[i]:
            out["value"] = None
        elif x.lo[i] == x.hi[i]:
            out["value"] = _num(x.lo[i])
        else:
            given = (batch.given[i] if batch.given else {}).get(name, {})
            out["value"] = None
            out["censored"] = given.get("comparator") or "interval"
            if given:
                out["bound"] = _num(analytes.get(name).conversion(given["unit"]).apply(float(given["value"])))
        if batch.given is not None and name in batch.given[i]:
            out["as_given"] = batch.given[i][name]
        return out
    if name == "age_years":
        return {"input": path, "value": _num(batch.age.lo[i]) if batch.age.present[i] else None, "unit": "a"}
    tri = batch.findings[name][i] if section == "findings" else batch.flags[name][i]
    return {"input": path, "value": None if tri == UNKNOWN else bool(tri == 2)}


def result_row(result: InstrumentResult, batch: SnapshotBatch, i: int) -> dict:
    spec = result.spec
    verdict = int(result.verdict[i])
    items = []
    missing: list[str] = []
    censored: list[str] = []
    for it in spec.items:
        r = result.items[it.id]
        status = int(r.status[i])
        entry = {
            "id": it.id,
            "label": it.label,
            "threshold": it.threshold,
            "status": ITEM_STATUS_NAMES[status],
            "inputs": [_with_display(spec.id, input_evidence(batch, p, i)) for p in it.inputs],
        }
        if r.points_min is not None:
            lo, hi = r.points_min[i], r.points_max[i]
            entry["points"] = _num(lo) if lo == hi else None
            entry["points_min"] = _num(lo)
            entry["points_max"] = _num(hi)
        if spec.id == "ms_score" and it.inputs[0].startswith("labs.") and status == 2:
            entry["status"] = "scored"
        items.append(entry)
        if verdict == 1 and status == 1:
            for p in it.inputs:
                if not input_present(batch, p, i):
                    if p not in missing:
                        missing.append(p)
                elif p.startswith("labs.") and p not in censored:
                    q = batch.quantities[p.split(".")[1]]
                    if q.lo[i] != q.hi[i]:
                        censored.append(p)
    out = {
        "verdict": VERDICT_NAMES[verdict],
        "applicable": _APPLICABLE[int(result.applicable[i])],
        **({} if result.applicable[i] == 2 else {"applicability_reason": result.applicability_reason(batch, i)}),
        "title": spec.title,
        "items": items,
        "missing": missing,
        "reference": spec.reference,
        "population": spec.population,
        "intended_use": spec.intended_use,
        "cutoff": spec.cutoff_text,
        "unverified": list(result.unverified),
    }
    if censored:
        out["undecided_by_censored"] = censored
    reasons = [spec.notes[k] for k, mask in result.notes.items() if mask[i]]
    if reasons:
        out["reasons"] = reasons
    if result.score_min is not None:
        lo, hi = result.score_min[i], result.score_max[i]
        out["score"] = _num(lo) if lo == hi else None
        out["score_min"] = _num(lo)
        out["score_max"] = _num(hi)
    for key, arr in result.extras.items():
        # int8 extras are tri-state (like items); the others are counts, ratios, probabilities
        out[key] = spec.extra_names.get(key, ITEM_STATUS_NAMES)[int(arr[i])] if arr.dtype == np.int8 else _num(arr[i])
    if spec.id == "hscore" and out["score"] is not None:
        out["probability_text"] = probability_text(out["score"])
    if spec.id == "hscore" and out["score_min"] is not None:
        out["probability_range_text"] = reading.probability_range(out)
    out["score_display"] = reading.score_text(spec.id, out)
    if result.settings_used:
        out["settings"] = dict(result.settings_used)
    return out


def _with_display(instrument_id: str, ev: dict) -> dict:
    ev["display"] = display.evidence_text(instrument_id, ev)
    return ev


ALL_INPUTS = (tuple(f"labs.{q}" for q in QUANTITY_IDS if q != "temperature") + ("findings.temperature",)
              + tuple(f"findings.{f}" for f in FINDING_IDS) + tuple(f"patient.{f}" for f in PATIENT_FLAGS)
              + ("patient.age_years", "patient.context"))


def facts(batch: SnapshotBatch, i: int) -> dict:
    """What the reading needs besides the instruments: context, fever, ferritin, inputs present."""
    ferritin = batch.quantities["ferritin"]
    given = (batch.given[i] if batch.given else {}).get("ferritin")
    value = float(ferritin.lo[i]) if ferritin.present[i] else None
    fever = int(batch.findings["fever"][i])
    return {
        "context": CONTEXTS[int(batch.context[i])],
        "fever": None if fever == UNKNOWN else fever == 2,
        "ferritin": value,
        "ferritin_text": None if value is None else "ferritin " + display.value_text("ferritin", value, given),
        "present": sorted(p for p in ALL_INPUTS if input_present(batch, p, i)),
    }


def instrument_rows(results: dict[str, InstrumentResult], batch: SnapshotBatch, i: int) -> dict[str, dict]:
    """Every instrument's row ``i`` (the ``instruments`` of :func:`rows`, without the reading)."""
    return {iid: result_row(r, batch, i) for iid, r in results.items()}


def rows(results: dict[str, InstrumentResult], batch: SnapshotBatch) -> list[dict]:
    """Per row of the batch: the reading (one line), the next steps, and every instrument."""
    out = []
    for i in range(batch.n):
        instruments = instrument_rows(results, batch, i)
        f = facts(batch, i)
        out.append({"reading": reading.headline(instruments, f), "next_steps": reading.next_steps(instruments, f),
                    "instruments": instruments})
    return out


def finite_or_none(a: np.ndarray) -> list:
    return [_num(x) for x in a]
