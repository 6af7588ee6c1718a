"""What the HTML report needs from the stream of results, accumulated chunk by chunk.

Score histograms keep incomplete points apart: a point lacking any laboratory input of a
score has a lower bound that mostly reflects what was not measured, so counting it would
draw a spike of missing data. Such points are counted and stated, not drawn; for the
points drawn, both the lowest and the highest possible score are counted (the range left
by bedside findings and marrow, which laboratory data cannot settle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..instruments import INSTRUMENTS
from .columns import floats
from .points import value_col


@dataclass(frozen=True)
class HistogramSpec:
    instrument: str
    low_col: str
    high_col: str
    label: str
    low: float
    high: float
    bins: int
    log10: bool = False

    @property
    def lab_inputs(self) -> tuple[str, ...]:
        """The instrument's laboratory inputs, from its spec (never a hand-kept list)."""
        labs = {i.split(".", 1)[1] for it in INSTRUMENTS[self.instrument].SPEC.items for i in it.inputs
                if i.startswith("labs.")}
        return tuple(sorted(labs))


HISTOGRAMS = (
    # values outside [low, high) are counted in the end bins
    HistogramSpec("hscore", "hscore__score_min", "hscore__score_max", "HScore (points)", 0.0, 340.0, 34),
    HistogramSpec("ms_score", "ms_score__score_min", "ms_score__score_max", "MS score", -8.0, 10.0, 36),
    HistogramSpec("mh_score", "mh_score__score_min", "mh_score__score_max", "MH score (points)", 0.0, 140.0, 28),
    HistogramSpec("ferritin_esr", "ferritin_esr__ratio_min", "ferritin_esr__ratio_max",
                  "log10 ferritin:ESR ratio", 0.0, 4.0, 32, log10=True),
)

EXAMPLE_COLUMNS = (
    "time", "alert_level", "hscore__score_min", "hscore__score_max", "ms_score__score_min", "ferritin_esr__ratio_min",
    "v__ferritin", "c__ferritin", "v__platelets", "c__platelets", "v__fibrinogen", "c__fibrinogen", "v__ast", "c__ast",
)
"""Columns kept for each example episode's charts (the whole patient; the report picks the window)."""


class ScoreHistograms:
    def __init__(self):
        self.low = {h.low_col: np.zeros(h.bins, np.int64) for h in HISTOGRAMS}
        self.high = {h.low_col: np.zeros(h.bins, np.int64) for h in HISTOGRAMS}
        self.missing_lab = {h.low_col: 0 for h in HISTOGRAMS}
        self.no_value = {h.low_col: 0 for h in HISTOGRAMS}

    def add(self, table: pa.Table) -> None:
        for h in HISTOGRAMS:
            lo, hi = floats(table.column(h.low_col)), floats(table.column(h.high_col))
            complete = np.ones(table.num_rows, dtype=bool)
            for a in h.lab_inputs:
                complete &= ~np.isnan(floats(table.column(value_col(a))))
            if h.log10:  # a ratio of 0 (or none) has no logarithm: counted as without a value
                with np.errstate(divide="ignore", invalid="ignore"):
                    lo, hi = np.where(lo > 0, np.log10(lo), np.nan), np.where(hi > 0, np.log10(hi), np.nan)
            has = ~np.isnan(lo) & ~np.isnan(hi)
            self.missing_lab[h.low_col] += int((~complete).sum())
            self.no_value[h.low_col] += int((complete & ~has).sum())
            drawn = complete & has
            self.low[h.low_col] += _bin(lo[drawn], h)
            self.high[h.low_col] += _bin(hi[drawn], h)

    def to_json(self) -> dict:
        return {h.low_col: {"instrument": h.instrument, "label": h.label, "low": h.low, "high": h.high,
                            "log10": h.log10, "counts": self.low[h.low_col].tolist(),
                            "counts_highest_possible": self.high[h.low_col].tolist(),
                            "not_drawn_missing_lab_input": self.missing_lab[h.low_col],
                            "not_drawn_no_value": self.no_value[h.low_col],
                            "lab_inputs": list(h.lab_inputs)}
                for h in HISTOGRAMS}


def _bin(v: np.ndarray, h: HistogramSpec) -> np.ndarray:
    # +inf (a censored upper bound) lands in the last bin, like any value above the range
    v = np.clip(v, h.low, h.high)
    idx = np.clip(((v - h.low) / (h.high - h.low) * h.bins).astype(np.int64), 0, h.bins - 1)
    return np.bincount(idx, minlength=h.bins)
