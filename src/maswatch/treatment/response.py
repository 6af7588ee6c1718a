"""Response to treatment from MAS onset: normalisation, ferritin fall, remission.

Definitions (docs/clinical/criteria.md §11, emapalumab trials NI-0501-06 / EMERALD NCT05001737):

- VERIFIED laboratory items of complete response: WBC > LLN, platelets > LLN,
  LDH < 1.5 × ULN, ALT < 1.5 × ULN, AST < 1.5 × ULN — each against the reference
  range reported with that very result (LLN/ULN = the lab's low/high).
- UNVERIFIED items (configurable, labelled): fibrinogen (believed > 100 mg/dL) and
  ferritin (believed >= 80 % fall from baseline or < 2,000 ng/mL; we measure the fall
  from the peak since onset).
- Clinical item: MAS activity VAS <= 1 cm is not in our data. PROXY (labelled):
  "afebrile for >= 48 h", documented by fever observations.

Each criterion uses the latest result at or after onset and at or before ``at``.
A missing result or a missing reference limit makes the criterion unknown: a normal
range is never assumed unless the configuration supplies an explicit fallback range,
which is then labelled as such. Statuses are three-valued (``maswatch.logic``):
censored results (``<5``) are intervals and meet a cut-off only if every value they
allow does.

Remission is not a steady state: after remission, any component found not met again
sets ``response_lost`` — the signal that MAS may be recurring and that the alert logic
must start again (the instruments, not this module, decide on a new episode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import analytes, logic
from ..batch import COMPARATORS, comparator_code, interval_from_values
from ..errors import InputError
from ..lookback import DEFAULT_LOOKBACK
from .medications import EPOCH
from .medications import epoch_us as _us

Comparator = Literal["<", "<=", ">=", ">"]
SOURCE_CR = ("De Benedetti F et al. Ann Rheum Dis 2023;82(6):857 (NI-0501-06); EMERALD NCT05001737 "
             "complete-response definition (docs/clinical/criteria.md §11)")


@dataclass(frozen=True)
class LabPoint:
    """One result in the analyte's canonical unit, with the lab's reference range (same unit)."""

    time: datetime
    value: float
    low: float | None = None
    high: float | None = None
    comparator: Comparator | None = None  # censored result, e.g. ferritin ">40000"

    def __post_init__(self):
        if not isinstance(self.time, datetime) or self.time.tzinfo is None or self.time.utcoffset() is None:
            raise InputError("time", "must be a datetime with a UTC offset")
        for name in ("value", "low", "high"):
            v = getattr(self, name)
            if v is None and name != "value":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(name, f"must be a finite number, got {v!r}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise InputError("low", f"reference range low {self.low:g} is above high {self.high:g}")
        if self.comparator not in (None, "<", "<=", ">=", ">"):
            raise InputError("comparator", f"must be one of <, <=, >=, > or None, got {self.comparator!r}")


@dataclass(frozen=True)
class LabCriterion:
    """value <op> multiple × reference limit (LLN = result's low, ULN = its high)."""

    id: str
    analyte: str
    op: Literal[">", "<"]
    limit_of: Literal["low", "high"]
    multiple: float
    label: str


VERIFIED_LAB_CRITERIA: tuple[LabCriterion, ...] = (
    LabCriterion("wbc_above_lln", "wbc", ">", "low", 1.0, "WBC > LLN"),
    LabCriterion("platelets_above_lln", "platelets", ">", "low", 1.0, "Platelets > LLN"),
    LabCriterion("ldh_below_1_5_uln", "ldh", "<", "high", 1.5, "LDH < 1.5 × ULN"),
    LabCriterion("alt_below_1_5_uln", "alt", "<", "high", 1.5, "ALT < 1.5 × ULN"),
    LabCriterion("ast_below_1_5_uln", "ast", "<", "high", 1.5, "AST < 1.5 × ULN"),
)
"""docs/clinical/criteria.md §11, VERIFIED (ClinicalTrials.gov record of EMERALD): the strict directions
matter — WBC exactly at the LLN is not > LLN; LDH exactly 1.5 × ULN is not < 1.5 × ULN."""


class ResponseConfig(BaseModel):
    """Unsettled parts of the response definition: configurable and labelled in every result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fibrinogen_above_mg_dl: float | None = Field(
        100, gt=0, description="Fibrinogen > this (mg/dL) for remission. UNVERIFIED (docs/clinical/criteria.md §11: "
        "'higher than …' truncated; believed 100 mg/dL). None leaves fibrinogen out of remission.",
    )
    ferritin_fall_from_peak_pct: float | None = Field(
        80, gt=0, le=100, description="Ferritin fallen by >= this % from its peak since onset. UNVERIFIED "
        "(believed >= 80 % from baseline; we use the peak since onset). None disables this arm.",
    )
    ferritin_below_ng_ml: float | None = Field(
        2000, gt=0, description="Ferritin < this (ng/mL). UNVERIFIED (believed < 2,000 ng/mL). "
        "Either enabled ferritin arm meets the ferritin item; with both None ferritin is left out.",
    )
    afebrile_hours: float | None = Field(
        48, gt=0, description="PROXY for MAS clinical activity VAS <= 1 cm (not in our data): no fever "
        "documented for >= this many hours. None leaves the clinical item out of remission.",
    )
    fever_max_gap_hours: float = Field(
        DEFAULT_LOOKBACK.window_hours("fever"), gt=0,
        description="The latest fever observation must be this recent for 'afebrile' to be known "
        "(ASSUMPTION: the fever look-back window).",
    )
    max_result_age_hours: float | None = Field(
        None, gt=0, description="Results older than this at 'at' are not used (unknown). None = any "
        "result since onset (the trial definitions set no limit).",
    )
    fallback_reference_ranges: dict[str, tuple[float | None, float | None]] = Field(
        default_factory=dict,
        description="Explicit (low, high) used only when a result carries no reference limit; every use is "
        "labelled 'config fallback'. Empty by default: a normal range is never assumed.",
    )

    @field_validator("fallback_reference_ranges")
    @classmethod
    def _known_analytes(cls, v):
        used = {c.analyte for c in VERIFIED_LAB_CRITERIA}
        unknown = set(v) - used
        if unknown:
            raise ValueError(f"fallback ranges only apply to {sorted(used)}; got {sorted(unknown)}")
        for a, (lo, hi) in v.items():
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"fallback range for {a}: low {lo} is above high {hi}")
        return v

    def ferritin_label(self) -> str | None:
        arms = []
        if self.ferritin_fall_from_peak_pct is not None:
            arms.append(f"fall >= {self.ferritin_fall_from_peak_pct:g} % from peak since onset")
        if self.ferritin_below_ng_ml is not None:
            arms.append(f"< {self.ferritin_below_ng_ml:g} ng/mL")
        return ("Ferritin " + " or ".join(arms)) if arms else None

    def labels(self) -> list[str]:
        out = []
        if self.fibrinogen_above_mg_dl is not None:
            out.append(f"UNVERIFIED: fibrinogen > {self.fibrinogen_above_mg_dl:g} mg/dL (docs/clinical/criteria.md §11)")
        if self.ferritin_label():
            out.append(f"UNVERIFIED: {self.ferritin_label()} (docs/clinical/criteria.md §11)")
        if self.afebrile_hours is not None:
            out.append(f"PROXY: afebrile >= {self.afebrile_hours:g} h stands for MAS activity VAS <= 1 cm "
                       f"(latest fever observation within {self.fever_max_gap_hours:g} h)")
        if self.max_result_age_hours is not None:
            out.append(f"ASSUMPTION: results older than {self.max_result_age_hours:g} h are not used")
        for a, (lo, hi) in sorted(self.fallback_reference_ranges.items()):
            out.append(f"CONFIG FALLBACK reference range for {a}: low={lo}, high={hi} (used only when a "
                       "result has no range of its own)")
        return out


DEFAULT = ResponseConfig()


@dataclass(frozen=True)
class CriterionStatus:
    id: str
    label: str
    evidence: Literal["VERIFIED", "UNVERIFIED", "PROXY"]
    status: str                       # met / not_met / unknown
    value: float | None = None
    comparator: str | None = None
    value_time: datetime | None = None
    limit: float | None = None
    reference_low: float | None = None
    reference_high: float | None = None
    reference_source: str | None = None  # "result" | "config fallback" | None
    note: str | None = None

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("id", "label", "evidence", "status", "value", "comparator",
                                           "limit", "reference_low", "reference_high", "reference_source", "note")}
        d["value_time"] = self.value_time.isoformat() if self.value_time else None
        return d


@dataclass(frozen=True)
class FerritinCourse:
    peak: float | None
    peak_comparator: str | None
    peak_time: datetime | None
    current: float | None
    current_comparator: str | None
    current_time: datetime | None
    fall_from_peak_pct: float | None       # exact when both results are exact
    fall_from_peak_pct_range: tuple[float, float] | None  # bounds when censored
    peak_may_be_higher: bool = False  # a censored '>' result since onset may exceed the peak shown

    def to_json(self) -> dict:
        return {
            "peak_since_onset": self.peak, "peak_comparator": self.peak_comparator,
            "peak_time": self.peak_time.isoformat() if self.peak_time else None,
            "current": self.current, "current_comparator": self.current_comparator,
            "current_time": self.current_time.isoformat() if self.current_time else None,
            "fall_from_peak_pct": self.fall_from_peak_pct,
            "fall_from_peak_pct_range": list(self.fall_from_peak_pct_range) if self.fall_from_peak_pct_range else None,
            "peak_may_be_higher": self.peak_may_be_higher,
            "unit": "ng/mL",
        }


@dataclass(frozen=True)
class ResponseStatus:
    onset: datetime
    at: datetime
    criteria: dict[str, CriterionStatus]
    ferritin: FerritinCourse
    complete_lab_response: str           # met / not_met / unknown (VERIFIED lab items only)
    lab_response_time: datetime | None   # first result time with all VERIFIED lab items met
    remission: str                       # lab response + configured UNVERIFIED items + proxy
    remission_time: datetime | None
    response_lost: str | None            # after remission: met = a component is not met again
    remission_components: tuple[str, ...]
    config: ResponseConfig

    @staticmethod
    def _days(onset: datetime, t: datetime | None) -> float | None:
        return None if t is None else round((t - onset) / timedelta(days=1), 3)

    @property
    def days_to_lab_response(self) -> float | None:
        return self._days(self.onset, self.lab_response_time)

    @property
    def days_to_remission(self) -> float | None:
        return self._days(self.onset, self.remission_time)

    def to_json(self) -> dict:
        return {
            "onset": self.onset.isoformat(), "at": self.at.isoformat(),
            "days_since_onset": self._days(self.onset, self.at),
            "criteria": {k: c.to_json() for k, c in self.criteria.items()},
            "ferritin": self.ferritin.to_json(),
            "complete_lab_response": self.complete_lab_response,
            "complete_lab_response_definition": "all VERIFIED items: " + ", ".join(c.label for c in VERIFIED_LAB_CRITERIA),
            "lab_response_time": self.lab_response_time.isoformat() if self.lab_response_time else None,
            "days_to_lab_response": self.days_to_lab_response,
            "remission": self.remission,
            "remission_components": list(self.remission_components),
            "remission_time": self.remission_time.isoformat() if self.remission_time else None,
            "days_to_remission": self.days_to_remission,
            "response_lost": self.response_lost,
            "verified": [c.label for c in VERIFIED_LAB_CRITERIA],
            "unverified_or_proxy": self.config.labels(),
            "source": SOURCE_CR,
        }


# ---------------------------------------------------------------- evaluation over time


@dataclass(frozen=True)
class LabColumns:
    """One analyte's results as columns, in its canonical unit (what a parsed timeline holds):
    the column form of a list of :class:`LabPoint` for :func:`response_from_columns`."""

    t: np.ndarray           # int64 epoch µs
    value: np.ndarray       # float64
    low: np.ndarray         # float64 reference limits, NaN = absent
    high: np.ndarray
    comparator: np.ndarray  # int8 codes (batch.COMPARATORS)


@dataclass(frozen=True)
class _Series:
    """Results of one analyte since onset, sorted by time, as arrays."""

    t: np.ndarray        # epoch µs
    lo: np.ndarray
    hi: np.ndarray
    value: np.ndarray
    codes: np.ndarray    # comparator codes (batch.COMPARATORS)
    low: np.ndarray      # reference limits (NaN = absent)
    high: np.ndarray
    given_times: list | None = None
    """The datetimes as given (their own UTC offsets), else read from ``t`` in UTC."""

    @classmethod
    def build(cls, analyte_id: str, points: list[LabPoint], onset_us: int) -> "_Series":
        pts = sorted((p for p in points if _us(p.time) >= onset_us), key=lambda p: _us(p.time))
        nan = float("nan")
        return cls._make(analyte_id, np.array([_us(p.time) for p in pts], dtype=np.int64),
                         np.array([p.value for p in pts], dtype=np.float64),
                         np.array([comparator_code(p.comparator) for p in pts], dtype=np.int8),
                         np.array([nan if p.low is None else p.low for p in pts], dtype=np.float64),
                         np.array([nan if p.high is None else p.high for p in pts], dtype=np.float64),
                         [p.time for p in pts])

    @classmethod
    def from_columns(cls, analyte_id: str, c: LabColumns, onset_us: int) -> "_Series":
        keep = np.flatnonzero(c.t >= onset_us)
        k = keep[np.argsort(c.t[keep], kind="stable")]  # time order, ties as given (as ``build``)
        return cls._make(analyte_id, c.t[k].astype(np.int64), c.value[k].astype(np.float64),
                         c.comparator[k].astype(np.int8), c.low[k].astype(np.float64), c.high[k].astype(np.float64))

    @classmethod
    def _make(cls, analyte_id, t, v, codes, low, high, given_times=None) -> "_Series":
        iv = interval_from_values(v, analytes.get(analyte_id).plausible, codes)
        return cls(t=t, lo=iv.lo, hi=iv.hi, value=v, codes=codes, low=low, high=high, given_times=given_times)

    def comparator(self, i: int) -> str | None:
        return COMPARATORS[int(self.codes[i])] or None

    def time(self, i: int) -> datetime:
        if self.given_times is not None:
            return self.given_times[i]
        return EPOCH + timedelta(microseconds=int(self.t[i]))

    def latest(self, T: np.ndarray, max_age_us: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Index of the latest result at or before each time, and whether there is a usable one."""
        i = np.searchsorted(self.t, T, side="right") - 1
        ok = i >= 0
        ic = np.clip(i, 0, None)
        if max_age_us is not None and self.t.size:
            ok &= (T - self.t[ic]) <= max_age_us
        return ic, ok


def _gather(s: _Series, ic: np.ndarray, ok: np.ndarray) -> logic.Interval:
    if s.t.size == 0:
        z = np.zeros(ic.shape)
        return logic.Interval(lo=z, hi=z, present=np.zeros(ic.shape, bool))
    return logic.Interval(lo=s.lo[ic], hi=s.hi[ic], present=ok)


def _lab_status(c: LabCriterion, s: _Series, T, max_age_us, fallback) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tri-state status per time, the result index used, whether it is usable, and 1 where
    the limit came from the configured fallback range."""
    ic, ok = s.latest(T, max_age_us)
    x = _gather(s, ic, ok)
    ref = (s.low if c.limit_of == "low" else s.high)[ic] if s.t.size else np.full(T.shape, np.nan)
    fb = fallback[0 if c.limit_of == "low" else 1] if fallback else None
    from_fallback = np.isnan(ref) & (fb is not None)
    ref = np.where(from_fallback, np.nan if fb is None else fb, ref)
    limit = analytes.round_significant(ref * c.multiple)  # 1.5 × 4.1 is 6.15, as printed
    cmp = logic.gt if c.op == ">" else logic.lt
    with np.errstate(invalid="ignore"):
        st = cmp(x, limit)
    st = np.where(ok & ~np.isnan(limit), st, logic.UNKNOWN).astype(logic.TRI)
    return st, ic, ok, np.where(from_fallback & ok, 1, 0)


def _ferritin(s: _Series, T, max_age_us, cfg: ResponseConfig):
    """Ferritin item status per time, plus the arrays needed to report the course."""
    ic, ok = s.latest(T, max_age_us)
    cur = _gather(s, ic, ok)
    arms = []
    if s.t.size:
        peak_lo = np.maximum.accumulate(s.lo)[ic]
        peak_hi = np.maximum.accumulate(s.hi)[ic]
    else:
        peak_lo = peak_hi = np.zeros(T.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fall_min = np.where(peak_lo > 0, 100.0 * (1.0 - cur.hi / peak_lo), 0.0)
        fall_max = np.where(peak_hi > 0, 100.0 * (1.0 - cur.lo / peak_hi), 0.0)
    if cfg.ferritin_fall_from_peak_pct is not None:
        p = cfg.ferritin_fall_from_peak_pct
        arms.append((fall_min >= p).astype(logic.TRI) + (fall_max >= p).astype(logic.TRI))
    if cfg.ferritin_below_ng_ml is not None:
        arms.append(logic.lt(cur, cfg.ferritin_below_ng_ml))
    if not arms:
        return None, ic, ok, fall_min, fall_max
    st = np.where(ok, logic.any_of(*arms), logic.UNKNOWN).astype(logic.TRI)
    return st, ic, ok, fall_min, fall_max


def _fever_observations(fever: list[tuple[datetime, bool]] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Validated fever observations as columns: epoch µs, fever (bool)."""
    if fever is None:
        return None
    t, v = [], []
    for i, item in enumerate(fever):
        try:
            ti, vi = item
        except (TypeError, ValueError):
            raise InputError(f"fever[{i}]", "expected (time, bool)") from None
        if not isinstance(ti, datetime) or ti.tzinfo is None or ti.utcoffset() is None:
            raise InputError(f"fever[{i}].time", "must be a datetime with a UTC offset")
        if not isinstance(vi, (bool, np.bool_)):
            raise InputError(f"fever[{i}].value", f"must be true or false, got {vi!r}")
        t.append(_us(ti))
        v.append(bool(vi))
    return np.array(t, dtype=np.int64), np.array(v, dtype=bool)


def _afebrile(fever: tuple[np.ndarray, np.ndarray] | None, onset_us: int, T: np.ndarray, cfg: ResponseConfig):
    """PROXY clinical item per time: met when documented afebrile for >= afebrile_hours.

    Not met if fever was recorded within the window; met if the current afebrile run
    (first 'no fever' after the last fever since onset) began at least the window ago
    and the latest observation is recent; unknown otherwise.
    """
    if fever is None:
        return np.full(T.shape, logic.UNKNOWN, dtype=logic.TRI)
    since = fever[0] >= onset_us
    ft, fv = fever[0][since], fever[1][since]
    if not ft.size:
        return np.full(T.shape, logic.UNKNOWN, dtype=logic.TRI)
    order = np.lexsort((fv, ft))  # by time, then 'no fever' first
    ft, fv = ft[order], fv[order]
    n = ft.size
    idx = np.arange(n)
    last_true = np.maximum.accumulate(np.where(fv, idx, -1))
    # next_false[j] = first index >= j with no fever (n if none)
    next_false = np.minimum.accumulate(np.where(~fv, idx, n)[::-1])[::-1]
    next_false = np.append(next_false, n)
    window = round(cfg.afebrile_hours * 3.6e9)
    gap = round(cfg.fever_max_gap_hours * 3.6e9)

    k = np.searchsorted(ft, T, side="right") - 1           # latest observation at or before T
    have = k >= 0
    kc = np.clip(k, 0, None)
    lt = last_true[kc]
    fever_in_window = (lt >= 0) & (ft[np.clip(lt, 0, None)] > T - window)
    run_start = next_false[np.clip(lt + 1, 0, n)]
    run_known = (run_start <= kc)
    run_start_t = ft[np.clip(run_start, 0, n - 1)]
    met = have & run_known & (run_start_t <= T - window) & (T - ft[kc] <= gap)
    out = np.where(met, logic.YES, logic.UNKNOWN)
    out = np.where(have & fever_in_window, logic.NO, out)
    return out.astype(logic.TRI)


def _check_labs(labs: dict[str, list[LabPoint]]) -> None:
    known = analytes.registry()
    for a, pts in labs.items():
        if a not in known:
            raise InputError(f"labs.{a}", f"unknown analyte id {a!r}; ids: {', '.join(sorted(known))}")
        for i, p in enumerate(pts):
            if not isinstance(p, LabPoint):
                raise InputError(f"labs.{a}[{i}]", f"expected a LabPoint, got {type(p).__name__}")
            known[a].check_plausible(p.value, field_path=f"labs.{a}[{i}].value")


def _check_columns(labs: dict[str, LabColumns]) -> None:
    """The checks of :class:`LabPoint` and :func:`_check_labs`, on whole columns; the first
    failure is reported with the same message as the per-point check."""
    known = analytes.registry()
    for a, c in labs.items():
        if a not in known:
            raise InputError(f"labs.{a}", f"unknown analyte id {a!r}; ids: {', '.join(sorted(known))}")
        if not isinstance(c, LabColumns):
            raise InputError(f"labs.{a}", f"expected LabColumns, got {type(c).__name__}")
        n = len(c.t)
        if any(len(x) != n for x in (c.value, c.low, c.high, c.comparator)):
            raise InputError(f"labs.{a}", "columns t, value, low, high and comparator differ in length")
        bad = ~np.isfinite(c.value) | np.isinf(c.low) | np.isinf(c.high) | (c.low > c.high) \
            | (c.comparator < 0) | (c.comparator >= len(COMPARATORS))
        if bad.any():
            i = int(np.argmax(bad))
            _point(c, i)  # raises the LabPoint's own error
            raise InputError(f"labs.{a}[{i}]", f"comparator code {int(c.comparator[i])} is not one of 0-4")
        implausible = ~known[a].plausible_mask(c.value)
        if implausible.any():
            i = int(np.argmax(implausible))
            known[a].check_plausible(float(c.value[i]), field_path=f"labs.{a}[{i}].value")


def _point(c: LabColumns, i: int) -> LabPoint:
    def opt(x) -> float | None:
        return None if np.isnan(x) else float(x)

    code = int(c.comparator[i])
    return LabPoint(EPOCH + timedelta(microseconds=int(c.t[i])), float(c.value[i]), opt(c.low[i]), opt(c.high[i]),
                    COMPARATORS[code] or None if 0 <= code < len(COMPARATORS) else None)


def _check_times(onset: datetime, at: datetime) -> None:
    for name, t in (("onset", onset), ("at", at)):
        if not isinstance(t, datetime) or t.tzinfo is None or t.utcoffset() is None:
            raise InputError(name, "must be a datetime with a UTC offset")
    if at < onset:
        raise InputError("at", f"{at.isoformat()} is before onset {onset.isoformat()}")


_USED = tuple(dict.fromkeys([*(c.analyte for c in VERIFIED_LAB_CRITERIA), "ferritin", "fibrinogen"]))
"""The analytes the response definition reads."""


def response_status(
    onset: datetime,
    at: datetime,
    labs: dict[str, list[LabPoint]],
    fever: list[tuple[datetime, bool]] | None = None,
    config: ResponseConfig = DEFAULT,
) -> ResponseStatus:
    """Response to treatment at ``at`` for the MAS episode that began at ``onset`` (module doc)."""
    _check_times(onset, at)
    _check_labs(labs)
    onset_us = _us(onset)
    series = {a: _Series.build(a, labs.get(a, []), onset_us) for a in _USED}
    return _status(onset, at, series, _fever_observations(fever), config)


def response_from_columns(
    onset: datetime,
    at: datetime,
    labs: dict[str, LabColumns],
    fever: tuple[np.ndarray, np.ndarray] | None = None,
    config: ResponseConfig = DEFAULT,
) -> ResponseStatus:
    """:func:`response_status` on results already held as columns (a parsed timeline):
    the same checks and the same result, without a Python object per result.
    ``fever``: (epoch µs int64, fever bool) columns, or None when no fever was observed."""
    _check_times(onset, at)
    _check_columns(labs)
    if fever is not None:
        fever = (np.asarray(fever[0], dtype=np.int64), np.asarray(fever[1], dtype=bool))
        if fever[0].shape != fever[1].shape:
            raise InputError("fever", "time and value columns differ in length")
    onset_us = _us(onset)
    empty = LabColumns(*(np.zeros(0, dt) for dt in (np.int64, np.float64, np.float64, np.float64, np.int8)))
    series = {a: _Series.from_columns(a, labs.get(a, empty), onset_us) for a in _USED}
    return _status(onset, at, series, fever, config)


def _status(onset: datetime, at: datetime, series: dict[str, _Series], fever_obs: tuple[np.ndarray, np.ndarray] | None,
            config: ResponseConfig) -> ResponseStatus:
    onset_us, at_us = _us(onset), _us(at)
    max_age = None if config.max_result_age_hours is None else round(config.max_result_age_hours * 3.6e9)

    # Times at which anything can change: every result and fever observation since onset,
    # the moment each afebrile window completes, and 'at' itself (last).
    cand = [s.t for s in series.values()]
    if fever_obs is not None and fever_obs[0].size:
        ft = fever_obs[0]
        cand += [ft]
        if config.afebrile_hours is not None:
            cand += [ft + round(config.afebrile_hours * 3.6e9)]
    T = np.unique(np.concatenate(cand + [np.array([at_us], dtype=np.int64)]))
    T = T[(T >= onset_us) & (T <= at_us)]
    now = -1  # T ends at 'at'

    criteria: dict[str, CriterionStatus] = {}
    lab_items = []
    for c in VERIFIED_LAB_CRITERIA:
        s = series[c.analyte]
        st, ic, ok, fb = _lab_status(c, s, T, max_age, config.fallback_reference_ranges.get(c.analyte))
        lab_items.append(st)
        criteria[c.id] = _lab_report(c, s, st[now], ic[now], ok[now], bool(fb[now]), config)
    lab_response = logic.all_of(*lab_items)

    components = ["complete_lab_response"]
    remission_items = [lab_response]
    if config.fibrinogen_above_mg_dl is not None:
        s = series["fibrinogen"]
        ic, ok = s.latest(T, max_age)
        st = np.where(ok, logic.gt(_gather(s, ic, ok), config.fibrinogen_above_mg_dl), logic.UNKNOWN).astype(logic.TRI)
        remission_items.append(st)
        components.append("fibrinogen")
        criteria["fibrinogen"] = CriterionStatus(
            "fibrinogen", f"Fibrinogen > {config.fibrinogen_above_mg_dl:g} mg/dL", "UNVERIFIED", logic.ITEM_STATUS_NAMES[int(st[now])],
            *_value_fields(s, ic[now], ok[now]), limit=float(config.fibrinogen_above_mg_dl),
            note="absolute threshold in mg/dL; docs/clinical/criteria.md §11 (truncated in the source)",
        )

    fer = series["ferritin"]
    fst, fic, fok, fall_min, fall_max = _ferritin(fer, T, max_age, config)
    ferritin_course = _ferritin_course(fer, fic[now], fok[now], fall_min[now], fall_max[now])
    if fst is not None:
        remission_items.append(fst)
        components.append("ferritin")
        criteria["ferritin"] = CriterionStatus(
            "ferritin", config.ferritin_label(), "UNVERIFIED", logic.ITEM_STATUS_NAMES[int(fst[now])],
            *_value_fields(fer, fic[now], fok[now]),
            limit=None if config.ferritin_below_ng_ml is None else float(config.ferritin_below_ng_ml),
            note=_fall_note(ferritin_course),
        )

    if config.afebrile_hours is not None:
        ast = _afebrile(fever_obs, onset_us, T, config)
        remission_items.append(ast)
        components.append("afebrile_proxy")
        criteria["afebrile_proxy"] = CriterionStatus(
            "afebrile_proxy", f"Afebrile >= {config.afebrile_hours:g} h (proxy for MAS activity VAS <= 1 cm)",
            "PROXY", logic.ITEM_STATUS_NAMES[int(ast[now])],
            note="no fever observations given" if fever_obs is None else None,
        )
    remission = logic.all_of(*remission_items)

    def first_yes(x) -> datetime | None:
        hit = np.flatnonzero(x == logic.YES)
        return None if hit.size == 0 else onset + timedelta(microseconds=int(T[hit[0]] - onset_us))

    remission_time = first_yes(remission)
    if remission_time is None:
        lost = None
    else:
        lost = ("met", "unknown", "not_met")[int(remission[now])]
    return ResponseStatus(
        onset=onset, at=at, criteria=criteria, ferritin=ferritin_course,
        complete_lab_response=logic.ITEM_STATUS_NAMES[int(lab_response[now])],
        lab_response_time=first_yes(lab_response),
        remission=logic.ITEM_STATUS_NAMES[int(remission[now])], remission_time=remission_time,
        response_lost=lost, remission_components=tuple(components), config=config,
    )


def _value_fields(s: _Series, i: int, ok: bool) -> tuple:
    if not ok or s.t.size == 0:
        return (None, None, None)
    return (float(s.value[i]), s.comparator(i), s.time(i))


def _opt(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _lab_report(c: LabCriterion, s: _Series, st, i: int, ok: bool, fallback: bool, cfg: ResponseConfig) -> CriterionStatus:
    value, comparator, t = _value_fields(s, i, ok)
    low = high = None
    source = None
    if ok:
        low, high = _opt(s.low[i]), _opt(s.high[i])
        source = "result"
        if fallback:
            fb = cfg.fallback_reference_ranges[c.analyte]
            low, high = (fb[0] if low is None else low), (fb[1] if high is None else high)
            source = "config fallback"
    ref = low if c.limit_of == "low" else high
    note = None
    if not ok:
        note = "no result since onset" if s.t.size == 0 or i < 0 else "no usable result"
    elif ref is None:
        note = f"the result has no reference {'low (LLN)' if c.limit_of == 'low' else 'high (ULN)'}; not assumed"
    return CriterionStatus(
        c.id, c.label, "VERIFIED", logic.ITEM_STATUS_NAMES[int(st)], value, comparator, t,
        limit=None if ref is None else float(analytes.round_significant(ref * c.multiple)),
        reference_low=low, reference_high=high, reference_source=source, note=note,
    )


def _fall_note(f: FerritinCourse) -> str:
    if f.fall_from_peak_pct is not None:
        return f"fall from peak since onset {f.fall_from_peak_pct:g} %"
    if f.fall_from_peak_pct_range is not None:
        lo, hi = f.fall_from_peak_pct_range
        return f"fall from peak since onset between {lo:g} and {hi:g} % (censored results)"
    return "no ferritin result since onset"


def _ferritin_course(s: _Series, i: int, ok: bool, fmin: float, fmax: float) -> FerritinCourse:
    if not ok or s.t.size == 0:
        return FerritinCourse(None, None, None, None, None, None, None, None)
    p = int(np.argmax(s.lo[: i + 1]))  # the peak: highest result so far (a censored '>' counts at its bound)
    exact = fmin == fmax
    return FerritinCourse(
        peak=float(s.value[p]), peak_comparator=s.comparator(p), peak_time=s.time(p),
        current=float(s.value[i]), current_comparator=s.comparator(i), current_time=s.time(i),
        fall_from_peak_pct=round(float(fmin), 1) if exact else None,
        fall_from_peak_pct_range=None if exact else (round(float(fmin), 1), round(float(fmax), 1)),
        peak_may_be_higher=bool(s.hi[: i + 1].max() > s.value[p]),
    )
