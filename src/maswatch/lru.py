"""One bounded, thread-safe memo for the services' caches of pure results.

Used where a result is a pure function of its key (the CDS card assessment of identical data,
observation rows already validated, a stored patient's full assessment text): forgetting an
entry only costs a recomputation, never an answer. Least recently used entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

_MISSING = object()


class LruCache:
    def __init__(self, limit: int):
        self.limit = limit
        self._d: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            value = self._d.get(key, _MISSING)
            if value is _MISSING:
                return default
            self._d.move_to_end(key)
            return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.limit:
                self._d.popitem(last=False)

    put = __setitem__

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The remembered value, or ``compute()`` remembered (an exception is not). Computed
        outside the lock: two threads may compute one key; both get equal values."""
        value = self.get(key, _MISSING)
        with self._lock:
            if value is _MISSING:
                self.misses += 1
            else:
                self.hits += 1
        if value is _MISSING:
            value = compute()
            self[key] = value
        return value

    def __len__(self) -> int:
        return len(self._d)

    def __iter__(self):
        with self._lock:
            return iter(list(self._d))


__all__ = ["LruCache"]
