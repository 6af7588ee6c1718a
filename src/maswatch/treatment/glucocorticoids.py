"""Glucocorticoid exposure in prednisone equivalents, per UTC calendar day.

Equivalence table: ``data/glucocorticoids.toml`` (anti-inflammatory potency, with its
source). Counting rule: a prescription line is given at ``start + k * 24 h /
frequency_per_day`` for k = 0, 1, ... while the time is before ``end`` (exclusive) and
not after ``until``; each administration is counted on the UTC calendar day in which
it falls. A line starting at 12:00 once a day until 12:00 three days later is
therefore three administrations on three days, and a twice-daily line starting at
20:00 gives one dose on its first day.

Per-kg doses need a weight: the latest weight measured at or before the end of that
calendar day. Without one the day's mg is unknown and reported as such (never
assumed); its mg/kg is still known when every dose that day was prescribed per kg.
Likewise an absolute (mg) dose has a known mg but an unknown mg/kg without a weight.
A line without a dose makes its days unknown. Unknown days are listed, and totals
that depend on them are ``None`` (the known part is reported separately as a lower
bound).
"""

from __future__ import annotations

import math
import numbers
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cache
from importlib import resources

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .. import logic
from ..analytes import round_significant
from ..errors import InputError
from .medications import GLUCOCORTICOIDS, US_PER_DAY, Medication, check_medications, epoch_us as _us

DAYS_LISTED = 366
"""Per-day detail is listed for at most this many days (the most recent): output stays
bounded however long a line runs; totals and day counts still cover every day."""

WEIGHT_PLAUSIBLE_KG = (0.2, 500.0)
"""Weights outside this range are refused: they are almost always grams or pounds."""


@dataclass(frozen=True)
class Equivalence:
    """The equivalence table and its source (``data/glucocorticoids.toml``)."""

    reference_drug: str
    reference_mg: float
    equivalent_mg: dict[str, float]
    source: dict

    def factor(self, drug: str) -> float:
        """Multiply a dose of ``drug`` by this to get mg prednisone-equivalent."""
        return self.reference_mg / self.equivalent_mg[drug]

    def to_prednisone(self, drug: str, mg: float) -> float:
        return float(round_significant(mg * self.reference_mg / self.equivalent_mg[drug]))


@cache
def equivalence() -> Equivalence:
    raw = tomllib.loads(resources.files("maswatch").joinpath("data/glucocorticoids.toml").read_text("utf-8"))
    table = {k: float(v) for k, v in raw["equivalent_mg"].items()}
    if set(table) != GLUCOCORTICOIDS:
        raise ValueError(f"glucocorticoids.toml must list exactly {sorted(GLUCOCORTICOIDS)}, has {sorted(table)}")
    if not all(v > 0 and math.isfinite(v) for v in table.values()):
        raise ValueError("glucocorticoids.toml: every equivalent dose must be a positive number")
    if table[raw["reference_drug"]] != float(raw["reference_mg"]):
        raise ValueError("glucocorticoids.toml: the reference drug's equivalent dose must equal reference_mg")
    return Equivalence(raw["reference_drug"], float(raw["reference_mg"]), table, raw["source"])


class GlucocorticoidConfig(BaseModel):
    """Dose categories. All are ASSUMPTIONS (not settled by docs/clinical/criteria.md): configurable and
    listed in every result that uses them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    high_dose_mg_per_day: float = Field(
        60, gt=0, description="High-dose day: prednisone-equivalent mg/day >= this (ASSUMPTION; cf. EMERALD entry "
        "'>= 60 mg/day if child >= 30 kg', docs/clinical/criteria.md §11)."
    )
    high_dose_mg_per_kg_per_day: float = Field(
        1, gt=0, description="High-dose day: prednisone-equivalent mg/kg/day >= this (ASSUMPTION)."
    )
    pulse_mg_per_day: float = Field(
        250, gt=0, description="Pulse day: methylprednisolone mg/day >= this (ASSUMPTION)."
    )
    pulse_mg_per_kg_per_day: float = Field(
        10, gt=0, description="Pulse day: methylprednisolone mg/kg/day >= this (ASSUMPTION)."
    )

    def assumptions(self) -> list[str]:
        return [
            f"high-dose day = prednisone-equivalent >= {self.high_dose_mg_per_day:g} mg/day or "
            f">= {self.high_dose_mg_per_kg_per_day:g} mg/kg/day (ASSUMPTION, configurable)",
            f"pulse day = methylprednisolone >= {self.pulse_mg_per_day:g} mg/day or "
            f">= {self.pulse_mg_per_kg_per_day:g} mg/kg/day (ASSUMPTION, configurable)",
            "weight for a day = latest weight measured at or before the end of that UTC day",
            "administrations at start + k*24h/frequency_per_day, before end (exclusive) and not after 'until'; "
            "counted on the UTC day in which they fall",
        ]


DEFAULT_GC_CONFIG = GlucocorticoidConfig()


@dataclass(frozen=True)
class DayExposure:
    """One UTC calendar day. ``None`` = unknown (``unknown_reason`` says why)."""

    day: date
    administrations: int
    mg: float | None                 # prednisone-equivalent mg that day
    mg_per_kg: float | None          # prednisone-equivalent mg/kg that day
    weight_kg: float | None
    weight_time: datetime | None
    methylprednisolone_mg: float | None
    methylprednisolone_mg_per_kg: float | None
    cumulative_mg: float | None      # up to and including this day; None once a day is unknown
    cumulative_mg_per_kg: float | None
    high_dose: str                   # met / not_met / unknown
    pulse: str
    drugs: tuple[str, ...]
    unknown_reason: str | None

    def to_json(self) -> dict:
        return {
            "day": self.day.isoformat(), "administrations": self.administrations,
            "prednisone_equivalent_mg": self.mg, "prednisone_equivalent_mg_per_kg": self.mg_per_kg,
            "weight_kg": self.weight_kg,
            "weight_time": self.weight_time.isoformat() if self.weight_time else None,
            "methylprednisolone_mg": self.methylprednisolone_mg,
            "methylprednisolone_mg_per_kg": self.methylprednisolone_mg_per_kg,
            "cumulative_prednisone_equivalent_mg": self.cumulative_mg,
            "cumulative_prednisone_equivalent_mg_per_kg": self.cumulative_mg_per_kg,
            "high_dose": self.high_dose, "pulse": self.pulse, "drugs": list(self.drugs),
            "unknown_reason": self.unknown_reason,
        }


@dataclass(frozen=True)
class GlucocorticoidExposure:
    until: datetime
    days: list[DayExposure]
    cumulative_mg: float | None            # None when any day's mg is unknown
    cumulative_mg_known: float              # sum over known days: a lower bound of the total
    cumulative_mg_per_kg: float | None
    cumulative_mg_per_kg_known: float
    days_unknown_mg: list[date]
    days_unknown_mg_per_kg: list[date]
    days_high_dose: int
    days_high_dose_unknown: int
    pulse_days: int
    pulse_days_unknown: int
    config: GlucocorticoidConfig = field(default=DEFAULT_GC_CONFIG)
    days_total: int = 0
    """Days from the first administration to the last (``days`` lists the last DAYS_LISTED)."""
    first_day: date | None = None

    @property
    def current_mg(self) -> float | None:
        """Prednisone-equivalent mg on the day of ``until`` (0 when no glucocorticoid that day)."""
        d = self.until.astimezone(timezone.utc).date()
        for day in self.days:
            if day.day == d:
                return day.mg
        return 0.0

    def to_json(self) -> dict:
        eq = equivalence()
        return {
            "until": self.until.isoformat(),
            "unit": "mg prednisone-equivalent",
            "cumulative_mg": self.cumulative_mg,
            "cumulative_mg_known_lower_bound": self.cumulative_mg_known,
            "cumulative_mg_per_kg": self.cumulative_mg_per_kg,
            "cumulative_mg_per_kg_known_lower_bound": self.cumulative_mg_per_kg_known,
            "days_unknown_mg": [d.isoformat() for d in self.days_unknown_mg],
            "days_unknown_mg_per_kg": [d.isoformat() for d in self.days_unknown_mg_per_kg],
            "days_high_dose": self.days_high_dose,
            "days_high_dose_unknown": self.days_high_dose_unknown,
            "pulse_days": self.pulse_days,
            "pulse_days_unknown": self.pulse_days_unknown,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "days_total": self.days_total,
            "days": [d.to_json() for d in self.days],
            "days_listed": f"the last {DAYS_LISTED} days with a glucocorticoid up to 'until' (totals and counts "
                           f"cover every day; days_unknown_* list at most the first {DAYS_LISTED})",
            "equivalence": {
                "equivalent_mg": dict(eq.equivalent_mg), "reference_drug": eq.reference_drug,
                "basis": "anti-inflammatory potency", "source": eq.source.get("primary"),
                "status": eq.source.get("status"),
            },
            "assumptions": self.config.assumptions(),
        }


def administration_times_us(med: Medication, until: datetime) -> np.ndarray:
    """Epoch microseconds of each administration of ``med`` at or before ``until``.

    For a test or a short window only: exposure counts per day in closed form
    (:func:`daily_counts`) and never lists administrations."""
    start, step = _us(med.start), _step_us(med)
    last = _last_us(med, until) - start  # k * step <= last
    if last < 0:
        return np.empty(0, dtype=np.int64)
    return start + np.arange(last // step + 1, dtype=np.int64) * step


def _step_us(med: Medication) -> int:
    return round(US_PER_DAY / med.frequency_per_day)


def _last_us(med: Medication, until: datetime) -> int:
    """The last instant an administration of ``med`` may fall at: ``until``, or before ``end``."""
    last = _us(until)
    return last if med.end is None else min(last, _us(med.end) - 1)  # end is exclusive


def daily_counts(med: Medication, until: datetime) -> tuple[int, np.ndarray]:
    """(first UTC day number, administrations on each day from it), in closed form.

    Administrations at ``start + k * step`` up to the last instant: the number at or
    before ``x`` is ``(x - start) // step + 1``, so a day's count is a difference of two
    such numbers. Work is one array element per day the line covers, never per dose.
    """
    start, step = _us(med.start), _step_us(med)
    last = _last_us(med, until)
    if last < start:
        return 0, np.zeros(0, np.int64)
    d0, d1 = start // US_PER_DAY, last // US_PER_DAY
    day_start = np.arange(d0, d1 + 1, dtype=np.int64) * US_PER_DAY

    def upto(x: np.ndarray) -> np.ndarray:
        return np.where(x >= start, (x - start) // step + 1, 0)

    return int(d0), upto(np.minimum(day_start + (US_PER_DAY - 1), last)) - upto(day_start - 1)


def _check_weights(weights: list[tuple[datetime, float]]) -> tuple[np.ndarray, np.ndarray, list[datetime]]:
    rows = []
    for i, w in enumerate(weights):
        try:
            t, kg = w
        except (TypeError, ValueError):
            raise InputError(f"weights[{i}]", "expected (time, kg)") from None
        if not isinstance(t, datetime) or t.tzinfo is None or t.utcoffset() is None:
            raise InputError(f"weights[{i}].time", "must be a datetime with a UTC offset")
        if isinstance(kg, bool) or not isinstance(kg, numbers.Real) or not math.isfinite(kg):
            raise InputError(f"weights[{i}].kg", f"must be a number, got {kg!r}")
        lo, hi = WEIGHT_PLAUSIBLE_KG
        if not lo <= kg <= hi:
            raise InputError(f"weights[{i}].kg", f"{kg:g} kg is implausible (accepted {lo:g}-{hi:g} kg); is it in kg?")
        rows.append((_us(t), float(kg), t))
    rows.sort(key=lambda r: (r[0], r[1]))  # two weights at one instant: the heavier counts as the later (order-free)
    return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows]), [r[2] for r in rows])


def _tri_name(x) -> str:
    return logic.ITEM_STATUS_NAMES[int(x)]


def _interval(known: np.ndarray, exact: np.ndarray, lower: np.ndarray) -> logic.Interval:
    """Exact where known, else [known lower part, +inf): an unknown part only adds dose."""
    lo = np.where(known, exact, lower)
    hi = np.where(known, exact, np.inf)
    return logic.Interval(lo=lo, hi=hi, present=known)


def glucocorticoid_exposure(
    meds: list[Medication],
    weights: list[tuple[datetime, float]],
    until: datetime,
    config: GlucocorticoidConfig = DEFAULT_GC_CONFIG,
) -> GlucocorticoidExposure:
    """Daily and cumulative prednisone-equivalent exposure up to ``until`` (see module doc)."""
    if not isinstance(until, datetime) or until.tzinfo is None or until.utcoffset() is None:
        raise InputError("until", "must be a datetime with a UTC offset")
    check_medications(meds)
    eq = equivalence()
    w_us, w_kg, w_time = _check_weights(weights)

    # One row per line: its days (closed form, no per-dose expansion), per-kg flag,
    # amount (mg or mg/kg) in prednisone equivalents and in methylprednisolone's own mg.
    lines = []
    for m in sorted((m for m in meds if m.is_glucocorticoid), key=lambda m: (m.start, m.id)):
        d0, cnt = daily_counts(m, until)
        nz = np.flatnonzero(cnt)
        if nz.size == 0:
            continue
        d0, cnt = d0 + int(nz[0]), cnt[nz[0]: nz[-1] + 1]
        amount = m.dose.mg if m.dose else np.nan
        lines.append((d0, cnt, bool(m.dose and m.dose.per_kg), m.dose is not None, amount * eq.factor(m.drug),
                      amount if m.drug == "methylprednisolone" else 0.0, m.drug))
    if not lines:
        return GlucocorticoidExposure(until, [], 0.0, 0.0, 0.0, 0.0, [], [], 0, 0, 0, 0, config)

    first = min(ln[0] for ln in lines)
    n_days = max(ln[0] + ln[1].size for ln in lines) - first
    n_admin = np.zeros(n_days, np.int64)
    has_unknown_dose, has_abs, has_kg = (np.zeros(n_days, bool) for _ in range(3))
    pred_abs, pred_kg, mp_abs, mp_kg = (np.zeros(n_days) for _ in range(4))
    for d0, cnt, kg, known, pred, mp, _ in lines:
        sl = slice(d0 - first, d0 - first + cnt.size)
        given = cnt > 0
        n_admin[sl] += cnt
        if not known:
            has_unknown_dose[sl] |= given
            continue
        (has_kg if kg else has_abs)[sl] |= given
        (pred_kg if kg else pred_abs)[sl] += cnt * pred
        (mp_kg if kg else mp_abs)[sl] += cnt * mp

    # Weight of each day: latest at or before the end of that day.
    day_end_us = (np.arange(n_days, dtype=np.int64) + first + 1) * US_PER_DAY
    w_i = np.searchsorted(w_us, day_end_us, side="left") - 1
    has_w = w_i >= 0
    wt = np.where(has_w, w_kg[np.clip(w_i, 0, None)] if w_kg.size else np.nan, np.nan)

    def totals(abs_part, kg_part):
        """mg/day and mg/kg/day with their known-ness (module doc)."""
        mg_known = ~has_unknown_dose & (has_w | ~has_kg)
        mgkg_known = ~has_unknown_dose & (has_w | ~has_abs)
        with np.errstate(invalid="ignore"):
            mg = abs_part + np.where(has_kg, kg_part * wt, 0.0)
            mgkg = kg_part + np.where(has_abs, abs_part / wt, 0.0)
        mg = np.where(mg_known, round_significant(np.nan_to_num(mg)), np.nan)
        mgkg = np.where(mgkg_known, round_significant(np.nan_to_num(mgkg)), np.nan)
        # Lower bounds when unknown: the parts that are known (a missing part adds dose).
        mg_lo = np.where(mg_known, mg, abs_part + np.where(has_w, kg_part * np.nan_to_num(wt), 0.0))
        mgkg_lo = np.where(mgkg_known, mgkg, kg_part)
        return mg, mg_known, mg_lo, mgkg, mgkg_known, mgkg_lo

    mg, mg_known, mg_lo, mgkg, mgkg_known, mgkg_lo = totals(pred_abs, pred_kg)
    mpd, mpd_known, mpd_lo, mpkg, mpkg_known, mpkg_lo = totals(mp_abs, mp_kg)

    high = logic.any_of(
        logic.ge(_interval(mg_known, mg, mg_lo), config.high_dose_mg_per_day),
        logic.ge(_interval(mgkg_known, mgkg, mgkg_lo), config.high_dose_mg_per_kg_per_day),
    )
    pulse = logic.any_of(
        logic.ge(_interval(mpd_known, mpd, mpd_lo), config.pulse_mg_per_day),
        logic.ge(_interval(mpkg_known, mpkg, mpkg_lo), config.pulse_mg_per_kg_per_day),
    )

    cum_mg = np.where(np.cumprod(mg_known).astype(bool), round_significant(np.cumsum(np.nan_to_num(mg))), np.nan)
    cum_kg = np.where(np.cumprod(mgkg_known).astype(bool), round_significant(np.cumsum(np.nan_to_num(mgkg))), np.nan)

    lo = max(0, n_days - DAYS_LISTED)
    listed = range(lo, n_days)  # the most recent days, bounded
    drugs_by_day: list[set[str]] = [set() for _ in listed]
    for d0, cnt, *_, drug in lines:
        for i in (np.flatnonzero(cnt) + (d0 - first - lo)).tolist():  # the listed days this line gives a dose
            if i >= 0:
                drugs_by_day[i].add(drug)

    def opt(x) -> float | None:
        return None if not np.isfinite(x) else float(x)

    def day_of(i: int) -> date:
        return date.fromordinal(date(1970, 1, 1).toordinal() + first + i)

    def column(a: np.ndarray) -> list[float | None]:
        """The listed days of one column as Python values (one conversion per column, not per cell)."""
        return [None if x != x or x in (np.inf, -np.inf) else x for x in a[lo:].astype(float).tolist()]

    c_mg, c_kg, c_wt, c_mp, c_mpkg, c_cum, c_cumkg = (column(a) for a in (mg, mgkg, wt, mpd, mpkg, cum_mg, cum_kg))
    c_admin, c_has_w, c_wi = n_admin[lo:].tolist(), has_w[lo:].tolist(), w_i[lo:].tolist()
    c_high, c_pulse = [_tri_name(x) for x in high[lo:].tolist()], [_tri_name(x) for x in pulse[lo:].tolist()]
    c_mg_known, c_kg_known = mg_known[lo:].tolist(), mgkg_known[lo:].tolist()
    c_unknown, c_has_kg = has_unknown_dose[lo:].tolist(), has_kg[lo:].tolist()
    days = []
    for j, i in enumerate(listed):
        reason = None
        if c_admin[j] and (not c_mg_known[j] or not c_kg_known[j]):
            if c_unknown[j]:
                reason = "a glucocorticoid given that day has no recorded dose"
            elif not c_has_w[j] and c_has_kg[j]:
                reason = "per-kg dose with no weight at or before this day: mg unknown"
            else:
                reason = "mg dose with no weight at or before this day: mg/kg unknown"
        days.append(DayExposure(
            day=day_of(i),
            administrations=c_admin[j],
            mg=c_mg[j], mg_per_kg=c_kg[j],
            weight_kg=c_wt[j], weight_time=w_time[c_wi[j]] if c_has_w[j] else None,
            methylprednisolone_mg=c_mp[j], methylprednisolone_mg_per_kg=c_mpkg[j],
            cumulative_mg=c_cum[j], cumulative_mg_per_kg=c_cumkg[j],
            high_dose=c_high[j], pulse=c_pulse[j],
            drugs=tuple(sorted(drugs_by_day[j])), unknown_reason=reason,
        ))

    return GlucocorticoidExposure(
        until=until,
        days=days,
        cumulative_mg=opt(cum_mg[-1]),
        # lower bounds: every known part of every day (a day with one unknown part keeps the rest)
        cumulative_mg_known=float(round_significant(np.nansum(mg_lo))),
        cumulative_mg_per_kg=opt(cum_kg[-1]),
        cumulative_mg_per_kg_known=float(round_significant(np.nansum(mgkg_lo))),
        days_unknown_mg=[day_of(int(i)) for i in np.flatnonzero(~mg_known)[:DAYS_LISTED]],
        days_unknown_mg_per_kg=[day_of(int(i)) for i in np.flatnonzero(~mgkg_known)[:DAYS_LISTED]],
        days_total=n_days, first_day=day_of(0),
        days_high_dose=int((high == logic.YES).sum()),
        days_high_dose_unknown=int((high == logic.UNKNOWN).sum()),
        pulse_days=int((pulse == logic.YES).sum()),
        pulse_days_unknown=int((pulse == logic.UNKNOWN).sum()),
        config=config,
    )
