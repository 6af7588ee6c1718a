"""What a chart is made of: plain, immutable data the caller fills in (no drawing here)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Sequence

Number = float | int | None


@dataclass(frozen=True)
class Series:
    """One measured quantity over time.

    ``values`` may hold None (not measured). With ``low``/``high`` instead of ``values`` the
    series is a range at each time (e.g. a score's lowest and highest possible value while
    inputs are missing): drawn as a shaded band between two lines. ``censored`` marks values
    that are a bound, not a result (e.g. ferritin "> 40,000"): drawn as open markers.
    """

    label: str
    times: Sequence[_dt.datetime]
    values: Sequence[Number] | None = None
    low: Sequence[Number] | None = None
    high: Sequence[Number] | None = None
    censored: Sequence[bool] | None = None

    def __post_init__(self):
        n = len(self.times)
        if (self.values is None) == (self.low is None and self.high is None):
            raise ValueError(f"series {self.label!r}: give either values or low and high")
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError(f"series {self.label!r}: a range series needs both low and high")
        for name in ("values", "low", "high", "censored"):
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise ValueError(f"series {self.label!r}: {name} has {len(col)} entries for {n} times")
        for t in self.times:
            if t.tzinfo is None:
                raise ValueError(f"series {self.label!r}: times need a UTC offset")

    @property
    def is_range(self) -> bool:
        return self.values is None


@dataclass(frozen=True)
class Threshold:
    """A published cut-off drawn as a labelled horizontal line (label names the instrument)."""

    value: float
    label: str
    alt: str = ""  # the same value in another unit the reader may use, e.g. "3.6 g/L"


@dataclass(frozen=True)
class TimeBand:
    """A shaded stretch of time behind the data (an alert level, an episode), labelled in text."""

    start: _dt.datetime
    end: _dt.datetime
    label: str
    fill: str = "#eeeeee"


@dataclass(frozen=True)
class Marker:
    """A moment: a vertical line with its label (episode onset, remission, a dose change)."""

    time: _dt.datetime
    label: str


@dataclass(frozen=True)
class TimeAxis:
    """The shared x range: give every panel of one patient the same axis so they line up."""

    start: _dt.datetime
    end: _dt.datetime
    label: str = "date (UTC)"


@dataclass(frozen=True)
class TreatmentBar:
    """One course of one drug: ``end`` None = still running at the end of the axis."""

    row: str
    start: _dt.datetime
    end: _dt.datetime | None
    text: str = ""


@dataclass(frozen=True)
class Frame:
    """Pixel layout shared by every panel (same margins, so stacked panels align)."""

    width: float = 820
    height: float = 230
    left: float = 116
    right: float = 200
    top: float = 30
    bottom: float = 44

    @property
    def plot_left(self) -> float:
        return self.left

    @property
    def plot_right(self) -> float:
        return self.width - self.right

    @property
    def plot_top(self) -> float:
        return self.top

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom


@dataclass(frozen=True)
class Style:
    """How a series is told apart without colour: line dash and marker shape, plus a colour."""

    stroke: str
    dash: str
    marker: str  # circle | square | triangle | diamond


STYLES = (
    Style("#1f4e9c", "", "circle"),
    Style("#b3261e", "6 3", "square"),
    Style("#2e7d32", "2 2", "triangle"),
    Style("#6a1b9a", "8 3 2 3", "diamond"),
)

LEVEL_FILLS = {"none": "none", "watch": "#fff4c2", "concern": "#ffe1c4", "alert": "#ffd3d3"}
"""Background of an alert-level band; the level's name is always written in the band too."""
