"""One reading a clinician can act on, and the next steps in order. Pure: no I/O but the
packaged data file, no clock.

Input: one row of instrument results (``report.result_row`` per instrument), the facts
of the snapshot (context, fever, ferritin, which inputs are present) and, from
``maswatch assess``, the inputs that are stale or overdue.

The headline is built from the instruments that apply to the patient (``applicable`` not
false): an instrument outside its population never headlines a "met"; it is listed apart.
HLH-2004 is read by its clinical route (5 of 8) when the molecular diagnosis is unknown,
and says "molecular route not assessed". The next steps come from ``data/next_steps.toml``
(Halyabar 2019, the Boston HLH/MAS pathway; docs/clinical/next-steps.md): bedside now,
routine labs now, then specialised tests only where one of their inputs is still missing
for an applicable instrument whose verdict is open.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from . import display
from .batch import CONTEXT_TEXT

CORE = ("ravelli2016", "hlh2004", "hscore", "parodi2009")
"""The classification/diagnostic sets that can headline a "met" (``alerts.CORE_INSTRUMENTS``)."""
SUPPORTING = ("ms_score", "ferritin_esr")
"""Differential instruments mentioned after the core sets when they apply and are met."""
TITLES = {
    "ravelli2016": "2016 sJIA-MAS criteria", "hlh2004": "HLH-2004", "hscore": "HScore",
    "parodi2009": "jSLE 2009 MAS guidelines", "ms_score": "MS score", "mh_score": "MH score",
    "ferritin_esr": "ferritin:ESR", "ohi": "OHI",
}
HEADLINE_MAX_MISSING = 5
"""An open set with more missing inputs than this is summarised by their count in the headline."""
SKIP_FOR_NEXT_STEPS = ("ohi",)
"""Open instruments that do not by themselves call for a test (OHI: derived in malignancy-associated HLH)."""
_RAVELLI_LAB_ITEMS = ("platelets", "ast", "triglycerides", "fibrinogen")


@cache
def _data() -> dict:
    return tomllib.loads(resources.files("maswatch").joinpath("data/next_steps.toml").read_text(encoding="utf-8"))


def input_names() -> dict[str, str]:
    return dict(_data()["input_names"])


def source() -> str:
    return _data()["source"]


def _applies(r: dict) -> bool:
    return r.get("applicable") is not False


def _names(paths: list[str]) -> str:
    seen: list[str] = []
    for p in paths:
        n = display.label(p)
        if n not in seen:
            seen.append(n)
    return ", ".join(seen)


# ------------------------------------------------------------------ scores as text
def score_text(iid: str, r: dict) -> str:
    """The score, count or ratio as a clinician reads it: exact, '≥ X' / '≤ X' when the
    verdict is settled whatever is missing, else 'cannot be scored without ...'."""
    v = r["verdict"]
    missing = _names(r.get("missing", []))
    if "score_min" in r:
        lo, hi, exact = r["score_min"], r["score_max"], r.get("score")
        prob = _probability_text(r) if iid == "hscore" else ""
        if exact is not None:
            return f"{display.score(exact)}{prob}"
        if lo is None:
            return "not scored"
        if v == "met":
            return f"≥ {display.score(lo)}{prob}"
        if v == "not_met":
            return f"≤ {display.score(hi)}{prob}"
        so_far = f"; {display.score(lo)} so far" if lo > 0 else ""
        return f"cannot be scored without {missing}{so_far}" if missing else f"{display.score(lo)} to {display.score(hi)}"
    if r.get("criteria_met") is not None:
        lo, hi = r["criteria_met"], r["criteria_possible"]
        if lo == hi:
            return f"{lo} of 8"
        if v == "met":
            return f"≥ {lo} of 8"
        return f"{lo} of 8 met, up to {hi} possible"
    if "ratio_min" in r:
        if r.get("ratio") is not None:
            return f"ratio {display.number(r['ratio'], 3)}"
        if r["ratio_min"] is None:
            return f"cannot be calculated without {missing}" if missing else "not calculable"
        if v == "met":
            return f"ratio ≥ {display.number(r['ratio_min'], 3)}"
        if v == "not_met" and r.get("ratio_max") is not None:
            return f"ratio ≤ {display.number(r['ratio_max'], 3)}"
        return f"ratio ≥ {display.number(r['ratio_min'], 3)}"
    return ""


def _probability_text(r: dict) -> str:
    """HScore: the published probability beside the score (Fardet 2014, docs/clinical/criteria.md §3)."""
    from .instruments.hscore import probability_text

    if r.get("score") is not None:
        return f" (probability {probability_text(r['score'])})"
    lo, hi = r.get("score_min"), r.get("score_max")
    if lo is None:
        return ""
    if r["verdict"] == "met":
        p = probability_text(lo)
        return f" (probability {p if p.startswith('>') else '≥ ' + p})"
    if r["verdict"] == "not_met":
        p = probability_text(hi)
        return f" (probability {p if p.startswith('<') else '≤ ' + p})"
    return ""


def probability_range(r: dict) -> str | None:
    if r.get("score_min") is None:
        return None
    from .instruments.hscore import probability_text

    lo, hi = probability_text(r["score_min"]), probability_text(r["score_max"])
    return lo if lo == hi else f"{lo} to {hi}"


# ------------------------------------------------------------------ the headline
def _item(r: dict, item_id: str) -> dict | None:
    for it in r["items"]:
        if it["id"] == item_id:
            return it
    return None


def _ravelli_phrase(r: dict, facts: dict) -> str:
    labs = sum(1 for k in _RAVELLI_LAB_ITEMS if (_item(r, k) or {}).get("status") == "met")
    ctx = CONTEXT_TEXT.get(facts.get("context", "unknown"), facts.get("context", ""))
    ferr = facts.get("ferritin_text") or "ferritin > 684 ng/mL"
    return f"2016 sJIA-MAS criteria met (febrile {ctx}, {ferr}, {labs} of 4 laboratory items)"


def _hlh_route(r: dict) -> str:
    """HLH-2004's clinical route (5 of 8): C's ``clinical_criteria`` when present, else from the count."""
    if r.get("clinical_criteria") in ("met", "not_met", "indeterminate", "unknown"):
        return {"unknown": "indeterminate"}.get(r["clinical_criteria"], r["clinical_criteria"])
    lo, hi = r.get("criteria_met"), r.get("criteria_possible")
    if lo is None:
        return "indeterminate"
    return "met" if lo >= 5 else ("not_met" if hi < 5 else "indeterminate")


def _molecular(r: dict) -> str:
    it = _item(r, "molecular_diagnosis")
    return "unknown" if it is None else it["status"]


def _hlh_phrase(r: dict) -> str | None:
    if _molecular(r) == "met":
        return "HLH-2004 met by a molecular diagnosis"
    route = _hlh_route(r)
    count = score_text("hlh2004", r)
    mol = "; molecular route not assessed" if _molecular(r) == "unknown" else ""
    if route == "met":
        return f"HLH-2004 clinical route met ({count}{mol})"
    return None


def _met_phrase(iid: str, r: dict, facts: dict) -> str | None:
    if iid == "ravelli2016":
        return _ravelli_phrase(r, facts) if r["verdict"] == "met" else None
    if iid == "hlh2004":
        return _hlh_phrase(r)
    if r["verdict"] != "met":
        return None
    if iid == "hscore":
        return f"HScore {score_text(iid, r)}"
    return f"{TITLES[iid]} met" + (f" ({score_text(iid, r)})" if score_text(iid, r) else "")


def _open_phrase(iid: str, r: dict) -> str | None:
    if iid == "hlh2004":
        route = _hlh_route(r)
        if route == "met":
            return None
        if route == "not_met":
            return f"HLH-2004 clinical route not met ({score_text(iid, r)})"
        return f"HLH-2004 clinical route open ({score_text(iid, r)})"
    if r["verdict"] == "indeterminate":
        n_missing = len({display.label(p) for p in r.get("missing", [])})
        if n_missing > HEADLINE_MAX_MISSING:  # the next steps list them; the headline stays one line
            return f"{TITLES[iid]} open ({n_missing} inputs missing)"
        s = score_text(iid, r)
        missing = _names(r.get("missing", []))
        detail = s if s else (f"needs {missing}" if missing else "")
        return f"{TITLES[iid]} open" + (f" ({detail})" if detail else "")
    if r["verdict"] == "not_met":
        s = score_text(iid, r)
        return f"{TITLES[iid]} not met" + (f" ({s})" if s else "")
    return None


def headline(instruments: dict, facts: dict) -> dict:
    """The one line: what is met among the instruments that apply, what is still open, and
    the pathway entry (fever + ferritin >= 500 ng/mL) when nothing is met yet."""
    met, open_, apart = [], [], []
    for iid in CORE:
        r = instruments.get(iid)
        if r is None:
            continue
        if not _applies(r):
            if r["verdict"] == "met" or (iid == "hlh2004" and _hlh_route(r) == "met"):
                apart.append(iid)
            continue
        phrase = _met_phrase(iid, r, facts)
        if phrase:
            met.append((iid, phrase))
        else:
            o = _open_phrase(iid, r)
            if o:
                open_.append((iid, o))
    supporting = [(iid, _met_phrase(iid, instruments[iid], facts)) for iid in SUPPORTING
                  if iid in instruments and instruments[iid].get("applicable") is True
                  and instruments[iid]["verdict"] == "met"]
    parts = [p for _, p in met]
    if not met:
        entry = _entry_text(facts)
        parts = ([entry] if entry else []) + ["no MAS/HLH classification or diagnostic set met yet"]
        parts += [p for _, p in open_]
    parts += [p for _, p in supporting if p]
    if apart:
        parts.append("outside their population (not used): " + ", ".join(TITLES[i] for i in apart))
    return {
        "text": "; ".join(parts),
        "met": [i for i, _ in met],
        "open": [i for i, _ in open_],
        "outside_population": apart,
        "supporting": [i for i, _ in supporting],
        "hlh2004_clinical_route": _hlh_route(instruments["hlh2004"]) if "hlh2004" in instruments else None,
        "hlh2004_molecular_route": ("not assessed" if _molecular(instruments["hlh2004"]) == "unknown"
                                    else _molecular(instruments["hlh2004"])) if "hlh2004" in instruments else None,
    }


def _entry_text(facts: dict) -> str | None:
    ferritin = facts.get("ferritin")
    if facts.get("fever") is True and ferritin is not None and ferritin >= _data()["entry_ferritin_ng_ml"]:
        return (f"fever with {facts.get('ferritin_text') or 'ferritin'} (≥ {_data()['entry_ferritin_ng_ml']} ng/mL): "
                "start the HLH/MAS work-up (Boston pathway)")
    return None


# ------------------------------------------------------------------ the next steps
def next_steps(instruments: dict, facts: dict, due: dict[str, str] | None = None) -> list[dict]:
    """Ordered next steps: bedside, routine labs, then specialised tests that can still change
    a verdict. ``facts["present"]`` is the set of inputs known now; ``due`` maps an input to
    'stale' or 'overdue' (from ``maswatch assess``)."""
    due = due or {}
    present = set(facts.get("present", ()))
    open_missing: dict[str, list[str]] = {}
    for iid, r in instruments.items():
        if not _applies(r) or r["verdict"] != "indeterminate" or iid in SKIP_FOR_NEXT_STEPS:
            continue
        for p in r.get("missing", []):
            open_missing.setdefault(p, []).append(iid)
    # HLH-2004 decided by its clinical route: the molecular route alone does not call for genetics
    hlh = instruments.get("hlh2004")
    if hlh is not None and _hlh_route(hlh) in ("met", "not_met") and "patient.hlh_molecular_diagnosis" in open_missing:
        open_missing["patient.hlh_molecular_diagnosis"] = [
            i for i in open_missing["patient.hlh_molecular_diagnosis"] if i != "hlh2004"]
        if not open_missing["patient.hlh_molecular_diagnosis"]:
            del open_missing["patient.hlh_molecular_diagnosis"]
    out: list[dict] = []
    for group in _data()["groups"]:
        specialised = group["id"] == "specialised"
        for step in group["steps"]:
            inputs = step["inputs"]
            settles = sorted({i for p in inputs for i in open_missing.get(p, [])})
            if specialised:
                if not settles or not _question_open(step, instruments, facts):
                    continue
                why = "can change: " + ", ".join(TITLES.get(i, i) for i in settles)
            else:
                why = _routine_why(step, present, due, settles)
                if why is None:
                    continue
            out.append({"rank": len(out) + 1, "group": group["id"], "group_title": group["title"],
                        "step": step["id"], "text": step["text"], "inputs": inputs, "why": why,
                        "settles": settles})
    return out


def _question_open(step: dict, instruments: dict, facts: dict) -> bool:
    """A step with ``only_without_context`` (genetics) is for the primary-HLH question: asked when
    no rheumatic disease is recorded, or when an instrument in ``unless_met`` (MH score) is met."""
    if "only_without_context" not in step:
        return True
    if facts.get("context") not in step["only_without_context"]:
        return True
    return any((instruments.get(i) or {}).get("verdict") == "met" for i in step.get("unless_met", []))


def _routine_why(step: dict, present: set[str], due: dict[str, str], settles: list[str]) -> str | None:
    """Why a bedside or routine step is listed now, or None when it is done and fresh."""
    inputs = step["inputs"]
    fresh = [p for p in inputs if p in present and p not in due]
    if step.get("any_input"):  # one input settles the step (a fever finding or a temperature)
        missing = [] if fresh else inputs
    else:
        missing = [p for p in inputs if p not in fresh]
    if not missing or (step.get("when") == "open" and not settles):
        return None
    if len(missing) < len(inputs) and not settles:
        return None  # partly done, and no open verdict depends on the rest
    if any(due.get(p) == "overdue" for p in missing):
        why = "overdue"
    elif any(due.get(p) == "stale" for p in missing):
        why = "stale"
    else:
        why = "not yet recorded"
    if settles:
        why += "; can change: " + ", ".join(TITLES.get(i, i) for i in settles)
    return why
