"""A patient's stored timeline: the document rebuilt from the raw rows, and its parse.

Observation rows are append-only (every version is a new row: ``ingest.record_observations``)
and a row's validation depends on nothing but the row, so a row validated once is not
validated again. :data:`ROWS` keeps, per patient, the stored rows' JSON texts last parsed and
their validated ``timeline.model.Observation``; on the next parse, when those texts are exactly
the first of the stored ones (compared in full: an entry of another database, or rows a
rolled-back transaction showed, is never used — SQLite gives a rolled-back row's id to the next
row, so a row id would not be a safe key), their validated rows are reused and only the rows
after them are decoded and validated. pydantic takes a validated instance placed in a model
field as it is (``revalidate_instances='never'``), so ``timeline.parse`` still runs every
document-level check.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import timeline
from ..errors import InputError
from ..store import repo

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

    from ..store.tables import Patient

ROW_LIMIT = 20_000
"""Validated rows kept over all patients, least recently parsed patient out first: about 1 KB
each, and two objects the cyclic collector walks on every full pass (in ``serve``, where the
monitor may run, held rows lengthen the pauses of every request), so a ward's worth. A patient
with more rows than this is validated in full on every parse."""


class RowMemo:
    """Per patient: the stored texts last parsed and their validated rows (thread-safe)."""

    def __init__(self, limit: int = ROW_LIMIT):
        self.limit = limit
        self._d: OrderedDict[Any, tuple[list[str], list]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def known(self, key, texts: list[str]) -> list:
        """The validated rows of the first ``texts``, as far as they were parsed before."""
        with self._lock:
            entry = self._d.get(key)
            if entry is None:
                return []
            self._d.move_to_end(key)
        seen, rows = entry
        return rows if len(seen) <= len(texts) and texts[:len(seen)] == seen else []

    def remember(self, key, texts: list[str], rows: list) -> None:
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self._rows -= len(old[1])
            if len(rows) <= self.limit:
                self._d[key] = (texts, rows)
                self._rows += len(rows)
            while self._rows > self.limit:
                self._rows -= len(self._d.popitem(last=False)[1][1])

    def __len__(self) -> int:
        return self._rows


ROWS = RowMemo()


@dataclass(frozen=True)
class StoredData:
    """What a patient's timeline is rebuilt from: the document without its observations, and
    every observation version's stored JSON text in receipt order (the correction rule's order)."""

    key: Any
    """The patient's key in :data:`ROWS` (a hint only: the texts decide what is reused)."""
    head: dict
    texts: list[str]

    def doc(self) -> dict:
        """The timeline document with every row decoded, as a file would give it."""
        return {**self.head, "observations": [repo.decode(t) for t in self.texts]}


def stored_data(session: Session, patient: Patient) -> StoredData:
    conditions, medications, texts = repo.timeline_rows(session, patient.id)
    head = {"format": timeline.FORMAT, "synthetic": bool(patient.synthetic),
            "patient": dict(patient.patient_doc or {"id": patient.external_id}),
            "conditions": conditions, "medications": medications}
    return StoredData(patient.external_id, head, texts)


def stored_timeline_doc(session: Session, patient: Patient) -> dict:
    """The patient's timeline document rebuilt from the stored raw rows, every version in receipt order."""
    return stored_data(session, patient).doc()


def parse_stored(data: StoredData, rows: RowMemo = ROWS) -> timeline.Timeline:
    """``timeline.parse`` of ``data.doc()``, validating only the rows not validated before."""
    known = rows.known(data.key, data.texts)
    obs = [*known, *map(repo.decode, data.texts[len(known):])]
    try:
        tl = timeline.parse({**data.head, "observations": obs})
    except InputError:
        timeline.parse(data.doc())  # the error exactly as the raw rows give it (a known row never fails)
        raise
    rows.remember(data.key, data.texts, list(tl.observations))
    return tl


def stored_timeline(session: Session, patient: Patient) -> timeline.Timeline:
    """The parsed timeline of the stored data (what the monitor assesses)."""
    return parse_stored(stored_data(session, patient))
