"""Valid observations: corrections applied, quantities named, units converted, in time order.

Corrections (docs/evaluation-points.md §1, FHIR Observation.status): versions are grouped
by ``id``; any ``entered-in-error``/``cancelled`` version removes the observation;
otherwise an ``amended``/``corrected`` version replaces the others (the last of the
highest rank in file order wins); ``preliminary`` is used and flagged. Units are
checked and converted by the analyte registry (never guessed), vectorised per
(analyte, unit); a bad one is refused naming the observation's index, id and field.
"""

from __future__ import annotations

import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from .. import analytes
from ..batch import FINDING_IDS, QUANTITY_IDS, comparator_code
from ..errors import InputError, UnitError
from ..treatment.glucocorticoids import WEIGHT_PLAUSIBLE_KG
from ..corrections import fix_flag, kept_versions
from .model import FACTS, Observation

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


_COMPARATOR_CODES = {c or None: comparator_code(c) for c in ("", "<", "<=", ">=", ">")}
_NAN = float("nan")
_NUMBERS = struct.Struct("<qdddbbbbb")
_NUMBER_COLUMNS = np.dtype([("t", "<i8"), ("value", "<f8"), ("low", "<f8"), ("high", "<f8"), ("fix", "i1"),
                            ("comp", "i1"), ("prelim", "?"), ("present", "?"), ("ranged", "?")])
"""A record's numbers packed (:func:`facts`), so a table's columns are one ``frombuffer`` of all."""


def facts(o: Observation) -> tuple:
    """A record as the table reads it: (id, its kind: (symptom, finding, vital, analyte, loinc,
    unit), its numbers packed: time in µs, value as float, range bounds or NaN, fix flag,
    comparator code, preliminary, present, has a range). Taken once per instance: a validated
    record is frozen, and a stored patient's records are parsed again on every new result
    (``monitoring.stored``)."""
    memo = o.__dict__
    f = memo.get(FACTS)
    if f is None:
        v, rr = o.value, o.reference_range
        numbers = _NUMBERS.pack(
            0 if o.time is None else to_us(o.time), _NAN if v is None else float(v),
            _NAN if rr is None or rr.low is None else float(rr.low),
            _NAN if rr is None or rr.high is None else float(rr.high),
            fix_flag(o.status), _COMPARATOR_CODES[o.comparator], o.status == "preliminary", v is True, rr is not None)
        f = memo[FACTS] = (o.id, _shared_kind((o.symptom, o.finding, o.vital, o.analyte, o.loinc, o.unit)),
                                 numbers)
    return f


_KINDS: dict[tuple, tuple] = {}
_KINDS_LIMIT = 4096


def _shared_kind(kind: tuple) -> tuple:
    """One tuple per distinct kind (records share a few): grouping then compares them by identity."""
    shared = _KINDS.get(kind)
    if shared is None:
        if len(_KINDS) >= _KINDS_LIMIT:  # bounded; a kind made again is merely equal, not identical
            _KINDS.clear()
        shared = _KINDS[kind] = kind
    return shared


def _codes(values) -> tuple[np.ndarray, list]:
    """Each value's integer code, and the distinct values in order of first appearance."""
    distinct = list(dict.fromkeys(values))
    code = dict(zip(distinct, range(len(distinct))))
    return np.fromiter(map(code.__getitem__, values), np.int64, len(values)), distinct


class _Columns:
    """The records' facts as columns: NumPy arrays, and each text as codes into its distinct values."""

    def __init__(self, obs: list[Observation]):
        rows = [o.__dict__.get(FACTS) or facts(o) for o in obs]
        self.ids = [f[0] for f in rows]
        self.id, self.distinct_ids = _codes(self.ids)
        kind, distinct = _codes([f[1] for f in rows])  # a few: each part coded per distinct kind
        (symptom, self.symptoms), (spelling, self.spellings), (unit, self.units) = (
            _codes(part) for part in ([k[0] for k in distinct], [k[1:5] for k in distinct], [k[5] for k in distinct]))
        self.symptom, self.spelling, self.unit = symptom[kind], spelling[kind], unit[kind]
        cols = np.frombuffer(b"".join([f[2] for f in rows]), _NUMBER_COLUMNS)
        self.t, self.value, self.low, self.high = (np.array(cols[k]) for k in ("t", "value", "low", "high"))
        self.fix, self.comp, self.prelim, self.present, self.ranged = (
            np.array(cols[k]) for k in ("fix", "comp", "prelim", "present", "ranged"))

    def id_rank(self) -> np.ndarray:
        """Each record's id as its rank in string order (no id ranks as the empty string)."""
        rank = {n: r for r, n in enumerate(sorted({d or "" for d in self.distinct_ids}))}
        return np.array([rank[d or ""] for d in self.distinct_ids] or [0], np.int64)[self.id]


def resolve(obs: list[Observation]) -> tuple[list[int], list[str], list[str]]:
    """Indices of the versions in use (ascending), ids removed, ids replaced (evaluation-points.md §1,
    ``corrections.kept_versions``). A record without id is its own observation."""
    chosen, removed, replaced = _resolve(_Columns(obs))
    return chosen.tolist(), removed, replaced


def _resolve(c: _Columns) -> tuple[np.ndarray, list[str], list[str]]:
    n = len(c.ids)
    if not n:
        return np.zeros(0, np.int64), [], []
    # equal ids share the index of their first record; a record without id gets a key of its own
    _, first = np.unique(c.id, return_index=True)  # per distinct id, in order of first appearance
    key = first[c.id]
    heads = first
    if None in c.distinct_ids:
        none = c.distinct_ids.index(None)
        alone = np.flatnonzero(c.id == none)
        key[alone] = -1 - alone
        heads = np.delete(first, none)
    keep = kept_versions(np.zeros(n, np.int64), key, c.fix, np.arange(n), c.ids)
    grouped = key >= 0
    versions = np.bincount(key[grouped], minlength=n)
    kept = np.bincount(key[grouped], weights=keep[grouped], minlength=n) > 0
    removed = [c.ids[i] for i in heads[~kept[heads]].tolist()]
    replaced = [c.ids[i] for i in heads[(versions[heads] > 1) & kept[heads]].tolist()]
    return np.flatnonzero(keep), removed, replaced


def _weight_error(i: int, o: Observation, censored: bool, wrong_unit: bool) -> InputError:
    """The refusal of a weight record at fault: censored, not in kg, else implausible (in that order)."""
    if censored:
        return InputError(_where(i, o, "comparator"), f"a weight cannot be censored{_id_note(o)}")
    if wrong_unit:
        return InputError(_where(i, o, "unit"), f"weight must be in 'kg', got {o.unit!r}{_id_note(o)}")
    lo, hi = WEIGHT_PLAUSIBLE_KG
    return InputError(_where(i, o, "value"), f"weight {o.value!r} kg is implausible (plausible {lo:g}-{hi:g} kg)"
                                             f"{_id_note(o)}")


_ORDER = (*QUANTITY_IDS, *FINDING_IDS)
"""The order of a table's series (the registry's, never the file's)."""
_WEIGHT, _FAULT = -1, -2


def build_table(obs: list[Observation]) -> ObservationTable:
    c = _Columns(obs)
    chosen, removed, replaced = _resolve(c)
    signs = np.array([s is not None for s in c.symptoms] or [False])
    is_symptom = signs[c.symptom[chosen]]
    symptoms: dict[str, list[int]] = {}
    for i in chosen[is_symptom & c.present[chosen]].tolist():
        symptoms.setdefault(c.symptoms[c.symptom[i]], []).append(int(c.t[i]))
    rows = chosen[~is_symptom]
    # each spelling (finding, vital, analyte, loinc) is named once, at its first record; the first
    # record at fault (a bad spelling, then a bad weight) is the one refused, as reading in order would
    spelled = c.spelling[rows]
    codes, firsts = np.unique(spelled, return_index=True)
    faults: list[tuple[int, InputError]] = []
    order = np.full(max(len(c.spellings), 1), _FAULT, np.int64)  # spelling -> its series' place, or weight
    for code, at in zip(codes.tolist(), firsts.tolist()):
        i = int(rows[at])
        try:
            key = _quantity(i, obs[i])
        except InputError as exc:
            faults.append((i, exc))
            continue
        order[code] = _WEIGHT if key == "weight" else _ORDER.index(key)
    place = order[spelled]
    weighed = rows[place == _WEIGHT]
    lo, hi = WEIGHT_PLAUSIBLE_KG
    kg = np.array([u is not None and u.strip().casefold() == "kg" for u in c.units] or [False])
    w = c.value[weighed]
    censored, wrong_unit = c.comp[weighed] != 0, ~kg[c.unit[weighed]]
    bad = censored | wrong_unit | ~((w >= lo) & (w <= hi))
    if bad.any():
        k = int(np.argmax(bad))
        i = int(weighed[k])
        faults.append((i, _weight_error(i, obs[i], bool(censored[k]), bool(wrong_unit[k]))))
    if faults:
        raise min(faults, key=lambda f: f[0])[1]
    weights = sorted(((obs[i].time, float(c.value[i])) for i in weighed.tolist()),
                     key=lambda w: (w[0], w[1]))  # same instant: the heavier counts as the later
    measured = place >= 0
    idx, place = rows[measured], place[measured]
    value, comp = c.value[idx], c.comp[idx]
    low, high = np.full(len(idx), np.nan), np.full(len(idx), np.nan)
    for p in np.unique(place).tolist():  # registry order: the first unit refused is the first one read
        key = _ORDER[p]
        if key not in FINDING_IDS:  # findings are 0.0 / 1.0 with no comparator or range (model.Observation)
            at = np.flatnonzero(place == p)
            value[at], low[at], high[at] = _canonical(key, idx[at], c, obs)
    # one sort for every series: by series, then time; ties broken by id (string order) so that the
    # greatest id is the latest, then by value and comparator: never by the file's order
    # (docs/timeline-format.md)
    t = c.t[idx]
    o = np.lexsort((t, place))
    if ((np.diff(t[o]) == 0) & (np.diff(place[o]) == 0)).any():  # ties: the id's rank is needed
        o = np.lexsort((comp, value, c.id_rank()[idx], t, place))
    bounds = np.flatnonzero(np.diff(place[o])) + 1
    prelim = c.prelim[idx]
    series = {}
    for part in np.split(o, bounds) if len(o) else []:
        key = _ORDER[int(place[part[0]])]
        series[key] = Series(key, t[part], value[part], comp[part], idx[part], prelim[part], low[part], high[part])
    return ObservationTable(series=series, weights=weights, removed=removed, replaced=replaced,
                            symptoms={k: np.sort(np.array(v, np.int64)) for k, v in sorted(symptoms.items())})


def _canonical(key: str, idx: np.ndarray, c: _Columns, obs: list[Observation]) -> tuple[np.ndarray, ...]:
    """A lab's values and reference ranges in its canonical unit, each unit converted at once by
    the registry (never guessed); an unknown unit or an implausible value is refused naming the
    record, checked unit by unit in order of first appearance."""
    a = analytes.get(key)
    n = len(idx)
    raw = c.value[idx]
    value = np.empty(n)
    comp = c.comp[idx]
    unit = c.unit[idx]
    codes, firsts = np.unique(unit, return_index=True)
    convs = {}
    for code in codes[np.argsort(firsts)].tolist():
        ks = np.flatnonzero(unit == code)
        first = int(idx[ks[0]])
        u = c.units[code]
        with _naming(obs[first]):
            conv = convs[code] = a.conversion(u, field_path=_where(first, obs[first], "unit"), value=obs[first].value)
        value[ks] = conv.apply(raw[ks])
        bad = ~a.plausible_mask(value[ks])
        if bad.any():
            i = int(idx[ks[int(np.argmax(bad))]])
            with _naming(obs[i]):
                a.to_canonical(obs[i].value, u, field_path=_where(i, obs[i], "value"))
        empty = a.censored_leaves_nothing(value[ks], comp[ks])
        if empty.any():
            lo, hi = a.plausible
            i = int(idx[ks[int(np.argmax(empty))]])
            o = obs[i]
            raise InputError(_where(i, o, "value"), f"{a.label} {o.comparator}{o.value} {o.unit} leaves no plausible "
                             f"value (plausible {lo:g}-{hi:g} {a.canonical_unit}){_id_note(o)}")
    low, high = c.low[idx], c.high[idx]  # NaN where the record has no range
    for code, conv in convs.items():  # a range converts with its own result's unit (checked above)
        if not conv.is_identity:
            ks = np.flatnonzero((unit == code) & c.ranged[idx])
            low[ks], high[ks] = conv.apply(low[ks]), conv.apply(high[ks])
    return value, low, high


__all__ = ["ObservationTable", "Series", "build_table", "facts", "resolve", "to_us", "from_us", "iso", "UnitError"]
