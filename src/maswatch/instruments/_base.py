"""What every instrument declares and returns.

An instrument module holds its thresholds as module constants mirroring the paper's
table, a :class:`InstrumentSpec` (citation, population, intended use, items and the
inputs each item reads) and ``evaluate(batch, settings) -> InstrumentResult``, a pure
vectorised function. Rendering to JSON and tables lives elsewhere (``maswatch.report``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..batch import CONTEXT_TEXT, CONTEXTS, SnapshotBatch
from ..logic import NO, TRI, UNKNOWN, YES, Interval, all_of, ge, lt


@dataclass(frozen=True)
class ItemSpec:
    id: str
    label: str
    inputs: tuple[str, ...]
    """Dotted snapshot paths the item reads (``labs.ferritin``, ``findings.fever``)."""
    threshold: str
    """The cut-off as published, in the paper's unit and direction."""


@dataclass(frozen=True)
class InstrumentSpec:
    id: str
    title: str
    citation: str
    doi: str
    population: str
    intended_use: str
    criteria_section: str
    items: tuple[ItemSpec, ...]
    applicable: dict[str, bool]
    """Contexts (see ``batch.CONTEXTS``) where the instrument's population fits; 'unknown' -> undetermined."""
    scored: bool = False
    cutoff_text: str = ""
    notes: dict[str, str] = field(default_factory=dict)
    """Reason texts by key, shown when the instrument raises that note for a row."""
    age_group: str | None = None
    """'adult' or 'child' when the derivation cohort was of one age group (the boundary is the
    ``adult_age_years`` setting); None = no age limit. Age unknown -> applicability undetermined."""
    requires_flag: str | None = None
    """A patient flag the population requires (OHI: ``malignancy``); unknown -> undetermined."""
    population_source: str = ""
    """Where the population limits come from (docs/clinical section)."""
    extra_names: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """Names of tri-state extras (NO, UNKNOWN, YES) when not the item names ('not_met', 'unknown', 'met')."""

    def item(self, item_id: str) -> ItemSpec:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def applicability(self, context: np.ndarray) -> np.ndarray:
        """Does the clinical context fit the population (tri-state per row)?"""
        table = np.array(
            [UNKNOWN if c == "unknown" else (YES if self.applicable.get(c, False) else NO) for c in CONTEXTS],
            dtype=TRI,
        )
        return table[context]

    def age_fit(self, age: Interval, adult_age_years: float) -> np.ndarray:
        if self.age_group == "adult":
            return ge(age, adult_age_years)
        if self.age_group == "child":
            return lt(age, adult_age_years)
        return np.full(len(age.lo), YES, dtype=TRI)

    def population_fit(self, batch: SnapshotBatch, adult_age_years: float) -> np.ndarray:
        """Applicability: context, age group and required flag all fit (tri-state AND)."""
        parts = [self.applicability(batch.context), self.age_fit(batch.age, adult_age_years)]
        if self.requires_flag is not None:
            parts.append(batch.flag(self.requires_flag))
        return all_of(*parts).astype(TRI, copy=False)

    def population_reason(self, batch: SnapshotBatch, i: int, adult_age_years: float) -> str | None:
        """Why row ``i`` is outside the population or undetermined (None when it fits)."""
        why = []
        ctx = CONTEXTS[int(batch.context[i])]
        fits = [c for c, ok in self.applicable.items() if ok]
        if ctx == "unknown":
            why.append("clinical context not given" if fits else "")
        elif not self.applicable.get(ctx, False):
            why.append(f"context {CONTEXT_TEXT[ctx]} is outside the population"
                       + (f" ({', '.join(CONTEXT_TEXT.get(c, c) for c in fits)})" if fits else ""))
        if self.age_group is not None:
            group = (f"adults (>= {adult_age_years:g} years)" if self.age_group == "adult"
                     else f"children (< {adult_age_years:g} years)")
            if not batch.age.present[i]:
                why.append(f"age not given (derived in {group})")
            elif self.age_fit(batch.age, adult_age_years)[i] == NO:
                why.append(f"age {float(batch.age.lo[i]):.3g} years: derived in {group}")
        if self.requires_flag is not None and batch.flag(self.requires_flag)[i] != YES:
            state = "not recorded" if batch.flag(self.requires_flag)[i] == UNKNOWN else "recorded as absent"
            why.append(f"{self.requires_flag.replace('_', ' ')} {state}")
        why = [w for w in why if w]
        if not why:
            return None
        return "; ".join(why) + (f" ({self.population_source})" if self.population_source else "")

    @property
    def reference(self) -> str:
        return f"{self.citation} doi:{self.doi}"


@dataclass
class ItemResult:
    status: np.ndarray
    """Tri-state: 0 not met, 1 unknown, 2 met (for a banded item: met = scores points)."""
    points_min: np.ndarray | None = None
    points_max: np.ndarray | None = None


@dataclass
class InstrumentResult:
    spec: InstrumentSpec
    verdict: np.ndarray
    """0 not_met, 1 indeterminate, 2 met."""
    applicable: np.ndarray
    items: dict[str, ItemResult]
    score_min: np.ndarray | None = None
    score_max: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    """Instrument-specific outputs by JSON key (NaN = not determined)."""
    notes: dict[str, np.ndarray] = field(default_factory=dict)
    """Per row, which of ``spec.notes`` apply (bool arrays)."""
    unverified: list[str] = field(default_factory=list)
    settings_used: dict[str, object] = field(default_factory=dict)
    adult_age_years: float = 18.0
    """The age boundary the applicability used (for :meth:`applicability_reason`)."""

    def applicability_reason(self, batch: SnapshotBatch, i: int) -> str | None:
        """Why row ``i`` is not applicable (or undetermined); None when it applies."""
        if self.applicable[i] == YES:
            return None
        return self.spec.population_reason(batch, i, self.adult_age_years)


Evaluate = Callable[[SnapshotBatch, object], InstrumentResult]


def banded(x: Interval, points: Callable[[np.ndarray], np.ndarray], *, increasing: bool) -> ItemResult:
    """Points for an item whose points never decrease (or never increase) with the value.

    The lowest and highest points still possible come from the interval's two ends.
    """
    p_lo, p_hi = points(x.lo), points(x.hi)
    pmin, pmax = (p_lo, p_hi) if increasing else (p_hi, p_lo)
    pmin = pmin.astype(np.float64, copy=False)  # copy=False: no pass when already float
    pmax = pmax.astype(np.float64, copy=False)
    status = (pmin > 0).astype(TRI) + (pmax > 0).astype(TRI)
    return ItemResult(status=status, points_min=pmin, points_max=pmax)


def flag_points(status: np.ndarray, points: float) -> ItemResult:
    """A yes/no item worth ``points`` when met."""
    lo = (status == YES) * float(points)
    hi = (status >= UNKNOWN) * float(points)
    return ItemResult(status=status, points_min=lo.astype(np.float64, copy=False),
                      points_max=hi.astype(np.float64, copy=False))


def total(items: dict[str, ItemResult]) -> tuple[np.ndarray, np.ndarray]:
    lo = sum(it.points_min for it in items.values())
    hi = sum(it.points_max for it in items.values())
    return lo, hi
