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
    """Dose categories. All are ASSUMPTIONS (not settled by criteria.md): configurable and
    listed in every result that uses them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    high_dose_mg_per_day: float = Field(
        60, gt=0, description="High-dose day: prednisone-equivalent mg/day >= this (ASSUMPTION; cf. EMERALD entry "
        "'>= 60 mg/day if child >= 30 kg', criteria.md §11)."
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
            "days": [d.to_json() for d in self.days],
            "equivalence": {
                "equivalent_mg": dict(eq.equivalent_mg), "reference_drug": eq.reference_drug,
                "basis": "anti-inflammatory potency", "source": eq.source.get("primary"),
                "status": eq.source.get("status"),
            },
            "assumptions": self.config.assumptions(),
        }


def administration_times_us(med: Medication, until: datetime) -> np.ndarray:
    """Epoch microseconds of each administration of ``med`` at or before ``until``."""
    start, step = _us(med.start), round(US_PER_DAY / med.frequency_per_day)
    last = _us(until) - start  # k * step <= last
    if med.end is not None:
        last = min(last, _us(med.end) - start - 1)  # end is exclusive
    if last < 0:
        return np.empty(0, dtype=np.int64)
    return start + np.arange(last // step + 1, dtype=np.int64) * step


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
    rows.sort(key=lambda r: r[0])
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

    # One row per administration: day, per-kg flag, amount (mg or mg/kg) in prednisone
    # equivalents and in methylprednisolone's own mg, and whether the dose is known.
    day_idx, per_kg, pred, mp, known, drug_of = [], [], [], [], [], []
    for m in meds:
        if not m.is_glucocorticoid:
            continue
        t = administration_times_us(m, until)
        if t.size == 0:
            continue
        n = t.size
        day_idx.append(t // US_PER_DAY)
        per_kg.append(np.full(n, bool(m.dose and m.dose.per_kg)))
        amount = m.dose.mg if m.dose else np.nan
        pred.append(np.full(n, amount * eq.factor(m.drug)))
        mp.append(np.full(n, amount if m.drug == "methylprednisolone" else 0.0))
        known.append(np.full(n, m.dose is not None))
        drug_of.extend([m.drug] * n)
    if not day_idx:
        return GlucocorticoidExposure(until, [], 0.0, 0.0, 0.0, 0.0, [], [], 0, 0, 0, 0, config)

    day_idx = np.concatenate(day_idx)
    per_kg, known = np.concatenate(per_kg), np.concatenate(known)
    pred, mp = np.concatenate(pred), np.concatenate(mp)
    first = int(day_idx.min())
    rel = day_idx - first
    n_days = int(rel.max()) + 1

    def daysum(mask, values):
        return np.bincount(rel, weights=np.where(mask, values, 0.0), minlength=n_days)

    def daycount(mask):
        return np.bincount(rel, weights=mask.astype(np.float64), minlength=n_days) > 0

    n_admin = np.bincount(rel, minlength=n_days)
    has_unknown_dose = daycount(~known)
    has_abs, has_kg = daycount(known & ~per_kg), daycount(known & per_kg)
    pred_abs, pred_kg = daysum(known & ~per_kg, pred), daysum(known & per_kg, pred)
    mp_abs, mp_kg = daysum(known & ~per_kg, mp), daysum(known & per_kg, mp)

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

    drugs_by_day: list[set[str]] = [set() for _ in range(n_days)]
    for r, d in zip(rel.tolist(), drug_of):
        drugs_by_day[r].add(d)

    def opt(x) -> float | None:
        return None if not np.isfinite(x) else float(x)

    days = []
    for i in range(n_days):
        reason = None
        if n_admin[i] and (not mg_known[i] or not mgkg_known[i]):
            if has_unknown_dose[i]:
                reason = "a glucocorticoid given that day has no recorded dose"
            elif not has_w[i] and has_kg[i]:
                reason = "per-kg dose with no weight at or before this day: mg unknown"
            else:
                reason = "mg dose with no weight at or before this day: mg/kg unknown"
        days.append(DayExposure(
            day=date.fromordinal(date(1970, 1, 1).toordinal() + first + i),
            administrations=int(n_admin[i]),
            mg=opt(mg[i]), mg_per_kg=opt(mgkg[i]),
            weight_kg=opt(wt[i]), weight_time=w_time[w_i[i]] if has_w[i] else None,
            methylprednisolone_mg=opt(mpd[i]), methylprednisolone_mg_per_kg=opt(mpkg[i]),
            cumulative_mg=opt(cum_mg[i]), cumulative_mg_per_kg=opt(cum_kg[i]),
            high_dose=_tri_name(high[i]), pulse=_tri_name(pulse[i]),
            drugs=tuple(sorted(drugs_by_day[i])), unknown_reason=reason,
        ))

    return GlucocorticoidExposure(
        until=until,
        days=days,
        cumulative_mg=opt(cum_mg[-1]),
        # lower bounds: every known part of every day (a day with one unknown part keeps the rest)
        cumulative_mg_known=float(round_significant(np.nansum(mg_lo))),
        cumulative_mg_per_kg=opt(cum_kg[-1]),
        cumulative_mg_per_kg_known=float(round_significant(np.nansum(mgkg_lo))),
        days_unknown_mg=[d.day for d, k in zip(days, mg_known) if not k],
        days_unknown_mg_per_kg=[d.day for d, k in zip(days, mgkg_known) if not k],
        days_high_dose=int((high == logic.YES).sum()),
        days_high_dose_unknown=int((high == logic.UNKNOWN).sum()),
        pulse_days=int((pulse == logic.YES).sum()),
        pulse_days_unknown=int((pulse == logic.UNKNOWN).sum()),
        config=config,
    )
