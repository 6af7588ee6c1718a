"""Sensitivity, PPV and lead time of each instrument and alert level against ground truth.

Ground truth is the generator's ``labels`` table (SYNTHETIC): every number produced here
is "measured on synthetic data" and says so. Definitions (ASSUMPTIONS, configurable):

- a *labelled MAS episode* is a label of kind ``mas``; its detection window runs from
  ``onset - lead_window`` to its ``resolution`` (or ``peak + tail`` when not resolved);
- a *screen-positive episode* of an instrument (or alert level) is a run of points where
  the instrument is met (the level is reached), split by the episode gap (episodes.py);
- sensitivity = labelled MAS episodes with a met point inside their window / all of them;
- PPV = screen-positive episodes overlapping some MAS window / all screen-positive episodes;
- lead time = onset - first met time inside the window (hours; positive = before onset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import alerts
from ..instruments import INSTRUMENTS
from .arrow_eval import verdict_col
from .episodes import runs

LABEL = "measured on synthetic data"
US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class MetricWindows:
    lead_window_hours: float = 14 * 24
    """ASSUMPTION: a detection up to 14 days before the clinical onset counts as early."""
    tail_hours: float = 14 * 24
    """ASSUMPTION: an unresolved episode's window ends 14 days after its peak."""


def keys() -> list[str]:
    return [f"instrument:{i}" for i in INSTRUMENTS] + [f"level>={lv}" for lv in alerts.LEVELS[1:]]


def _masks(table: pa.Table) -> dict[str, np.ndarray]:
    level = table.column("alert_level").to_numpy(zero_copy_only=False)
    out = {f"instrument:{i}": table.column(verdict_col(i)).to_numpy(zero_copy_only=False) == 2 for i in INSTRUMENTS}
    for lv in range(1, len(alerts.LEVELS)):
        out[f"level>={alerts.LEVELS[lv]}"] = level >= lv
    return out


class MetricsAccumulator:
    """Collects, chunk by chunk, the screen-positive runs and the met points of labelled patients."""

    def __init__(self, labels: pa.Table, gap_us: int, windows: MetricWindows = MetricWindows()):
        need = {"patient_id", "episode_id", "kind", "onset", "peak"}
        missing = need - set(labels.column_names)
        if missing:
            raise ValueError(f"labels table lacks column(s) {sorted(missing)}")
        self.labels = labels
        self.windows = windows
        self.gap_us = gap_us
        self.labelled = set(labels.column("patient_id").to_pylist())
        self.runs: dict[str, list] = {k: [] for k in keys()}
        self.points: dict[str, list] = {k: [] for k in keys()}

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        pid = table.column("patient_id").to_numpy(zero_copy_only=False)
        t = table.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False)
        in_labels = pc.is_in(table.column("patient_id"), value_set=pa.array(sorted(self.labelled), pa.string())) \
            .to_numpy(zero_copy_only=False)
        for key, mask in _masks(table).items():
            f, l = runs(pid, t, mask, self.gap_us)
            self.runs[key].append((pid[f], t[f], t[l]))
            sel = mask & in_labels
            self.points[key].append((pid[sel], t[sel]))

    def result(self) -> dict:
        import pandas as pd

        lab = self.labels.to_pandas()
        lab = lab[lab["kind"] == "mas"].copy()
        onset = _us(lab["onset"])
        peak = _us(lab["peak"])
        res = _us(lab["resolution"]) if "resolution" in lab else pd.Series(np.nan, index=lab.index)
        w = self.windows
        lab["ws"] = onset - w.lead_window_hours * US_PER_HOUR
        lab["we"] = np.where(res.notna(), res, np.maximum(peak, onset) + w.tail_hours * US_PER_HOUR)
        lab["onset_us"] = onset
        n_labels = len(lab)
        out = {"label": LABEL, "synthetic": True, "definitions": {
            "lead_window_hours": w.lead_window_hours, "tail_hours": w.tail_hours,
            "episode_gap_hours": self.gap_us / US_PER_HOUR,
            "note": "ASSUMPTION definitions; see docs/screening.md"}, "mas_labels": n_labels, "by": {}}
        for key in keys():
            pts = self.points[key]
            p_pid = np.concatenate([p for p, _ in pts]) if pts else np.array([], dtype=object)
            p_t = np.concatenate([t for _, t in pts]) if pts else np.array([], dtype=np.int64)
            met = pd.DataFrame({"patient_id": p_pid, "t": p_t})
            m = lab[["patient_id", "episode_id", "ws", "we", "onset_us"]].merge(met, on="patient_id")
            m = m[(m["t"] >= m["ws"]) & (m["t"] <= m["we"])]
            first = m.groupby("episode_id", sort=True)["t"].min()
            detected = len(first)
            lead_h = ((lab.set_index("episode_id").loc[first.index, "onset_us"] - first) / US_PER_HOUR).to_numpy()
            r = self.runs[key]
            r_pid = np.concatenate([a for a, _, _ in r]) if r else np.array([], dtype=object)
            r_s = np.concatenate([b for _, b, _ in r]) if r else np.array([], dtype=np.int64)
            r_e = np.concatenate([c for _, _, c in r]) if r else np.array([], dtype=np.int64)
            runs_df = pd.DataFrame({"patient_id": r_pid, "s": r_s, "e": r_e, "run": np.arange(len(r_pid))})
            ov = runs_df.merge(lab[["patient_id", "ws", "we"]], on="patient_id")
            ov = ov[(ov["s"] <= ov["we"]) & (ov["e"] >= ov["ws"])]
            true_runs = ov["run"].nunique()
            n_runs = len(runs_df)
            out["by"][key] = {
                "detected": int(detected),
                "sensitivity": _ratio(detected, n_labels),
                "screen_positive_episodes": int(n_runs),
                "true_positive_episodes": int(true_runs),
                "ppv": _ratio(true_runs, n_runs),
                "lead_time_hours_median": _round(np.median(lead_h)) if lead_h.size else None,
                "lead_time_hours_p25": _round(np.percentile(lead_h, 25)) if lead_h.size else None,
                "lead_time_hours_p75": _round(np.percentile(lead_h, 75)) if lead_h.size else None,
            }
        return out


def _us(series):
    """Timestamps (any tz, NaT allowed) -> float µs since the epoch, UTC (NaN for NaT)."""
    import pandas as pd

    return _to_us(pd.to_datetime(series, utc=True))


def _to_us(s):
    import pandas as pd

    vals = s.dt.tz_convert("UTC").dt.tz_localize(None)
    out = (vals - pd.Timestamp("1970-01-01")) // pd.Timedelta(microseconds=1)
    return out.astype("float64")


def _ratio(a: int, b: int):
    return None if b == 0 else round(a / b, 6)


def _round(x):
    return round(float(x), 3)
