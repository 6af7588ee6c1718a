"""Evaluate snapshots: parse (strictly), convert units, run every instrument, explain.

This is the one path used by the CLI, the monitoring timeline and the services.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import report, snapshot
from .errors import InputError
from .instruments import evaluate_all
from .settings import DEFAULT, Settings


@dataclass
class SnapshotError:
    index: int
    field: str
    message: str

    def to_json(self) -> dict:
        return {"index": self.index, "error": {"field": self.field, "message": self.message}}


def evaluate_objects(objs: list, settings: Settings | None = None) -> list[dict | SnapshotError]:
    """Evaluate parsed JSON objects; an invalid one yields a SnapshotError and no result."""
    settings = settings or DEFAULT
    parsed: list = []
    for i, obj in enumerate(objs):
        try:
            parsed.append(snapshot.parse(obj))
        except InputError as exc:
            parsed.append(SnapshotError(i, exc.field, exc.message))
    good = [s for s in parsed if not isinstance(s, SnapshotError)]
    out_good = iter(evaluate_snapshots(good, settings)) if good else iter(())
    results: list[dict | SnapshotError] = []
    for s in parsed:
        if isinstance(s, SnapshotError):
            results.append(s)
        else:
            row = next(out_good)
            if s.id is not None:
                row = {"id": s.id, **row}
            results.append(row)
    return results


def evaluate_snapshots(snaps: list[snapshot.Snapshot], settings: Settings | None = None) -> list[dict]:
    batch = snapshot.to_batch(snaps)
    return report.rows(evaluate_all(batch, settings or DEFAULT), batch)


def evaluate_one(obj: dict, settings: Settings | None = None) -> dict:
    """Evaluate one snapshot object; raise InputError if it is invalid."""
    snap = snapshot.parse(obj)
    row = evaluate_snapshots([snap], settings)[0]
    return {"id": snap.id, **row} if snap.id is not None else row
