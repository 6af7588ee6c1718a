"""A patient's stored timeline: the document rebuilt from the raw rows, and its parse.

Observation rows are append-only (every version is a new row: ``ingest.record_observations``;
the database refuses UPDATE and DELETE, migration 0005), and a row's validation depends on
nothing but the row. So on a new result neither the rows already read nor those already
validated are read or validated again:

- :data:`READ` keeps, per database URL and patient, the stored rows' texts that a *committed*
  transaction read, with the database's id and the last row id. The next read asks only for the
  rows after that id and the count of those up to it: rows never change nor go, so an equal
  count in the same database means the same rows (a row a concurrent transaction committed
  later, with a smaller id, changes the count, and everything is read again). Only what a
  committed transaction read is kept: a row seen in a transaction that rolled back may never
  have existed, and SQLite gives its id to the next row; a session joined to a transaction it
  does not end (a test's) keeps nothing. Not covered: a database file swapped for another copy
  of itself under a running process (same URL, same database id) that then diverges.
- :data:`ROWS` keeps, per patient, the texts last parsed and their validated
  ``timeline.model.Observation``; on the next parse, when those texts are exactly the first of
  the stored ones (compared in full), their validated rows are reused and only the rows after
  them are decoded and validated. pydantic takes a validated instance placed in a model field as
  it is (``revalidate_instances='never'``), so ``timeline.parse`` still runs every
  document-level check.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from .. import timeline
from ..errors import InputError
from ..store import repo

if TYPE_CHECKING:  # the store owns SQLAlchemy; services only pass its Session on
    from sqlalchemy.orm import Session

    from ..store.tables import Patient

ROW_LIMIT = 20_000
"""Rows kept by each memo over all patients, least recently used patient out first: about 1 KB
each validated, and objects the cyclic collector walks on every full pass (in ``serve``, where
the monitor may run, held rows lengthen the pauses of every request), so a ward's worth. A
patient with more rows than this is read (and validated) in full every time."""


class PatientRows:
    """Per patient, a value holding some number of rows, bounded by the rows over all patients
    (thread-safe)."""

    def __init__(self, size: Callable[[Any], int], limit: int = ROW_LIMIT):
        self.limit, self._size = limit, size
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def get(self, key) -> Any:
        with self._lock:
            value = self._d.get(key)
            if value is not None:
                self._d.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self._rows -= self._size(old)
            if self._size(value) <= self.limit:
                self._d[key] = value
                self._rows += self._size(value)
            while self._rows > self.limit:
                self._rows -= self._size(self._d.popitem(last=False)[1])

    def __len__(self) -> int:
        return self._rows


@dataclass(frozen=True)
class Read:
    """The observation rows a committed transaction read: their texts, up to row id ``last_id``."""

    database_id: str
    last_id: int
    texts: list[str]


READ = PatientRows(lambda r: len(r.texts))


class RowMemo(PatientRows):
    """Per patient: the stored texts last parsed and their validated rows."""

    def __init__(self, limit: int = ROW_LIMIT):
        super().__init__(lambda entry: len(entry[1]), limit)

    def known(self, key, texts: list[str]) -> list:
        """The validated rows of the first ``texts``, as far as they were parsed before."""
        entry = self.get(key)
        if entry is None:
            return []
        seen, rows = entry
        return rows if len(seen) <= len(texts) and texts[:len(seen)] == seen else []

    def remember(self, key, texts: list[str], rows: list) -> None:
        self.put(key, (texts, rows))


ROWS = RowMemo()


@dataclass(frozen=True)
class StoredData:
    """What a patient's timeline is rebuilt from: the document without its observations, and
    every observation version's stored JSON text in receipt order (the correction rule's order)."""

    key: Any
    """The patient's key in :data:`ROWS` (a hint only: the texts decide what is reused)."""
    head: dict
    texts: list[str]
    notified: set[tuple[int, str]] | None = None
    """The (segment, level) of the patient's notifications, read with the rows when asked for (the
    monitor's de-duplication); not part of what the timeline is rebuilt from."""

    def doc(self) -> dict:
        """The timeline document with every row decoded, as a file would give it."""
        return {**self.head, "observations": [repo.decode(t) for t in self.texts]}


def _read_rows(session: Session, patient_id: int, read: PatientRows,
               notified: bool) -> tuple[repo.TimelineRows, list[str]]:
    """The patient's stored rows, reading only those after the ones a committed transaction read."""
    database = repo.database_key(session)
    key = (database, patient_id)
    known: Read | None = read.get(key) if database is not None else None
    got = repo.timeline_rows(session, patient_id, known.last_id if known is not None else 0, notified=notified)
    if known is not None and (got.database_id != known.database_id or got.before != len(known.texts)):
        known = None  # another database, or rows committed meanwhile
        got = repo.timeline_rows(session, patient_id, notified=notified)
    texts = [*(known.texts if known is not None else ()), *(t for _, t in got.rows)]
    if database is not None and got.database_id is not None and (got.rows or known is None):
        last_id = got.rows[-1][0] if got.rows else 0
        repo.after_commit(session, lambda: read.put(key, Read(got.database_id, last_id, texts)))
    return got, texts


def stored_data(session: Session, patient: Patient, read: PatientRows = READ, *,
                notified: bool = False) -> StoredData:
    """What the patient's timeline is rebuilt from (and, with ``notified``, its notification keys)."""
    got, texts = _read_rows(session, patient.id, read, notified)
    head = {"format": timeline.FORMAT, "synthetic": bool(patient.synthetic),
            "patient": dict(patient.patient_doc or {"id": patient.external_id}),
            "conditions": got.conditions, "medications": got.medications}
    return StoredData(patient.external_id, head, texts, got.notified)


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
