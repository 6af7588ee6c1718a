"""Three-valued (Kleene) logic and interval comparisons on NumPy arrays.

A criterion is ``NO`` (not met), ``UNKNOWN`` or ``YES`` (met), stored as int8 0/1/2 so
that AND is ``minimum``, OR is ``maximum`` and NOT is ``2 - x``. A value is an interval
[lo, hi] of the values it may still have: an exact result has lo == hi, a censored
result (``>40000``) is open on one side (the open bound is moved to the next double,
which is exact in floating point), a missing one spans the analyte's plausible range.
Missing data is therefore never "normal": a cut-off is met only if every value the
interval allows meets it, and not met only if none does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO, UNKNOWN, YES = np.int8(0), np.int8(1), np.int8(2)
TRI = np.int8
VERDICT_NAMES = ("not_met", "indeterminate", "met")
ITEM_STATUS_NAMES = ("not_met", "unknown", "met")


@dataclass(frozen=True)
class Interval:
    """Per-snapshot bounds of one quantity in its canonical unit."""

    lo: np.ndarray
    hi: np.ndarray
    present: np.ndarray  # bool: a result (exact or censored) was given

    @property
    def exact(self) -> np.ndarray:
        return self.present & (self.lo == self.hi)

    def value(self) -> np.ndarray:
        """The exact value, NaN where missing or censored."""
        return np.where(self.exact, self.lo, np.nan)


def _tri(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.astype(TRI) + b.astype(TRI)


def gt(x: Interval, t: float) -> np.ndarray:
    """x > t: YES if lo > t, NO if hi <= t."""
    return _tri(x.lo > t, x.hi > t)


def ge(x: Interval, t: float) -> np.ndarray:
    """x >= t."""
    return _tri(x.lo >= t, x.hi >= t)


def lt(x: Interval, t: float) -> np.ndarray:
    """x < t: YES if hi < t, NO if lo >= t."""
    return _tri(x.hi < t, x.lo < t)


def le(x: Interval, t: float) -> np.ndarray:
    """x <= t."""
    return _tri(x.hi <= t, x.lo <= t)


def compare(x: Interval, op: str, t: float) -> np.ndarray:
    return {">": gt, ">=": ge, "<": lt, "<=": le}[op](x, t)


def all_of(*items: np.ndarray) -> np.ndarray:
    out = items[0]
    for it in items[1:]:
        out = np.minimum(out, it)
    return out


def any_of(*items: np.ndarray) -> np.ndarray:
    out = items[0]
    for it in items[1:]:
        out = np.maximum(out, it)
    return out


def count_met(*items: np.ndarray) -> np.ndarray:
    """How many items are certainly met (int16)."""
    return sum((it >> 1).astype(np.int16) for it in items)


def count_possible(*items: np.ndarray) -> np.ndarray:
    """How many items are met or may still be met (int16)."""
    return sum(((it + 1) >> 1).astype(np.int16) for it in items)


def at_least(k: int, *items: np.ndarray) -> np.ndarray:
    """YES if >= k items are met, NO if fewer than k can still be met."""
    return _tri(count_met(*items) >= k, count_possible(*items) >= k)


def either(condition: np.ndarray, if_yes: np.ndarray, if_no: np.ndarray) -> np.ndarray:
    """Choose by a tri-state condition; where it is UNKNOWN the result is known only if both agree."""
    agree = np.where(if_yes == if_no, if_yes, UNKNOWN)
    return np.where(condition == YES, if_yes, np.where(condition == NO, if_no, agree)).astype(TRI, copy=False)


def bool_bounds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A tri-state as 0/1 bounds: NO -> [0, 0], UNKNOWN -> [0, 1], YES -> [1, 1]."""
    return (x >> 1).astype(np.float64), ((x + 1) >> 1).astype(np.float64)


def score_verdict(score_min: np.ndarray, score_max: np.ndarray, cutoff: float, inclusive: bool = True) -> np.ndarray:
    """Met if the lowest possible score reaches the cut-off, not met if the highest cannot."""
    if inclusive:
        return _tri(score_min >= cutoff, score_max >= cutoff)
    return _tri(score_min > cutoff, score_max > cutoff)
