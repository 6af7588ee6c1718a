"""Episodes: per patient, runs of evaluation points at or above the "concern" alert level.

``maswatch.alerts`` defines the levels but not episodes, so the screen defines them:
the points whose level is at least ``min_level`` (default ``concern``), split where two
such points of a patient are ``gap_hours`` or more apart (ASSUMPTION: 14 days,
configurable — a recurrence after two quiet weeks is a new episode). An episode spans
from its first to its last qualifying point; every point in between belongs to it.

Everything here is vectorised over many patients at once (rows sorted by patient then
time, whole patients per chunk) so DuckDB batches and Spark partitions run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .. import alerts
from ..instruments import INSTRUMENTS
from .arrow_eval import verdict_col
from .columns import floats, integers, run_ids, take_rows

GAP_HOURS_DEFAULT = 14 * 24
"""ASSUMPTION: qualifying points 14 days or more apart start a new episode."""
PEAK_SCORES = {
    "hscore": "hscore__score_min",
    "ms_score": "ms_score__score_min",
    "mh_score": "mh_score__score_min",
    "ferritin_esr_ratio": "ferritin_esr__ratio_min",
}
"""Peak scores reported per episode: the guaranteed (lower) bound of each score."""
_NO_ROW = np.iinfo(np.int64).max
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class EpisodeRule:
    min_level: int = alerts.CONCERN
    gap_hours: float = GAP_HOURS_DEFAULT

    def __post_init__(self):
        if not 0 < self.min_level < len(alerts.LEVELS):
            raise ValueError(f"episode min_level must name a level above 'none' in {alerts.LEVELS}")
        if not self.gap_hours > 0:
            raise ValueError("episode gap_hours must be > 0")

    @property
    def gap_us(self) -> int:
        return int(round(self.gap_hours * 3_600_000_000))


def runs(pid: np.ndarray, t_us: np.ndarray, mask: np.ndarray, gap_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (first, last) of each run of ``mask`` rows: same patient, < gap apart.

    Rows must be sorted by patient then time.
    """
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return idx, idx
    new = np.ones(idx.size, dtype=bool)
    new[1:] = (pid[idx[1:]] != pid[idx[:-1]]) | (t_us[idx[1:]] - t_us[idx[:-1]] >= gap_us)
    last = np.ones(idx.size, dtype=bool)
    last[:-1] = new[1:]
    return idx[new], idx[last]


def _segment_first(cond: np.ndarray, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per segment, the first row index where ``cond`` holds (``_NO_ROW`` if none)."""
    pos = np.where(cond[rows], rows, _NO_ROW)
    return np.minimum.reduceat(pos, offsets) if rows.size else np.zeros(0, np.int64)


def _time_at(t_us: np.ndarray, row: np.ndarray) -> pa.Array:
    ok = row != _NO_ROW
    vals = np.where(ok, t_us[np.where(ok, row, 0)], 0)
    return pa.array(vals, pa.int64(), mask=~ok).cast(_TS)


def episode_columns() -> list[str]:
    cols = ["patient_id", "episode", "start", "end", "n_points", "peak_alert_level", "peak_alert", "peak_alert_time"]
    cols += [f"first_{lv}_time" for lv in alerts.LEVELS[1:]]
    cols += [f"first_met_{iid}_time" for iid in INSTRUMENTS]
    for s in PEAK_SCORES:
        cols += [f"peak_{s}", f"peak_{s}_time"]
    cols += ["notifications", "preliminary_used"]
    return cols


def episodes_chunk(table: pa.Table, rule: EpisodeRule = EpisodeRule()) -> tuple[pa.Table, pa.Table]:
    """(episodes, evidence) for result rows of whole patients sorted by patient and time.

    ``evidence`` holds, for each episode, the evaluation points behind its first-met,
    first-level and peak times (role column), with every snapshot value used.
    """
    n = table.num_rows
    ids = table.column("patient_id")
    pid = run_ids(ids)  # patients as 0, 1, 2, ... (rows are sorted by patient)
    t_us = integers(table.column("time").cast(pa.int64()), 0)
    level = integers(table.column("alert_level"), 0, np.int8)
    first, last = runs(pid, t_us, level >= rule.min_level, rule.gap_us)
    k = first.size
    lengths = last - first + 1
    offsets = np.zeros(k, dtype=np.int64)
    if k:
        offsets[1:] = np.cumsum(lengths)[:-1]
    rows = (np.arange(lengths.sum(), dtype=np.int64) - np.repeat(offsets, lengths) + np.repeat(first, lengths))
    # episode number within the patient (1, 2, ...)
    new_patient = np.ones(k, dtype=bool)
    new_patient[1:] = pid[first[1:]] != pid[first[:-1]]
    ordinal = np.arange(k) - np.maximum.accumulate(np.where(new_patient, np.arange(k), 0)) + 1
    # notifications: the alerts module de-duplicates within an episode
    ep_of_row = np.full(n, -1, dtype=np.int64)
    ep_of_row[rows] = np.repeat(np.arange(k), lengths)
    notify = alerts.notify_mask(pid, level, ep_of_row) if n else np.zeros(0, bool)

    cols: dict[str, pa.Array] = {
        "patient_id": ids.take(pa.array(first, pa.int64())).cast(pa.string()),
        "episode": pa.array(ordinal.astype(np.int32), pa.int32()),
        "start": pa.array(t_us[first], pa.int64()).cast(_TS),
        "end": pa.array(t_us[last], pa.int64()).cast(_TS),
        "n_points": pa.array(lengths.astype(np.int64)),
    }
    evidence_roles: list[tuple[str, np.ndarray]] = []
    peak = np.maximum.reduceat(level[rows], offsets) if k else np.zeros(0, np.int8)
    peak_row = _segment_first(_level_equals_peak(level, rows, peak, lengths, n), rows, offsets)
    cols["peak_alert_level"] = pa.array(peak.astype(np.int8), pa.int8())
    cols["peak_alert"] = pa.array([alerts.LEVELS[i] for i in peak], pa.string())
    cols["peak_alert_time"] = _time_at(t_us, peak_row)
    evidence_roles.append(("peak_alert", peak_row))
    for lv in range(1, len(alerts.LEVELS)):
        r = _segment_first(level >= lv, rows, offsets)
        cols[f"first_{alerts.LEVELS[lv]}_time"] = _time_at(t_us, r)
        evidence_roles.append((f"first_{alerts.LEVELS[lv]}", r))
    for iid in INSTRUMENTS:
        met = integers(table.column(verdict_col(iid)), 0, np.int8) == 2
        r = _segment_first(met, rows, offsets)
        cols[f"first_met_{iid}_time"] = _time_at(t_us, r)
        evidence_roles.append((f"first_met_{iid}", r))
    for name, col in PEAK_SCORES.items():
        v = floats(table.column(col))
        vv = np.where(np.isnan(v), -np.inf, v)
        best = np.maximum.reduceat(vv[rows], offsets) if k else np.zeros(0)
        has = np.isfinite(best)
        is_best = np.zeros(n, dtype=bool)
        is_best[rows] = vv[rows] == np.repeat(best, lengths)
        r = np.where(has, _segment_first(is_best, rows, offsets), _NO_ROW)
        cols[f"peak_{name}"] = pa.array(np.where(has, best, 0.0), pa.float64(), mask=~has)
        cols[f"peak_{name}_time"] = _time_at(t_us, r)
        evidence_roles.append((f"peak_{name}", r))
    cols["notifications"] = pa.array(np.add.reduceat(notify[rows].astype(np.int64), offsets) if k else np.zeros(0, np.int64))
    prelim = table.column("preliminary").to_numpy().astype(bool) if n else np.zeros(0, bool)
    cols["preliminary_used"] = pa.array(np.maximum.reduceat(prelim[rows], offsets).astype(bool) if k else np.zeros(0, bool))
    episodes = pa.table({c: cols[c] for c in episode_columns()})
    return episodes, _evidence(table, ordinal, evidence_roles)


def _level_equals_peak(level, rows, peak, lengths, n):
    is_peak = np.zeros(n, dtype=bool)
    is_peak[rows] = level[rows] == np.repeat(peak, lengths)
    return is_peak


def _evidence(table: pa.Table, ordinal: np.ndarray, roles: list[tuple[str, np.ndarray]]) -> pa.Table:
    """One row per (episode, evaluation point) behind it, in time order, with ``roles``:
    the roles the point plays, ';'-joined in a fixed order (``peak_alert;first_watch;...``).
    A point is listed once however many roles it has (typically five or six)."""
    ep_idx, rows, bits = [], [], []
    for order, (_, r) in enumerate(roles):
        ok = r != _NO_ROW
        ep_idx.append(np.flatnonzero(ok))
        rows.append(r[ok])
        bits.append(np.full(ep_idx[-1].size, 1 << order, dtype=np.int64))
    ep_idx, rows, bits = np.concatenate(ep_idx), np.concatenate(rows), np.concatenate(bits)
    sort = np.lexsort((rows, ep_idx))
    ep_idx, rows, bits = ep_idx[sort], rows[sort], bits[sort]
    first = np.flatnonzero(np.r_[True, (ep_idx[1:] != ep_idx[:-1]) | (rows[1:] != rows[:-1])]) if rows.size \
        else np.zeros(0, np.int64)
    bits = np.bitwise_or.reduceat(bits, first) if rows.size else bits
    ep_idx, rows = ep_idx[first], rows[first]
    patterns, which = np.unique(bits, return_inverse=True)
    names = pa.array([";".join(name for j, (name, _) in enumerate(roles) if p >> j & 1) for p in patterns.tolist()],
                     pa.string())
    taken = take_rows(table, rows)  # ascending: episodes follow the rows, points within them too
    out = taken.drop_columns(["patient_id"])
    return pa.table(
        {
            "patient_id": taken.column("patient_id").cast(pa.string()),
            "episode": pa.array(ordinal[ep_idx].astype(np.int32), pa.int32()),
            "roles": names.take(pa.array(which.reshape(-1).astype(np.int64))),
            **{c: out.column(c) for c in out.column_names},
        }
    )


def rechunk_by_patient(batches, min_rows: int = 1_000_000):
    """Regroup a stream of record batches sorted by patient into tables of whole patients.

    The last patient of a chunk is held back until a row of another patient arrives, so
    no patient is split between chunks.
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    empty = None
    seen = False
    for rb in batches:
        if rb.num_rows == 0:
            empty = rb
            continue
        pending.append(rb)
        pending_rows += rb.num_rows
        if pending_rows < min_rows:
            continue
        tbl = pa.Table.from_batches(pending)
        cut = _cut(pending, tbl)
        if cut == 0:
            continue  # one patient so far; keep accumulating
        seen = True
        yield tbl.slice(0, cut)
        rest = tbl.slice(cut)
        pending = rest.to_batches()
        pending_rows = rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending)
    elif empty is not None and not seen:
        yield pa.Table.from_batches([empty])  # nothing at all: keep the columns


def _cut(pending: list, tbl: pa.Table) -> int:
    """First row of the last patient in ``tbl`` (0 if it holds one patient). Rows are
    sorted by patient, so the last batch usually holds the cut: compare only it."""
    last_rb = pending[-1].column(pending[-1].schema.get_field_index("patient_id"))
    last = last_rb[-1]
    cut = _first_row_of_last_patient(pa.chunked_array([last_rb]), last)
    if cut > 0:
        return tbl.num_rows - len(last_rb) + cut
    return _first_row_of_last_patient(tbl.column("patient_id"), last)


def _first_row_of_last_patient(pid: pa.ChunkedArray, last_pid) -> int:
    import pyarrow.compute as pc

    not_last = np.flatnonzero(pc.not_equal(pid, last_pid).to_numpy(zero_copy_only=False))
    return int(not_last[-1]) + 1 if not_last.size else 0
