"""Application services: they decide, the core computes, the store keeps.

No service commits: the caller owns the transaction, and each change is written with its
audit row in that same transaction (who, what, when, from where). Background work
(:func:`run_once`) is a plain function given a session factory and a clock.
"""

from .actors import Actor, Clock, utc_now
from .ingest import IngestReport, record_document, record_observations
from .monitor import RunReport, assess_patient, run_once
from .stored import stored_timeline_doc
from .acknowledge import acknowledge

__all__ = ["Actor", "Clock", "IngestReport", "RunReport", "acknowledge", "assess_patient", "record_document",
           "record_observations", "run_once", "stored_timeline_doc", "utc_now"]
