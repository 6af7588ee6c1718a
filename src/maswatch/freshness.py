"""Freshness: how old each result is, which results have aged out, which labs are overdue,
and the alert level carried while results are stale. Pure and vectorised over the
evaluation times of one patient.

Why. A look-back window (``maswatch.lookback``) lets a result stand for "now" for a while;
after that it no longer counts. Without this module a patient in an active MAS episode
whose labs were not repeated would read ``none`` — not because she improved but because
her results aged out. Here:

- a result is **stale** at time t when it is the latest of its analyte or finding in the
  current monitoring segment (since the last remission) and older than its look-back
  window: the assessment no longer uses it;
- a lab is **overdue** during an active episode when its latest result is older than the
  interval in :data:`DEFAULT_OVERDUE_HOURS` (or there is none): ferritin and the CBC daily;
- the **level carried** is the level the last known results of the segment still give
  (every result of the segment counted as if fresh), capped at the highest level already
  reached in the segment from fresh results. It replaces a lower level while results are
  stale and either an episode is active or the carried level is at least ``concern``; in an
  active episode with stale or overdue results the level is never below ``watch``. The
  assessment says so (``freshness``), so the level never falls silently.

ASSUMPTION (no paper sets these numbers): daily labs at first while HLH/MAS is active,
per the HLH surveillance practice (daily labs initially, tapering to weekly as values
normalise; docs/clinical/next-steps.md). Configurable like the look-back windows and
shown with every assessment.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .alerts import CONCERN, WATCH

DEFAULT_OVERDUE_HOURS: dict[str, float] = {
    "ferritin": 24, "platelets": 24, "wbc": 24, "hemoglobin": 24, "neutrophils": 24,
}
SOURCE = ("ASSUMPTION — daily ferritin and CBC while an MAS/HLH episode is active (HLH surveillance practice: "
          "daily labs at first, tapering as values normalise; docs/clinical/next-steps.md). No paper sets the "
          "interval; configurable (--overdue KEY=HOURS).")
US_PER_HOUR = 3_600 * 1_000_000
EPISODE_FLOOR = WATCH
"""Lowest level shown in an active episode whose results are stale or overdue (ours: never a green none)."""


class Freshness(BaseModel):
    """Overdue intervals in hours, by analyte id, applied while an episode is active (ASSUMPTION)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    overdue_hours: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_OVERDUE_HOURS))

    def with_overrides(self, overrides: dict[str, float], known: set[str]) -> "Freshness":
        unknown = set(overrides) - known
        if unknown:
            raise KeyError(f"unknown analytes {sorted(unknown)}; known: {', '.join(sorted(known))}")
        bad = {k: v for k, v in overrides.items() if not (v > 0)}
        if bad:
            raise ValueError(f"overdue intervals must be > 0 hours: {bad}")
        return Freshness(overdue_hours={**self.overdue_hours, **overrides})

    def to_json(self) -> dict:
        return {"overdue_hours": dict(self.overdue_hours), "applies": "while an episode is active",
                "label": SOURCE}


DEFAULT_FRESHNESS = Freshness()


_NEVER = np.iinfo(np.int64).min


def last_time(t: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Time of the latest value at or before each time, any age (``_NEVER`` if none)."""
    if len(t) == 0:
        return np.full(len(times), _NEVER, np.int64)
    pos = np.searchsorted(t, times, side="right") - 1
    return np.where(pos >= 0, t[np.maximum(pos, 0)], _NEVER)


def stale_columns(series_times: dict[str, np.ndarray], times: np.ndarray, window_us: dict[str, int],
                  since_us: np.ndarray) -> dict[str, np.ndarray]:
    """Per key, bool per time: the latest value (at or after ``since_us``) is older than its window."""
    out = {}
    for key, t in series_times.items():
        last = last_time(t, times)
        out[key] = (last != _NEVER) & (last >= since_us) & (last < times - window_us[key])
    return out


def overdue_columns(series_times: dict[str, np.ndarray], times: np.ndarray, overdue: Freshness,
                    active: np.ndarray) -> dict[str, np.ndarray]:
    """Per overdue-tracked analyte, bool per time: an episode is active and the latest result is
    older than its interval, or there is none."""
    out = {}
    for key, hours in overdue.overdue_hours.items():
        t = series_times.get(key, np.zeros(0, np.int64))
        last = last_time(t, times)
        out[key] = active & ((last == _NEVER) | (last < times - int(round(hours * US_PER_HOUR))))
    return out


def running_max_by_group(levels: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Highest level so far within each group (rows sorted by group, then time)."""
    levels = np.asarray(levels, np.int64)
    if len(levels) == 0:
        return levels
    span = int(levels.max()) + 1
    key = np.asarray(group, np.int64) * span + levels
    return (np.maximum.accumulate(key) - np.asarray(group, np.int64) * span).astype(np.int64)


def carried_levels(fresh: np.ndarray, counterfactual: np.ndarray, segment: np.ndarray, any_stale: np.ndarray,
                   active: np.ndarray, any_overdue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The level shown and, per row, whether it was carried above the level of the fresh results.

    ``counterfactual``: the level with every result of the segment counted as if fresh.
    """
    fresh = np.asarray(fresh, np.int64)
    reached = running_max_by_group(fresh, segment)
    carry = np.minimum(np.asarray(counterfactual, np.int64), reached)
    gate = any_stale & (active | (carry >= CONCERN))
    shown = np.where(gate, np.maximum(fresh, carry), fresh)
    floor = active & (any_stale | any_overdue)
    shown = np.where(floor, np.maximum(shown, EPISODE_FLOOR), shown)
    return shown.astype(np.int8), shown > fresh


