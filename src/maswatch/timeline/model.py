"""The timeline contract (``maswatch-timeline/1``, docs/timeline-format.md), parsed strictly.

Unknown keys, wrong types, times without a UTC offset and unknown codes are refused
with the path of the field (``observations[3].time``) and, for an observation, its id,
so that a typo never silently drops a result. Units are checked later, by the analyte
registry, on the observations actually used (see :mod:`.observations`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt,
                      StrictStr, ValidationError, model_validator)

from .. import corrections
from ..batch import FINDING_IDS
from ..diary.signs import SIGN_IDS
from ..errors import InputError
from ..jsondoc import Date, FiniteNumber, Time, TimeOrDate, check_number, shorten

FORMAT = "maswatch-timeline/1"

Status = Literal["final", "registered", "preliminary", "amended", "corrected", "entered-in-error", "cancelled"]
REMOVING = frozenset(corrections.REMOVING)
REPLACING = frozenset(corrections.REPLACING)
Comparator = Literal["<", "<=", ">=", ">"]
Finding = Literal[FINDING_IDS]  # type: ignore[valid-type]
ConditionCode = Literal["sjia", "aosd", "sle", "other_rheumatic", "primary_hlh", "infection", "malignancy"]
RHEUMATIC_CONTEXTS = ("sjia", "aosd", "sle", "other_rheumatic")
"""Condition codes that set the patient context used by the instruments (batch.CONTEXTS)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Number = StrictFloat | StrictInt


class ReferenceRange(_Strict):
    """The laboratory's own range, in the observation's unit."""

    low: FiniteNumber | None = None
    high: FiniteNumber | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "ReferenceRange":
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low!r} is above high {self.high!r}")
        return self


SHAPED, FACTS = "_shaped", "_facts"
"""Keys of what an Observation remembers of itself (in its __dict__: see the class)."""


class Observation(_Strict):
    id: StrictStr | None = None
    time: Time | None = None
    analyte: StrictStr | None = None
    loinc: StrictStr | None = None
    finding: Finding | None = None
    vital: Literal["weight", "temperature"] | None = None
    symptom: Literal[SIGN_IDS] | None = None  # type: ignore[valid-type]
    """A sign a family or patient reports at home (docs/family.md): never an instrument finding."""
    value: Annotated[StrictBool | StrictInt | StrictFloat, AfterValidator(check_number)] | None = None
    unit: StrictStr | None = None
    comparator: Comparator | None = None
    status: Status = "final"
    reference_range: ReferenceRange | None = None
    note: StrictStr | None = None
    source: StrictStr | None = None
    reporter: Literal["family", "patient"] | None = None
    """Who reported it when not the care team (home diary); absent = the care team or a laboratory."""
    # Two things are remembered in the instance's __dict__ (as functools.cached_property does;
    # pydantic leaves keys that are not fields out of equality, hashing and dumps), not as private
    # attributes, which pydantic would set up on every one of a document's records and compare:
    # SHAPED, once the shape rules passed (pydantic re-runs an "after" validator on an instance a
    # document reuses, a stored or remembered row, and a frozen instance cannot change shape), and
    # FACTS, its values as ``observations.build_table`` reads them (a stored row is parsed again
    # on every new result).

    @model_validator(mode="after")
    def _shape(self) -> "Observation":
        memo = self.__dict__
        if SHAPED in memo:
            return self
        self._check_shape()
        memo[SHAPED] = True
        return self

    def model_copy(self, *, update=None, deep: bool = False) -> "Observation":
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop(SHAPED, None)  # a changed copy is checked and read afresh
        copied.__dict__.pop(FACTS, None)
        return copied

    def _check_shape(self) -> None:
        kinds = [k for k in ("analyte", "loinc", "finding", "vital", "symptom") if getattr(self, k) is not None]
        if self.status in REMOVING and not kinds:
            if self.id is None:
                raise ValueError("an entered-in-error/cancelled record needs the id of the observation it removes")
            return  # a bare retraction: {"id": ..., "status": "entered-in-error"}
        if not kinds:
            raise ValueError("name the quantity with one of analyte, loinc, finding, vital or symptom")
        if len(kinds) > 1 and set(kinds) != {"analyte", "loinc"}:
            raise ValueError(f"give only one of analyte/loinc, finding, vital, symptom (got {', '.join(kinds)})")
        if self.symptom is not None and self.reporter is None:
            raise ValueError("a symptom is reported by someone: give reporter (family or patient)")
        if self.time is None:
            raise ValueError("time is required (ISO 8601 with a UTC offset)")
        if self.value is None:
            raise ValueError("value is required")
        if self.finding is not None or self.symptom is not None:
            what = "finding" if self.finding is not None else "symptom"
            if not isinstance(self.value, bool):
                raise ValueError(f"a {what}'s value must be true or false, got {self.value!r}")
            if self.unit is not None or self.comparator is not None or self.reference_range is not None:
                raise ValueError(f"a {what} has no unit, comparator or reference_range")
        elif isinstance(self.value, bool):
            raise ValueError(f"a measured value must be a number, got {self.value!r}")


class Condition(_Strict):
    code: ConditionCode
    onset: TimeOrDate | None = None
    text: StrictStr | None = None

    @property
    def onset_time(self) -> datetime | None:
        return as_datetime(self.onset)


class Patient(_Strict):
    id: StrictStr | StrictInt | None = None
    birth_date: Date | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    age_years: Number | None = Field(None, ge=0, le=130)
    age_at: TimeOrDate | None = None
    known_immunosuppression: StrictBool | None = None
    hlh_molecular_diagnosis: StrictBool | None = None
    malignancy: StrictBool | None = None
    """False: no evidence of malignancy (HLH-2004 criterion 5). A ``malignancy`` condition sets it from its onset."""

    @model_validator(mode="after")
    def _age(self) -> "Patient":
        if (self.age_years is None) != (self.age_at is None):
            raise ValueError("age_years and age_at go together (the age and the time it was stated)")
        if self.age_years is not None and self.birth_date is not None:
            raise ValueError("give birth_date or age_years/age_at, not both")
        return self


class TimelineDoc(_Strict):
    format: Literal["maswatch-timeline/1"] = FORMAT
    schema_: StrictStr | None = Field(None, alias="$schema")
    synthetic: StrictBool = False
    description: StrictStr | None = None
    patient: Patient = Patient()
    conditions: list[Condition] = []
    observations: list[Observation] = []
    medications: list[dict[str, Any]] = []

    @model_validator(mode="after")
    def _malignancy_consistent(self) -> "TimelineDoc":
        if self.patient.malignancy is False and any(c.code == "malignancy" for c in self.conditions):
            raise ValueError("patient.malignancy is false but a 'malignancy' condition is recorded: "
                             "remove one of them")
        return self


def as_datetime(d: datetime | date | None) -> datetime | None:
    """A date counts from 00:00 UTC of that day."""
    if d is None or isinstance(d, datetime):
        return d
    return datetime.combine(d, time(0), tzinfo=timezone.utc)


def _path(loc: tuple) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        elif str(p).startswith(("function-", "tagged-union")) or str(p) in (
                "bool", "int", "float", "str", "date", "datetime", "none"):
            continue
        else:
            out += ("." if out else "") + str(p)
    return out or "timeline"


def validate(obj: Any) -> TimelineDoc:
    """Validate the document's shape; raise InputError naming the first bad field."""
    if not isinstance(obj, dict):
        raise InputError("timeline", f"must be a JSON object, got {type(obj).__name__}")
    try:
        return TimelineDoc.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        where = _path(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "is not a field of the timeline format (see docs/timeline-format.md)"
        elif err["type"] in ("timezone_aware", "datetime_from_date_parsing", "datetime_parsing"):
            msg = f"{msg}: times need a UTC offset, e.g. 2024-05-01T08:00:00Z (got {shorten(repr(err.get('input')), 80)})"
        elif "input" in err and err["type"] not in ("missing", "value_error"):
            msg = f"{msg} (got {shorten(repr(err['input']), 80)})"
        if len(loc) >= 2 and loc[0] == "observations" and isinstance(loc[1], int):
            raw = obj["observations"][loc[1]]
            if isinstance(raw, dict) and raw.get("id") is not None:
                msg = f"{msg} [observation id {raw['id']!r}]"
        raise InputError(where, msg) from None
