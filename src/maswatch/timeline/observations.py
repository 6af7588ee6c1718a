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
from datetime import datetime, timedelta, timezone

import numpy as np

from .. import analytes
from ..batch import FINDING_IDS, QUANTITY_IDS, comparator_code
from ..errors import InputError, UnitError
from ..treatment.glucocorticoids import WEIGHT_PLAUSIBLE_KG
from ..corrections import fix_flag, kept_versions
from .model import Observation

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US_PER_HOUR = 3_600_000_000


_ONE_US = timedelta(microseconds=1)


def to_us(t: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (exact integer arithmetic for window edges)."""
    return (t - EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
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
    symptoms: dict[str, np.ndarray] = field(default_factory=dict)
    """Family/patient-reported signs present (``symptom`` records, value true): sign id -> sorted
    times (int64 µs). Never an instrument input; read by alerts.family_red_flag_parts."""

    def times(self) -> np.ndarray:
        """Every distinct time of a valid lab, vital, finding or reported sign (the evaluation times)."""
        parts = [s.t for s in self.series.values() if len(s.t)] + [t for t in self.symptoms.values() if len(t)]
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
    ids = [o.id for o in obs]
    first: dict[str, int] = {}
    # equal ids share the index of their first record; a record without id gets a key of its own
    key = np.array([-1 - i if oid is None else first.setdefault(oid, i) for i, oid in enumerate(ids)], np.int64)
    keep = kept_versions(np.zeros(n, np.int64), key, np.array([fix_flag(o.status) for o in obs], np.int8),
                         np.arange(n), ids)
    if not n:
        return [], [], []
    grouped = key >= 0
    versions = np.bincount(key[grouped], minlength=n)
    kept = np.bincount(key[grouped], weights=keep[grouped], minlength=n) > 0
    heads = np.fromiter(first.values(), np.int64, len(first))  # in order of first appearance
    removed = [ids[i] for i in heads[~kept[heads]].tolist()]
    replaced = [ids[i] for i in heads[(versions[heads] > 1) & kept[heads]].tolist()]
    return np.flatnonzero(keep).tolist(), removed, replaced


def _weight(i: int, o: Observation) -> tuple[datetime, float]:
    if o.comparator is not None:
        raise InputError(_where(i, o, "comparator"), f"a weight cannot be censored{_id_note(o)}")
    if o.unit is None or o.unit.strip().casefold() != "kg":
        raise InputError(_where(i, o, "unit"), f"weight must be in 'kg', got {o.unit!r}{_id_note(o)}")
    lo, hi = WEIGHT_PLAUSIBLE_KG
    if not (lo <= float(o.value) <= hi):
        raise InputError(_where(i, o, "value"),
                         f"weight {o.value!r} kg is implausible (plausible {lo:g}-{hi:g} kg){_id_note(o)}")
    return o.time, float(o.value)


def build_table(obs: list[Observation]) -> ObservationTable:
    chosen, removed, replaced = resolve(obs)
    by_key: dict[str, list[int]] = {}
    weights: list[tuple[datetime, float]] = []
    symptoms: dict[str, list[int]] = {}
    named: dict[tuple, str] = {}  # (finding, vital, analyte, loinc) -> quantity: checked once per spelling
    for i in chosen:
        o = obs[i]
        if o.symptom is not None:
            if o.value is True:
                symptoms.setdefault(o.symptom, []).append(to_us(o.time))
            continue
        spelling = (o.finding, o.vital, o.analyte, o.loinc)
        key = named.get(spelling)
        if key is None:
            key = named[spelling] = _quantity(i, o)  # a bad spelling raises at its first record
        if key == "weight":
            weights.append(_weight(i, o))
            continue
        by_key.setdefault(key, []).append(i)
    series = {}
    rank = {k: i for i, k in enumerate((*QUANTITY_IDS, *FINDING_IDS))}
    for key, idx in sorted(by_key.items(), key=lambda kv: rank.get(kv[0], len(rank))):  # registry order, not file order
        series[key] = _finding_series(key, idx, obs) if key in FINDING_IDS else _lab_series(key, idx, obs)
    weights.sort(key=lambda w: (w[0], w[1]))  # same instant: the heavier counts as the later
    return ObservationTable(series=series, weights=weights, removed=removed, replaced=replaced,
                            symptoms={k: np.sort(np.array(v, np.int64)) for k, v in sorted(symptoms.items())})


_COMPARATOR_CODES = {c or None: comparator_code(c) for c in ("", "<", "<=", ">=", ">")}


def _sorted(key: str, idx: list[int], recs: list[Observation], value, comp, low, high) -> Series:
    t = np.fromiter(map(to_us, (o.time for o in recs)), np.int64, len(recs))
    ids = [o.id or "" for o in recs]
    rank = {v: r for r, v in enumerate(sorted(set(ids)))}  # string order of the ids, as integers
    # time order; ties broken by id (string order) so that the greatest id is the latest,
    # then by value and comparator: the order never depends on the file's (docs/timeline-format.md)
    o = np.lexsort((comp, value, np.fromiter(map(rank.__getitem__, ids), np.int64, len(ids)), t))
    src = np.array(idx, dtype=np.int64)
    prelim = np.array([r.status == "preliminary" for r in recs], dtype=bool)
    return Series(key, t[o], value[o], comp[o], src[o], prelim[o], low[o], high[o])


def _finding_series(key: str, idx: list[int], obs: list[Observation]) -> Series:
    n = len(idx)
    recs = [obs[i] for i in idx]
    value = np.array([1.0 if o.value else 0.0 for o in recs])
    nan = np.full(n, np.nan)
    return _sorted(key, idx, recs, value, np.zeros(n, np.int8), nan, nan.copy())


def _lab_series(key: str, idx: list[int], obs: list[Observation]) -> Series:
    a = analytes.get(key)
    n = len(idx)
    recs = [obs[i] for i in idx]
    raw = np.array([float(o.value) for o in recs])
    value = np.empty(n)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    comp = np.array([_COMPARATOR_CODES[o.comparator] for o in recs], dtype=np.int8)
    units: dict[str | None, list[int]] = {}
    ranged: list[int] = []
    convs = {}
    for k, o in enumerate(recs):
        units.setdefault(o.unit, []).append(k)
        if o.reference_range is not None:
            ranged.append(k)
    for unit, ks in units.items():
        first = idx[ks[0]]
        with _naming(obs[first]):
            conv = convs[unit] = a.conversion(unit, field_path=_where(first, obs[first], "unit"), value=obs[first].value)
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
    if ranged:  # a reference range converts with its own result's unit (checked above), per unit at once
        rk = np.array(ranged)
        rr = [recs[k].reference_range for k in ranged]
        low[rk] = [np.nan if r.low is None else float(r.low) for r in rr]
        high[rk] = [np.nan if r.high is None else float(r.high) for r in rr]
        for unit, ks in units.items():
            ks_arr = np.intersect1d(np.array(ks), rk)
            if ks_arr.size and not convs[unit].is_identity:
                low[ks_arr] = convs[unit].apply(low[ks_arr])
                high[ks_arr] = convs[unit].apply(high[ks_arr])
    return _sorted(key, idx, recs, value, comp, low, high)


__all__ = ["ObservationTable", "Series", "build_table", "resolve", "to_us", "from_us", "iso", "UnitError"]
