"""The published instruments, one module each; ``INSTRUMENTS`` maps id -> module.

Each module exposes ``SPEC`` and ``evaluate(batch, settings) -> InstrumentResult``.
"""

from __future__ import annotations

from types import ModuleType

from ..batch import SnapshotBatch
from ..settings import DEFAULT, Settings
from . import ferritin_esr, hlh2004, hscore, mh_score, ms_score, ohi, parodi2009, ravelli2016
from ._base import InstrumentResult, InstrumentSpec, ItemSpec

INSTRUMENTS: dict[str, ModuleType] = {
    m.SPEC.id: m for m in (ravelli2016, hlh2004, hscore, ms_score, mh_score, ferritin_esr, parodi2009, ohi)
}


def evaluate_all(batch: SnapshotBatch, settings: Settings | None = None) -> dict[str, InstrumentResult]:
    """Run every instrument on a batch (columns in, columns out)."""
    settings = settings or DEFAULT
    return {iid: mod.evaluate(batch, settings) for iid, mod in INSTRUMENTS.items()}


__all__ = ["INSTRUMENTS", "InstrumentResult", "InstrumentSpec", "ItemSpec", "evaluate_all"]
