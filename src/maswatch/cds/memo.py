"""Repeat chart opens: the card assessment of identical data is computed once, and the
observation rows already validated are not validated again.

``patient-view`` fires each time a chart is opened, and between two new results the EHR sends
the same prefetch again. The card's assessment (at the patient's last result time, under the
configured rules) is a pure function of the patient id, the resources read and the rules, so it
is remembered under a digest of exactly those: any new, corrected or removed resource, another
patient or another rule set is a different key. Whether a card is then *sent* is still decided on
every call (the de-duplication state is in the database). Bounded; thread-safe (the routes run
the service in a thread pool).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ..lru import LruCache

DEFAULT_ENTRIES = 256
"""About 50 KB each (the assessment without its per-time history): ~13 MB at most."""
DEFAULT_ROWS = 20_000
"""Validated observation rows kept (under 1 KB each): the charts of a ward's worth of patients."""


def digest(pid: str, rules_fingerprint: str, resources: list[Any]) -> bytes:
    """The key: the serialized resources as read (a re-ordered but equal prefetch only costs a recomputation)."""
    return hashlib.blake2b(orjson.dumps([pid, rules_fingerprint, resources]), digest_size=20).digest()


def assessment_memo(entries: int = DEFAULT_ENTRIES) -> LruCache:
    return LruCache(entries)


def rows_memo(limit: int = DEFAULT_ROWS) -> LruCache:
    """For ``fhir.read.parse_timeline``'s ``memo``: exact row text -> its validated Observation."""
    return LruCache(limit)


__all__ = ["assessment_memo", "digest", "rows_memo"]
