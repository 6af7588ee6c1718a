"""The correction rule for observation versions (docs/evaluation-points.md §1; FHIR
Observation.status): one implementation for ``assess`` (one timeline) and ``screen``
(DuckDB's sorted stream). The SQL window form Spark runs (``screen.points.valid_sql``)
is tested to keep the same rows.

Versions of an observation share its patient and id. If any version is removing
(``entered-in-error``/``cancelled``) the observation is dropped; otherwise the best version
is kept: replacing (``amended``/``corrected``) first, then the last in source order, then
any further tie-break the caller gives.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

REMOVING = ("entered-in-error", "cancelled")
REPLACING = ("amended", "corrected")
REPLACES, REMOVES = 1, 2
"""Bits of a version's ``fix`` flag."""

_MIX = np.uint64(0x9E3779B97F4A7C15)


def fix_flag(status: str | None) -> int:
    return (REPLACES if status in REPLACING else 0) | (REMOVES if status in REMOVING else 0)


def kept_versions(patient: np.ndarray, key: np.ndarray, fix: np.ndarray, seq: np.ndarray, obs_id, *,
                  tie: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Which rows (versions) the rule keeps.

    ``patient``: integer patient of each row; ``key``: an integer equal for equal ids of a
    patient (a hash will do: only rows whose (patient, key) repeats are grouped, and those
    exactly by their id string, so a collision changes nothing); ``fix``: :func:`fix_flag`;
    ``seq``: source order; ``obs_id``: the ids (a sequence, NumPy or Arrow array, read only
    at repeated keys); ``tie``: further keys, greater wins, after ``seq``. A row whose id
    appears once in its patient is kept unless it removes — the rule on a group of one.
    """
    fix = np.asarray(fix)
    keep = (fix & REMOVES) == 0
    mixed = np.asarray(key).astype(np.uint64) ^ (np.asarray(patient).astype(np.uint64) * _MIX)  # wraps: a mix
    by_key = np.argsort(mixed)
    s = mixed[by_key]
    same = s[1:] == s[:-1]
    if not same.any():
        return keep
    cand = np.sort(by_key[np.r_[same, False] | np.r_[False, same]])
    _, ids = np.unique(np.asarray(_take(obs_id, cand), dtype=object).astype(str), return_inverse=True)
    keys = [np.asarray(patient)[cand], ids.ravel(), -(fix[cand] & REPLACES).astype(np.int64), -np.asarray(seq)[cand]]
    keys += [-np.asarray(k)[cand] for k in tie]
    order = np.lexsort(keys[::-1])
    rows, gp, gi = cand[order], keys[0][order], keys[1][order]
    first = np.flatnonzero(np.r_[True, (gp[1:] != gp[:-1]) | (gi[1:] != gi[:-1])])
    removed = np.maximum.reduceat((fix[rows] & REMOVES).astype(np.int8), first) != 0
    keep[cand] = False
    keep[rows[first[~removed]]] = True
    return keep


def _take(obs_id, idx: np.ndarray) -> list:
    if hasattr(obs_id, "take") and hasattr(obs_id, "to_pylist"):  # an Arrow array
        import pyarrow as pa

        return obs_id.take(pa.array(idx)).to_pylist()
    return [obs_id[i] for i in idx]
