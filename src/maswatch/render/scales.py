"""Value and time scales: data -> pixel positions, and the ticks a reader expects.

Pure arithmetic (NumPy), so positions can be tested exactly: on a log scale a value at the
geometric mean of the domain sits half-way up, and 10× is always the same distance.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass

import numpy as np

_UTC = _dt.timezone.utc
_NICE_LINEAR = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class LinearScale:
    lo: float
    hi: float
    px_lo: float  # pixel of ``lo`` (for y: the bottom)
    px_hi: float
    log = False

    def __call__(self, v):
        v = np.asarray(v, dtype=np.float64)
        return self.px_lo + (v - self.lo) / (self.hi - self.lo) * (self.px_hi - self.px_lo)

    def ticks(self, max_ticks: int = 6) -> list[float]:
        step = _nice_step((self.hi - self.lo) / max(max_ticks - 1, 1))
        first = math.ceil(self.lo / step - 1e-9) * step
        n = int(math.floor((self.hi - first) / step + 1e-9)) + 1
        return [round(first + i * step, 10) for i in range(max(n, 0))]

    @classmethod
    def covering(cls, values, px_lo: float, px_hi: float, *, zero: bool = True) -> "LinearScale":
        """Nice domain covering ``values`` (and 0 when ``zero``: counts and most labs start there)."""
        v = _finite(values)
        lo = min(v.min(), 0.0) if (zero and v.size) else (v.min() if v.size else 0.0)
        hi = v.max() if v.size else 1.0
        if hi <= lo:
            hi = lo + (abs(lo) if lo else 1.0)
        step = _nice_step((hi - lo) / 5)
        lo = math.floor(lo / step) * step
        hi = math.ceil(hi * 1.02 / step) * step if hi > 0 else math.ceil(hi / step) * step
        return cls(float(lo), float(hi if hi > lo else lo + step), px_lo, px_hi)


@dataclass(frozen=True)
class LogScale:
    lo: float  # > 0
    hi: float
    px_lo: float
    px_hi: float
    log = True

    def __post_init__(self):
        if not (self.lo > 0 and self.hi > self.lo):
            raise ValueError(f"log scale needs 0 < lo < hi (got {self.lo}, {self.hi})")

    def __call__(self, v):
        v = np.asarray(v, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (np.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return self.px_lo + f * (self.px_hi - self.px_lo)

    def ticks(self, max_ticks: int = 7) -> list[float]:
        """Decades, adding 2× and 5× when the domain spans few decades."""
        k0, k1 = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
        for mults in ((1, 2, 5), (1, 3), (1,)):
            t = [m * 10.0 ** k for k in range(k0, k1 + 1) for m in mults]
            t = [x for x in t if self.lo * (1 - 1e-9) <= x <= self.hi * (1 + 1e-9)]
            if len(t) <= max_ticks:
                return t
        return [10.0 ** k for k in range(k0, k1 + 1)]

    @classmethod
    def covering(cls, values, px_lo: float, px_hi: float) -> "LogScale":
        """Domain on 1-2-5 steps covering the positive ``values`` (non-positive ones cannot be drawn)."""
        v = _finite(values)
        v = v[v > 0]
        lo, hi = (float(v.min()), float(v.max())) if v.size else (1.0, 10.0)
        lo, hi = _down125(lo * 0.85), _up125(hi * 1.15)  # a margin: no point sits on the frame
        if hi <= lo:
            hi = _up125(lo * 1.0001)
        return cls(lo, hi, px_lo, px_hi)


@dataclass(frozen=True)
class TimeScale:
    start: _dt.datetime
    end: _dt.datetime
    px_lo: float
    px_hi: float

    def __post_init__(self):
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time scale needs timezone-aware datetimes")
        if not self.end > self.start:
            raise ValueError("time scale needs end after start")

    def __call__(self, t: _dt.datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return self.px_lo + (t - self.start).total_seconds() / span * (self.px_hi - self.px_lo)

    def contains(self, t: _dt.datetime) -> bool:
        return self.start <= t <= self.end

    def ticks(self, max_ticks: int = 8) -> tuple[list[_dt.datetime], str]:
        """Tick times aligned to UTC midnights (or hours), and the strftime format for their labels."""
        span_h = (self.end - self.start).total_seconds() / 3600
        for step_h in (1, 3, 6, 12, 24, 48, 24 * 7, 24 * 14, 24 * 30, 24 * 91, 24 * 365):
            if span_h / step_h <= max_ticks - 1:
                break
        fmt = "%m-%d %H:%M" if step_h < 24 else ("%Y-%m-%d" if step_h < 24 * 365 else "%Y")
        base = self.start.astimezone(_UTC).replace(minute=0, second=0, microsecond=0)
        if step_h >= 24:
            base = base.replace(hour=0)
        if step_h >= 24 * 7:  # weeks start on Mondays; longer steps on the first of a month
            base -= _dt.timedelta(days=base.weekday())
        step = _dt.timedelta(hours=step_h)
        t, out = base, []
        while t <= self.end:
            if t >= self.start:
                out.append(t)
            t += step
        return out, fmt


def _finite(values) -> np.ndarray:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64) if not isinstance(values, np.ndarray) \
        else values.astype(np.float64)
    return v[np.isfinite(v)]


def _nice_step(raw: float) -> float:
    if not raw > 0:
        return 1.0
    k = math.floor(math.log10(raw))
    for m in _NICE_LINEAR:
        if m * 10 ** k >= raw * (1 - 1e-9):
            return m * 10 ** k
    return 10 ** (k + 1)


def _down125(x: float) -> float:
    k = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10 ** k <= x * (1 + 1e-12):
            return float(m * 10 ** k)
    return float(10 ** (k - 1) * 5)


def _up125(x: float) -> float:
    k = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10 ** k >= x * (1 - 1e-12):
            return float(m * 10 ** k)
    return float(10 ** (k + 1))
