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
import threading
from collections import OrderedDict
from typing import Any, Callable

import orjson

DEFAULT_ENTRIES = 256
"""About 50 KB each (the assessment without its per-time history): ~13 MB at most."""
DEFAULT_ROWS = 20_000
"""Validated observation rows kept (under 1 KB each): the charts of a ward's worth of patients."""


class BoundedMemo(dict):
    """A dict that forgets its oldest entries beyond ``limit`` (for ``fhir.read.parse_timeline``'s row memo)."""

    def __init__(self, limit: int = DEFAULT_ROWS):
        super().__init__()
        self.limit = limit
        self._lock = threading.Lock()

    def __setitem__(self, key, value) -> None:
        with self._lock:
            super().__setitem__(key, value)
            while len(self) > self.limit:
                del self[next(iter(self))]


def digest(pid: str, rules_fingerprint: str, resources: list[Any]) -> bytes:
    """The key: the serialized resources as read (a re-ordered but equal prefetch only costs a recomputation)."""
    return hashlib.blake2b(orjson.dumps([pid, rules_fingerprint, resources]), digest_size=20).digest()


class AssessmentMemo:
    def __init__(self, entries: int = DEFAULT_ENTRIES):
        self.entries = entries
        self._lru: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: bytes, compute: Callable[[], Any]) -> Any:
        """The remembered value for ``key``, or ``compute()`` remembered (an exception is not)."""
        with self._lock:
            if key in self._lru:
                self._lru.move_to_end(key)
                self.hits += 1
                return self._lru[key]
            self.misses += 1
        value = compute()  # outside the lock: two threads may compute the same key; both get equal values
        with self._lock:
            self._lru[key] = value
            self._lru.move_to_end(key)
            while len(self._lru) > self.entries:
                self._lru.popitem(last=False)
        return value


__all__ = ["AssessmentMemo", "BoundedMemo", "digest"]
