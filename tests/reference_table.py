"""The per-record table builder that ``timeline.observations.build_table`` replaced (kept as
the test oracle: it reads each record in file order, the way the rules are written in
docs/evaluation-points.md, so it is easy to check by eye). ``tests/test_observation_table.py``
asserts the columnar builder gives the same table, or refuses with the same error, on
generated timelines."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from maswatch import analytes
from maswatch.batch import FINDING_IDS, QUANTITY_IDS, comparator_code
from maswatch.corrections import fix_flag, kept_versions
from maswatch.errors import InputError
from maswatch.timeline.model import Observation
from maswatch.timeline.observations import ObservationTable, Series, _id_note, _naming, _quantity, _where, to_us
from maswatch.treatment.glucocorticoids import WEIGHT_PLAUSIBLE_KG


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
    """The weight rule read record by record (the columnar builder checks all weights at once)."""
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
