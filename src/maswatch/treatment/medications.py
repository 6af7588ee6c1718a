"""Medication records: the strict contract for ``medications[]`` of a timeline.

One record is one prescription line: a drug, a dose per administration, how many
administrations a day, and the interval in which they are given (``end`` exclusive;
absent = ongoing). Doses are per administration in ``mg``, ``mg/kg``, ``g`` or ``g/kg``
(docs/timeline-format.md). Parsing is strict: unknown keys, a time without a UTC
offset, a non-positive dose or an unknown unit are refused with the dotted path of
the field (``medications[2].dose.unit``), so a typo never silently drops a dose.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from ..errors import InputError
from ..jsondoc import FiniteNumber, Time, shorten

Drug = Literal[
    "prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone",
    "ciclosporin", "anakinra", "canakinumab", "tocilizumab", "emapalumab", "ruxolitinib",
    "etoposide", "ivig",
]
DRUGS: tuple[str, ...] = Drug.__args__
GLUCOCORTICOIDS: frozenset[str] = frozenset(
    {"prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone"}
)
DoseUnit = Literal["mg", "mg/kg", "g", "g/kg"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US_PER_DAY = 86_400_000_000


def epoch_us(t: datetime) -> int:
    """Exact integer microseconds since 1970-01-01 UTC of an aware datetime."""
    return (t - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Bounds:
    """Plausibility bounds of a record (``data/medication_bounds.toml``; sources in
    docs/clinical/medications.md). They refuse slips; they never judge a prescription."""

    min_frequency_per_day: float
    max_frequency_per_day: float
    max_duration_days: float
    max_mg: dict[str, float]         # per administration, absolute doses
    max_mg_per_kg: dict[str, float]  # per administration, per-kg doses


@cache
def bounds() -> Bounds:
    raw = tomllib.loads(resources.files("maswatch").joinpath("data/medication_bounds.toml").read_text("utf-8"))
    if set(raw["drug"]) != set(DRUGS) - GLUCOCORTICOIDS:
        raise ValueError(f"medication_bounds.toml must list exactly {sorted(set(DRUGS) - GLUCOCORTICOIDS)}")
    from .glucocorticoids import equivalence  # the equivalence table converts the glucocorticoid bound

    k, gc, eq = float(raw["margin"]), raw["glucocorticoid"], equivalence()
    mg = {d: k * float(v["in_use_mg"]) for d, v in raw["drug"].items()}
    per_kg = {d: k * float(v["in_use_mg_per_kg"]) for d, v in raw["drug"].items()}
    for d in GLUCOCORTICOIDS:  # one bound in prednisone equivalents, in each drug's own mg
        mg[d] = k * float(gc["in_use_prednisone_equivalent_mg"]) / eq.factor(d)
        per_kg[d] = k * float(gc["in_use_prednisone_equivalent_mg_per_kg"]) / eq.factor(d)
    return Bounds(float(raw["frequency"]["min_per_day"]), float(raw["frequency"]["max_per_day"]),
                  float(raw["duration"]["max_days"]), mg, per_kg)


MAX_FREQUENCY_PER_DAY = 24.0
"""Hourly administration is the most frequent schedule accepted; a larger number is
almost always a total daily dose typed into the frequency field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dose(_Strict):
    """Amount given at each administration."""

    value: FiniteNumber = Field(gt=0)
    unit: DoseUnit

    @property
    def per_kg(self) -> bool:
        return self.unit.endswith("/kg")

    @property
    def mg(self) -> float:
        """The amount in mg (or mg/kg for a per-kg dose): g are exactly 1000 mg."""
        return self.value * 1000.0 if self.unit.startswith("g") else self.value


class Medication(_Strict):
    """One prescription line (timeline ``medications[]``)."""

    id: StrictStr
    drug: Drug
    start: Time
    end: Time | None = None
    dose: Dose | None = None
    frequency_per_day: float = Field(1.0, gt=0, le=MAX_FREQUENCY_PER_DAY, allow_inf_nan=False, strict=True)
    route: StrictStr | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> "Medication":
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self

    @property
    def is_glucocorticoid(self) -> bool:
        return self.drug in GLUCOCORTICOIDS

    def active_at(self, t: datetime) -> bool:
        """Whether ``t`` lies in [start, end) (an ongoing line is active from its start)."""
        return self.start <= t and (self.end is None or t < self.end)

    @property
    def interval(self) -> timedelta:
        """Time between two administrations."""
        return timedelta(days=1) / self.frequency_per_day


def _path(prefix: str, loc: tuple) -> str:
    out = prefix
    for p in loc:
        if str(p) in ("float", "int", "function-after[check_number(), union[float,int]]") or str(p).startswith(
                "function-"):
            continue  # pydantic's union and validator tags are not fields
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def parse_medication(item: dict, field: str = "medication") -> Medication:
    """Parse one record; errors name ``field`` and the offending key."""
    if not isinstance(item, dict):
        raise InputError(field, f"expected an object, got {type(item).__name__}")
    try:
        return Medication.model_validate(item)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(p for p in err["loc"] if p not in ("function-after[_end_after_start()]",))
        where = _path(field, loc) if loc else field
        if err["type"] == "value_error" and not loc:
            where = f"{field}.end"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg += f" (got {shorten(repr(err.get('input')), 80)})"
        raise InputError(where, msg) from None


def check_bounds(m: Medication, field: str = "medication") -> Medication:
    """Refuse a frequency, duration or dose outside the plausibility bounds (module :func:`bounds`)."""
    b = bounds()
    assert b.max_frequency_per_day == MAX_FREQUENCY_PER_DAY, "medication_bounds.toml and the model disagree"
    if m.frequency_per_day < b.min_frequency_per_day:
        raise InputError(f"{field}.frequency_per_day",
                         f"{m.frequency_per_day:g} a day is less often than once in {1 / b.min_frequency_per_day:.0f} "
                         f"days (accepted {b.min_frequency_per_day:g}-{b.max_frequency_per_day:g}); "
                         "give the number of administrations per day, e.g. 0.5 for every other day")
    if m.end is not None and (m.end - m.start) > timedelta(days=b.max_duration_days):
        raise InputError(f"{field}.end", f"the line would last more than {b.max_duration_days:g} days; "
                                         "leave 'end' out for an ongoing line")
    if m.dose is not None:
        limit = (b.max_mg_per_kg if m.dose.per_kg else b.max_mg)[m.drug]
        if m.dose.mg > limit:
            unit = "mg/kg" if m.dose.per_kg else "mg"
            raise InputError(f"{field}.dose.value",
                             f"{m.dose.value:g} {m.dose.unit} of {m.drug} per administration is above the plausible "
                             f"{limit:.4g} {unit} (twice the highest dose in use, docs/clinical/medications.md); "
                             "check the unit and that it is one administration, not a daily or course total")
    return m


def parse_medications(items: list[dict]) -> list[Medication]:
    """Parse ``medications[]``; refuses the list at the first invalid record, naming it.

    Ids must be unique: a correction of a prescription is a new line with its own id.
    """
    if not isinstance(items, list):
        raise InputError("medications", f"expected a list, got {type(items).__name__}")
    meds = [check_bounds(parse_medication(item, f"medications[{i}]"), f"medications[{i}]")
            for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, m in enumerate(meds):
        if m.id in seen:
            raise InputError(f"medications[{i}].id", f"duplicate id {m.id!r} (also medications[{seen[m.id]}])")
        seen[m.id] = i
    # One order whatever the file's: by start, then id (ids are unique).
    return sorted(meds, key=lambda m: (m.start, m.id))


def check_medications(meds: list[Medication]) -> None:
    """Refuse anything but parsed records (a raw dict would otherwise fail obscurely)."""
    for i, m in enumerate(meds):
        if not isinstance(m, Medication):
            raise InputError(f"meds[{i}]", f"expected a Medication (use parse_medications), got {type(m).__name__}")
