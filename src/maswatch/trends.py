"""Trend signals: how a patient's own labs move (docs/clinical/criteria.md §8; docs/clinical/distributions.md §3).

MAS is recognised early by change against the patient's own earlier values: platelets
falling, ferritin and AST climbing, fibrinogen and white cells falling, ESR dropping
while ferritin or CRP rise. The expert consensus (Ravelli 2016, RMD Open,
doi:10.1136/rmdopen-2015-000161) ranked platelet, ferritin and AST changes highest but
set NO cut-off for a meaningful change. Every threshold here is therefore a
configurable HEURISTIC, labelled "heuristic — not validated" wherever it is shown, and
always shown with the values behind it. A signal informs the alert level; it never
classifies MAS.

Columns in, columns out (the same function serves ``assess`` and ``screen``):

- the current value of each analyte comes from the evaluation point's snapshot
  (``SnapshotBatch``; censored values keep their interval);
- the reference is an aggregate of the patient's *earlier* valid values, one column
  per :class:`ReferenceColumn` (max for a falling signal, min for a rising one, over
  results with time in ``[t - window, t)``; NaN if none). Engines compute these
  (docs/evaluation-points.md §6); :func:`reference_columns` says which.

A missing current or reference value gives UNKNOWN, never "no change".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from . import analytes
from .batch import SnapshotBatch
from .logic import NO, TRI, UNKNOWN, YES, all_of

HEURISTIC = "heuristic — not validated"
"""Label carried by every trend threshold (docs/clinical/criteria.md §8: no validated cut-offs exist)."""


class ChangeRule(BaseModel):
    """One analyte's change against its own earlier extreme (HEURISTIC thresholds).

    Falling: met when ``reference - current >= max(relative * reference, absolute)``
    with reference = the highest earlier value in the window. Rising: met when
    ``current - reference >= max(relative * reference, absolute)`` with reference =
    the lowest earlier value in the window.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    analyte: str
    direction: Literal["falling", "rising"]
    relative: float = Field(ge=0, description="Minimum change as a fraction of the reference value.")
    absolute: float = Field(0.0, ge=0, description="Minimum change in the analyte's canonical unit.")
    window_hours: float = Field(168.0, gt=0, description="How far back earlier values count (hours).")
    label: str = HEURISTIC

    @property
    def agg(self) -> Literal["max", "min"]:
        return "max" if self.direction == "falling" else "min"

    @property
    def reference_name(self) -> str:
        return f"{self.analyte}_{self.agg}_prior_{self.window_hours:g}h"

    def text(self) -> str:
        unit = analytes.get(self.analyte).canonical_unit
        word = "fall" if self.direction == "falling" else "rise"
        ref = "highest" if self.direction == "falling" else "lowest"
        extra = f" and >= {self.absolute:g} {unit}" if self.absolute else ""
        return (f"{self.analyte}: {word} >= {self.relative * 100:g}%{extra} from the {ref} value "
                f"of the previous {self.window_hours:g} h ({self.label})")


# Defaults: HEURISTIC, not validated (docs/clinical/criteria.md §8 set no cut-offs). Chosen below the
# median changes reported between admission and MAS (AOSD, Cheng et al.,
# docs/clinical/distributions.md §3: platelets -47%, fibrinogen -58%, ESR -50%, AST x2.9,
# LDH x2.8, ferritin x3.4) and
# the "> 50% change" of Minoia 2014, so that a signal precedes full-blown MAS. The absolute
# minimums keep changes within the normal range (AST 20 -> 31 U/L) from counting.
class TrendConfig(BaseModel):
    """Every trend threshold (all "heuristic — not validated"; configurable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    falling_platelets: ChangeRule = ChangeRule(analyte="platelets", direction="falling", relative=0.30)
    rising_ferritin: ChangeRule = ChangeRule(analyte="ferritin", direction="rising", relative=0.50, absolute=100)
    rising_ast: ChangeRule = ChangeRule(analyte="ast", direction="rising", relative=0.50, absolute=20)
    rising_ldh: ChangeRule = ChangeRule(analyte="ldh", direction="rising", relative=0.50, absolute=100)
    falling_fibrinogen: ChangeRule = ChangeRule(analyte="fibrinogen", direction="falling", relative=0.25)
    falling_wbc: ChangeRule = ChangeRule(analyte="wbc", direction="falling", relative=0.30)
    falling_neutrophils: ChangeRule = ChangeRule(analyte="neutrophils", direction="falling", relative=0.30)
    falling_esr: ChangeRule = Field(
        ChangeRule(analyte="esr", direction="falling", relative=0.25, absolute=5),
        description="Used only together with a ferritin or CRP rise (ESR/ferritin dissociation).",
    )
    rising_crp: ChangeRule = Field(
        ChangeRule(analyte="crp", direction="rising", relative=0.25, absolute=5),
        description="Used only together with an ESR fall (ESR/CRP dissociation).",
    )

    def model_post_init(self, _ctx) -> None:
        for name, field in type(self).model_fields.items():
            rule = getattr(self, name)
            want_dir, want_analyte = name.split("_", 1)
            if rule.direction != want_dir or rule.analyte != want_analyte:
                raise ValueError(f"trend rule {name} must be {want_dir} {want_analyte}, got {rule.direction} {rule.analyte}")

    def rules(self) -> dict[str, ChangeRule]:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def to_json(self) -> dict:
        return {
            "label": HEURISTIC,
            "source": "docs/clinical/criteria.md §8: the expert consensus ranked platelet, ferritin and AST changes highest "
                      "and set no cut-offs; these thresholds are ours",
            "rules": {name: {**r.model_dump(), "text": r.text()} for name, r in self.rules().items()},
        }


DEFAULT_TRENDS = TrendConfig()


@dataclass(frozen=True)
class ReferenceColumn:
    """A per-evaluation-point aggregate of the patient's earlier valid canonical values.

    ``agg`` over results of ``analyte`` with time in ``[t - window_hours, t)`` (strictly
    before t; a censored value contributes its bound); NaN if there is none.
    """

    name: str
    analyte: str
    agg: Literal["max", "min"]
    window_hours: float


@dataclass(frozen=True)
class Signal:
    """A trend signal: the change rules it needs (all must be met) and its consensus rank."""

    id: str
    label: str
    rules: tuple[str, ...]
    high_rank: bool
    """Platelet, ferritin and AST changes: ranked most important by the consensus (docs/clinical/criteria.md §8)."""


SIGNALS: tuple[Signal, ...] = (
    Signal("falling_platelets", "Platelets falling", ("falling_platelets",), True),
    Signal("rising_ferritin", "Ferritin rising", ("rising_ferritin",), True),
    Signal("rising_ast", "AST rising", ("rising_ast",), True),
    Signal("rising_ldh", "LDH rising", ("rising_ldh",), False),
    Signal("falling_fibrinogen", "Fibrinogen falling", ("falling_fibrinogen",), False),
    Signal("falling_wbc", "White cells falling", ("falling_wbc",), False),
    Signal("falling_neutrophils", "Neutrophils falling", ("falling_neutrophils",), False),
    Signal("esr_falling_ferritin_rising", "ESR falling while ferritin rises", ("falling_esr", "rising_ferritin"), False),
    Signal("esr_falling_crp_rising", "ESR falling while CRP rises", ("falling_esr", "rising_crp"), False),
)
SIGNAL_IDS = tuple(s.id for s in SIGNALS)


def reference_columns(config: TrendConfig = DEFAULT_TRENDS) -> tuple[ReferenceColumn, ...]:
    """The reference aggregates an engine must compute for ``config`` (deduplicated, stable order)."""
    seen: dict[str, ReferenceColumn] = {}
    for rule in config.rules().values():
        seen.setdefault(rule.reference_name, ReferenceColumn(rule.reference_name, rule.analyte, rule.agg, rule.window_hours))
    return tuple(seen.values())


REFERENCE_COLUMNS: tuple[ReferenceColumn, ...] = reference_columns(DEFAULT_TRENDS)


def _cut(rule: ChangeRule, ref: np.ndarray) -> np.ndarray:
    """The current value at which the change becomes large enough."""
    step = np.maximum(rule.relative * np.abs(ref), rule.absolute)
    return ref - step if rule.direction == "falling" else ref + step


def change_status(rule: ChangeRule, batch: SnapshotBatch, reference: np.ndarray) -> np.ndarray:
    """Tri-state: the rule's change met / not met / unknown, using the current value's interval.

    Falling: YES when even the highest value the current result allows is at or below the
    cut; NO when its lowest is above it. Rising mirrors this. Missing current or reference
    -> UNKNOWN.
    """
    x = batch.lab(rule.analyte)
    ref = np.asarray(reference, dtype=np.float64)
    known = x.present & ~np.isnan(ref)
    with np.errstate(invalid="ignore"):
        cut = _cut(rule, ref)
        if rule.direction == "falling":
            yes, maybe = x.hi <= cut, x.lo <= cut
        else:
            yes, maybe = x.lo >= cut, x.hi >= cut
    status = yes.astype(TRI) + maybe.astype(TRI)
    return np.where(known, status, UNKNOWN).astype(TRI, copy=False)


def _reference(reference: dict[str, np.ndarray], rule: ChangeRule, n: int) -> np.ndarray:
    try:
        col = np.asarray(reference[rule.reference_name], dtype=np.float64)
    except KeyError:
        raise KeyError(f"reference column {rule.reference_name!r} missing (see trends.reference_columns)") from None
    if col.shape != (n,):
        raise ValueError(f"reference column {rule.reference_name!r} has shape {col.shape}, expected ({n},)")
    return col


def signals(
    batch: SnapshotBatch, reference: dict[str, np.ndarray], config: TrendConfig = DEFAULT_TRENDS
) -> dict[str, np.ndarray]:
    """Tri-state int8 column (0 no, 1 unknown, 2 yes) per signal id in ``SIGNAL_IDS``."""
    rules = config.rules()
    status = {name: change_status(rule, batch, _reference(reference, rule, batch.n)) for name, rule in rules.items()}
    return {s.id: all_of(*(status[r] for r in s.rules)).astype(TRI, copy=False) for s in SIGNALS}


_STATUS = {int(NO): "no", int(UNKNOWN): "unknown", int(YES): "yes"}


def _num(x: float) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 6)


def evidence(
    batch: SnapshotBatch, reference: dict[str, np.ndarray], i: int, config: TrendConfig = DEFAULT_TRENDS,
    status: dict[str, np.ndarray] | None = None,
) -> dict[str, dict]:
    """Row ``i``: for each signal, its status and the values behind it (current, reference,
    change, threshold), each threshold labelled heuristic — not validated."""
    status = status if status is not None else signals(batch, reference, config)
    rules = config.rules()
    out: dict[str, dict] = {}
    for s in SIGNALS:
        parts = []
        for name in s.rules:
            rule = rules[name]
            x = batch.lab(rule.analyte)
            ref = float(_reference(reference, rule, batch.n)[i])
            present = bool(x.present[i])
            exact = present and x.lo[i] == x.hi[i]
            cur = float(x.lo[i]) if exact else None
            part = {
                "analyte": rule.analyte,
                "unit": analytes.get(rule.analyte).canonical_unit,
                "current": cur,
                "current_censored": present and not exact,
                "reference": _num(ref),
                "reference_kind": f"{rule.agg} of earlier values in the previous {rule.window_hours:g} h",
                "change": None,
                "change_percent": None,
                "status": _STATUS[int(change_status(rule, batch.row(i), np.array([ref]))[0])],
                "threshold": rule.text(),
            }
            if cur is not None and part["reference"] is not None:
                part["change"] = _num(cur - ref)
                part["change_percent"] = _num((cur - ref) / ref * 100) if ref else None
            if present and not exact:
                part["current_bounds"] = [_num(x.lo[i]), _num(x.hi[i])]
            parts.append(part)
        out[s.id] = {
            "label": s.label,
            "status": _STATUS[int(status[s.id][i])],
            "high_rank": s.high_rank,
            "heuristic": HEURISTIC,
            "values": parts,
        }
    return out
