"""The full assessment JSON of a patient's stored data — with the per-time history that the
stored row leaves out (``repo.add_assessment``) — for the patient page's charts and
``GET /api/patients/{id}/assessment``.

The code path and writer of ``maswatch assess --json``: ``rules.assess(timeline.parse(doc))
.to_json()`` on the stored timeline, written by ``jsondoc.dumps``, so the API's body is the
CLI's output byte for byte (less its final newline). Remembered as that UTF-8 text under a
digest of exactly what it is computed from (the patient block, conditions, medications, every
row's stored text, the rules, the version): a new or corrected row, another patient or other
rules is another key. Text, not dicts: a 2,000-result history is ~100,000 objects that the
cyclic collector would walk on every full pass of the server.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import orjson

from .. import __version__, jsondoc
from ..lru import LruCache
from ..rules import Rules
from .stored import StoredData, parse_stored

if TYPE_CHECKING:
    from ..timeline import Timeline

ENTRIES = 16
"""Patients whose full JSON is kept (~1.4 MB each at 2,000 results)."""


FULL = LruCache(ENTRIES)


def digest(data: StoredData, rules: Rules) -> bytes:
    h = hashlib.blake2b(orjson.dumps([rules.fingerprint, __version__, data.head, len(data.texts)]), digest_size=20)
    for t in data.texts:  # stored JSON text has no raw newline: the separator cannot be forged
        h.update(b"\n")
        h.update(t.encode())
    return h.digest()


def assessment_text(data: StoredData, rules: Rules, tl: Timeline | None = None) -> bytes:
    """``jsondoc.dumps(rules.assess(timeline.parse(data.doc())).to_json())`` as UTF-8;
    InputError when the stored data cannot be assessed. ``tl``: its parse, if the caller has it."""
    key = digest(data, rules)
    text = FULL.get(key)
    if text is None:
        text = jsondoc.dumps(rules.assess(tl if tl is not None else parse_stored(data)).to_json()).encode()
        FULL.put(key, text)
    return text
