"""One patient's timeline: parse it (``maswatch-timeline/1``), evaluate it at every
result time, and compose the assessment (alert level, evidence, what to order,
treatment and response, episodes).

    tl = timeline.load("patient.json")         # or timeline.parse(obj)
    a = timeline.assess(tl)                     # at the last result time, or at=datetime
    a.to_json()                                 # what ``maswatch assess --json`` prints
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..treatment import Medication, parse_medications
from .model import FORMAT, Condition, Observation, Patient, TimelineDoc, validate
from .observations import ObservationTable, build_table


@dataclass
class Timeline:
    doc: TimelineDoc
    table: ObservationTable
    medications: list[Medication]

    @property
    def patient(self) -> Patient:
        return self.doc.patient

    @property
    def conditions(self) -> list[Condition]:
        return self.doc.conditions

    @property
    def observations(self) -> list[Observation]:
        """Every record as given (all versions, in file order)."""
        return self.doc.observations

    @property
    def synthetic(self) -> bool:
        return self.doc.synthetic


def parse(obj: Any) -> Timeline:
    """Validate a timeline object strictly; raise InputError naming the first bad field."""
    doc = validate(obj)
    table = build_table(doc.observations)
    meds = parse_medications(list(doc.medications))
    return Timeline(doc=doc, table=table, medications=meds)


def load(path: str | Path) -> Timeline:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("FILE", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("FILE", f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    return parse(obj)


from .assess import Assessment, assess  # noqa: E402

__all__ = ["FORMAT", "Assessment", "Timeline", "assess", "load", "parse"]
