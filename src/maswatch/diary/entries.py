"""One diary entry: the family's form checked with messages a parent understands, and the
entry as timeline observations reported by the family (docs/timeline-format.md).

The temperature unit is a required choice (°C or °F), never guessed; the conversion is the
analyte registry's (one implementation, exact at published cut-offs). The time is the
family's local time with its UTC offset, as they entered it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Iterable, Mapping

import numpy as np

from .. import analytes
from ..errors import InputError
from .signs import SIGN_IDS
from .tiers import rules

UNITS = {"C": "Cel", "F": "[degF]"}
"""The form's unit choice -> the registry's spelling (analytes.toml, temperature)."""
UNIT_LABEL = {"C": "°C", "F": "°F"}
MAX_TEXT = 500
MAX_FUTURE = timedelta(minutes=5)
"""A phone clock a few minutes ahead is not "the future"."""
MAX_PAST = timedelta(days=30)
REPORTER = "family"
SOURCE = "family diary"


class DiaryInputError(InputError):
    """A form field a parent must fix; ``message`` is written for them (no jargon, no codes)."""


@dataclass(frozen=True)
class DiaryEntry:
    time: datetime
    signs: frozenset[str]
    temperature: float | None = None
    """As typed, in ``unit``."""
    unit: str | None = None
    """'C' or 'F' (the form's choice)."""
    temperature_c: float | None = None
    other_text: str | None = None

    def to_json(self) -> dict:
        return {"time": self.time.isoformat(), "signs": [s for s in SIGN_IDS if s in self.signs],
                "temperature": self.temperature, "unit": self.unit, "temperature_c": self.temperature_c,
                "other_text": self.other_text}


def to_celsius(value: float, unit: str) -> float:
    """The registry's exact conversion (101.3 °F is 38.5 °C, not 38.49999)."""
    conv = analytes.get("temperature").conversion(UNITS[unit], field_path="temperature_unit", value=value)
    return float(conv.apply(np.array([float(value)]))[0])


_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_offset(text: str | None) -> timezone:
    m = _OFFSET.match((text or "").strip())
    if not m or int(m.group(2)) > 14 or int(m.group(3)) > 59:
        raise DiaryInputError("tz_offset", "We could not read your time zone. Please choose it from the list.")
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))


def _time(text: str | None, offset: str | None, now: datetime) -> datetime:
    text = (text or "").strip()
    if not text:
        raise DiaryInputError("time", "Please enter the date and time.")
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise DiaryInputError("time", "We could not read the date and time. Please pick them again.") from None
    if local.tzinfo is not None:
        raise DiaryInputError("time", "We could not read the date and time. Please pick them again.")
    t = local.replace(tzinfo=parse_offset(offset), second=0, microsecond=0)
    if t > now + MAX_FUTURE:
        raise DiaryInputError("time", "This time is in the future. Please check the date and time.")
    if t < now - MAX_PAST:
        raise DiaryInputError("time", "This time is more than 30 days ago. Please tell the team at the next visit.")
    return t


def _temperature(text: str | None, unit: str | None) -> tuple[float | None, str | None, float | None]:
    typed = (text or "").strip()[:20]
    text = typed.replace(",", ".")  # a decimal comma is common on phones
    if not text:
        return None, None, None
    try:
        d = Decimal(text)
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite() or len(text) > 8 or d.as_tuple().exponent < -2:
        raise DiaryInputError("temperature", f"“{typed}” is not a temperature we can read. "
                              "Please type the number on the thermometer, like 38.5.")
    if unit not in UNITS:
        raise DiaryInputError("unit", "Please choose °C or °F for the temperature.")
    value = float(d)
    c = to_celsius(value, unit)
    lo, hi = rules().accepted_c
    if not lo <= c <= hi:
        other = "F" if unit == "C" else "C"
        hint = ""
        if lo <= to_celsius(value, other) <= hi:
            hint = f" Did you mean {UNIT_LABEL[other]}?"
        raise DiaryInputError("temperature", f"{typed} {UNIT_LABEL[unit]} is not a body temperature we can "
                              f"accept. Please check the number and whether you chose °C or °F.{hint}")
    return value, unit, c


def parse_entry(form: Mapping[str, object], now: datetime) -> DiaryEntry:
    """Check the diary form (values as strings; ``signs`` a list); refuse with a parent's message."""
    raw_signs = form.get("signs") or []
    signs_in: Iterable = [raw_signs] if isinstance(raw_signs, str) else raw_signs
    signs = set()
    for s in signs_in:
        if s not in SIGN_IDS:
            raise DiaryInputError("signs", "The form was not sent correctly. Please reload the page and try again.")
        signs.add(s)
    other = str(form.get("other_text") or "").strip()
    if len(other) > MAX_TEXT:
        raise DiaryInputError("other_text", f"Please keep the note under {MAX_TEXT} letters. "
                              "Call the team to tell them more.")
    if other:
        signs.add("other_worry")
    if not str(form.get("temperature") or "").strip() and not signs:
        raise DiaryInputError("entry", "Please enter a temperature or tick at least one box.")
    value, unit, c = _temperature(form.get("temperature"), form.get("unit"))  # type: ignore[arg-type]
    t = _time(form.get("time"), form.get("tz_offset"), now)  # type: ignore[arg-type]
    return DiaryEntry(time=t, signs=frozenset(signs), temperature=value, unit=unit, temperature_c=c,
                      other_text=other or None)


def observation_ids(entry_key: str, entry: DiaryEntry) -> list[str]:
    ids = [f"family-{entry_key}-temperature"] if entry.temperature is not None else []
    return ids + [f"family-{entry_key}-{s}" for s in SIGN_IDS if s in entry.signs]


def to_observations(entry: DiaryEntry, entry_key: str) -> list[dict]:
    """The entry as timeline observations: the temperature as a vital in the unit the family
    chose (converted by the registry like any other), each ticked sign as a ``symptom``;
    all with ``reporter: family``. Ids are stable so a later entry can retract them."""
    t = entry.time.isoformat()
    out: list[dict] = []
    if entry.temperature is not None:
        out.append({"id": f"family-{entry_key}-temperature", "time": t, "vital": "temperature",
                    "value": entry.temperature, "unit": UNITS[entry.unit], "reporter": REPORTER, "source": SOURCE})
    for s in SIGN_IDS:
        if s in entry.signs:
            o = {"id": f"family-{entry_key}-{s}", "time": t, "symptom": s, "value": True, "reporter": REPORTER,
                 "source": SOURCE}
            if s == "other_worry" and entry.other_text:
                o["note"] = entry.other_text
            out.append(o)
    return out


def retractions(observation_ids_: Iterable[str]) -> list[dict]:
    """Bare ``entered-in-error`` records removing an earlier entry's observations (the timeline's
    correction rule): the earlier entry stays stored, it is no longer used."""
    return [{"id": i, "status": "entered-in-error", "reporter": REPORTER, "source": SOURCE}
            for i in observation_ids_]
