"""Valid observations: corrections applied, quantities named, units converted, in time order.

Corrections (docs/evaluation-points.md §1, FHIR Observation.status): versions are grouped
by ``id``; any ``entered-in-error``/``cancelled`` version removes the observation;
otherwise an ``amended``/``corrected`` version replaces the others (the last of the
highest rank in file order wins); ``preliminary`` is used and flagged. Units are
checked and converted by the analyte registry (never guessed), vectorised per
(analyte, unit); a bad one is refused naming the observation's index, id and field.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from .. import analytes
from ..batch import FINDING_IDS, QUANTITY_IDS, comparator_code
from ..errors import InputError, UnitError
from ..treatment.glucocorticoids import WEIGHT_PLAUSIBLE_KG
from ..corrections import fix_flag, kept_versions
from .model import Observation

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US_PER_HOUR = 3_600_000_000


def to_us(t: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (exact integer arithmetic for window edges)."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    from datetime import timedelta

    return EPOCH + timedelta(microseconds=int(us))


def iso(us: int) -> str:
    return from_us(us).isoformat().replace("+00:00", "Z")


@dataclass
class Series:
    """One quantity's or finding's valid observations, sorted by (time, id)."""

    key: str
    t: np.ndarray  # int64 µs
    value: np.ndarray  # float64 canonical (findings: 0.0 / 1.0)
    comparator: np.ndarray  # int8 codes (batch.COMPARATORS)
    src: np.ndarray  # int64 index into Timeline.raw_observations
    preliminary: np.ndarray  # bool
    low: np.ndarray  # float64 canonical reference range, NaN if absent
    high: np.ndarray


@dataclass
class ObservationTable:
    series: dict[str, Series]
    weights: list[tuple[datetime, float]]
    removed: list[str] = field(default_factory=list)
    """Ids removed as entered-in-error/cancelled."""
    replaced: list[str] = field(default_factory=list)
    """Ids whose earlier version(s) an amended/corrected version replaced."""

    def times(self) -> np.ndarray:
        """Every distinct time of a valid lab, vital or finding (the evaluation times)."""
        parts = [s.t for s in self.series.values() if len(s.t)]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def _where(i: int, obs: Observation, fld: str) -> str:
    return f"observations[{i}].{fld}"


def _id_note(obs: Observation) -> str:
    return f" [observation id {obs.id!r}]" if obs.id is not None else ""


@contextmanager
def _naming(o: Observation):
    """Add the observation's id to a registry error (the registry names index and field)."""
    try:
        yield
    except UnitError as exc:
        raise UnitError(exc.field, exc.message + _id_note(o)) from None


def _quantity(i: int, obs: Observation) -> str:
    if obs.finding is not None:
        return obs.finding
    if obs.vital is not None:
        return obs.vital
    aid = None
    if obs.analyte is not None:
        if obs.analyte not in QUANTITY_IDS:
            raise InputError(_where(i, obs, "analyte"),
                             f"unknown analyte {obs.analyte!r}{_id_note(obs)}; known: {', '.join(QUANTITY_IDS)}")
        aid = obs.analyte
    if obs.loinc is not None:
        mapped = analytes.by_loinc().get(obs.loinc)
        if mapped is None:
            raise InputError(_where(i, obs, "loinc"),
                             f"LOINC {obs.loinc!r} is not in the analyte registry{_id_note(obs)}")
        if aid is not None and mapped != aid:
            raise InputError(_where(i, obs, "loinc"),
                             f"LOINC {obs.loinc!r} is {mapped}, but analyte says {aid}{_id_note(obs)}")
        aid = mapped
    return aid


def resolve(obs: list[Observation]) -> tuple[list[int], list[str], list[str]]:
    """Indices of the versions in use, ids removed, ids replaced (evaluation-points.md §1,
    ``corrections.kept_versions``). A record without id is its own observation."""
    n = len(obs)
    groups: dict[str, list[int]] = {}
    key = np.empty(n, np.int64)
    for i, o in enumerate(obs):
        if o.id is None:
            key[i] = -1 - i  # unique: never grouped
        else:
            key[i] = len(groups) if o.id not in groups else key[groups[o.id][0]]
            groups.setdefault(o.id, []).append(i)
    keep = kept_versions(np.zeros(n, np.int64), key, np.array([fix_flag(o.status) for o in obs], np.int8),
                         np.arange(n), [o.id for o in obs])
    removed = [oid for oid, idx in groups.items() if not keep[idx].any()]
    replaced = [oid for oid, idx in groups.items() if len(idx) > 1 and keep[idx].any()]
    return np.flatnonzero(keep).tolist(), removed, replaced


def build_table(obs: list[Observation]) -> ObservationTable:
    chosen, removed, replaced = resolve(obs)
    by_key: dict[str, list[int]] = {}
    weights: list[tuple[datetime, float]] = []
    for i in chosen:
        o = obs[i]
        key = _quantity(i, o)
        if key == "weight":
            if o.comparator is not None:
                raise InputError(_where(i, o, "comparator"), f"a weight cannot be censored{_id_note(o)}")
            if o.unit is None or o.unit.strip().casefold() != "kg":
                raise InputError(_where(i, o, "unit"), f"weight must be in 'kg', got {o.unit!r}{_id_note(o)}")
            lo, hi = WEIGHT_PLAUSIBLE_KG
            if not (lo <= float(o.value) <= hi):
                raise InputError(_where(i, o, "value"),
                                 f"weight {o.value!r} kg is implausible (plausible {lo:g}-{hi:g} kg){_id_note(o)}")
            weights.append((o.time, float(o.value)))
            continue
        by_key.setdefault(key, []).append(i)
    series = {}
    for key, idx in by_key.items():
        series[key] = _finding_series(key, idx, obs) if key in FINDING_IDS else _lab_series(key, idx, obs)
    weights.sort(key=lambda w: w[0])
    return ObservationTable(series=series, weights=weights, removed=removed, replaced=replaced)


def _sorted(key: str, idx: list[int], obs: list[Observation], value, comp, low, high) -> Series:
    t = np.fromiter((to_us(obs[i].time) for i in idx), np.int64, len(idx))
    ids = [obs[i].id or "" for i in idx]
    # time order; ties broken by id (string order) so that the greatest id is the latest
    order = sorted(range(len(idx)), key=lambda k: (t[k], ids[k]))
    o = np.array(order, dtype=np.int64)
    src = np.array(idx, dtype=np.int64)
    prelim = np.array([obs[i].status == "preliminary" for i in idx], dtype=bool)
    return Series(key, t[o], value[o], comp[o], src[o], prelim[o], low[o], high[o])


def _finding_series(key: str, idx: list[int], obs: list[Observation]) -> Series:
    n = len(idx)
    value = np.array([1.0 if obs[i].value else 0.0 for i in idx])
    nan = np.full(n, np.nan)
    return _sorted(key, idx, obs, value, np.zeros(n, np.int8), nan, nan.copy())


def _lab_series(key: str, idx: list[int], obs: list[Observation]) -> Series:
    a = analytes.get(key)
    n = len(idx)
    raw = np.array([float(obs[i].value) for i in idx])
    value = np.empty(n)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    comp = np.array([comparator_code(obs[i].comparator) for i in idx], dtype=np.int8)
    units: dict[str | None, list[int]] = {}
    for k, i in enumerate(idx):
        units.setdefault(obs[i].unit, []).append(k)
    for unit, ks in units.items():
        first = idx[ks[0]]
        with _naming(obs[first]):
            conv = a.conversion(unit, field_path=_where(first, obs[first], "unit"), value=obs[first].value)
        ks_arr = np.array(ks)
        value[ks_arr] = conv.apply(raw[ks_arr])
        bad = ~a.plausible_mask(value[ks_arr])
        if bad.any():
            k = ks[int(np.argmax(bad))]
            i = idx[k]
            with _naming(obs[i]):
                a.to_canonical(obs[i].value, unit, field_path=_where(i, obs[i], "value"))
        empty = a.censored_leaves_nothing(value[ks_arr], comp[ks_arr])
        if empty.any():
            lo, hi = a.plausible
            i = idx[ks[int(np.argmax(empty))]]
            o = obs[i]
            raise InputError(_where(i, o, "value"), f"{a.label} {o.comparator}{o.value} {o.unit} leaves no plausible "
                             f"value (plausible {lo:g}-{hi:g} {a.canonical_unit}){_id_note(o)}")
        for k in ks:
            rr = obs[idx[k]].reference_range
            if rr is not None:
                if rr.low is not None:
                    low[k] = conv.apply(float(rr.low))
                if rr.high is not None:
                    high[k] = conv.apply(float(rr.high))
    return _sorted(key, idx, obs, value, comp, low, high)


__all__ = ["ObservationTable", "Series", "build_table", "resolve", "to_us", "from_us", "iso", "UnitError"]
