"""Evaluation points of one patient, all at once, as columns (docs/evaluation-points.md).

For every evaluation time t and every analyte or finding: the valid observation with
the greatest time in ``[t - window, t]`` (ties: greatest id), found with one
``searchsorted`` per series; trend references (max/min of earlier values in
``[t - window, t)``) by a sparse table of range extremes; context and age at t. The
result is ONE :class:`SnapshotBatch` for ``evaluate_all``. ``maswatch screen`` builds the
same columns with a data engine; a test compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..batch import CONTEXTS, FINDING_IDS, QUANTITY_IDS, SnapshotBatch
from ..errors import InputError
from ..logic import TRI, UNKNOWN
from ..lookback import Lookback
from ..trends import ReferenceColumn
from .model import RHEUMATIC_CONTEXTS, Condition, Observation, Patient, as_datetime
from .observations import US_PER_HOUR, ObservationTable, iso, to_us

US_PER_YEAR = 86_400 * 1_000_000 * 365.25


@dataclass
class Points:
    times: np.ndarray
    """int64 µs since epoch, ascending."""
    batch: SnapshotBatch
    reference: dict[str, np.ndarray]
    used: dict[str, np.ndarray]
    """Per series key: position in the series of the value used at each point, -1 if none."""
    preliminary: np.ndarray
    """bool: a preliminary result is among the inputs of the point."""


def window_us(hours: float) -> int:
    return int(round(hours * US_PER_HOUR))


def latest_in_window(t: np.ndarray, times: np.ndarray, window: int) -> np.ndarray:
    """Position of the latest value with ``times - window <= t <= times``, -1 if none."""
    pos = np.searchsorted(t, times, side="right") - 1
    if len(t) == 0:
        return np.full(len(times), -1, np.int64)
    ok = (pos >= 0) & (t[np.maximum(pos, 0)] >= times - window)
    return np.where(ok, pos, -1)


def range_extreme(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, agg: str) -> np.ndarray:
    """max/min of ``values[lo:hi]`` per row (NaN where empty), via a sparse table: O(n log n)."""
    fn = np.maximum if agg == "max" else np.minimum
    out = np.full(len(lo), np.nan)
    n = len(values)
    rows = np.flatnonzero(hi > lo)
    if n == 0 or len(rows) == 0:
        return out
    table = [values]
    span = 1
    while 2 * span <= n:
        prev = table[-1]
        table.append(fn(prev[:-span], prev[span:]))
        span *= 2
    length = hi[rows] - lo[rows]
    level = np.floor(np.log2(length)).astype(np.int64)
    for j in np.unique(level):
        r = rows[level == j]
        w = 1 << int(j)
        out[r] = fn(table[j][lo[r]], table[j][hi[r] - w])
    return out


def reference_values(table: ObservationTable, times: np.ndarray, col: ReferenceColumn) -> np.ndarray:
    s = table.series.get(col.analyte)
    if s is None:
        return np.full(len(times), np.nan)
    lo = np.searchsorted(s.t, times - window_us(col.window_hours), side="left")
    hi = np.searchsorted(s.t, times, side="left")  # strictly before t
    return range_extreme(s.value, lo, hi, col.agg)


def context_at(conditions: list[Condition], times: np.ndarray) -> np.ndarray:
    """int8 context code: the rheumatic condition with the latest onset at or before t."""
    rheum = [(c.onset_time, k, c.code) for k, c in enumerate(conditions) if c.code in RHEUMATIC_CONTEXTS]
    if not rheum:
        return np.zeros(len(times), np.int8)
    lowest = np.iinfo(np.int64).min
    rheum.sort(key=lambda x: (lowest if x[0] is None else to_us(x[0]), x[1]))
    onset = np.array([lowest if o is None else to_us(o) for o, _, _ in rheum], np.int64)
    codes = np.array([CONTEXTS.index(c) for _, _, c in rheum], np.int8)
    pos = np.searchsorted(onset, times, side="right") - 1
    return np.where(pos >= 0, codes[np.maximum(pos, 0)], 0).astype(np.int8)


def malignancy_at(conditions: list[Condition], times: np.ndarray, stated: np.ndarray) -> np.ndarray:
    """Tri-state malignancy at each time: YES from the onset of a ``malignancy`` condition (always,
    without onset); otherwise the patient's stated flag (False = no evidence, None = not known)."""
    onsets = [c.onset_time for c in conditions if c.code == "malignancy"]
    if not onsets:
        return stated
    first = min(np.iinfo(np.int64).min if o is None else to_us(o) for o in onsets)
    return np.where(times >= first, np.int8(2), stated).astype(TRI)


def age_at(patient: Patient, times: np.ndarray) -> np.ndarray:
    if patient.birth_date is not None:
        base, years = to_us(as_datetime(patient.birth_date)), 0.0
    elif patient.age_years is not None:
        base, years = to_us(as_datetime(patient.age_at)), float(patient.age_years)
    else:
        return np.full(len(times), np.nan)
    age = years + (times - base) / US_PER_YEAR
    if len(age) and age.min() < 0:
        first = int(np.argmax(age < 0))
        raise InputError("patient.birth_date" if patient.birth_date else "patient.age_years",
                         f"evaluation time {iso(int(times[first]))} is before the patient's birth")
    return age


def build_points(
    table: ObservationTable, times: np.ndarray, patient: Patient, conditions: list[Condition],
    lookback: Lookback, reference_cols: tuple[ReferenceColumn, ...],
) -> Points:
    m = len(times)
    labs, comps, findings, used = {}, {}, {}, {}
    prelim = np.zeros(m, bool)
    for key, s in table.series.items():
        pos = latest_in_window(s.t, times, window_us(lookback.window_hours(key)))
        used[key] = pos
        ok = pos >= 0
        p = np.maximum(pos, 0)
        prelim |= ok & s.preliminary[p]
        if key in FINDING_IDS:
            findings[key] = np.where(ok, (s.value[p] * 2).astype(TRI), UNKNOWN).astype(TRI)
        else:
            labs[key] = np.where(ok, s.value[p], np.nan)
            comps[key] = np.where(ok, s.comparator[p], 0).astype(np.int8)
    flags = {f: np.full(m, UNKNOWN if getattr(patient, f) is None else 2 * int(getattr(patient, f)), TRI)
             for f in ("known_immunosuppression", "hlh_molecular_diagnosis", "malignancy")}
    flags["malignancy"] = malignancy_at(conditions, times, flags["malignancy"])
    batch = SnapshotBatch.from_columns(
        m, labs=labs, comparators=comps, findings=findings, flags=flags,
        age_years=age_at(patient, times), context=context_at(conditions, times),
    )
    reference = {c.name: reference_values(table, times, c) for c in reference_cols}
    return Points(times=times, batch=batch, reference=reference, used=used, preliminary=prelim)


def given_row(points: Points, table: ObservationTable, raw: list[Observation], i: int) -> dict:
    """The values as given (value, unit, comparator) behind row ``i`` (report evidence)."""
    row = {}
    for key in QUANTITY_IDS:
        pos = points.used.get(key)
        if pos is None or pos[i] < 0:
            continue
        o = raw[int(table.series[key].src[pos[i]])]
        row[key] = {"value": o.value, "unit": o.unit, **({"comparator": o.comparator} if o.comparator else {})}
    return row


def inputs_row(points: Points, table: ObservationTable, raw: list[Observation], i: int) -> list[dict]:
    """The observations used at row ``i``: key, id, time, status (preliminary flagged)."""
    out = []
    for key, pos in points.used.items():
        if pos[i] < 0:
            continue
        s = table.series[key]
        o = raw[int(s.src[pos[i]])]
        out.append({"input": key, "id": o.id, "time": iso(int(s.t[pos[i]])), "status": o.status,
                    "preliminary": o.status == "preliminary"})
    return out

