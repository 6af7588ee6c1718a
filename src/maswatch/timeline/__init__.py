"""One patient's timeline: parse it (``maswatch-timeline/1``), evaluate it at every
result time, and compose the assessment (alert level, evidence, what to order,
treatment and response, episodes).

    tl = timeline.load("patient.json")         # or timeline.parse(obj)
    a = timeline.assess(tl)                     # at the last result time, or at=datetime
    a.to_json()                                 # what ``maswatch assess --json`` prints
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import jsondoc
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


MAX_CLOCK_SKEW = timedelta(hours=24)
"""A result may be dated this far after the reading time (clocks and time zones differ);
later, it is refused as a typo rather than assessed (docs/limits.md)."""


def parse(obj: Any, *, not_after: datetime | None = None) -> Timeline:
    """Validate a timeline object strictly; raise InputError naming the first bad field.

    ``not_after``: refuse an observation dated later (the caller passes its reading
    time plus :data:`MAX_CLOCK_SKEW`; the core has no clock of its own).
    """
    doc = validate(obj)
    if not_after is not None:
        for i, o in enumerate(doc.observations):
            if o.time is not None and o.time > not_after:
                raise InputError(f"observations[{i}].time",
                                 f"{o.time.isoformat()} is later than {not_after.isoformat()} (the time of reading plus "
                                 f"{MAX_CLOCK_SKEW.total_seconds() / 3600:g} h of clock skew): a result cannot come "
                                 "from the future; check the year"
                                 + (f" [observation id {jsondoc.shorten(o.id, 80)!r}]" if o.id else ""))
    table = build_table(doc.observations)
    meds = parse_medications(list(doc.medications))
    return Timeline(doc=doc, table=table, medications=meds)


def load(path: str | Path) -> Timeline:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError("FILE", f"cannot read {jsondoc.shorten(path, 120)}: {exc.strerror or exc}") from None
    return parse(jsondoc.read_json_bytes(data, what="timeline"))


from .assess import Assessment, assess  # noqa: E402

__all__ = ["FORMAT", "MAX_CLOCK_SKEW", "Assessment", "Timeline", "assess", "load", "parse"]
