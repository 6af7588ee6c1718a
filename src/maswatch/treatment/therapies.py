"""Which MAS treatments are active at a time, and the order of escalation.

Escalation lines (grouping is an ASSUMPTION built on docs/clinical/criteria.md):
  1. glucocorticoids (high dose first; §10: MAS treatment relies on high-dose GC,
     IL-1 inhibitors, ciclosporin and IFN-γ inhibitors — VERIFIED);
  2. ciclosporin / anakinra, added when glucocorticoids are not enough;
  3. emapalumab (trial population: failed high-dose GC ± anakinra and/or ciclosporin,
     §11 VERIFIED), ruxolitinib, etoposide (salvage; the sequence in the 2022
     EULAR/ACR points to consider is UNVERIFIED, §9).
Canakinumab and tocilizumab (background Still's disease therapy) and IVIG (adjunct)
have no line. The table is data below, so a centre can review it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..errors import InputError
from .glucocorticoids import equivalence
from .medications import Medication, check_medications

THERAPY_CLASSES: dict[str, tuple[str, int | None]] = {
    "prednisone": ("glucocorticoid", 1),
    "prednisolone": ("glucocorticoid", 1),
    "methylprednisolone": ("glucocorticoid", 1),
    "dexamethasone": ("glucocorticoid", 1),
    "hydrocortisone": ("glucocorticoid", 1),
    "ciclosporin": ("calcineurin inhibitor", 2),
    "anakinra": ("IL-1 inhibitor", 2),
    "emapalumab": ("IFN-γ inhibitor", 3),
    "ruxolitinib": ("JAK inhibitor", 3),
    "etoposide": ("cytotoxic (etoposide)", 3),
    "canakinumab": ("IL-1 inhibitor", None),
    "tocilizumab": ("IL-6 inhibitor", None),
    "ivig": ("immunoglobulin", None),
}
LINE_LABELS = {
    1: "glucocorticoids",
    2: "ciclosporin / anakinra",
    3: "emapalumab / ruxolitinib / etoposide",
    None: "background or adjunct (no escalation line)",
}
COURSE_GAP = timedelta(hours=24)
"""Prescription lines of one drug (or one class) whose gap is at most this are one course
(ASSUMPTION): a pulse line followed by an oral line the next day is one glucocorticoid course."""
DRUG_COURSE_GAP: dict[str, timedelta] = {
    # intermittently dosed drugs: the gap allowed is their usual dosing interval (ASSUMPTION)
    "emapalumab": timedelta(days=4),    # every 3 days, then twice weekly (docs/clinical/criteria.md §11)
    "etoposide": timedelta(days=7),     # weekly in HLH-94-style protocols
    "tocilizumab": timedelta(days=14),  # every 1-2 weeks in sJIA
    "canakinumab": timedelta(days=28),  # every 4 weeks in sJIA
    "ivig": timedelta(days=28),
}


def _gap(m: Medication) -> timedelta:
    return max(COURSE_GAP, DRUG_COURSE_GAP.get(m.drug, COURSE_GAP), m.interval)


def _check_at(at: datetime, name: str = "at") -> None:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InputError(name, "must be a datetime with a UTC offset")


def course_start(meds: list[Medication], at: datetime, key) -> dict:
    """Start of the continuous course containing ``at`` for each group ``key(med)``.

    Lines are merged in start order while each begins no later than the allowed gap after
    the course so far ends (an ongoing line never ends): ``COURSE_GAP``, or the drug's
    usual dosing interval (``DRUG_COURSE_GAP``, or the line's own) when longer."""
    groups: dict = {}
    for m in sorted((m for m in meds if m.start <= at), key=lambda m: m.start):
        groups.setdefault(key(m), []).append(m)
    out = {}
    for k, ms in groups.items():
        start, end, gap = None, None, COURSE_GAP
        for m in ms:
            if start is None or (end is not None and m.start > end + max(gap, _gap(m))):
                start, end, gap = m.start, m.end, _gap(m)
            else:
                end = None if (end is None or m.end is None) else max(end, m.end)
                gap = max(gap, _gap(m))
        out[k] = start
    return out


def _day(at: datetime, start: datetime) -> int:
    """Day number: 1 during the first 24 h of the course."""
    return (at - start) // timedelta(days=1) + 1


def active_therapies(meds: list[Medication], at: datetime) -> list[dict]:
    """Medications active at ``at`` (start <= at < end), with line and day numbers.

    ``day`` counts the continuous course of the drug, ``class_day`` that of its class
    (methylprednisolone pulses then oral prednisolone are one glucocorticoid course)."""
    _check_at(at)
    check_medications(meds)
    by_drug = course_start(meds, at, key=lambda m: m.drug)
    by_class = course_start(meds, at, key=lambda m: THERAPY_CLASSES[m.drug][0])
    eq = equivalence()
    out = []
    for m in meds:
        if not m.active_at(at):
            continue
        cls, line = THERAPY_CLASSES[m.drug]
        item = {
            "medication_id": m.id, "drug": m.drug, "class": cls, "line": line, "line_label": LINE_LABELS[line],
            "start": m.start.isoformat(), "end": m.end.isoformat() if m.end else None,
            "course_start": by_drug[m.drug].isoformat(), "day": _day(at, by_drug[m.drug]),
            "class_course_start": by_class[cls].isoformat(), "class_day": _day(at, by_class[cls]),
            "dose": m.dose.model_dump() if m.dose else None,
            "frequency_per_day": m.frequency_per_day, "route": m.route,
        }
        if m.is_glucocorticoid and m.dose is not None:
            unit = "mg/kg" if m.dose.per_kg else "mg"
            item["prednisone_equivalent_per_administration"] = {
                "value": eq.to_prednisone(m.drug, m.dose.mg), "unit": unit,
            }
        out.append(item)
    out.sort(key=lambda d: (d["line"] is None, d["line"] or 0, d["drug"], d["start"]))
    return out


def treatment_lines(meds: list[Medication], at: datetime | None = None) -> dict:
    """Escalation summary: each line with its drugs and first start, in order of starting.

    ``at`` (optional) ignores lines started after it. ``in_expected_order`` is False when a
    higher line started before a lower one (e.g. emapalumab before any glucocorticoid) —
    shown, not judged: the order is an ASSUMPTION (module doc)."""
    if at is not None:
        _check_at(at)
    check_medications(meds)
    started = [m for m in meds if at is None or m.start <= at]
    lines: dict = {}
    for m in sorted(started, key=lambda m: (m.start, m.drug)):
        cls, line = THERAPY_CLASSES[m.drug]
        entry = lines.setdefault(line, {
            "line": line, "label": LINE_LABELS[line], "first_start": m.start.isoformat(),
            "_first": m.start, "drugs": [], "medication_ids": [],
        })
        if m.drug not in entry["drugs"]:
            entry["drugs"].append(m.drug)
        entry["medication_ids"].append(m.id)
    numbered = sorted((e for k, e in lines.items() if k is not None), key=lambda e: (e["_first"], e["line"]))
    order = [e["line"] for e in numbered]
    for e in lines.values():
        e.pop("_first")
    return {
        "lines": numbered,
        "background_or_adjunct": lines.get(None),
        "escalation_order": order,
        "highest_line": max(order) if order else None,
        "in_expected_order": order == sorted(order),
        "basis": "ASSUMPTION: lines 1 glucocorticoids -> 2 ciclosporin/anakinra -> 3 emapalumab/ruxolitinib/"
                 "etoposide, from docs/clinical/criteria.md §10 (VERIFIED drug classes) and §11 (emapalumab after GC ± "
                 "anakinra/ciclosporin); the 2022 EULAR/ACR sequence (§9) is UNVERIFIED",
    }
